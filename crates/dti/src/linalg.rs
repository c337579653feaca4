//! Small dense linear algebra for the per-voxel fits: a 7×7 Cholesky solve and the
//! Jacobi eigen-decomposition of a symmetric 3×3 matrix. Fixed sizes, no allocation.

// Index loops mirror the algorithms and keep the fixed-size loops vectorisable; negated
// comparisons deliberately treat NaN as a failure.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

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
#[inline(always)]
pub(crate) fn cholesky_solve7(a: &[f64; NTRI_PAD], b: &[f64; 8], damping: f64) -> Option<[f64; 8]> {
    let mut l = [[0.0f64; NP]; NP];
    // Reciprocals of the diagonal: 7 divisions instead of 35.
    let mut inv = [0.0f64; NP];
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
                inv[i] = 1.0 / l[i][i];
            } else {
                l[i][j] = s * inv[j];
            }
        }
    }
    let mut y = [0.0f64; 8];
    for i in 0..NP {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i][k] * y[k];
        }
        y[i] = s * inv[i];
    }
    let mut x = [0.0f64; 8];
    for i in (0..NP).rev() {
        let mut s = y[i];
        for k in i + 1..NP {
            s -= l[k][i] * x[k];
        }
        x[i] = s * inv[i];
    }
    if x.iter().all(|v| v.is_finite()) {
        Some(x)
    } else {
        None
    }
}

/// Eigen-decomposition of a symmetric 3×3 matrix. Returns eigenvalues sorted in
/// descending order and the matching unit eigenvectors (`vecs[k]` belongs to
/// `vals[k]`), each signed so that its largest-magnitude component is positive (first
/// such on ties). Well-separated spectra use the closed form (Smith 1961, eigenvalues
/// from the trigonometric solution of the characteristic cubic; eigenvectors as cross
/// products of rows of A − λI, as in Kopp 2008's hybrid method); near-degenerate ones
/// (an eigenvalue gap below 1e-3 of the largest magnitude) use cyclic Jacobi rotations.
#[inline(always)]
pub fn sym_eigen3(m: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    if let Some(r) = eigen3_closed_form(&m) {
        return r;
    }
    eigen3_jacobi(m)
}

/// Makes the largest-magnitude component positive.
#[inline(always)]
fn sign_fix(mut e: [f64; 3]) -> [f64; 3] {
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
    e
}

#[inline(always)]
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

#[inline(always)]
fn norm2(a: [f64; 3]) -> f64 {
    a[0] * a[0] + a[1] * a[1] + a[2] * a[2]
}

/// Unit null vector of A − λI from the longest cross product of two of its rows.
#[inline(always)]
fn null_vector(m: &[[f64; 3]; 3], l: f64) -> Option<[f64; 3]> {
    let r0 = [m[0][0] - l, m[0][1], m[0][2]];
    let r1 = [m[0][1], m[1][1] - l, m[1][2]];
    let r2 = [m[0][2], m[1][2], m[2][2] - l];
    let c = [cross(r0, r1), cross(r0, r2), cross(r1, r2)];
    let n = [norm2(c[0]), norm2(c[1]), norm2(c[2])];
    let k = if n[0] >= n[1] && n[0] >= n[2] {
        0
    } else if n[1] >= n[2] {
        1
    } else {
        2
    };
    let scale = norm2(r0).max(norm2(r1)).max(norm2(r2));
    if !(n[k] > 1e-20 * scale * scale) {
        return None;
    }
    let inv = 1.0 / n[k].sqrt();
    Some([c[k][0] * inv, c[k][1] * inv, c[k][2] * inv])
}

#[inline(always)]
fn eigen3_closed_form(m: &[[f64; 3]; 3]) -> Option<([f64; 3], [[f64; 3]; 3])> {
    let p1 = m[0][1] * m[0][1] + m[0][2] * m[0][2] + m[1][2] * m[1][2];
    let q = (m[0][0] + m[1][1] + m[2][2]) / 3.0;
    let d = [m[0][0] - q, m[1][1] - q, m[2][2] - q];
    let p2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + 2.0 * p1;
    // Diagonal matrices go to Jacobi, which returns them exactly.
    if !(p1 > 0.0 && p2.is_finite()) {
        return None;
    }
    let p = (p2 / 6.0).sqrt();
    let det = d[0] * (d[1] * d[2] - m[1][2] * m[1][2])
        - m[0][1] * (m[0][1] * d[2] - m[1][2] * m[0][2])
        + m[0][2] * (m[0][1] * m[1][2] - d[1] * m[0][2]);
    let r = (det / (2.0 * p * p * p)).clamp(-1.0, 1.0);
    let phi = r.acos() / 3.0;
    let l1 = q + 2.0 * p * phi.cos();
    let l3 = q + 2.0 * p * (phi + 2.0 * std::f64::consts::FRAC_PI_3).cos();
    let l2 = 3.0 * q - l1 - l3;
    let big = l1.abs().max(l3.abs());
    if !(l1 - l2 >= 1e-3 * big && l2 - l3 >= 1e-3 * big) {
        return None;
    }
    let v1 = null_vector(m, l1)?;
    let v3 = null_vector(m, l3)?;
    if (v1[0] * v3[0] + v1[1] * v3[1] + v1[2] * v3[2]).abs() > 1e-8 {
        return None;
    }
    let v2 = cross(v3, v1);
    let n2 = norm2(v2).sqrt();
    let v2 = [v2[0] / n2, v2[1] / n2, v2[2] / n2];
    Some(([l1, l2, l3], [sign_fix(v1), sign_fix(v2), sign_fix(v3)]))
}

/// Cyclic Jacobi rotations (Golub & Van Loan, *Matrix Computations*, §8.5).
fn eigen3_jacobi(m: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut a = m;
    // v[r][c]: column c is the c-th eigenvector.
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _sweep in 0..32 {
        let off = a[0][1].abs() + a[0][2].abs() + a[1][2].abs();
        let diag = a[0][0].abs() + a[1][1].abs() + a[2][2].abs();
        if off == 0.0 || off <= diag * 1e-15 {
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
        out_vecs[k] = sign_fix([v[0][c], v[1][c], v[2][c]]);
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
    fn closed_form_and_jacobi_agree() {
        let mut state = 12345u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64) - 0.5
        };
        let mut closed = 0;
        for _ in 0..2000 {
            let m = {
                let (a, b, c, d, e, f) = (rnd(), rnd(), rnd(), rnd(), rnd(), rnd());
                [
                    [1.0 + a, d * 0.3, e * 0.3],
                    [d * 0.3, 0.5 + b, f * 0.3],
                    [e * 0.3, f * 0.3, 0.4 + c * 0.2],
                ]
            };
            let (vj, ej) = eigen3_jacobi(m);
            if let Some((vc, ec)) = eigen3_closed_form(&m) {
                closed += 1;
                for k in 0..3 {
                    assert!((vj[k] - vc[k]).abs() < 1e-13, "{vj:?} {vc:?}");
                    let dot: f64 = (0..3).map(|i| ej[k][i] * ec[k][i]).sum();
                    assert!(dot > 1.0 - 1e-12, "{k}: {ej:?} {ec:?}");
                }
            }
        }
        assert!(closed > 1500, "{closed}");
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

/// ln 2 split in a high part with trailing zero bits and a low correction (fdlibm).
const LN2_HI: f64 = 0.693_147_180_369_123_8;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// Natural logarithm of each `x[i]` into `out[i]`, for positive normal finite inputs
/// (the clipped signals). Branch-free so the loop vectorises; within 2 ulp of `f64::ln`
/// and identical on every CPU (fused multiply-adds are rounded once by IEEE 754, in
/// hardware or in libm's `fma`). Reduction x = 2^e·m with
/// m ∈ [√½, √2), then ln m = 2 atanh f, f = (m−1)/(m+1), by its series to f²¹.
#[inline(always)]
pub(crate) fn ln_slice(x: &[f64], out: &mut [f64]) {
    for (o, &v) in out.iter_mut().zip(x) {
        let bits = v.to_bits();
        // The biased exponent as a float, by the 2^52 trick (vectorises, unlike i64 → f64).
        let eb = f64::from_bits(0x4330_0000_0000_0000 | ((bits >> 52) & 0x7ff))
            - 4_503_599_627_370_496.0;
        let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
        let big = m > std::f64::consts::SQRT_2;
        m = if big { m * 0.5 } else { m };
        let ef = eb - 1023.0 + if big { 1.0 } else { 0.0 };
        let f = (m - 1.0) / (m + 1.0);
        let s = f * f;
        let mut p: f64 = 1.0 / 23.0;
        for c in [
            1.0 / 21.0,
            1.0 / 19.0,
            1.0 / 17.0,
            1.0 / 15.0,
            1.0 / 13.0,
            1.0 / 11.0,
            1.0 / 9.0,
            1.0 / 7.0,
            1.0 / 5.0,
            1.0 / 3.0,
        ] {
            p = p.mul_add(s, c);
        }
        let f2 = 2.0 * f;
        *o = ef.mul_add(LN2_HI, f2 + (f2 * s).mul_add(p, ef * LN2_LO));
    }
}

/// exp of each `x[i]` in place, branch-free and vectorisable; within 2 ulp of `f64::exp`
/// on [−708, 709], arguments outside clamped to that range (NaN stays NaN). Reduction
/// x = k·ln2 + r, |r| ≤ ln2/2, then e^r by its Taylor series to r¹³.
#[inline(always)]
pub(crate) fn exp_slice(x: &mut [f64]) {
    const INV_LN2: f64 = std::f64::consts::LOG2_E;
    // 1.5·2^52: adding it rounds to an integer held in the low mantissa bits.
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    for v in x.iter_mut() {
        let a = v.clamp(-708.0, 709.0);
        let t = a * INV_LN2 + MAGIC;
        let k = t - MAGIC;
        let ki = (t.to_bits() as i64) - (MAGIC.to_bits() as i64);
        let r = (a - k * LN2_HI) - k * LN2_LO;
        let mut p: f64 = 1.0 / 6_227_020_800.0;
        for c in [
            1.0 / 479_001_600.0,
            1.0 / 39_916_800.0,
            1.0 / 3_628_800.0,
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
            1.0,
            1.0,
        ] {
            p = p.mul_add(r, c);
        }
        let scale = f64::from_bits(((ki + 1023) as u64) << 52);
        *v = if a.is_nan() { a } else { p * scale };
    }
}

#[cfg(test)]
mod fast_tests {
    use super::*;

    #[test]
    fn ln_and_exp_are_within_2_ulp() {
        let mut xs = Vec::new();
        let mut v = 1e-4f64;
        while v < 1e30 {
            xs.push(v);
            v *= 1.000_731;
        }
        xs.extend([1.0, 2.0, 0.5, std::f64::consts::SQRT_2, 1000.0, 65535.0]);
        let mut out = vec![0.0; xs.len()];
        ln_slice(&xs, &mut out);
        for (x, l) in xs.iter().zip(&out) {
            let e = x.ln();
            assert!(
                (l - e).abs() <= 2.0 * f64::EPSILON * e.abs().max(1e-300) || l == &e,
                "ln {x}: {l} vs {e}"
            );
        }
        let mut ys: Vec<f64> = (-70_000..70_000).map(|i| i as f64 * 0.0101).collect();
        let expect: Vec<f64> = ys.iter().map(|y| y.exp()).collect();
        exp_slice(&mut ys);
        for (i, (g, e)) in ys.iter().zip(&expect).enumerate() {
            assert!(
                (g - e).abs() <= 2.0 * f64::EPSILON * e,
                "exp at {i}: {g} vs {e}"
            );
        }
        let mut special = [f64::NAN, 1e6, -1e6, 0.0];
        exp_slice(&mut special);
        assert!(special[0].is_nan());
        assert!(special[1].is_finite() && special[1] > 1e307);
        assert!(special[2] > 0.0 && special[2] < 1e-307);
        assert_eq!(special[3], 1.0);
    }
}
