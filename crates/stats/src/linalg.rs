//! Small dense linear algebra for model fitting: a Householder QR with R's
//! limited column pivoting (LINPACK `dqrdc2`, as used by R's `lm`) and a Cholesky
//! factorization (Golub & Van Loan, *Matrix Computations*, 4th ed., §5.2 and §4.2).
//!
//! Matrices are column-major `Vec<f64>`: element (i, j) of an n × p matrix is `a[i + j * n]`.

#![allow(clippy::needless_range_loop)] // index loops mirror the textbook algorithms

/// Default relative tolerance below which a column counts as aliased (R's `lm` uses 1e-7).
pub const RANK_TOL: f64 = 1e-7;

/// Householder QR of an n × p matrix with limited pivoting.
#[derive(Debug, Clone)]
pub struct Qr {
    n: usize,
    p: usize,
    /// Working matrix: R in the upper triangle of the kept columns, reflectors below.
    a: Vec<f64>,
    /// Householder scalars, one per kept column.
    tau: Vec<f64>,
    /// Indices (into the original columns) of the linearly independent columns, in order.
    pub kept: Vec<usize>,
    /// Indices of the columns that are (numerically) combinations of earlier ones.
    pub aliased: Vec<usize>,
}

impl Qr {
    /// Factorizes `a` (n × p, column-major), processing columns left to right and
    /// setting aside a column whose residual norm after projecting out the kept
    /// columns is at most `tol` times its own norm (dqrdc2's rule).
    pub fn new(a: &[f64], n: usize, p: usize, tol: f64) -> Qr {
        assert_eq!(a.len(), n * p, "matrix size");
        let mut a = a.to_vec();
        let norms: Vec<f64> = (0..p).map(|j| norm(&a[j * n..(j + 1) * n])).collect();
        let mut tau = Vec::new();
        let mut kept = Vec::new();
        let mut aliased = Vec::new();
        for (j, &orig) in norms.iter().enumerate() {
            let r = kept.len();
            if r >= n {
                aliased.push(j);
                continue;
            }
            let col = &mut a[j * n + r..(j + 1) * n];
            let nrm = norm(col);
            if orig == 0.0 || nrm <= tol * orig {
                aliased.push(j);
                continue;
            }
            // Reflector H = I − τ v vᵀ with v[0] = 1 mapping col to (β, 0, …).
            let alpha = col[0];
            let beta = if alpha >= 0.0 { -nrm } else { nrm };
            let t = (beta - alpha) / beta;
            let scale = 1.0 / (alpha - beta);
            for x in col.iter_mut().skip(1) {
                *x *= scale;
            }
            col[0] = beta;
            let v: Vec<f64> = std::iter::once(1.0)
                .chain(col.iter().skip(1).copied())
                .collect();
            for k in j + 1..p {
                let c = &mut a[k * n + r..(k + 1) * n];
                let s = t * dot(&v, c);
                for (ci, vi) in c.iter_mut().zip(&v) {
                    *ci -= s * vi;
                }
            }
            tau.push(t);
            kept.push(j);
        }
        Qr {
            n,
            p,
            a,
            tau,
            kept,
            aliased,
        }
    }

    /// Numerical rank (number of kept columns).
    pub fn rank(&self) -> usize {
        self.kept.len()
    }

    /// Computes Qᵀ y.
    pub fn qt_mul(&self, y: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut y = y.to_vec();
        for (r, (&j, &t)) in self.kept.iter().zip(&self.tau).enumerate() {
            let v = &self.a[j * n + r..(j + 1) * n];
            let mut s = y[r];
            for i in 1..n - r {
                s += v[i] * y[r + i];
            }
            s *= t;
            y[r] -= s;
            for i in 1..n - r {
                y[r + i] -= s * v[i];
            }
        }
        y
    }

    /// Element (i, k) of the r × r triangular factor R (kept columns only).
    fn r(&self, i: usize, k: usize) -> f64 {
        self.a[i + self.kept[k] * self.n]
    }

    /// Least-squares coefficients of the kept columns: solves R b = (Qᵀ y)[..r].
    pub fn solve(&self, y: &[f64]) -> Vec<f64> {
        let qty = self.qt_mul(y);
        let r = self.rank();
        let mut b = qty[..r].to_vec();
        for i in (0..r).rev() {
            let mut s = b[i];
            for k in i + 1..r {
                s -= self.r(i, k) * b[k];
            }
            b[i] = s / self.r(i, i);
        }
        b
    }

    /// (RᵀR)⁻¹ = (XᵀX)⁻¹ over the kept columns, row-major r × r.
    pub fn xtx_inverse(&self) -> Vec<f64> {
        let r = self.rank();
        // R⁻¹ (upper triangular), row-major.
        let mut ri = vec![0.0; r * r];
        for j in 0..r {
            ri[j * r + j] = 1.0 / self.r(j, j);
            for i in (0..j).rev() {
                let mut s = 0.0;
                for k in i + 1..=j {
                    s += self.r(i, k) * ri[k * r + j];
                }
                ri[i * r + j] = -s / self.r(i, i);
            }
        }
        let mut out = vec![0.0; r * r];
        for i in 0..r {
            for j in i..r {
                let s: f64 = (j..r).map(|k| ri[i * r + k] * ri[j * r + k]).sum();
                out[i * r + j] = s;
                out[j * r + i] = s;
            }
        }
        out
    }

    /// Number of columns of the factorized matrix.
    pub fn ncols(&self) -> usize {
        self.p
    }
}

/// Euclidean norm, scaled to avoid overflow.
pub fn norm(x: &[f64]) -> f64 {
    let m = x.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if m == 0.0 || !m.is_finite() {
        return m;
    }
    m * x.iter().map(|v| (v / m) * (v / m)).sum::<f64>().sqrt()
}

/// Dot product.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Lower Cholesky factor L (row-major) of a symmetric positive-definite k × k
/// matrix (row-major); `None` when it is not numerically positive definite.
pub fn cholesky(a: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= l[i * k + m] * l[j * k + m];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * k + i] = s.sqrt();
            } else {
                l[i * k + j] = s / l[j * k + j];
            }
        }
    }
    Some(l)
}

/// Lower Cholesky factor L (row-major) of a symmetric k × k matrix, or `None` when a
/// pivot is not above `tol` times the largest diagonal element (a relative singularity
/// test; `tol = 0` only rejects non-positive pivots).
pub fn cholesky_tol(a: &[f64], k: usize, tol: f64) -> Option<Vec<f64>> {
    let maxdiag = (0..k).map(|i| a[i * k + i]).fold(0.0_f64, f64::max);
    if maxdiag <= 0.0 || !maxdiag.is_finite() {
        return None;
    }
    let mut l = vec![0.0; k * k];
    for j in 0..k {
        let mut d = a[j * k + j];
        for m in 0..j {
            d -= l[j * k + m] * l[j * k + m];
        }
        if d.is_nan() || d <= tol * maxdiag {
            return None;
        }
        let d = d.sqrt();
        l[j * k + j] = d;
        for i in (j + 1)..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= l[i * k + m] * l[j * k + m];
            }
            l[i * k + j] = s / d;
        }
    }
    Some(l)
}

/// A⁻¹ = L⁻ᵀ L⁻¹ from the lower Cholesky factor L of a k × k matrix (row-major, symmetric
/// result); `None` when a value is not finite.
pub fn inverse_from_cholesky(l: &[f64], k: usize) -> Option<Vec<f64>> {
    let mut li = vec![0.0; k * k];
    for j in 0..k {
        li[j * k + j] = 1.0 / l[j * k + j];
        for i in j + 1..k {
            let mut s = 0.0;
            for m in j..i {
                s -= l[i * k + m] * li[m * k + j];
            }
            li[i * k + j] = s / l[i * k + i];
        }
    }
    let mut inv = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..=i {
            let s: f64 = (i..k).map(|m| li[m * k + i] * li[m * k + j]).sum();
            inv[i * k + j] = s;
            inv[j * k + i] = s;
        }
    }
    inv.iter().all(|v| v.is_finite()).then_some(inv)
}

/// Inverse of a symmetric positive-definite k × k matrix (row-major) by Cholesky.
pub fn spd_inverse(a: &[f64], k: usize) -> Option<Vec<f64>> {
    inverse_from_cholesky(&cholesky(a, k)?, k)
}

/// Inverse and log-determinant of a symmetric positive-definite k × k matrix.
pub fn spd_inverse_logdet(a: &[f64], k: usize) -> Option<(Vec<f64>, f64)> {
    let l = cholesky(a, k)?;
    let logdet = 2.0 * (0..k).map(|i| l[i * k + i].ln()).sum::<f64>();
    let inv = inverse_from_cholesky(&l, k)?;
    logdet.is_finite().then_some((inv, logdet))
}

/// bᵀ A⁻¹ b from the Cholesky factor L of A (forward substitution: ‖L⁻¹b‖²).
pub fn chol_quadratic_form(l: &[f64], b: &[f64]) -> f64 {
    let k = b.len();
    let mut u = vec![0.0; k];
    for i in 0..k {
        let mut s = b[i];
        for m in 0..i {
            s -= l[i * k + m] * u[m];
        }
        u[i] = s / l[i * k + i];
    }
    dot(&u, &u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_solves_and_detects_alias() {
        // columns: 1, x, 2x (aliased), x²
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let n = x.len();
        let mut a = vec![1.0; n];
        a.extend(x);
        a.extend(x.iter().map(|v| 2.0 * v));
        a.extend(x.iter().map(|v| v * v));
        let y: Vec<f64> = x.iter().map(|v| 1.0 + 0.5 * v - 0.25 * v * v).collect();
        let qr = Qr::new(&a, n, 4, RANK_TOL);
        assert_eq!(qr.kept, [0, 1, 3]);
        assert_eq!(qr.aliased, [2]);
        let b = qr.solve(&y);
        for (got, want) in b.iter().zip([1.0, 0.5, -0.25]) {
            assert!((got - want).abs() < 1e-12, "{got} {want}");
        }
        let inv = qr.xtx_inverse();
        assert_eq!(inv.len(), 9);
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        assert!((chol_quadratic_form(&l, &[1.0, 1.0]) - 0.375).abs() < 1e-15);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_none());
    }
}
