//! Eigen-decomposition of symmetric 3×3 matrices (diffusion tensors).
//!
//! Two solvers: [`sym_eig3`], a cyclic Jacobi iteration (accurate, used for metrics and as the
//! test oracle), and [`principal_eigen`], the closed-form trigonometric eigenvalues of Smith
//! (1961, Commun. ACM 4:168) with the eigenvector from cross products of the rows of
//! `A − λ₁I` (Kopp 2008, Int. J. Mod. Phys. C 19:523), used at every tracking step.
//!
//! Tensors are passed as the six unique elements `[Dxx, Dxy, Dxz, Dyy, Dyz, Dzz]`.

// Small fixed-size (3, 4, 6) index loops over several arrays read best with indices.
#![allow(clippy::needless_range_loop)]

/// Eigenvalues sorted in descending order with their unit eigenvectors (`vectors[i]` belongs
/// to `values[i]`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eigen3 {
    /// λ₁ ≥ λ₂ ≥ λ₃.
    pub values: [f64; 3],
    /// Unit eigenvectors, one per eigenvalue.
    pub vectors: [[f64; 3]; 3],
}

fn full(d: &[f64; 6]) -> [[f64; 3]; 3] {
    [[d[0], d[1], d[2]], [d[1], d[3], d[4]], [d[2], d[4], d[5]]]
}

/// Full eigen-decomposition by cyclic Jacobi rotations (Golub & Van Loan, Matrix Computations,
/// §8.5); converges to machine precision in a handful of sweeps for 3×3 matrices.
pub fn sym_eig3(d: &[f64; 6]) -> Eigen3 {
    let mut a = full(d);
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..50 {
        let off = a[0][1].powi(2) + a[0][2].powi(2) + a[1][2].powi(2);
        let scale = a[0][0].powi(2) + a[1][1].powi(2) + a[2][2].powi(2) + off;
        if off <= 1e-30 * scale || off == 0.0 {
            break;
        }
        for (p, q) in [(0usize, 1usize), (0, 2), (1, 2)] {
            if a[p][q] == 0.0 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // A ← Jᵀ A J with J the rotation in the (p, q) plane.
            for k in 0..3 {
                let akp = a[k][p];
                let akq = a[k][q];
                a[k][p] = c * akp - s * akq;
                a[k][q] = s * akp + c * akq;
            }
            for k in 0..3 {
                let apk = a[p][k];
                let aqk = a[q][k];
                a[p][k] = c * apk - s * aqk;
                a[q][k] = s * apk + c * aqk;
            }
            for row in v.iter_mut() {
                let vp = row[p];
                let vq = row[q];
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let mut order = [0usize, 1, 2];
    let diag = [a[0][0], a[1][1], a[2][2]];
    order.sort_by(|&i, &j| diag[j].total_cmp(&diag[i]));
    let mut values = [0.0; 3];
    let mut vectors = [[0.0; 3]; 3];
    for (slot, &i) in order.iter().enumerate() {
        values[slot] = diag[i];
        vectors[slot] = [v[0][i], v[1][i], v[2][i]];
    }
    Eigen3 { values, vectors }
}

/// Eigenvalues (descending) by Smith's closed form.
pub fn eigenvalues(d: &[f64; 6]) -> [f64; 3] {
    let m = (d[0] + d[3] + d[5]) / 3.0;
    let (k0, k3, k5) = (d[0] - m, d[3] - m, d[5] - m);
    let p = (k0 * k0 + k3 * k3 + k5 * k5 + 2.0 * (d[1] * d[1] + d[2] * d[2] + d[4] * d[4])) / 6.0;
    if p <= 0.0 {
        return [m, m, m];
    }
    let det = k0 * (k3 * k5 - d[4] * d[4]) - d[1] * (d[1] * k5 - d[4] * d[2])
        + d[2] * (d[1] * d[4] - k3 * d[2]);
    let q = det / 2.0;
    let sp = p.sqrt();
    let phi = ((p * p * p - q * q).max(0.0).sqrt()).atan2(q) / 3.0;
    let (s, c) = phi.sin_cos();
    let l1 = m + 2.0 * sp * c;
    let l2 = m - sp * (c - 3f64.sqrt() * s);
    let l3 = m - sp * (c + 3f64.sqrt() * s);
    let mut l = [l1, l2, l3];
    l.sort_by(|a, b| b.total_cmp(a));
    l
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm2(a: [f64; 3]) -> f64 {
    a[0] * a[0] + a[1] * a[1] + a[2] * a[2]
}

/// Unit eigenvector of eigenvalue `lambda`: the largest cross product of two rows of
/// `A − λI`. When λ is (numerically) a repeated eigenvalue the eigenspace is a plane or the
/// whole space and any vector in it is returned, chosen deterministically.
pub fn eigenvector(d: &[f64; 6], lambda: f64) -> [f64; 3] {
    let r0 = [d[0] - lambda, d[1], d[2]];
    let r1 = [d[1], d[3] - lambda, d[4]];
    let r2 = [d[2], d[4], d[5] - lambda];
    let c = [cross(r0, r1), cross(r0, r2), cross(r1, r2)];
    let n = [norm2(c[0]), norm2(c[1]), norm2(c[2])];
    let mut best = 0;
    for i in 1..3 {
        if n[i] > n[best] {
            best = i;
        }
    }
    let scale = norm2(r0).max(norm2(r1)).max(norm2(r2));
    if n[best] > 1e-20 * scale * scale && n[best] > 0.0 {
        let inv = 1.0 / n[best].sqrt();
        return [c[best][0] * inv, c[best][1] * inv, c[best][2] * inv];
    }
    // Rank ≤ 1: any vector orthogonal to the largest row is an eigenvector.
    let rows = [r0, r1, r2];
    let rn = [norm2(r0), norm2(r1), norm2(r2)];
    let mut ri = 0;
    for i in 1..3 {
        if rn[i] > rn[ri] {
            ri = i;
        }
    }
    if rn[ri] == 0.0 {
        return [1.0, 0.0, 0.0];
    }
    let r = rows[ri];
    // Cross with the coordinate axis least aligned with r.
    let axis = if r[0].abs() <= r[1].abs() && r[0].abs() <= r[2].abs() {
        [1.0, 0.0, 0.0]
    } else if r[1].abs() <= r[2].abs() {
        [0.0, 1.0, 0.0]
    } else {
        [0.0, 0.0, 1.0]
    };
    let v = cross(r, axis);
    let inv = 1.0 / norm2(v).sqrt();
    [v[0] * inv, v[1] * inv, v[2] * inv]
}

/// Largest eigenvalue: the largest root of the deviatoric characteristic polynomial
/// `x³ − 3p·x − 2q` (Smith 1961) found by Newton's method from the upper bound `2√p`, from which
/// the iteration decreases monotonically onto the largest root (the cubic is convex there).
/// Cheaper than the trigonometric form; agrees with it to ~1e-12 relative for distinct λ₁.
pub fn largest_eigenvalue(d: &[f64; 6]) -> f64 {
    let m = (d[0] + d[3] + d[5]) / 3.0;
    let (k0, k3, k5) = (d[0] - m, d[3] - m, d[5] - m);
    let p = (k0 * k0 + k3 * k3 + k5 * k5 + 2.0 * (d[1] * d[1] + d[2] * d[2] + d[4] * d[4])) / 6.0;
    if p <= 0.0 {
        return m;
    }
    let det = k0 * (k3 * k5 - d[4] * d[4]) - d[1] * (d[1] * k5 - d[4] * d[2])
        + d[2] * (d[1] * d[4] - k3 * d[2]);
    let q = det / 2.0;
    let sp = p.sqrt();
    let mut x = 2.0 * sp;
    for _ in 0..100 {
        let f = x * (x * x - 3.0 * p) - 2.0 * q;
        let df = 3.0 * (x * x - p);
        if f <= 0.0 || df <= 0.0 {
            break;
        }
        let step = f / df;
        x -= step;
        if step <= 1e-13 * sp {
            break;
        }
    }
    m + x
}

/// Largest eigenvalue and its unit eigenvector (closed form).
pub fn principal_eigen(d: &[f64; 6]) -> (f64, [f64; 3]) {
    let l = largest_eigenvalue(d);
    (l, eigenvector(d, l))
}

/// Fractional anisotropy from the tensor invariants, without eigenvalues:
/// FA = √(3/2) ‖D − MD·I‖_F / ‖D‖_F (Basser & Pierpaoli 1996, J. Magn. Reson. B 111:209).
/// Returns 0 for the zero tensor.
pub fn fractional_anisotropy(d: &[f64; 6]) -> f64 {
    let m = (d[0] + d[3] + d[5]) / 3.0;
    let off = 2.0 * (d[1] * d[1] + d[2] * d[2] + d[4] * d[4]);
    let dev = (d[0] - m).powi(2) + (d[3] - m).powi(2) + (d[5] - m).powi(2) + off;
    let tot = d[0] * d[0] + d[3] * d[3] + d[5] * d[5] + off;
    if tot <= 0.0 {
        0.0
    } else {
        (1.5 * dev / tot).sqrt().min(1.0)
    }
}

/// FA, MD, AD (λ₁) and RD ((λ₂+λ₃)/2) from the eigenvalues.
pub fn scalar_measures(d: &[f64; 6]) -> [f64; 4] {
    let l = eigenvalues(d);
    let md = (l[0] + l[1] + l[2]) / 3.0;
    [fractional_anisotropy(d), md, l[0], 0.5 * (l[1] + l[2])]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_eigen(l: [f64; 3], axes: [[f64; 3]; 3]) -> [f64; 6] {
        let mut m = [[0.0; 3]; 3];
        for (k, a) in axes.iter().enumerate() {
            for i in 0..3 {
                for j in 0..3 {
                    m[i][j] += l[k] * a[i] * a[j];
                }
            }
        }
        [m[0][0], m[0][1], m[0][2], m[1][1], m[1][2], m[2][2]]
    }

    fn rotation(a: f64, b: f64, c: f64) -> [[f64; 3]; 3] {
        let (sa, ca) = a.sin_cos();
        let (sb, cb) = b.sin_cos();
        let (sc, cc) = c.sin_cos();
        // Columns of Rz(a)·Ry(b)·Rx(c) as the three orthonormal axes.
        let r = [
            [ca * cb, ca * sb * sc - sa * cc, ca * sb * cc + sa * sc],
            [sa * cb, sa * sb * sc + ca * cc, sa * sb * cc - ca * sc],
            [-sb, cb * sc, cb * cc],
        ];
        [
            [r[0][0], r[1][0], r[2][0]],
            [r[0][1], r[1][1], r[2][1]],
            [r[0][2], r[1][2], r[2][2]],
        ]
    }

    #[test]
    fn known_rotated_tensors() {
        let mut worst_val: f64 = 0.0;
        let mut worst_vec: f64 = 0.0;
        for i in 0..200 {
            let t = i as f64;
            let axes = rotation(0.37 * t, 0.11 * t + 0.2, 0.73 * t);
            let l = [1.7e-3, 0.4e-3 + 1e-6 * t, 0.3e-3];
            let d = from_eigen(l, axes);
            for e in [sym_eig3(&d)] {
                for k in 0..3 {
                    worst_val = worst_val.max((e.values[k] - l[k]).abs() / l[0]);
                }
                let dot: f64 = (0..3).map(|j| e.vectors[0][j] * axes[0][j]).sum();
                worst_vec = worst_vec.max(1.0 - dot.abs());
            }
            let (l1, v1) = principal_eigen(&d);
            worst_val = worst_val.max((l1 - l[0]).abs() / l[0]);
            let dot: f64 = (0..3).map(|j| v1[j] * axes[0][j]).sum();
            worst_vec = worst_vec.max(1.0 - dot.abs());
            let ev = eigenvalues(&d);
            for k in 0..3 {
                worst_val = worst_val.max((ev[k] - l[k]).abs() / l[0]);
            }
        }
        assert!(worst_val < 1e-10, "eigenvalue error {worst_val}");
        assert!(worst_vec < 1e-10, "eigenvector error {worst_vec}");
    }

    #[test]
    fn fa_matches_eigenvalue_formula() {
        let d = from_eigen([1.7, 0.4, 0.4], rotation(0.3, 0.5, 0.9));
        let l = [1.7f64, 0.4, 0.4];
        let md = 2.5 / 3.0;
        let fa = (1.5 * l.iter().map(|x| (x - md).powi(2)).sum::<f64>()
            / l.iter().map(|x| x * x).sum::<f64>())
        .sqrt();
        assert!((fractional_anisotropy(&d) - fa).abs() < 1e-12);
        let s = scalar_measures(&d);
        // With a repeated eigenvalue the closed form loses about half the digits (p³ − q² ≈ 0).
        assert!(
            (s[1] - md).abs() < 1e-12 && (s[2] - 1.7).abs() < 1e-7,
            "{s:?}"
        );
        assert!((s[3] - 0.4).abs() < 1e-7);
    }

    #[test]
    fn degenerate_cases_give_unit_vectors() {
        for d in [
            [1.0, 0.0, 0.0, 1.0, 0.0, 1.0],
            [0.0; 6],
            [1.0, 0.0, 0.0, 1.0, 0.0, 0.2],
            [0.2, 0.0, 0.0, 1.0, 0.0, 1.0],
        ] {
            let (_, v) = principal_eigen(&d);
            assert!((norm2(v) - 1.0).abs() < 1e-12, "{d:?} → {v:?}");
        }
        // Planar tensor: the eigenvector lies in the plane of the two large eigenvalues.
        let (_, v) = principal_eigen(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.2]);
        assert!(v[2].abs() < 1e-12);
        assert_eq!(fractional_anisotropy(&[0.0; 6]), 0.0);
    }
}
