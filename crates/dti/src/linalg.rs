//! Small dense linear algebra for the per-voxel fits: a 7×7 Cholesky solve and the
//! Jacobi eigen-decomposition of a symmetric 3×3 matrix. Fixed sizes, no allocation.

/// Number of log-linear tensor parameters (six tensor elements and ln S0).
pub(crate) const NP: usize = 7;

/// Index of element (i, j), i ≥ j, in a packed lower triangle of a 7×7 matrix.
#[inline(always)]
pub(crate) const fn tri(i: usize, j: usize) -> usize {
    i * (i + 1) / 2 + j
}

/// Entries of the packed lower triangle of a 7×7 matrix (28), padded to 32 for SIMD.
pub(crate) const NTRI_PAD: usize = 32;

/// Solves A x = b for a symmetric positive-definite 7×7 matrix given as a packed lower
/// triangle, with `damping` added as A_ii·(1 + damping) (Marquardt's scaling).
/// Returns `None` when A is not numerically positive definite.
#[inline]
pub(crate) fn cholesky_solve7(a: &[f64; NTRI_PAD], b: &[f64; 8], damping: f64) -> Option<[f64; 8]> {
    let mut l = [[0.0f64; NP]; NP];
    let mut max_diag = 0.0f64;
    for i in 0..NP {
        max_diag = max_diag.max(a[tri(i, i)]);
    }
    if !(max_diag > 0.0 && max_diag.is_finite()) {
        return None;
    }
    let tiny = max_diag * 1e-14;
    for i in 0..NP {
        for j in 0..=i {
            let mut s = a[tri(i, j)];
            if i == j {
                s *= 1.0 + damping;
            }
            for k in 0..j {
                s -= l[i][k] * l[j][k];
            }
            if i == j {
                if !(s > tiny) {
                    return None;
                }
                l[i][i] = s.sqrt();
            } else {
                l[i][j] = s / l[j][j];
            }
        }
    }
    let mut y = [0.0f64; 8];
    for i in 0..NP {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s / l[i][i];
    }
    let mut x = [0.0f64; 8];
    for i in (0..NP).rev() {
        let mut s = y[i];
        for k in i + 1..NP {
            s -= l[k][i] * x[k];
        }
        x[i] = s / l[i][i];
    }
    if x.iter().all(|v| v.is_finite()) {
        Some(x)
    } else {
        None
    }
}

/// Eigen-decomposition of a symmetric 3×3 matrix by cyclic Jacobi rotations (Golub &
/// Van Loan, *Matrix Computations*, §8.5). Returns eigenvalues sorted in descending
/// order and the matching unit eigenvectors (`vecs[k]` belongs to `vals[k]`), each
/// signed so that its largest-magnitude component is positive (first such on ties).
pub fn sym_eigen3(m: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = m;
    // v[r][c]: column c is the c-th eigenvector.
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..32 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        let diag = a[0][0].abs() + a[1][1].abs() + a[2][2].abs();
        if off == 0.0 || off <= diag * 1e-18 {
            break;
        }
        for &(p, q) in &[(0usize, 1usize), (0, 2), (1, 2)] {
            let apq = a[p][q];
            if apq == 0.0 {
                continue;
            }
            let theta = (a[q][q] - a[p][p]) / (2.0 * apq);
            let t = if theta.abs() > 1e150 {
                0.5 / theta
            } else {
                let sgn = if theta >= 0.0 { 1.0 } else { -1.0 };
                sgn / (theta.abs() + (theta * theta + 1.0).sqrt())
            };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            a[p][p] -= t * apq;
            a[q][q] += t * apq;
            a[p][q] = 0.0;
            a[q][p] = 0.0;
            let r = 3 - p - q;
            let arp = a[r][p];
            let arq = a[r][q];
            a[r][p] = c * arp - s * arq;
            a[p][r] = a[r][p];
            a[r][q] = s * arp + c * arq;
            a[q][r] = a[r][q];
            for row in v.iter_mut() {
                let vp = row[p];
                let vq = row[q];
                row[p] = c * vp - s * vq;
                row[q] = s * vp + c * vq;
            }
        }
    }
    let vals = [a[0][0], a[1][1], a[2][2]];
    let mut order = [0usize, 1, 2];
    // Descending, stable on ties so the result does not depend on anything but the input.
    order.sort_by(|&i, &j| vals[j].total_cmp(&vals[i]));
    let mut out_vals = [0.0; 3];
    let mut out_vecs = [[0.0; 3]; 3];
    for (k, &c) in order.iter().enumerate() {
        out_vals[k] = vals[c];
        let mut e = [v[0][c], v[1][c], v[2][c]];
        let mut big = 0;
        for i in 1..3 {
            if e[i].abs() > e[big].abs() {
                big = i;
            }
        }
        if e[big] < 0.0 {
            for x in e.iter_mut() {
                *x = -*x;
            }
        }
        out_vecs[k] = e;
    }
    (out_vals, out_vecs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eigen_reconstructs() {
        let m = [[1.7, 0.3, -0.2], [0.3, 0.5, 0.1], [-0.2, 0.1, 0.4]];
        let (vals, vecs) = sym_eigen3(m);
        assert!(vals[0] >= vals[1] && vals[1] >= vals[2]);
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| vals[k] * vecs[k][i] * vecs[k][j]).sum();
                assert!((r - m[i][j]).abs() < 1e-14, "{i}{j} {r}");
            }
        }
        let tr: f64 = vals.iter().sum();
        assert!((tr - 2.6).abs() < 1e-14);
    }

    #[test]
    fn eigen_diagonal_and_zero() {
        let (vals, vecs) = sym_eigen3([[0.0; 3]; 3]);
        assert_eq!(vals, [0.0; 3]);
        assert_eq!(vecs[0], [1.0, 0.0, 0.0]);
        let (vals, vecs) = sym_eigen3([[0.1, 0.0, 0.0], [0.0, 0.3, 0.0], [0.0, 0.0, 0.2]]);
        assert_eq!(vals, [0.3, 0.2, 0.1]);
        assert_eq!(vecs[0], [0.0, 1.0, 0.0]);
    }

    #[test]
    fn cholesky_solves() {
        // A = diag(1..7) + 0.1 everywhere off-diagonal.
        let mut a = [0.0; NTRI_PAD];
        for i in 0..NP {
            for j in 0..=i {
                a[tri(i, j)] = if i == j { (i + 1) as f64 } else { 0.1 };
            }
        }
        let b = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 0.0];
        let x = cholesky_solve7(&a, &b, 0.0).unwrap();
        for i in 0..NP {
            let r: f64 = (0..NP)
                .map(|j| a[if i >= j { tri(i, j) } else { tri(j, i) }] * x[j])
                .sum();
            assert!((r - b[i]).abs() < 1e-12);
        }
        let zero = [0.0; NTRI_PAD];
        assert!(cholesky_solve7(&zero, &b, 0.0).is_none());
    }
}
