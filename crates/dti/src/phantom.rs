//! A deterministic diffusion phantom: a brain-shaped ellipsoid with cortical and deep
//! grey matter, CSF ventricles, white matter with a smooth orientation field
//! (λ = 1.25, 0.575, 0.575 µm²/ms, FA ≈ 0.45) and five bundles (two corticospinal
//! tracts that bend, a callosal arc that crosses them, two longitudinal bundles) with
//! λ = 1.7, 0.4, 0.4 µm²/ms (FA ≈ 0.72 in the core, ≈ 0.65 with partial volume).
//! Compartments are summed in the signal, so bundle edges and crossings are realistic.
//! Noise is Rician with σ = 1000/SNR (white-matter S0 = 1000); optional corrupted slices
//! multiply one slice of a volume by a factor (signal dropout) before the noise.
//!
//! The geometry lives in normalised coordinates, so any grid size gives the same
//! anatomy. Noise comes from ChaCha8 streams, one per z slice (seeded by `seed`, stream
//! = slice), so the phantom is identical on every run and thread count.
//!
//! Ground truth FA, MD and V1 are those of an OLS fit to the noise-free signal (the
//! effective tensor of a voxel, including partial volume and crossings).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::error::{DtiError, Result};
use crate::gradients::{GradientOptions, GradientTable};
use crate::maps;
use crate::tensor::{FitMethod, FitOptions, fit_tensors};

/// Tissue labels of a phantom voxel.
pub mod labels {
    /// Outside the brain.
    pub const BACKGROUND: u8 = 0;
    /// Ventricles.
    pub const CSF: u8 = 1;
    /// Cortical or deep grey matter.
    pub const GM: u8 = 2;
    /// White matter outside the bundles.
    pub const WM: u8 = 3;
    /// Bundles: left and right corticospinal tract, corpus-callosum arc, left and right
    /// longitudinal bundle (a voxel in several gets the first).
    pub const CST_L: u8 = 4;
    /// Right corticospinal tract.
    pub const CST_R: u8 = 5;
    /// Callosal arc.
    pub const CC: u8 = 6;
    /// Left longitudinal bundle.
    pub const SLF_L: u8 = 7;
    /// Right longitudinal bundle.
    pub const SLF_R: u8 = 8;
}

/// A corrupted slice: slice `z` of volume `volume` is multiplied by `factor`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corruption {
    /// Volume index.
    pub volume: usize,
    /// Slice index (z).
    pub z: usize,
    /// Signal factor (0.4 for a typical dropout).
    pub factor: f64,
}

/// Options of [`generate`].
#[derive(Debug, Clone, PartialEq)]
pub struct PhantomOptions {
    /// Grid (nx, ny, nz).
    pub dims: [usize; 3],
    /// Isotropic voxel size in mm (affine diag(−v, v, v)).
    pub voxel_mm: f64,
    /// Number of b0 volumes, interleaved evenly.
    pub n_b0: usize,
    /// Number of diffusion directions (golden-spiral half sphere).
    pub n_dirs: usize,
    /// b-value of the shell (s/mm²).
    pub bvalue: f64,
    /// SNR of the white-matter b0 (σ = 1000/SNR); `None` for noise-free data.
    pub snr: Option<f64>,
    /// Corrupted slices.
    pub corruptions: Vec<Corruption>,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for PhantomOptions {
    /// The benchmark phantom: 96×96×60, 2 mm, 5 b0 + 64 directions at b = 1000, SNR 20,
    /// two volumes with one slice each dropped to ×0.4.
    fn default() -> Self {
        PhantomOptions {
            dims: [96, 96, 60],
            voxel_mm: 2.0,
            n_b0: 5,
            n_dirs: 64,
            bvalue: 1000.0,
            snr: Some(20.0),
            corruptions: vec![
                Corruption {
                    volume: 10,
                    z: 33,
                    factor: 0.4,
                },
                Corruption {
                    volume: 40,
                    z: 38,
                    factor: 0.4,
                },
            ],
            seed: 42,
        }
    }
}

/// A generated phantom. Voxel order is NIfTI's (x fastest); signals are voxel-major.
#[derive(Debug, Clone)]
pub struct Phantom {
    /// Grid (nx, ny, nz).
    pub dims: [usize; 3],
    /// Voxel-to-world affine (first three rows).
    pub affine: [[f64; 4]; 3],
    /// b-values, one per volume.
    pub bvals: Vec<f64>,
    /// Unit directions (zero for b0), FSL image frame.
    pub bvecs: Vec<[f64; 3]>,
    /// The gradient table.
    pub gtab: GradientTable,
    /// Noisy signals, voxel-major.
    pub signals: Vec<f32>,
    /// Brain mask (label ≠ background).
    pub mask: Vec<bool>,
    /// Tissue labels ([`labels`]).
    pub labels: Vec<u8>,
    /// True FA, MD (mm²/s) and V1 (OLS fit of the noise-free signal).
    pub fa: Vec<f32>,
    /// True MD.
    pub md: Vec<f32>,
    /// True V1.
    pub v1: Vec<[f32; 3]>,
    /// Noise σ (0 when noise-free).
    pub sigma: f64,
}

/// Directions on the half sphere z ≥ 0 by the golden spiral (also used by [`crate::scan_sim`]).
pub(crate) fn directions(n: usize) -> Vec<[f64; 3]> {
    let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
    (0..n)
        .map(|k| {
            let z = 1.0 - (k as f64 + 0.5) / n as f64;
            let r = (1.0 - z * z).max(0.0).sqrt();
            let phi = golden * k as f64;
            [r * phi.cos(), r * phi.sin(), z]
        })
        .collect()
}

/// A bundle: a polyline in normalised coordinates and its label.
struct Bundle {
    label: u8,
    points: Vec<[f64; 3]>,
}

fn bundles() -> Vec<Bundle> {
    let n = 200;
    let t = |k: usize| k as f64 / (n - 1) as f64;
    let cst = |side: f64, label: u8| Bundle {
        label,
        points: (0..n)
            .map(|k| {
                let z = -0.85 + 1.6 * t(k);
                // Bends outwards towards the cortex.
                [side * (0.22 + 0.18 * ((z + 0.85) / 1.6).powi(2)), 0.05, z]
            })
            .collect(),
    };
    let slf = |side: f64, label: u8| Bundle {
        label,
        points: (0..n)
            .map(|k| {
                let y = -0.7 + 1.4 * t(k);
                [side * 0.5, y, 0.3 + 0.12 * (std::f64::consts::PI * y).cos()]
            })
            .collect(),
    };
    vec![
        cst(1.0, labels::CST_L),
        cst(-1.0, labels::CST_R),
        Bundle {
            label: labels::CC,
            points: (0..n)
                .map(|k| {
                    let th = std::f64::consts::PI * t(k);
                    [0.62 * th.cos(), 0.0, 0.12 + 0.4 * th.sin()]
                })
                .collect(),
        },
        slf(1.0, labels::SLF_L),
        slf(-1.0, labels::SLF_R),
    ]
}

/// Tensor λ1 e eᵀ + λ2 (I − e eᵀ) as (Dxx, Dyy, Dzz, Dxy, Dxz, Dyz), mm²/s.
fn cylinder(e: [f64; 3], l1: f64, l2: f64) -> [f64; 6] {
    let d = l1 - l2;
    [
        l2 + d * e[0] * e[0],
        l2 + d * e[1] * e[1],
        l2 + d * e[2] * e[2],
        d * e[0] * e[1],
        d * e[0] * e[2],
        d * e[1] * e[2],
    ]
}

fn normalize(v: [f64; 3]) -> [f64; 3] {
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    [v[0] / n, v[1] / n, v[2] / n]
}

/// The compartments of a voxel at normalised position u: (S0, weight, tensor) list.
fn compartments(u: [f64; 3], bundles: &[Bundle], out: &mut Vec<(f64, f64, [f64; 6])>) -> u8 {
    out.clear();
    let r = (u[0] * u[0] + u[1] * u[1] + u[2] * u[2]).sqrt();
    if r > 1.0 {
        return labels::BACKGROUND;
    }
    let iso = |d: f64| [d, d, d, 0.0, 0.0, 0.0];
    // Ventricles: two ellipsoids beside the midline.
    for side in [-1.0, 1.0] {
        let v = [
            (u[0] - side * 0.12) / 0.08,
            (u[1] - 0.05) / 0.3,
            (u[2] + 0.05) / 0.12,
        ];
        if v[0] * v[0] + v[1] * v[1] + v[2] * v[2] < 1.0 {
            out.push((1800.0, 1.0, iso(3.0e-3)));
            return labels::CSF;
        }
    }
    let gm = (
        1100.0,
        1.0,
        cylinder(normalize([1.0, 1.0, 1.0]), 0.95e-3, 0.75e-3),
    );
    if r > 0.86 {
        out.push(gm);
        return labels::GM;
    }
    // Deep grey matter.
    for side in [-1.0, 1.0] {
        let v = [u[0] - side * 0.2, u[1] + 0.3, u[2] + 0.3];
        if v[0] * v[0] + v[1] * v[1] + v[2] * v[2] < 0.12 * 0.12 {
            out.push(gm);
            return labels::GM;
        }
    }
    // Bundles with a partial-volume edge.
    const R_IN: f64 = 0.06;
    const R_OUT: f64 = 0.11;
    let mut label = labels::WM;
    let mut total = 0.0;
    for b in bundles {
        let mut best = f64::INFINITY;
        let mut idx = 0;
        for (k, p) in b.points.iter().enumerate() {
            let d = (p[0] - u[0]).powi(2) + (p[1] - u[1]).powi(2) + (p[2] - u[2]).powi(2);
            if d < best {
                best = d;
                idx = k;
            }
        }
        let d = best.sqrt();
        if d >= R_OUT {
            continue;
        }
        let w = if d <= R_IN {
            1.0
        } else {
            (R_OUT - d) / (R_OUT - R_IN)
        };
        let a = b.points[idx.saturating_sub(1)];
        let c = b.points[(idx + 1).min(b.points.len() - 1)];
        let e = normalize([c[0] - a[0], c[1] - a[1], c[2] - a[2]]);
        out.push((1000.0, w, cylinder(e, 1.7e-3, 0.4e-3)));
        total += w;
        if label == labels::WM && w > 0.5 {
            label = b.label;
        }
    }
    // Background white matter fills what the bundles leave (a crossing shares the voxel).
    let (bundle_share, wm_share) = if total > 1.0 {
        (1.0 / total, 0.0)
    } else {
        (1.0, 1.0 - total)
    };
    for c in out.iter_mut() {
        c.1 *= bundle_share;
    }
    if wm_share > 0.0 {
        let e = normalize([
            1.0,
            0.6 * (std::f64::consts::PI * u[2]).sin(),
            0.5 * (std::f64::consts::PI * u[1]).cos(),
        ]);
        out.push((1000.0, wm_share, cylinder(e, 1.25e-3, 0.575e-3)));
    }
    label
}

/// Generates a phantom.
pub fn generate(opts: &PhantomOptions) -> Result<Phantom> {
    let [nx, ny, nz] = opts.dims;
    if nx < 4 || ny < 4 || nz < 4 {
        return Err(DtiError::Invalid {
            what: "phantom".into(),
            message: format!(
                "grid {:?} is too small (need at least 4 per axis)",
                opts.dims
            ),
        });
    }
    if opts.n_b0 == 0 || opts.n_dirs < 6 || opts.bvalue.is_nan() || opts.bvalue <= 50.0 {
        return Err(DtiError::Invalid {
            what: "phantom".into(),
            message: "need at least one b0, six directions and b > 50".into(),
        });
    }
    if let Some(s) = opts.snr
        && !(s > 0.0 && s.is_finite())
    {
        return Err(DtiError::Invalid {
            what: "phantom".into(),
            message: format!("SNR {s} must be positive"),
        });
    }
    let nt = opts.n_b0 + opts.n_dirs;
    for c in &opts.corruptions {
        if c.volume >= nt || c.z >= nz || !c.factor.is_finite() {
            return Err(DtiError::Invalid {
                what: "phantom".into(),
                message: format!("corruption {c:?} is outside the {nt} volumes × {nz} slices"),
            });
        }
    }
    // Interleaved b0s.
    let mut is_b0 = vec![false; nt];
    for i in 0..opts.n_b0 {
        let pos = if opts.n_b0 == 1 {
            0
        } else {
            (i * (nt - 1) + (opts.n_b0 - 1) / 2) / (opts.n_b0 - 1)
        };
        is_b0[pos] = true;
    }
    let dirs = directions(opts.n_dirs);
    let mut next = dirs.iter();
    let mut bvals = Vec::with_capacity(nt);
    let mut raw = Vec::with_capacity(nt);
    for &b0 in &is_b0 {
        if b0 {
            bvals.push(0.0);
            raw.push([0.0; 3]);
        } else {
            bvals.push(opts.bvalue);
            raw.push(*next.next().unwrap_or(&[1.0, 0.0, 0.0]));
        }
    }
    let gtab = GradientTable::from_arrays(&bvals, &raw, &GradientOptions::default())?;
    let bmat = gtab.b_matrix();
    let bundles = bundles();
    let sigma = opts.snr.map_or(0.0, |s| 1000.0 / s);
    let nvox = nx * ny * nz;
    let slab = nx * ny;
    let mut clean = vec![0.0f32; nvox * nt];
    let mut signals = vec![0.0f32; nvox * nt];
    let mut labels_out = vec![0u8; nvox];
    // Centre and semi-axes of the brain ellipsoid in voxels.
    let semi = [0.465 * nx as f64, 0.486 * ny as f64, 0.476 * nz as f64];
    let centre = [
        (nx as f64 - 1.0) / 2.0,
        (ny as f64 - 1.0) / 2.0,
        (nz as f64 - 1.0) / 2.0,
    ];
    clean
        .par_chunks_mut(slab * nt)
        .zip(signals.par_chunks_mut(slab * nt))
        .zip(labels_out.par_chunks_mut(slab))
        .enumerate()
        .for_each(|(z, ((clean, noisy), lab))| {
            let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
            rng.set_stream(z as u64);
            let mut comps = Vec::new();
            for y in 0..ny {
                for x in 0..nx {
                    let i = x + nx * y;
                    let u = [
                        (x as f64 - centre[0]) / semi[0],
                        (y as f64 - centre[1]) / semi[1],
                        (z as f64 - centre[2]) / semi[2],
                    ];
                    lab[i] = compartments(u, &bundles, &mut comps);
                    for t in 0..nt {
                        let mut s = 0.0;
                        for (s0, w, d) in &comps {
                            let q: f64 = (0..6).map(|k| bmat[t][k] * d[k]).sum();
                            s += s0 * w * (-q).exp();
                        }
                        clean[i * nt + t] = s as f32;
                        for c in &opts.corruptions {
                            if c.volume == t && c.z == z {
                                s *= c.factor;
                            }
                        }
                        let v = if sigma > 0.0 {
                            let n1: f64 = rng.sample(StandardNormal);
                            let n2: f64 = rng.sample(StandardNormal);
                            ((s + sigma * n1).powi(2) + (sigma * n2).powi(2)).sqrt()
                        } else {
                            s
                        };
                        noisy[i * nt + t] = v as f32;
                    }
                }
            }
        });
    let mask: Vec<bool> = labels_out
        .iter()
        .map(|&l| l != labels::BACKGROUND)
        .collect();
    let truth = fit_tensors(
        &clean,
        nvox,
        &gtab,
        Some(&mask),
        &FitOptions::with_method(FitMethod::Ols),
    )?;
    drop(clean);
    let v = opts.voxel_mm;
    Ok(Phantom {
        dims: opts.dims,
        affine: [
            [-v, 0.0, 0.0, v * (nx as f64 - 1.0) / 2.0],
            [0.0, v, 0.0, -v * (ny as f64 - 1.0) / 2.0],
            [0.0, 0.0, v, -v * (nz as f64 - 1.0) / 2.0],
        ],
        bvals,
        bvecs: gtab.bvecs().to_vec(),
        gtab,
        signals,
        mask,
        labels: labels_out,
        fa: maps::fa(&truth),
        md: maps::md(&truth),
        v1: maps::v1(&truth),
        sigma,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_phantom_is_deterministic_and_sensible() {
        let opts = PhantomOptions {
            dims: [24, 24, 16],
            ..Default::default()
        };
        let opts = PhantomOptions {
            corruptions: vec![],
            ..opts
        };
        let a = generate(&opts).unwrap();
        let b = generate(&opts).unwrap();
        assert_eq!(a.signals, b.signals);
        assert_eq!(a.gtab.b0_indices(), vec![0, 17, 34, 51, 68]);
        let frac = a.mask.iter().filter(|m| **m).count() as f64 / a.mask.len() as f64;
        assert!(frac > 0.35 && frac < 0.55, "{frac}");
        for l in [
            labels::CSF,
            labels::GM,
            labels::WM,
            labels::CST_L,
            labels::CC,
        ] {
            assert!(a.labels.contains(&l), "label {l} missing");
        }
        assert!(a.fa.iter().all(|f| (0.0..=1.0).contains(f)));
        assert!(
            generate(&PhantomOptions {
                dims: [2, 24, 16],
                ..Default::default()
            })
            .is_err()
        );
    }
}
