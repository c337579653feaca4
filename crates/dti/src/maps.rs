//! Scalar and vector maps of a [`TensorFit`], one `f32` value (or tuple) per voxel in
//! the fit's voxel order. Voxels outside the mask or flagged as failed have zero
//! tensors, and every map is 0 there (FA of a zero or isotropic tensor is 0, as DIPY).
//!
//! Definitions follow `dipy.reconst.dti` (Basser & Pierpaoli 1996 for FA; tensor mode
//! from Ennis & Kindlmann 2006). All quantities are computed from the clipped
//! eigenvalues and eigenvectors, so the tensor elements written out are the tensor
//! reconstructed from them (DIPY's `quadratic_form`).

use crate::tensor::{TensorFit, VoxelTensor};

/// Fractional anisotropy of eigenvalues; 0 when all are 0 (DIPY's convention).
pub fn fa_of(ev: &[f64; 3]) -> f64 {
    let [a, b, c] = *ev;
    let ss = a * a + b * b + c * c;
    if ss == 0.0 {
        return 0.0;
    }
    (0.5 * ((a - b).powi(2) + (b - c).powi(2) + (c - a).powi(2)) / ss).sqrt()
}

/// Tensor mode (Ennis & Kindlmann 2006): 3√6·det(Ã/‖Ã‖) of the deviatoric tensor Ã, in
/// [−1, 1]; 0 for an isotropic tensor.
pub fn mode_of(ev: &[f64; 3]) -> f64 {
    let m = (ev[0] + ev[1] + ev[2]) / 3.0;
    let d = [ev[0] - m, ev[1] - m, ev[2] - m];
    let norm = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    if norm.is_nan() || norm <= 1e-12 * m.abs().max(f64::MIN_POSITIVE) {
        return 0.0;
    }
    let v = 3.0 * 6f64.sqrt() * (d[0] / norm) * (d[1] / norm) * (d[2] / norm);
    v.clamp(-1.0, 1.0)
}

/// The tensor Σ λₖ eₖeₖᵀ as (Dxx, Dyy, Dzz, Dxy, Dxz, Dyz).
pub fn reconstructed(v: &VoxelTensor) -> [f64; 6] {
    let mut d = [0.0; 6];
    for k in 0..3 {
        let (l, e) = (v.evals[k], v.evecs[k]);
        d[0] += l * e[0] * e[0];
        d[1] += l * e[1] * e[1];
        d[2] += l * e[2] * e[2];
        d[3] += l * e[0] * e[1];
        d[4] += l * e[0] * e[2];
        d[5] += l * e[1] * e[2];
    }
    d
}

fn map<F: Fn(&VoxelTensor) -> f64>(fit: &TensorFit, f: F) -> Vec<f32> {
    fit.voxels
        .iter()
        .map(|v| if v.flags == 0 { 0.0 } else { f(v) as f32 })
        .collect()
}

/// Fractional anisotropy.
pub fn fa(fit: &TensorFit) -> Vec<f32> {
    map(fit, |v| fa_of(&v.evals))
}

/// Mean diffusivity (λ1 + λ2 + λ3)/3, mm²/s.
pub fn md(fit: &TensorFit) -> Vec<f32> {
    map(fit, |v| (v.evals[0] + v.evals[1] + v.evals[2]) / 3.0)
}

/// Axial diffusivity λ1.
pub fn ad(fit: &TensorFit) -> Vec<f32> {
    map(fit, |v| v.evals[0])
}

/// Radial diffusivity (λ2 + λ3)/2.
pub fn rd(fit: &TensorFit) -> Vec<f32> {
    map(fit, |v| 0.5 * (v.evals[1] + v.evals[2]))
}

/// Eigenvalue k (0 = λ1, largest).
pub fn eigenvalue(fit: &TensorFit, k: usize) -> Vec<f32> {
    map(fit, |v| v.evals.get(k).copied().unwrap_or(0.0))
}

/// Tensor mode.
pub fn mode(fit: &TensorFit) -> Vec<f32> {
    map(fit, |v| mode_of(&v.evals))
}

/// Estimated S0.
pub fn s0(fit: &TensorFit) -> Vec<f32> {
    map(fit, |v| v.s0)
}

/// Principal eigenvector V1 (sign: largest-magnitude component positive); 0 outside.
pub fn v1(fit: &TensorFit) -> Vec<[f32; 3]> {
    fit.voxels
        .iter()
        .map(|v| {
            if v.flags == 0 || v.evals == [0.0; 3] {
                [0.0; 3]
            } else {
                v.evecs[0].map(|x| x as f32)
            }
        })
        .collect()
}

/// Colour FA: RGB = |V1|·FA, clipped to [0, 1] (DIPY's `color_fa`).
pub fn color_fa(fit: &TensorFit) -> Vec<[f32; 3]> {
    fit.voxels
        .iter()
        .map(|v| {
            if v.flags == 0 {
                return [0.0; 3];
            }
            let f = fa_of(&v.evals);
            v.evecs[0].map(|x| (x.abs() * f).clamp(0.0, 1.0) as f32)
        })
        .collect()
}

/// The six tensor elements in FSL's order (Dxx, Dxy, Dxz, Dyy, Dyz, Dzz), mm²/s.
pub fn tensor_fsl(fit: &TensorFit) -> Vec<[f32; 6]> {
    fit.voxels
        .iter()
        .map(|v| {
            let d = reconstructed(v);
            [d[0], d[3], d[4], d[1], d[5], d[2]].map(|x| x as f32)
        })
        .collect()
}

/// The six tensor elements in MRtrix's order (Dxx, Dyy, Dzz, Dxy, Dxz, Dyz), mm²/s.
pub fn tensor_mrtrix(fit: &TensorFit) -> Vec<[f32; 6]> {
    fit.voxels
        .iter()
        .map(|v| reconstructed(v).map(|x| x as f32))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_definitions() {
        assert_eq!(fa_of(&[0.0; 3]), 0.0);
        assert_eq!(fa_of(&[1e-3; 3]), 0.0);
        assert!((fa_of(&[1.0, 0.0, 0.0]) - 1.0).abs() < 1e-15);
        // FA of (1.7, 0.4, 0.4).
        let f = fa_of(&[1.7, 0.4, 0.4]);
        let expect = (0.5f64 * (1.3f64.powi(2) * 2.0) / (1.7f64.powi(2) + 0.32)).sqrt();
        assert!((f - expect).abs() < 1e-15);
        assert!((mode_of(&[1.0, 0.0, 0.0]) - 1.0).abs() < 1e-12);
        assert!((mode_of(&[1.0, 1.0, 0.0]) + 1.0).abs() < 1e-12);
        assert!(mode_of(&[1.0, 0.5, 0.0]).abs() < 1e-12);
        assert_eq!(mode_of(&[2e-3; 3]), 0.0);
    }

    #[test]
    fn reconstruction_and_orders() {
        let d = [1.5e-3, 0.5e-3, 0.4e-3, 0.1e-3, -0.05e-3, 0.02e-3];
        let (evals, evecs) = crate::tensor::eigen_of(&d);
        let v = VoxelTensor {
            d,
            s0: 1.0,
            evals,
            evecs,
            flags: 1,
            outliers: 0,
        };
        let r = reconstructed(&v);
        for k in 0..6 {
            assert!((r[k] - d[k]).abs() < 1e-17);
        }
        let fit = TensorFit {
            method: crate::tensor::FitMethod::Wls,
            voxels: vec![v, VoxelTensor::default()],
            voxels_fitted: 1,
            voxels_failed: 0,
            voxels_clipped: 0,
            voxels_fallback: 0,
            voxels_with_outliers: 0,
            total_outliers: 0,
            sigma: None,
            min_diffusivity: 0.0,
        };
        let fsl = tensor_fsl(&fit)[0];
        let mrt = tensor_mrtrix(&fit)[0];
        assert_eq!([fsl[0], fsl[3], fsl[5], fsl[1], fsl[2], fsl[4]], mrt);
        assert_eq!(fa(&fit)[1], 0.0);
        assert_eq!(v1(&fit)[1], [0.0; 3]);
        let c = color_fa(&fit)[0];
        let f = fa(&fit)[0];
        assert!((c[0] - (evecs[0][0].abs() * f as f64) as f32).abs() < 1e-6);
    }
}
