//! Simulated diffusion scans with known tract FA and MD, measured by the whole pipeline.
//!
//! [`simulate_scan`] turns the true FA and MD of four bundles — a CST-like bundle (running
//! inferior–superior, along z) and a PTR-like bundle (running anterior–posterior, along y) in
//! each hemisphere — into a small diffusion-weighted image, then measures them as a real scan
//! would be: WLS tensor fit ([`crate::tensor`]), deterministic tractography with ROI selection
//! ([`crate::track`], [`crate::roi`]) and tract metrics ([`crate::tract_metrics`]). The demo's
//! simulated trial participants get their imaging outcomes this way.
//!
//! # The phantom (version [`SCAN_SIM_VERSION`])
//! - Grid [`GRID`] = 28 × 24 × 12 voxels of 2 mm (56 × 48 × 24 mm), affine diag(2, 2, 2) with the
//!   grid centred on the origin (RAS+: left is x < 0).
//! - Each bundle is a straight rod of 5 × 5 voxels in cross-section that runs through the whole
//!   grid: CST left/right centred on voxel columns x = 3 / 24, y = 14 (along z); PTR left/right
//!   on x = 10 / 17, z = 5 (along y). Bundle voxels hold a cylindrically symmetric tensor along
//!   the bundle with the bundle's FA and MD ([`cylinder_tensor`]); every other voxel is
//!   isotropic with MD 0.8·10⁻³ mm²/s. There is no partial volume inside a bundle.
//! - Signal `S = S0·exp(−b gᵀDg)`, S0 = 1000, `n_b0` b0 volumes and `n_dirs` golden-spiral
//!   directions at `bvalue`, in the world frame (so the fitted tensor is already in world
//!   coordinates; nothing is written to files, so no FSL frame is involved). Rician noise with
//!   σ = S0 / SNR from one ChaCha8 stream seeded by `seed`, drawn voxel by voxel, volume by
//!   volume, in grid order: the scan is identical on every run and thread count.
//! - Tracking (defaults of the trial protocol except the seed grid): seeds on a 2 mm grid
//!   restricted to a SEED box of ±2.9 mm around each bundle's axis (so every seed and every
//!   trilinear sample near the axis lies between bundle voxels) over the middle third of its
//!   length (each seed's streamline runs through the whole bundle), FA threshold 0.2, 50°, 0.5 mm
//!   Euler steps; AND slabs across the bundle at a quarter and three quarters of its length, and a
//!   NOT slab on the midline (|x| ≤ 1 mm). Metrics: `fa_points`/`md_points` (trilinear on the
//!   fitted maps, averaged over streamline points) per tract, and the most affected side (lower
//!   `fa_points`) per pair, as `dti run … group` reports them.
//!
//! The known-truth test (`tests/scan_sim.rs`) bounds the difference between measured and true
//! FA and MD at the default SNR.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::error::{DtiError, Result};
use crate::gradients::{GradientOptions, GradientTable};
use crate::maps;
use crate::roi::{Hemisphere, Roi, RoiRole, RoiSet, RoiShape};
use crate::tensor::{FitMethod, FitOptions, fit_tensors};
use crate::track::{TensorField, TrackParams, track};
use crate::tract_metrics::{Asymmetry, ScalarMaps, TractMetrics, asymmetry, tract_metrics};

/// Version of the phantom and measurement protocol above, written into outputs.
pub const SCAN_SIM_VERSION: &str = "evidentia-dti scan-sim 1";
/// Grid of a simulated scan.
pub const GRID: [usize; 3] = [28, 24, 12];
/// Voxel size, mm.
pub const VOXEL_MM: f64 = 2.0;
/// Non-diffusion-weighted signal.
pub const S0: f64 = 1000.0;
/// MD of the isotropic background, mm²/s.
pub const BACKGROUND_MD: f64 = 0.8e-3;
/// Half-width of a bundle's square cross-section, voxels (5 × 5 voxels).
const HALF_WIDTH: usize = 2;
/// Nodes of the along-tract profiles computed with the metrics.
const PROFILE_NODES: usize = 20;

/// True FA and MD (mm²/s) of one bundle.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TractTruth {
    /// Fractional anisotropy, in [0, 0.95].
    pub fa: f64,
    /// Mean diffusivity, mm²/s, in (0, 5·10⁻³].
    pub md: f64,
}

/// True values of the four bundles of one scan, `[left, right]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ScanTruth {
    /// CST-like bundles.
    pub cst: [TractTruth; 2],
    /// PTR-like bundles.
    pub ptr: [TractTruth; 2],
}

/// Acquisition and fitting options of a simulated scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanOptions {
    /// Number of b0 volumes.
    pub n_b0: usize,
    /// Number of diffusion directions (golden spiral on the half sphere).
    pub n_dirs: usize,
    /// b-value, s/mm².
    pub bvalue: f64,
    /// SNR of the b0 (σ = S0 / SNR).
    pub snr: f64,
    /// Tensor fit method.
    pub method: FitMethod,
}

impl Default for ScanOptions {
    /// 2 b0 + 30 directions at b = 1000 s/mm², SNR 30, WLS.
    fn default() -> Self {
        Self {
            n_b0: 2,
            n_dirs: 30,
            bvalue: 1000.0,
            snr: 30.0,
            method: FitMethod::Wls,
        }
    }
}

/// What the pipeline measured on one simulated scan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanMeasurement {
    /// [`SCAN_SIM_VERSION`].
    pub version: &'static str,
    /// Metrics of `cst_left`, `cst_right`, `ptr_left`, `ptr_right`, in that order.
    pub tracts: Vec<TractMetrics>,
    /// Asymmetry of the CST pair, then of the PTR pair.
    pub asymmetry: [Asymmetry; 2],
}

impl ScanMeasurement {
    /// FA and MD (`fa_points`, `md_points`, mm²/s) of the most affected side of `tract`
    /// (`"cst"` or `"ptr"`); `None` when that side has no streamlines or the tract is unknown.
    pub fn most_affected(&self, tract: &str) -> Option<(Hemisphere, f64, f64)> {
        let k = match tract {
            "cst" => 0,
            "ptr" => 1,
            _ => return None,
        };
        let side = self.asymmetry[k].most_affected;
        let t = &self.tracts[2 * k + usize::from(side == Hemisphere::Right)];
        Some((side, t.fa_points?, t.md_points?))
    }
}

/// A cylindrically symmetric tensor `[Dxx, Dxy, Dxz, Dyy, Dyz, Dzz]` along unit `e` with the
/// given FA and MD: eigenvalues `(m + 2δ, m − δ, m − δ)` with `δ = m·FA/√(3 − 2FA²)` (from
/// FA = 3δ/√(3m² + 6δ²)).
pub fn cylinder_tensor(fa: f64, md: f64, e: [f64; 3]) -> Result<[f64; 6]> {
    check_truth("bundle", TractTruth { fa, md })?;
    let delta = md * fa / (3.0 - 2.0 * fa * fa).sqrt();
    Ok(crate::track_phantom::stick(e, md + 2.0 * delta, md - delta))
}

fn check_truth(what: &str, t: TractTruth) -> Result<()> {
    if !(t.fa.is_finite() && (0.0..=0.95).contains(&t.fa)) {
        return Err(DtiError::Invalid {
            what: format!("{what} truth"),
            message: format!("FA must be in [0, 0.95], got {}", t.fa),
        });
    }
    if !(t.md.is_finite() && t.md > 0.0 && t.md <= 5e-3) {
        return Err(DtiError::Invalid {
            what: format!("{what} truth"),
            message: format!("MD must be in (0, 0.005] mm²/s, got {}", t.md),
        });
    }
    Ok(())
}

/// One bundle of the phantom: which tract and side, its centre voxel on the two
/// cross-section axes, and the axis it runs along (1 = y, 2 = z).
struct BundleSpec {
    name: &'static str,
    hemisphere: Hemisphere,
    /// Centre voxel indices (x, y, z); the index on `axis` is ignored.
    centre: [usize; 3],
    axis: usize,
}

const BUNDLES: [BundleSpec; 4] = [
    BundleSpec {
        name: "cst_left",
        hemisphere: Hemisphere::Left,
        centre: [3, 14, 0],
        axis: 2,
    },
    BundleSpec {
        name: "cst_right",
        hemisphere: Hemisphere::Right,
        centre: [24, 14, 0],
        axis: 2,
    },
    BundleSpec {
        name: "ptr_left",
        hemisphere: Hemisphere::Left,
        centre: [10, 0, 5],
        axis: 1,
    },
    BundleSpec {
        name: "ptr_right",
        hemisphere: Hemisphere::Right,
        centre: [17, 0, 5],
        axis: 1,
    },
];

/// World coordinate (mm) of voxel index `i` on axis `k`.
fn world(k: usize, i: f64) -> f64 {
    VOXEL_MM * (i - (GRID[k] as f64 - 1.0) / 2.0)
}

fn affine() -> [[f64; 4]; 3] {
    let v = VOXEL_MM;
    [
        [v, 0.0, 0.0, world(0, 0.0)],
        [0.0, v, 0.0, world(1, 0.0)],
        [0.0, 0.0, v, world(2, 0.0)],
    ]
}

/// Index of the bundle containing voxel `(x, y, z)`, if any.
fn bundle_at(v: [usize; 3]) -> Option<usize> {
    BUNDLES.iter().position(|b| {
        (0..3)
            .filter(|&k| k != b.axis)
            .all(|k| v[k].abs_diff(b.centre[k]) <= HALF_WIDTH)
    })
}

/// The ROIs of one bundle (world mm boxes, see the module docs).
fn bundle_rois(b: &BundleSpec) -> Result<RoiSet> {
    let mut lo = [0.0; 3];
    let mut hi = [0.0; 3];
    let mut seed_lo = [0.0; 3];
    let mut seed_hi = [0.0; 3];
    for k in 0..3 {
        if k == b.axis {
            lo[k] = world(k, -0.5);
            hi[k] = world(k, GRID[k] as f64 - 0.5);
            // Seeds in the middle third only: every seed gives a streamline through the whole
            // bundle, so more of them along the axis would repeat the same paths.
            let third = (hi[k] - lo[k]) / 3.0;
            seed_lo[k] = lo[k] + third;
            seed_hi[k] = hi[k] - third;
        } else {
            let c = world(k, b.centre[k] as f64);
            let half = VOXEL_MM * (HALF_WIDTH as f64 + 0.5);
            lo[k] = c - half;
            hi[k] = c + half;
            seed_lo[k] = c - 2.9;
            seed_hi[k] = c + 2.9;
        }
    }
    let slab = |frac: f64| {
        let mut min = lo;
        let mut max = hi;
        let a = b.axis;
        let at = lo[a] + frac * (hi[a] - lo[a]);
        min[a] = at - 0.25;
        max[a] = at + 0.25;
        RoiShape::Box { min, max }
    };
    RoiSet::new(vec![
        Roi {
            name: "core".into(),
            role: RoiRole::Seed,
            shape: RoiShape::Box {
                min: seed_lo,
                max: seed_hi,
            },
        },
        Roi {
            name: "quarter".into(),
            role: RoiRole::And,
            shape: slab(0.25),
        },
        Roi {
            name: "three_quarters".into(),
            role: RoiRole::And,
            shape: slab(0.75),
        },
        Roi {
            name: "midline".into(),
            role: RoiRole::Not,
            shape: RoiShape::Box {
                min: [-1.0, -1000.0, -1000.0],
                max: [1.0, 1000.0, 1000.0],
            },
        },
    ])
}

/// Tracking parameters of a simulated scan (the trial protocol's, seeds every 2 mm).
pub fn scan_track_params() -> TrackParams {
    TrackParams {
        seed_spacing_mm: VOXEL_MM,
        ..TrackParams::default()
    }
}

/// The noisy signals (voxel-major) and gradient table of a scan.
fn synthesize(
    truth: &ScanTruth,
    opts: &ScanOptions,
    seed: u64,
) -> Result<(Vec<f32>, GradientTable)> {
    if opts.n_b0 == 0 || opts.n_dirs < 6 || !(opts.bvalue.is_finite() && opts.bvalue > 50.0) {
        return Err(DtiError::Invalid {
            what: "simulated scan".into(),
            message: "need at least one b0, six directions and a finite b > 50".into(),
        });
    }
    if !(opts.snr.is_finite() && opts.snr > 0.0) {
        return Err(DtiError::Invalid {
            what: "simulated scan".into(),
            message: format!("SNR must be positive, got {}", opts.snr),
        });
    }
    let tracts = [truth.cst[0], truth.cst[1], truth.ptr[0], truth.ptr[1]];
    let mut tensors = Vec::with_capacity(5);
    for (b, t) in BUNDLES.iter().zip(tracts) {
        check_truth(b.name, t)?;
        let mut e = [0.0; 3];
        e[b.axis] = 1.0;
        tensors.push(cylinder_tensor(t.fa, t.md, e)?);
    }
    let m = BACKGROUND_MD;
    tensors.push([m, 0.0, 0.0, m, 0.0, m]);
    let mut bvals = vec![0.0; opts.n_b0];
    let mut bvecs = vec![[0.0; 3]; opts.n_b0];
    for g in crate::phantom::directions(opts.n_dirs) {
        bvals.push(opts.bvalue);
        bvecs.push(g);
    }
    let gtab = GradientTable::from_arrays(&bvals, &bvecs, &GradientOptions::default())?;
    // Noise-free signal of each tissue, then Rician noise voxel by voxel.
    let clean: Vec<Vec<f64>> = tensors
        .iter()
        .map(|d| {
            bvals
                .iter()
                .zip(&bvecs)
                .map(|(&b, g)| {
                    let q = d[0] * g[0] * g[0]
                        + d[3] * g[1] * g[1]
                        + d[5] * g[2] * g[2]
                        + 2.0 * (d[1] * g[0] * g[1] + d[2] * g[0] * g[2] + d[4] * g[1] * g[2]);
                    S0 * (-b * q).exp()
                })
                .collect()
        })
        .collect();
    let sigma = S0 / opts.snr;
    let nt = bvals.len();
    let [nx, ny, nz] = GRID;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut signals = Vec::with_capacity(nx * ny * nz * nt);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let tissue = bundle_at([x, y, z]).unwrap_or(BUNDLES.len());
                for &s in &clean[tissue] {
                    let n1: f64 = rng.sample(StandardNormal);
                    let n2: f64 = rng.sample(StandardNormal);
                    signals.push(((s + sigma * n1).powi(2) + (sigma * n2).powi(2)).sqrt() as f32);
                }
            }
        }
    }
    Ok((signals, gtab))
}

/// Synthesizes one scan with the given truth and noise seed, fits the tensor, tracks the four
/// bundles and measures them (see the module docs).
pub fn simulate_scan(truth: &ScanTruth, opts: &ScanOptions, seed: u64) -> Result<ScanMeasurement> {
    let (signals, gtab) = synthesize(truth, opts, seed)?;
    let n: usize = GRID.iter().product();
    let fit = fit_tensors(
        &signals,
        n,
        &gtab,
        None,
        &FitOptions::with_method(opts.method),
    )?;
    drop(signals);
    let affine = affine();
    let smaps = ScalarMaps::new(
        GRID,
        affine,
        maps::fa(&fit),
        maps::md(&fit),
        maps::ad(&fit),
        maps::rd(&fit),
    )?;
    let field = TensorField::new(GRID, affine, maps::tensor_fsl(&fit), vec![true; n])?;
    let params = scan_track_params();
    let mut tracts = Vec::with_capacity(BUNDLES.len());
    for b in &BUNDLES {
        let rois = bundle_rois(b)?;
        let tg = track(&field, &params, &rois, None)?;
        tracts.push(tract_metrics(
            b.name,
            b.hemisphere,
            &tg.streamlines,
            &smaps,
            PROFILE_NODES,
        )?);
    }
    let asym = [
        asymmetry(&tracts[0], &tracts[1], None)?,
        asymmetry(&tracts[2], &tracts[3], None)?,
    ];
    Ok(ScanMeasurement {
        version: SCAN_SIM_VERSION,
        tracts,
        asymmetry: asym,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cylinder_tensor_has_the_asked_fa_and_md() {
        for (fa, md) in [(0.0, 1e-3), (0.44, 0.97e-3), (0.9, 0.7e-3)] {
            let d = cylinder_tensor(fa, md, [0.0, 0.0, 1.0]).unwrap();
            let s = crate::eig3::scalar_measures(&d);
            assert!((s[0] - fa).abs() < 1e-12, "{fa} {s:?}");
            assert!((s[1] - md).abs() < 1e-15, "{md} {s:?}");
        }
        assert!(cylinder_tensor(0.99, 1e-3, [1.0, 0.0, 0.0]).is_err());
        assert!(cylinder_tensor(0.4, 0.0, [1.0, 0.0, 0.0]).is_err());
        assert!(cylinder_tensor(f64::NAN, 1e-3, [1.0, 0.0, 0.0]).is_err());
    }

    #[test]
    fn bundles_do_not_touch() {
        // Every pair of bundles is at least one voxel apart, and none crosses the midline.
        let mut counts = [0usize; 4];
        let [nx, ny, nz] = GRID;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    if let Some(b) = bundle_at([x, y, z]) {
                        counts[b] += 1;
                        assert!(world(0, x as f64).abs() > 1.0);
                        for (dx, dy, dz) in [(1, 0, 0), (0, 1, 0), (0, 0, 1)] {
                            let w = [x + dx, y + dy, z + dz];
                            if w[0] < nx && w[1] < ny && w[2] < nz {
                                let o = bundle_at(w);
                                assert!(o.is_none() || o == Some(b));
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(counts, [25 * 12, 25 * 12, 25 * 24, 25 * 24]);
    }
}
