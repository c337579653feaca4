//! Small dense linear algebra for meta-regression (few moderators, so a
//! hand-written Cholesky is enough). Matrices are row-major `Vec<f64>`.

/// The model matrix X (k rows, p columns, intercept first when present).
#[derive(Debug, Clone)]
pub(crate) struct Design {
    pub k: usize,
    pub p: usize,
    pub x: Vec<f64>,
}

impl Design {
    /// Intercept-only design with k rows.
    pub fn intercept(k: usize) -> Self {
        Design {
            k,
            p: 1,
            x: vec![1.0; k],
        }
    }

    /// Row i.
    #[inline]
    pub fn row(&self, i: usize) -> &[f64] {
        &self.x[i * self.p..(i + 1) * self.p]
    }

    /// Whether X has full column rank (Cholesky of the column-scaled XᵀX).
    pub fn full_rank(&self) -> bool {
        let w = vec![1.0; self.k];
        let mut a = self.xtwx(&w);
        let p = self.p;
        let s: Vec<f64> = (0..p).map(|j| a[j * p + j].sqrt()).collect();
        if s.iter().any(|&v| v.is_nan() || v <= 0.0 || !v.is_finite()) {
            return false;
        }
        for i in 0..p {
            for j in 0..p {
                a[i * p + j] /= s[i] * s[j];
            }
        }
        cholesky(&a, p, 1e-10).is_some()
    }

    /// XᵀWX for diagonal weights w.
    pub fn xtwx(&self, w: &[f64]) -> Vec<f64> {
        let p = self.p;
        let mut a = vec![0.0; p * p];
        for (i, &wi) in w.iter().enumerate() {
            let r = self.row(i);
            for j in 0..p {
                let rj = wi * r[j];
                for l in j..p {
                    a[j * p + l] += rj * r[l];
                }
            }
        }
        for j in 0..p {
            for l in 0..j {
                a[j * p + l] = a[l * p + j];
            }
        }
        a
    }
}

pub(crate) use evidentia_stats::linalg::cholesky_tol as cholesky;

/// Inverse of a symmetric positive-definite p×p matrix via Cholesky (pivots must exceed
/// 1e-13 of the largest diagonal element).
pub(crate) fn spd_inverse(a: &[f64], p: usize) -> Option<Vec<f64>> {
    evidentia_stats::linalg::inverse_from_cholesky(&cholesky(a, p, 1e-13)?, p)
}

/// A weighted least-squares fit.
#[derive(Debug, Clone)]
pub(crate) struct Wls {
    /// Coefficients.
    pub beta: Vec<f64>,
    /// (XᵀWX)⁻¹.
    pub inv: Vec<f64>,
    /// Weighted residual sum of squares Σwᵢ(yᵢ − xᵢᵀβ)².
    pub rss: f64,
}

/// Weighted least squares of y on X with weights w; None if XᵀWX is singular.
pub(crate) fn wls(d: &Design, y: &[f64], w: &[f64]) -> Option<Wls> {
    let p = d.p;
    let inv = spd_inverse(&d.xtwx(w), p)?;
    let mut xtwy = vec![0.0; p];
    for i in 0..d.k {
        let r = d.row(i);
        for j in 0..p {
            xtwy[j] += w[i] * r[j] * y[i];
        }
    }
    let beta: Vec<f64> = (0..p)
        .map(|j| (0..p).map(|l| inv[j * p + l] * xtwy[l]).sum())
        .collect();
    let rss = (0..d.k)
        .map(|i| {
            let r = y[i] - dot(d.row(i), &beta);
            w[i] * r * r
        })
        .sum();
    Some(Wls { beta, inv, rss })
}

/// Dot product (the statistics core's).
pub(crate) use evidentia_stats::linalg::dot;

/// P = W − WX(XᵀWX)⁻¹XᵀW (k×k) given the inverse `inv` = (XᵀWX)⁻¹.
pub(crate) fn projection(d: &Design, w: &[f64], inv: &[f64]) -> Vec<f64> {
    let (k, p) = (d.k, d.p);
    // B = X A (k×p)
    let mut b = vec![0.0; k * p];
    for i in 0..k {
        let r = d.row(i);
        for j in 0..p {
            b[i * p + j] = (0..p).map(|l| r[l] * inv[l * p + j]).sum();
        }
    }
    let mut pm = vec![0.0; k * k];
    for i in 0..k {
        let bi = &b[i * p..(i + 1) * p];
        for j in i..k {
            let h = dot(bi, d.row(j));
            let mut v = -w[i] * w[j] * h;
            if i == j {
                v += w[i];
            }
            pm[i * k + j] = v;
            pm[j * k + i] = v;
        }
    }
    pm
}

/// Trace of a k×k matrix.
pub(crate) fn trace(m: &[f64], k: usize) -> f64 {
    (0..k).map(|i| m[i * k + i]).sum()
}
