//! Diffusion-tensor fitting, voxel by voxel: OLS, WLS, NLLS, RESTORE and an iteratively
//! reweighted robust variant (IRLS), with eigen-decomposition and S0.
//!
//! The model is the log-linear one of Basser, Mattiello & LeBihan (1994):
//! ln S_i = ln S0 − b_i gᵢᵀ D gᵢ, with seven parameters (Dxx, Dyy, Dzz, Dxy, Dxz, Dyz,
//! ln S0). Internally b is in units of 1000 s/mm² (so D is in µm²/ms, well scaled) and
//! all arithmetic is `f64`; results are reported in mm²/s like DIPY.
//!
//! Methods (each mirrors `dipy.reconst.dti` 1.12 unless stated):
//! * [`FitMethod::Ols`]: least squares on ln S with the design pseudo-inverse
//!   (`ols_fit_tensor`).
//! * [`FitMethod::Wls`]: OLS, then weights = predicted signal squared (Chung, Lu &
//!   Henry 2006; `wls_fit_tensor`), solved by normal equations and a 7×7 Cholesky.
//! * [`FitMethod::Nlls`]: Levenberg–Marquardt on the signal itself, S_i = exp(xᵢ·p), with
//!   the analytic Jacobian −S_i xᵢ, started from WLS. The seven log-linear parameters
//!   are fitted directly (no Cholesky parametrisation, so the tensor may be non-positive;
//!   negative eigenvalues are clipped afterwards as DIPY does). DIPY starts from OLS; the
//!   minimum is the same, the start only changes the iterations needed.
//! * [`FitMethod::Restore`]: Chang, Jones & Pierpaoli (2005) as `restore_fit_tensor`:
//!   NLLS from OLS; if a residual exceeds 3σ (σ given, from the background, or per voxel
//!   1.4826·√(N/(N−7))·MAD), up to ten Geman–McClure-weighted NLLS passes with
//!   w = C²/(C² + r²)² (C from the MAD of the current residuals), then the measurements
//!   whose residual still exceeds 3C are dropped and NLLS is refitted from the OLS of the
//!   rest. The number dropped is the voxel's outlier count.
//! * [`FitMethod::Irls`]: ours. Iteratively reweighted WLS in the log domain: weights
//!   μ²·ω with μ the predicted signal and ω = (1 − (r/4.685s)²)² (0 beyond) Tukey
//!   biweights of the signal residual r (s = σ if given, else 1.4826·√(N/(N−7))·MAD(r)
//!   recomputed each pass), started from WLS, at most `max_iter` passes until the
//!   parameters change by < 1e-6 relative;
//!   then measurements with |r| > 3s are dropped and a final WLS is fitted to the rest
//!   (cf. REKINDLE, Tax et al. 2015). The number dropped is the outlier count.
//!
//! Signals below `min_signal` (default 1e-4, DIPY's `MIN_POSITIVE_SIGNAL`) are clipped
//! to it before the fit, as `TensorModel.fit` does, and the voxel is flagged
//! [`flags::CLIPPED`]. Eigenvalues are clipped below at DIPY's `min_diffusivity`
//! (1e-6 / the largest design entry; 0 for RESTORE). A voxel with non-finite signal or a
//! non-finite result gets a zero tensor and [`flags::FAILED`]; every map is then 0 there,
//! never NaN.
//!
//! Voxels are independent and fitted in parallel with rayon; the result does not depend
//! on the number of threads. On x86-64 CPUs with AVX2 and FMA the voxel fit runs as an
//! AVX2/FMA build of the same code (bit-identical: every multiply-add the code fuses is
//! an explicit `mul_add`, which IEEE 754 rounds once in hardware and in libm's `fma`
//! alike, nothing else is fused, and summation orders are fixed;
//! `EVIDENTIA_DTI_GENERIC=1` forces the baseline build). ln and exp of the
//! signals are the crate's own branch-free versions (within 2 ulp of the standard
//! library), so they vectorise and give the same bits on every CPU.

// Index loops mirror the algorithms and keep the fixed-size loops vectorisable; negated
// comparisons deliberately treat NaN as a failure.
#![allow(clippy::needless_range_loop, clippy::neg_cmp_op_on_partial_ord)]

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{DtiError, Result};
use crate::gradients::GradientTable;
use crate::linalg::{NP, NTRI_PAD, cholesky_solve7, exp_slice, ln_slice, sym_eigen3, tri};

/// Per-voxel status bits of a [`TensorFit`].
pub mod flags {
    /// The voxel was inside the mask and fitted.
    pub const FITTED: u8 = 1;
    /// At least one signal was ≤ `min_signal` and was clipped to it.
    pub const CLIPPED: u8 = 2;
    /// Non-finite input or result: the tensor is set to zero.
    pub const FAILED: u8 = 4;
    /// The requested method failed numerically (singular weighted system, NLLS that
    /// did not converge); the result of the simpler initial fit (OLS or WLS) is kept.
    pub const FALLBACK: u8 = 8;
    /// A robust method dropped at least one measurement as an outlier.
    pub const OUTLIERS: u8 = 16;
    /// At least one eigenvalue was below `min_diffusivity` and was clipped.
    pub const EIGEN_CLIPPED: u8 = 32;
}

/// Tensor estimation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FitMethod {
    /// Ordinary least squares on the log signal.
    Ols,
    /// Weighted least squares, weights = OLS-predicted signal squared (DIPY's default).
    Wls,
    /// Non-linear least squares on the signal (Levenberg–Marquardt).
    Nlls,
    /// RESTORE robust fitting (Chang et al. 2005).
    Restore,
    /// Iteratively reweighted WLS with Tukey biweights and outlier rejection.
    Irls,
}

impl FitMethod {
    /// Parses `ols|wls|nlls|restore|irls` (case-insensitive).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "ols" => Ok(FitMethod::Ols),
            "wls" => Ok(FitMethod::Wls),
            "nlls" => Ok(FitMethod::Nlls),
            "restore" => Ok(FitMethod::Restore),
            "irls" => Ok(FitMethod::Irls),
            other => Err(DtiError::Invalid {
                what: "fit method".into(),
                message: format!("'{other}' is not one of ols, wls, nlls, restore, irls"),
            }),
        }
    }
}

/// Noise level used by the robust methods.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseSigma {
    /// Per voxel, 1.4826·√(N/(N−7))·MAD of the residuals (DIPY's RESTORE when σ is None).
    PerVoxelMad,
    /// A given σ (signal units).
    Given(f64),
    /// 1.5267 × the standard deviation of all signals outside the mask (Henkelman 1985,
    /// the estimate Chang et al. 2005 recommend); needs a mask.
    Background,
}

/// Options of [`fit_tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FitOptions {
    /// Estimation method.
    pub method: FitMethod,
    /// Signals below this are clipped to it (DIPY: 1e-4).
    pub min_signal: f64,
    /// Eigenvalues below this are clipped to it; `None` uses DIPY's rule.
    pub min_diffusivity: Option<f64>,
    /// Noise level for RESTORE and IRLS.
    pub sigma: NoiseSigma,
    /// Most reweighting passes of IRLS (RESTORE uses DIPY's 10).
    pub max_iter: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            method: FitMethod::Wls,
            min_signal: 1e-4,
            min_diffusivity: None,
            sigma: NoiseSigma::PerVoxelMad,
            max_iter: 10,
        }
    }
}

impl FitOptions {
    /// Default options with the given method.
    pub fn with_method(method: FitMethod) -> Self {
        FitOptions {
            method,
            ..Default::default()
        }
    }
}

/// The fitted tensor of one voxel.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VoxelTensor {
    /// Tensor elements as fitted, mm²/s, order Dxx, Dyy, Dzz, Dxy, Dxz, Dyz.
    pub d: [f64; 6],
    /// Estimated non-weighted signal S0 = exp(ln S0).
    pub s0: f64,
    /// Eigenvalues, descending, clipped below at `min_diffusivity`.
    pub evals: [f64; 3],
    /// Unit eigenvectors, `evecs[k]` for `evals[k]`; each signed so its largest-magnitude
    /// component is positive.
    pub evecs: [[f64; 3]; 3],
    /// [`flags`] bits; 0 for a voxel outside the mask.
    pub flags: u8,
    /// Measurements dropped as outliers (RESTORE, IRLS).
    pub outliers: u16,
}

/// Tensors of every voxel of an image, with summary counts.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorFit {
    /// Method used.
    pub method: FitMethod,
    /// One entry per voxel, in the input order.
    pub voxels: Vec<VoxelTensor>,
    /// Voxels fitted (in the mask, not failed).
    pub voxels_fitted: usize,
    /// Voxels whose input or result was not finite (zero tensor, flagged).
    pub voxels_failed: usize,
    /// Voxels with at least one clipped signal.
    pub voxels_clipped: usize,
    /// Voxels where the method fell back to its initial fit.
    pub voxels_fallback: usize,
    /// Voxels with at least one outlier (robust methods).
    pub voxels_with_outliers: usize,
    /// Total number of measurements dropped as outliers.
    pub total_outliers: usize,
    /// The σ used by the robust methods when one global value was used.
    pub sigma: Option<f64>,
    /// The eigenvalue floor used.
    pub min_diffusivity: f64,
}

/// One measurement of the design: the scaled row xᵢ, the OLS pseudo-inverse column
/// and the packed outer product xᵢxᵢᵀ (padded for vectorised accumulation).
#[derive(Debug, Clone, Copy)]
struct Row {
    x: [f64; 8],
    pinv: [f64; 8],
    outer: [f64; NTRI_PAD],
}

/// The log-linear design of a gradient scheme, with its precomputed pseudo-inverse.
#[derive(Debug, Clone)]
pub struct Design {
    rows: Vec<Row>,
    /// The same rows by column (x₀ of every measurement, then x₁, ...).
    cols: [Vec<f64>; NP],
    /// DIPY's eigenvalue floor: 1e-6 / max(largest b-matrix entry, 1).
    dipy_min_diffusivity: f64,
}

/// b is scaled by this inside the fits (b in ms/µm², D in µm²/ms).
const B_SCALE: f64 = 1e-3;

impl Design {
    /// Design of a gradient table (its b-matrix rows, b0 rows zero).
    pub fn from_gradients(gtab: &GradientTable) -> Result<Self> {
        Self::from_b_matrix(&gtab.b_matrix())
    }

    /// Design from b-matrix rows b·[gx², gy², gz², 2gxgy, 2gxgz, 2gygz] (s/mm²), as
    /// [`GradientTable::b_matrix`] returns. Use this to fit with directions exactly as
    /// given (e.g. not renormalised, or rotated b-matrices).
    pub fn from_b_matrix(b_matrix: &[[f64; 6]]) -> Result<Self> {
        let n = b_matrix.len();
        if n < NP {
            return Err(DtiError::Shape {
                what: "gradient table".into(),
                message: format!("{n} volumes cannot determine the 7 tensor parameters"),
            });
        }
        if let Some(i) = b_matrix
            .iter()
            .position(|r| r.iter().any(|v| !v.is_finite()))
        {
            return Err(DtiError::Invalid {
                what: "gradient table".into(),
                message: format!("volume {i} has a non-finite b-matrix entry"),
            });
        }
        let mut max_entry = 1.0f64;
        let mut rows: Vec<Row> = b_matrix
            .iter()
            .map(|b| {
                let mut x = [0.0; 8];
                for k in 0..6 {
                    max_entry = max_entry.max(b[k]);
                    x[k] = -b[k] * B_SCALE;
                }
                x[6] = 1.0;
                let mut outer = [0.0; NTRI_PAD];
                for i in 0..NP {
                    for j in 0..=i {
                        outer[tri(i, j)] = x[i] * x[j];
                    }
                }
                Row {
                    x,
                    pinv: [0.0; 8],
                    outer,
                }
            })
            .collect();
        let mut xtx = [0.0; NTRI_PAD];
        for r in &rows {
            for k in 0..NTRI_PAD {
                xtx[k] += r.outer[k];
            }
        }
        for r in rows.iter_mut() {
            let c = cholesky_solve7(&xtx, &r.x, 0.0).ok_or_else(|| DtiError::Invalid {
                what: "gradient table".into(),
                message: "the directions and b-values do not determine a tensor (need at least \
                          six non-coplanar diffusion directions and a second b-value)"
                    .into(),
            })?;
            r.pinv = c;
        }
        let cols = std::array::from_fn(|k| rows.iter().map(|r| r.x[k]).collect());
        Ok(Design {
            cols,
            rows,
            dipy_min_diffusivity: 1e-6 / max_entry,
        })
    }

    /// Number of measurements.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Always false for a constructed design.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// OLS parameters from the log signal.
    #[inline(always)]
    fn ols(&self, ly: &[f64]) -> [f64; 8] {
        let mut p = [0.0; 8];
        for (r, &l) in self.rows.iter().zip(ly) {
            for k in 0..8 {
                p[k] = l.mul_add(r.pinv[k], p[k]);
            }
        }
        p
    }

    /// Weighted log-linear least squares: minimises Σ w2ᵢ (lyᵢ − xᵢ·p)².
    #[inline(always)]
    fn weighted_ls(&self, ly: &[f64], w2: &[f64]) -> Option<[f64; 8]> {
        let mut a = [0.0; NTRI_PAD];
        let mut b = [0.0; 8];
        for ((r, &l), &w) in self.rows.iter().zip(ly).zip(w2) {
            for k in 0..NTRI_PAD {
                a[k] = w.mul_add(r.outer[k], a[k]);
            }
            let wl = w * l;
            for k in 0..8 {
                b[k] = wl.mul_add(r.x[k], b[k]);
            }
        }
        cholesky_solve7(&a, &b, 0.0)
    }

    /// Linear predictors `out[i] = factor·(xᵢ·p)`, column by column (vectorises over i;
    /// the summation order is fixed: column 0 to 6).
    #[inline(always)]
    fn eta_all(&self, p: &[f64; 8], factor: f64, out: &mut [f64]) {
        let n = self.rows.len();
        let out = &mut out[..n];
        let c0 = &self.cols[0][..n];
        for i in 0..n {
            out[i] = c0[i] * p[0];
        }
        for k in 1..NP {
            let c = &self.cols[k][..n];
            let pk = p[k];
            for i in 0..n {
                out[i] = c[i].mul_add(pk, out[i]);
            }
        }
        if factor != 1.0 {
            for v in out.iter_mut() {
                *v *= factor;
            }
        }
    }
}

/// Scratch buffers of one worker (no allocation per voxel).
struct Work {
    y: Vec<f64>,
    ly: Vec<f64>,
    w: Vec<f64>,
    mu: Vec<f64>,
    mu2: Vec<f64>,
    r: Vec<f64>,
    tmp: Vec<f64>,
    keep: Vec<f64>,
}

impl Work {
    fn new(n: usize) -> Self {
        Work {
            y: vec![0.0; n],
            ly: vec![0.0; n],
            w: vec![0.0; n],
            mu: vec![0.0; n],
            mu2: vec![0.0; n],
            r: vec![0.0; n],
            tmp: vec![0.0; n],
            keep: vec![1.0; n],
        }
    }
}

/// Median with numpy's convention (mean of the two middle values for even counts).
#[inline(always)]
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Median absolute deviation of `r` (entries with `keep` = 0 ignored), via `tmp`.
#[inline(always)]
fn mad(r: &[f64], keep: &[f64], tmp: &mut Vec<f64>) -> f64 {
    tmp.clear();
    tmp.extend(
        r.iter()
            .zip(keep)
            .filter(|(_, k)| **k > 0.0)
            .map(|(v, _)| *v),
    );
    let m = median_in_place(tmp);
    for v in tmp.iter_mut() {
        *v = (*v - m).abs();
    }
    median_in_place(tmp)
}

/// Outcome of a Levenberg–Marquardt run.
struct LmResult {
    p: [f64; 8],
    ok: bool,
}

/// Levenberg–Marquardt for min Σ wᵢ (yᵢ − exp(xᵢ·p))², with Marquardt's diagonal
/// damping; `w` of zero removes a measurement. Leaves the prediction of the returned
/// parameters in `ws.mu`.
#[inline(always)]
fn lm_fit(
    design: &Design,
    y: &[f64],
    w: &[f64],
    p0: [f64; 8],
    mu: &mut [f64],
    trial_mu: &mut [f64],
) -> LmResult {
    // `lm_cost` is a function, not a closure: a closure is not compiled with the
    // caller's target features, and its fused multiply-adds would become libm calls.
    let mut p = p0;
    let mut cost = lm_cost(design, y, w, &p, mu);
    if !cost.is_finite() {
        return LmResult { p: p0, ok: false };
    }
    let mut lambda = 1e-4;
    for _iter in 0..50 {
        let mut a = [0.0; NTRI_PAD];
        let mut g = [0.0; 8];
        for (i, row) in design.rows.iter().enumerate() {
            let m = mu[i];
            let wm = w[i] * m;
            let wmm = wm * m;
            for k in 0..NTRI_PAD {
                a[k] = wmm.mul_add(row.outer[k], a[k]);
            }
            let gr = wm * (y[i] - m);
            for k in 0..8 {
                g[k] = gr.mul_add(row.x[k], g[k]);
            }
        }
        let scale = (0..NP).map(|k| p[k].abs()).fold(0.0, f64::max);
        // Try steps with growing damping until one goes downhill.
        loop {
            if lambda > 1e8 {
                // No downhill step at any damping: p is a (numerical) minimum.
                return LmResult { p, ok: true };
            }
            let Some(delta) = cholesky_solve7(&a, &g, lambda) else {
                lambda *= 10.0;
                continue;
            };
            let step = (0..NP).map(|k| delta[k].abs()).fold(0.0, f64::max);
            if step <= 1e-10 * (1.0 + scale) {
                return LmResult { p, ok: true };
            }
            let mut pt = p;
            for k in 0..NP {
                pt[k] += delta[k];
            }
            let ct = lm_cost(design, y, w, &pt, trial_mu);
            if ct.is_finite() && ct < cost {
                let reduction = cost - ct;
                p = pt;
                cost = ct;
                mu.copy_from_slice(trial_mu);
                lambda = (lambda * 0.1).max(1e-9);
                // Converged: a negligible decrease, or a step so small that the next
                // (quadratically convergent) one would change nothing that matters.
                if reduction <= 1e-10 * cost.max(f64::MIN_POSITIVE) || step <= 1e-7 * (1.0 + scale)
                {
                    return LmResult { p, ok: true };
                }
                break;
            }
            lambda *= 10.0;
        }
    }
    LmResult { p, ok: true }
}

/// Σ wᵢ (yᵢ − exp(xᵢ·p))², leaving the prediction in `mu`.
#[inline(always)]
fn lm_cost(design: &Design, y: &[f64], w: &[f64], p: &[f64; 8], mu: &mut [f64]) -> f64 {
    design.eta_all(p, 1.0, mu);
    exp_slice(mu);
    let mut c = 0.0;
    for i in 0..y.len() {
        let r = y[i] - mu[i];
        c += w[i] * r * r;
    }
    c
}

/// Signal residuals r = y − μ for the prediction in `mu`.
#[inline(always)]
fn residuals(y: &[f64], mu: &[f64], r: &mut [f64]) {
    for i in 0..y.len() {
        r[i] = y[i] - mu[i];
    }
}

/// Per-fit constants.
struct Ctx<'a> {
    design: &'a Design,
    opts: &'a FitOptions,
    sigma: Option<f64>,
    min_diffusivity: f64,
    /// 1.4826·√(N/(N−7)).
    mad_factor: f64,
    /// Whether to run the AVX2/FMA build of the voxel fit (set when the CPU has both,
    /// unless `EVIDENTIA_DTI_GENERIC` is set).
    use_avx2: bool,
}

fn avx2_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`fit_voxel`] compiled for AVX2/FMA. Rust never contracts a·b + c into an FMA by
/// itself, the explicit `mul_add`s are correctly rounded on both paths, and every
/// accumulation keeps its order, so the results are bit-identical to the generic path;
/// only the vector width and the speed change. Everything it calls must be inlined into
/// it (`#[inline(always)]` functions, no closures), or it runs without these features.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fit_voxel_avx2(ctx: &Ctx, s: &[f32], ws: &mut Work) -> VoxelTensor {
    fit_voxel(ctx, s, ws)
}

/// Fits one voxel with the best code path for this CPU.
fn fit_one(ctx: &Ctx, s: &[f32], ws: &mut Work) -> VoxelTensor {
    #[cfg(target_arch = "x86_64")]
    if ctx.use_avx2 {
        // SAFETY: `use_avx2` is set only when the CPU has AVX2 and FMA.
        return unsafe { fit_voxel_avx2(ctx, s, ws) };
    }
    fit_voxel(ctx, s, ws)
}

/// Fits one voxel; `s` is its signal.
#[inline(always)]
fn fit_voxel(ctx: &Ctx, s: &[f32], ws: &mut Work) -> VoxelTensor {
    let design = ctx.design;
    let n = design.len();
    let mut flags = flags::FITTED;
    let mut outliers = 0u16;
    let failed = VoxelTensor {
        flags: flags::FITTED | flags::FAILED,
        ..Default::default()
    };
    // Branch-free (vectorisable): flag non-finite and clipped values, clip.
    let min_signal = ctx.opts.min_signal;
    let (mut bad, mut low) = (0u32, 0u32);
    for (y, &v) in ws.y[..n].iter_mut().zip(&s[..n]) {
        let v = v as f64;
        bad |= u32::from(!v.is_finite());
        low |= u32::from(v < min_signal);
        *y = if v < min_signal { min_signal } else { v };
    }
    if bad != 0 {
        return failed;
    }
    if low != 0 {
        flags |= flags::CLIPPED;
    }
    ln_slice(&ws.y, &mut ws.ly);
    let p_ols = design.ols(&ws.ly);
    ws.keep.fill(1.0);
    let p = match ctx.opts.method {
        FitMethod::Ols => p_ols,
        FitMethod::Wls => wls(design, ws, &p_ols).unwrap_or_else(|| {
            flags |= flags::FALLBACK;
            p_ols
        }),
        FitMethod::Nlls => {
            let start = wls(design, ws, &p_ols).unwrap_or(p_ols);
            ws.w.fill(1.0);
            let r = lm_fit(design, &ws.y, &ws.w, start, &mut ws.mu, &mut ws.mu2);
            if r.ok {
                r.p
            } else {
                flags |= flags::FALLBACK;
                start
            }
        }
        FitMethod::Restore => {
            let (p, dropped, ok) = restore(ctx, ws, p_ols);
            if !ok {
                flags |= flags::FALLBACK;
            }
            outliers = dropped;
            p
        }
        FitMethod::Irls => {
            let start = wls(design, ws, &p_ols).unwrap_or(p_ols);
            let (p, dropped, ok) = irls(ctx, ws, start);
            if !ok {
                flags |= flags::FALLBACK;
            }
            outliers = dropped;
            p
        }
    };
    if outliers > 0 {
        flags |= flags::OUTLIERS;
    }
    finish(p, flags, outliers, ctx.min_diffusivity)
}

/// WLS from parameters `p`: weights = predicted signal squared (times `keep`).
#[inline(always)]
fn wls(design: &Design, ws: &mut Work, p: &[f64; 8]) -> Option<[f64; 8]> {
    let n = design.len();
    design.eta_all(p, 2.0, &mut ws.w);
    exp_slice(&mut ws.w);
    for i in 0..n {
        ws.w[i] *= ws.keep[i];
    }
    design.weighted_ls(&ws.ly, &ws.w)
}

/// RESTORE for one voxel (see the module docs). Returns parameters, outliers dropped,
/// and whether every step succeeded.
#[inline(always)]
fn restore(ctx: &Ctx, ws: &mut Work, p_ols: [f64; 8]) -> ([f64; 8], u16, bool) {
    let design = ctx.design;
    let n = design.len();
    // Unweighted NLLS. DIPY starts it from OLS; WLS is closer to the same minimum.
    let start = wls(design, ws, &p_ols).unwrap_or(p_ols);
    ws.w.fill(1.0);
    let first = lm_fit(design, &ws.y, &ws.w, start, &mut ws.mu, &mut ws.mu2);
    if !first.ok {
        return (p_ols, 0, false);
    }
    let mut p = first.p;
    residuals(&ws.y, &ws.mu, &mut ws.r);
    let ones = &ws.keep; // all ones here
    let mut c = match ctx.sigma {
        Some(s) => s,
        None => ctx.mad_factor * mad(&ws.r, ones, &mut ws.tmp),
    };
    if !ws.r.iter().any(|r| r.abs() > 3.0 * c) {
        return (p, 0, true);
    }
    let mut start = p_ols;
    for _ in 0..10 {
        c = ctx.mad_factor * mad(&ws.r, &ws.keep, &mut ws.tmp);
        let c2 = c * c;
        for i in 0..n {
            let d = c2 + ws.r[i] * ws.r[i];
            let d = d * d;
            ws.w[i] = if d != 0.0 { c2 / d } else { 0.0 };
        }
        let r = lm_fit(design, &ws.y, &ws.w, start, &mut ws.mu, &mut ws.mu2);
        if !r.ok {
            return (p, 0, false);
        }
        p = r.p;
        residuals(&ws.y, &ws.mu, &mut ws.r);
        // DIPY's relative change, in its own parameter units (D in mm²/s, −ln S0).
        let mut num = 0.0;
        let mut den = 0.0;
        for k in 0..NP {
            let s = if k < 6 { B_SCALE } else { 1.0 };
            num += ((p[k] - start[k]) * s).powi(2);
            den += (p[k] * s).powi(2);
        }
        start = p;
        if 100.0 * num.sqrt() / den.sqrt() < 0.1 {
            break;
        }
    }
    let mut dropped = 0usize;
    for i in 0..n {
        if ws.r[i].abs() > 3.0 * c {
            ws.keep[i] = 0.0;
            dropped += 1;
        }
    }
    if dropped == 0 {
        return (p, 0, true);
    }
    // OLS of the clean data (weights 0/1), then NLLS on it.
    let clean_start = design.weighted_ls(&ws.ly, &ws.keep);
    // A match, not a closure (see `lm_fit`).
    let result = match clean_start {
        Some(s) => {
            let r = lm_fit(design, &ws.y, &ws.keep, s, &mut ws.mu, &mut ws.mu2);
            r.ok.then_some(r.p)
        }
        None => None,
    };
    let ok = result.is_some();
    ws.keep.fill(1.0);
    match result {
        Some(pc) => (pc, dropped.min(u16::MAX as usize) as u16, ok),
        // Too few or degenerate clean measurements: keep the Geman–McClure fit.
        None => (p, 0, false),
    }
}

/// Tuning constant of Tukey's biweight (Holland & Welsch 1977).
const TUKEY_C: f64 = 4.685;

/// The IRLS variant for one voxel (see the module docs).
#[inline(always)]
fn irls(ctx: &Ctx, ws: &mut Work, start: [f64; 8]) -> ([f64; 8], u16, bool) {
    let design = ctx.design;
    let n = design.len();
    let mut p = start;
    let mut s = 0.0;
    for _ in 0..ctx.opts.max_iter.max(1) {
        design.eta_all(&p, 1.0, &mut ws.mu);
        exp_slice(&mut ws.mu);
        residuals(&ws.y, &ws.mu, &mut ws.r);
        s = match ctx.sigma {
            Some(v) => v,
            None => ctx.mad_factor * mad(&ws.r, &ws.keep, &mut ws.tmp),
        };
        if !(s > 0.0) {
            // A perfect fit: nothing to reweight.
            return (p, 0, true);
        }
        for i in 0..n {
            // Tukey's biweight with c = 4.685·s (95 % efficiency under Gaussian noise).
            let u = ws.r[i] / (TUKEY_C * s);
            let om = if u.abs() < 1.0 { 1.0 - u * u } else { 0.0 };
            ws.w[i] = ws.mu[i] * ws.mu[i] * om * om;
        }
        let Some(pn) = design.weighted_ls(&ws.ly, &ws.w) else {
            return (p, 0, false);
        };
        let change = (0..NP).map(|k| (pn[k] - p[k]).abs()).fold(0.0, f64::max);
        let scale = (0..NP).map(|k| pn[k].abs()).fold(0.0, f64::max);
        p = pn;
        if change <= 1e-6 * scale.max(1e-12) {
            break;
        }
    }
    design.eta_all(&p, 1.0, &mut ws.mu);
    exp_slice(&mut ws.mu);
    residuals(&ws.y, &ws.mu, &mut ws.r);
    let mut dropped = 0usize;
    for i in 0..n {
        if ws.r[i].abs() > 3.0 * s {
            ws.keep[i] = 0.0;
            dropped += 1;
        }
    }
    if dropped == 0 {
        return (p, 0, true);
    }
    for i in 0..n {
        ws.w[i] = ws.mu[i] * ws.mu[i] * ws.keep[i];
    }
    let result = design.weighted_ls(&ws.ly, &ws.w);
    ws.keep.fill(1.0);
    match result {
        Some(pc) => (pc, dropped.min(u16::MAX as usize) as u16, true),
        None => (p, 0, false),
    }
}

/// Converts scaled parameters to a [`VoxelTensor`] (units, eigen-decomposition, clipping).
#[inline(always)]
fn finish(p: [f64; 8], mut flags: u8, outliers: u16, min_diffusivity: f64) -> VoxelTensor {
    let d = [
        p[0] * B_SCALE,
        p[1] * B_SCALE,
        p[2] * B_SCALE,
        p[3] * B_SCALE,
        p[4] * B_SCALE,
        p[5] * B_SCALE,
    ];
    let s0 = p[6].exp();
    if !(d.iter().all(|v| v.is_finite()) && s0.is_finite()) {
        return VoxelTensor {
            flags: flags | flags::FAILED,
            ..Default::default()
        };
    }
    let (mut evals, evecs) = eigen_of(&d);
    for e in evals.iter_mut() {
        if *e < min_diffusivity {
            *e = min_diffusivity;
            flags |= flags::EIGEN_CLIPPED;
        }
    }
    VoxelTensor {
        d,
        s0,
        evals,
        evecs,
        flags,
        outliers,
    }
}

/// Eigen-decomposition of a tensor given as (Dxx, Dyy, Dzz, Dxy, Dxz, Dyz).
#[inline(always)]
pub fn eigen_of(d: &[f64; 6]) -> ([f64; 3], [[f64; 3]; 3]) {
    sym_eigen3([[d[0], d[3], d[4]], [d[3], d[1], d[5]], [d[4], d[5], d[2]]])
}

/// σ from the background: 1.5267 × the population standard deviation of every signal
/// of the voxels outside `mask` (Henkelman 1985; Chang et al. 2005).
pub fn background_sigma(signals: &[f32], n_voxels: usize, mask: &[bool]) -> Result<f64> {
    if n_voxels == 0 || !signals.len().is_multiple_of(n_voxels) || mask.len() != n_voxels {
        return Err(DtiError::Shape {
            what: "background sigma".into(),
            message: format!(
                "{} signals, {} mask entries and {n_voxels} voxels do not fit together",
                signals.len(),
                mask.len()
            ),
        });
    }
    let nt = signals.len() / n_voxels;
    let (mut n, mut sum) = (0usize, 0.0f64);
    for v in (0..n_voxels).filter(|&v| !mask[v]) {
        for &x in &signals[v * nt..(v + 1) * nt] {
            if x.is_finite() {
                n += 1;
                sum += x as f64;
            }
        }
    }
    if n < 2 {
        return Err(DtiError::Invalid {
            what: "background sigma".into(),
            message: "the mask leaves no background voxels to estimate the noise from".into(),
        });
    }
    let mean = sum / n as f64;
    let mut ss = 0.0;
    for v in (0..n_voxels).filter(|&v| !mask[v]) {
        for &x in &signals[v * nt..(v + 1) * nt] {
            if x.is_finite() {
                ss += (x as f64 - mean).powi(2);
            }
        }
    }
    Ok(1.5267 * (ss / n as f64).sqrt())
}

/// Fits a tensor in every voxel (or every voxel of `mask`) of voxel-major signals
/// (`n_voxels` blocks of `gtab.len()` values, as [`crate::Volume::to_voxel_major`]).
pub fn fit_tensors(
    signals: &[f32],
    n_voxels: usize,
    gtab: &GradientTable,
    mask: Option<&[bool]>,
    options: &FitOptions,
) -> Result<TensorFit> {
    let design = Design::from_gradients(gtab)?;
    fit_tensors_with_design(signals, n_voxels, &design, mask, options)
}

/// As [`fit_tensors`] with a prepared [`Design`] (reuse it across images, or build it
/// from raw b-matrices).
pub fn fit_tensors_with_design(
    signals: &[f32],
    n_voxels: usize,
    design: &Design,
    mask: Option<&[bool]>,
    options: &FitOptions,
) -> Result<TensorFit> {
    let nt = design.len();
    if n_voxels.checked_mul(nt) != Some(signals.len()) {
        return Err(DtiError::Shape {
            what: "signals".into(),
            message: format!(
                "{} values are not {n_voxels} voxels × {nt} volumes of the gradient table",
                signals.len()
            ),
        });
    }
    if let Some(m) = mask
        && m.len() != n_voxels
    {
        return Err(DtiError::Shape {
            what: "mask".into(),
            message: format!("{} entries for {n_voxels} voxels", m.len()),
        });
    }
    if !(options.min_signal >= f64::MIN_POSITIVE && options.min_signal.is_finite()) {
        return Err(DtiError::Invalid {
            what: "min_signal".into(),
            message: format!("{} must be a positive normal number", options.min_signal),
        });
    }
    let robust = matches!(options.method, FitMethod::Restore | FitMethod::Irls);
    let sigma = if robust {
        match options.sigma {
            NoiseSigma::PerVoxelMad => None,
            NoiseSigma::Given(s) => {
                if !(s > 0.0 && s.is_finite()) {
                    return Err(DtiError::Invalid {
                        what: "sigma".into(),
                        message: format!("{s} must be a positive number"),
                    });
                }
                Some(s)
            }
            NoiseSigma::Background => {
                let m = mask.ok_or_else(|| DtiError::Invalid {
                    what: "sigma".into(),
                    message: "a background noise estimate needs a brain mask".into(),
                })?;
                Some(background_sigma(signals, n_voxels, m)?)
            }
        }
    } else {
        None
    };
    let min_diffusivity = match options.min_diffusivity {
        Some(v) if v.is_finite() => v,
        Some(v) => {
            return Err(DtiError::Invalid {
                what: "min_diffusivity".into(),
                message: format!("{v} is not finite"),
            });
        }
        None if options.method == FitMethod::Restore => 0.0,
        None => design.dipy_min_diffusivity,
    };
    let ctx = Ctx {
        design,
        opts: options,
        sigma,
        min_diffusivity,
        mad_factor: 1.4826 * (nt as f64 / (nt as f64 - NP as f64)).sqrt(),
        use_avx2: avx2_available() && std::env::var_os("EVIDENTIA_DTI_GENERIC").is_none(),
    };
    // Voxels are written in place in parallel (no zero-filled buffer first); each is
    // independent, so the result does not depend on the thread count.
    const CHUNK: usize = 256;
    let mut voxels = Vec::with_capacity(n_voxels);
    crate::mem::advise_huge_pages(
        voxels.as_ptr() as usize,
        n_voxels * std::mem::size_of::<VoxelTensor>(),
    );
    (0..n_voxels)
        .into_par_iter()
        .with_min_len(CHUNK)
        .map_init(
            || Work::new(nt),
            |ws, v| {
                if mask.is_some_and(|m| !m[v]) {
                    VoxelTensor::default()
                } else {
                    fit_one(&ctx, &signals[v * nt..(v + 1) * nt], ws)
                }
            },
        )
        .collect_into_vec(&mut voxels);
    // Integer counts: the sum is exact in any order.
    let counts = voxels
        .par_iter()
        .fold(
            || [0usize; 6],
            |mut c, v| {
                if v.flags & flags::FAILED != 0 {
                    c[1] += 1;
                } else if v.flags & flags::FITTED != 0 {
                    c[0] += 1;
                }
                c[2] += usize::from(v.flags & flags::CLIPPED != 0);
                c[3] += usize::from(v.flags & flags::FALLBACK != 0);
                c[4] += usize::from(v.outliers > 0);
                c[5] += v.outliers as usize;
                c
            },
        )
        .reduce(|| [0usize; 6], |a, b| std::array::from_fn(|k| a[k] + b[k]));
    let fit = TensorFit {
        method: options.method,
        voxels,
        voxels_fitted: counts[0],
        voxels_failed: counts[1],
        voxels_clipped: counts[2],
        voxels_fallback: counts[3],
        voxels_with_outliers: counts[4],
        total_outliers: counts[5],
        sigma,
        min_diffusivity,
    };
    Ok(fit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradients::GradientOptions;

    /// 1 b0 + 12 directions at b = 1000.
    fn table() -> GradientTable {
        const H: f64 = std::f64::consts::FRAC_1_SQRT_2;
        let dirs: [[f64; 3]; 12] = [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
            [H, H, 0.0],
            [H, 0.0, H],
            [0.0, H, H],
            [H, -H, 0.0],
            [H, 0.0, -H],
            [0.0, H, -H],
            [0.577, 0.577, 0.577],
            [-0.577, 0.577, 0.577],
            [0.577, -0.577, 0.577],
        ];
        let mut bvals = vec!["0".to_string()];
        let mut rows = [
            vec!["0".to_string()],
            vec!["0".to_string()],
            vec!["0".to_string()],
        ];
        for d in dirs {
            bvals.push("1000".into());
            for k in 0..3 {
                rows[k].push(format!("{}", d[k]));
            }
        }
        let bvec = rows
            .iter()
            .map(|r| r.join(" "))
            .collect::<Vec<_>>()
            .join("\n");
        GradientTable::from_fsl_text(&bvals.join(" "), &bvec, &GradientOptions::default()).unwrap()
    }

    fn signal(g: &GradientTable, d: &[f64; 6], s0: f64) -> Vec<f32> {
        g.b_matrix()
            .iter()
            .map(|b| {
                let q: f64 = (0..6).map(|k| b[k] * d[k]).sum();
                (s0 * (-q).exp()) as f32
            })
            .collect()
    }

    #[test]
    fn noise_free_tensor_is_recovered_by_every_method() {
        let g = table();
        let d = [1.5e-3, 0.5e-3, 0.4e-3, 0.1e-3, -0.05e-3, 0.02e-3];
        let s = signal(&g, &d, 1000.0);
        for m in ["ols", "wls", "nlls", "restore", "irls"] {
            let fit = fit_tensors(
                &s,
                1,
                &g,
                None,
                &FitOptions::with_method(FitMethod::parse(m).unwrap()),
            )
            .unwrap();
            let v = fit.voxels[0];
            for k in 0..6 {
                assert!(
                    (v.d[k] - d[k]).abs() < 1e-8,
                    "{m} {k}: {} vs {}",
                    v.d[k],
                    d[k]
                );
            }
            assert!((v.s0 - 1000.0).abs() < 1e-3, "{m}");
            assert_eq!(fit.voxels_fitted, 1);
            assert_eq!(v.outliers, 0, "{m}");
        }
    }

    #[test]
    fn bad_voxels_are_flagged_not_nan() {
        let g = table();
        let n = g.len();
        let mut s = vec![0.0f32; 3 * n];
        s[n..2 * n].copy_from_slice(&signal(&g, &[1e-3, 1e-3, 1e-3, 0.0, 0.0, 0.0], 500.0));
        s[2 * n + 3] = f32::NAN;
        let fit = fit_tensors(&s, 3, &g, None, &FitOptions::default()).unwrap();
        assert_eq!(fit.voxels_failed, 1);
        assert_eq!(fit.voxels_fitted, 2);
        assert_eq!(fit.voxels_clipped, 1);
        assert!(fit.voxels[0].flags & flags::CLIPPED != 0);
        assert!(fit.voxels[2].flags & flags::FAILED != 0);
        assert!(fit.voxels.iter().all(|v| v.d.iter().all(|x| x.is_finite())));
        // Wrong sizes are errors.
        assert!(fit_tensors(&s[1..], 3, &g, None, &FitOptions::default()).is_err());
        assert!(fit_tensors(&s, 3, &g, Some(&[true]), &FitOptions::default()).is_err());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_and_generic_paths_are_bit_identical() {
        if !avx2_available() {
            return;
        }
        let ph = crate::phantom::generate(&crate::phantom::PhantomOptions {
            dims: [10, 10, 6],
            corruptions: vec![],
            ..Default::default()
        })
        .unwrap();
        let design = Design::from_gradients(&ph.gtab).unwrap();
        let n = ph.mask.len();
        for method in [
            FitMethod::Ols,
            FitMethod::Wls,
            FitMethod::Nlls,
            FitMethod::Restore,
            FitMethod::Irls,
        ] {
            let opts = FitOptions::with_method(method);
            let ctx = Ctx {
                design: &design,
                opts: &opts,
                sigma: None,
                min_diffusivity: 0.0,
                mad_factor: 1.4826 * (69.0f64 / 62.0).sqrt(),
                use_avx2: false,
            };
            let nt = design.len();
            let mut ws = Work::new(nt);
            let mut a = Vec::new();
            let mut b = Vec::new();
            for v in 0..n {
                let s = &ph.signals[v * nt..(v + 1) * nt];
                a.push(fit_voxel(&ctx, s, &mut ws));
                // SAFETY: the features were detected above.
                b.push(unsafe { fit_voxel_avx2(&ctx, s, &mut ws) });
            }
            assert_eq!(a, b, "{method:?}");
        }
    }
}
