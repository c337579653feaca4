//! Deterministic tensor tractography.
//!
//! # Public API (for `evidentia dti track`)
//! ```text
//! let field = TensorField::new(dims, affine, d6, mask)?;          // from the fitter's output
//! let rois = TractDefinition::load(path)?.resolve(&field, dir, &mut nifti_loader)?; // or RoiSet::empty()
//! let tg: Tractogram = track(&field, &params, &rois, seed_mask.as_deref())?;
//! streamlines::write_tck(&mut file, &tg.streamlines, &tg.header_lines())?;  // or write_trk
//! serde_json::to_string(&tg.summary)?                                      // params + counts
//! ```
//! Threads: the current rayon pool (`RAYON_NUM_THREADS`, or `ThreadPool::install` for
//! `--threads N`); results are byte-identical for any thread count.
//!
//! # Algorithm (all choices are fixed; [`TrackParams::default`] is written into every output)
//! 1. **Seeds**: the world grid `x = (k + ½)·s` (`s` = `seed_spacing_mm`, integer `k`, same on
//!    each axis) over the image's world bounding box, visited z-major then y then x. A grid
//!    point is a seed when its nearest voxel is inside the image and the tracking mask, the
//!    voxel's FA ≥ `seed_fa_threshold`, it is in the optional seed mask (nearest voxel, tensor
//!    grid) and, when the ROI set has SEED ROIs, inside one of them. With 2 mm voxels centred on
//!    even millimetres this is DIPY's `seeds_from_mask(density=2)`.
//! 2. **Direction**: the six tensor elements are interpolated trilinearly (neighbour indices
//!    clamped at the border) and decomposed ([`crate::eig3::principal_eigen`]); the principal
//!    eigenvector's sign is chosen to make a non-negative dot product with the previous step.
//! 3. **Integration**: Euler (`p ← p + h·e(p)`) or classical RK4 on the sign-aligned
//!    eigenvector field (`k₂…k₄` aligned with the preceding stage, the weighted sum normalised),
//!    every step exactly `h = step_mm` long. Each seed is tracked in both directions (`+e₀` and
//!    `−e₀`); the stored streamline runs from the end of the `−e₀` half through the seed to the
//!    end of the `+e₀` half.
//! 4. **Stopping** (the failing point is not stored): the new point leaves the image
//!    (voxel coordinates outside `[−½, n−½)`) or the tracking mask (nearest voxel); interpolated
//!    FA there < `fa_threshold`; the angle between consecutive step directions > `angle_deg`;
//!    the half's length would exceed `max_length_mm`. A stage of RK4 that leaves the
//!    image/mask or falls below the FA threshold also stops the half.
//! 5. **Filters**: streamlines shorter than `min_length_mm` or longer than `max_length_mm`
//!    (length = number of steps × h) are discarded; ROI roles are applied as documented in
//!    [`crate::roi`]. Rejected streamlines are counted, never stored.
//! 6. **Parallelism**: seeds are cut into fixed chunks processed with rayon; the chunks'
//!    outputs are concatenated in seed order, so the output does not depend on scheduling.

// Small fixed-size (3, 4, 6) index loops over several arrays read best with indices.
#![allow(clippy::needless_range_loop)]

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::eig3::{fractional_anisotropy, principal_eigen};
use crate::error::{DtiError, Result};
use crate::roi::{RoiRole, RoiSet};
use crate::streamlines::Streamlines;

/// Version of the tracking algorithm, written into outputs.
pub const TRACKING_VERSION: &str = "evidentia-dti track 1";

/// Integration scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Integrator {
    /// Forward Euler (default).
    Euler,
    /// Classical 4th-order Runge–Kutta.
    Rk4,
}

/// Tracking parameters; the defaults are the trial's protocol (seed FA 0.2, 50°, 1 mm grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackParams {
    /// Step length, mm (default 0.5).
    pub step_mm: f64,
    /// Euler (default) or RK4.
    pub integrator: Integrator,
    /// Stop when the interpolated FA falls below this (default 0.2).
    pub fa_threshold: f64,
    /// Seed only where the voxel FA is at least this (default 0.2; 0 disables).
    pub seed_fa_threshold: f64,
    /// Stop when consecutive steps turn by more than this many degrees (default 50).
    pub angle_deg: f64,
    /// Seed grid spacing in world mm (default 1).
    pub seed_spacing_mm: f64,
    /// Discard streamlines shorter than this (default 10 mm).
    pub min_length_mm: f64,
    /// Discard streamlines longer than this (default 500 mm).
    pub max_length_mm: f64,
}

impl Default for TrackParams {
    fn default() -> Self {
        Self {
            step_mm: 0.5,
            integrator: Integrator::Euler,
            fa_threshold: 0.2,
            seed_fa_threshold: 0.2,
            angle_deg: 50.0,
            seed_spacing_mm: 1.0,
            min_length_mm: 10.0,
            max_length_mm: 500.0,
        }
    }
}

impl TrackParams {
    /// Checks ranges: positive finite step and spacing, thresholds in [0, 1], angle in
    /// (0, 180], 0 ≤ min length ≤ max length.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| {
            Err(DtiError::Invalid {
                what: "tracking parameters".into(),
                message: m,
            })
        };
        if !(self.step_mm.is_finite() && self.step_mm > 0.0) {
            return bad(format!("step_mm must be > 0, got {}", self.step_mm));
        }
        if !(self.seed_spacing_mm.is_finite() && self.seed_spacing_mm > 0.0) {
            return bad(format!(
                "seed_spacing_mm must be > 0, got {}",
                self.seed_spacing_mm
            ));
        }
        for (n, v) in [
            ("fa_threshold", self.fa_threshold),
            ("seed_fa_threshold", self.seed_fa_threshold),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(format!("{n} must be in [0, 1], got {v}"));
            }
        }
        if !(self.angle_deg > 0.0 && self.angle_deg <= 180.0) {
            return bad(format!(
                "angle_deg must be in (0, 180], got {}",
                self.angle_deg
            ));
        }
        if !(self.min_length_mm >= 0.0
            && self.max_length_mm.is_finite()
            && self.min_length_mm <= self.max_length_mm)
        {
            return bad(format!(
                "need 0 ≤ min_length_mm ≤ max_length_mm < ∞, got {} and {}",
                self.min_length_mm, self.max_length_mm
            ));
        }
        Ok(())
    }
}

pub(crate) fn apply_affine(a: &[[f64; 4]; 3], v: [f64; 3]) -> [f64; 3] {
    [
        a[0][0] * v[0] + a[0][1] * v[1] + a[0][2] * v[2] + a[0][3],
        a[1][0] * v[0] + a[1][1] * v[1] + a[1][2] * v[2] + a[1][3],
        a[2][0] * v[0] + a[2][1] * v[1] + a[2][2] * v[2] + a[2][3],
    ]
}

/// Inverse of a 3×4 affine (as a 3×4 affine), `None` when singular or not finite.
pub(crate) fn affine_inverse(a: &[[f64; 4]; 3]) -> Option<[[f64; 4]; 3]> {
    let m = [
        [a[0][0], a[0][1], a[0][2]],
        [a[1][0], a[1][1], a[1][2]],
        [a[2][0], a[2][1], a[2][2]],
    ];
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if !det.is_finite() || det.abs() < 1e-12 || a.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    let id = 1.0 / det;
    let inv = [
        [
            (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * id,
            (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * id,
            (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * id,
        ],
        [
            (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * id,
            (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * id,
            (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * id,
        ],
        [
            (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * id,
            (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * id,
            (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * id,
        ],
    ];
    let t = [a[0][3], a[1][3], a[2][3]];
    let mut out = [[0.0; 4]; 3];
    for i in 0..3 {
        out[i][..3].copy_from_slice(&inv[i]);
        out[i][3] = -(inv[i][0] * t[0] + inv[i][1] * t[1] + inv[i][2] * t[2]);
    }
    Some(out)
}

/// Distance in mm between consecutive voxel planes along each axis (1 / ‖row k of A⁻¹‖).
pub(crate) fn voxel_spacing(inv: &[[f64; 4]; 3]) -> [f64; 3] {
    let mut s = [0.0; 3];
    for k in 0..3 {
        s[k] = 1.0 / (inv[k][0].powi(2) + inv[k][1].powi(2) + inv[k][2].powi(2)).sqrt();
    }
    s
}

/// A diffusion tensor field: the tracker's input.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorField {
    dims: [usize; 3],
    affine: [[f64; 4]; 3],
    inv: [[f64; 4]; 3],
    d: Vec<[f32; 6]>,
    mask: Vec<bool>,
    fa: Vec<f32>,
}

impl TensorField {
    /// Builds a field. `d` holds `[Dxx, Dxy, Dxz, Dyy, Dyz, Dzz]` per voxel in NIfTI order, in
    /// the world (RAS+) frame of `affine` (voxel → world mm); `mask` is the tracking mask.
    /// Non-finite tensors are allowed only outside the mask (they are then treated as zero).
    pub fn new(
        dims: [usize; 3],
        affine: [[f64; 4]; 3],
        mut d: Vec<[f32; 6]>,
        mask: Vec<bool>,
    ) -> Result<Self> {
        let n = dims
            .iter()
            .try_fold(1usize, |a, &b| a.checked_mul(b))
            .unwrap_or(0);
        if n == 0 || d.len() != n || mask.len() != n {
            return Err(DtiError::Shape {
                what: "tensor field".into(),
                message: format!(
                    "dimensions {dims:?} need {n} tensors and mask values, got {} and {}",
                    d.len(),
                    mask.len()
                ),
            });
        }
        let inv = affine_inverse(&affine).ok_or_else(|| DtiError::Invalid {
            what: "tensor field".into(),
            message: format!("affine {affine:?} is singular or not finite"),
        })?;
        for (i, t) in d.iter_mut().enumerate() {
            if t.iter().any(|v| !v.is_finite()) {
                if mask[i] {
                    return Err(DtiError::Invalid {
                        what: "tensor field".into(),
                        message: format!("voxel {i} inside the mask has a non-finite tensor"),
                    });
                }
                *t = [0.0; 6];
            }
        }
        let fa = d
            .iter()
            .map(|t| fractional_anisotropy(&t.map(f64::from)) as f32)
            .collect();
        Ok(Self {
            dims,
            affine,
            inv,
            d,
            mask,
            fa,
        })
    }

    /// (nx, ny, nz).
    pub fn dims(&self) -> [usize; 3] {
        self.dims
    }
    /// Voxel → world affine.
    pub fn affine(&self) -> &[[f64; 4]; 3] {
        &self.affine
    }
    /// Tensors in NIfTI order.
    pub fn tensors(&self) -> &[[f32; 6]] {
        &self.d
    }
    /// Tracking mask.
    pub fn mask(&self) -> &[bool] {
        &self.mask
    }
    /// Per-voxel FA of the stored tensors.
    pub fn voxel_fa(&self) -> &[f32] {
        &self.fa
    }
    /// Voxel sizes (column norms of the affine).
    pub fn voxel_size(&self) -> [f64; 3] {
        let mut v = [0.0; 3];
        for (j, vj) in v.iter_mut().enumerate() {
            *vj = (0..3)
                .map(|i| self.affine[i][j].powi(2))
                .sum::<f64>()
                .sqrt();
        }
        v
    }
    /// World mm → continuous voxel coordinates.
    pub fn world_to_voxel(&self, p: [f64; 3]) -> [f64; 3] {
        apply_affine(&self.inv, p)
    }
    /// Continuous voxel coordinates → world mm.
    pub fn voxel_to_world(&self, v: [f64; 3]) -> [f64; 3] {
        apply_affine(&self.affine, v)
    }

    /// Linear index of the nearest voxel, `None` outside the image.
    pub fn nearest_voxel(&self, p: [f64; 3]) -> Option<usize> {
        let v = self.world_to_voxel(p);
        let mut idx = [0usize; 3];
        for k in 0..3 {
            let r = (v[k] + 0.5).floor();
            if !(r >= 0.0 && r < self.dims[k] as f64) {
                return None;
            }
            idx[k] = r as usize;
        }
        Some(idx[0] + self.dims[0] * (idx[1] + self.dims[1] * idx[2]))
    }

    /// Trilinearly interpolated tensor at world point `p`, `None` outside the image or mask.
    pub fn tensor_at(&self, p: [f64; 3]) -> Option<[f64; 6]> {
        let v = self.world_to_voxel(p);
        let mut i0 = [0usize; 3];
        let mut i1 = [0usize; 3];
        let mut f = [0.0f64; 3];
        let mut near = [0usize; 3];
        for k in 0..3 {
            let n = self.dims[k];
            if !(v[k] >= -0.5 && v[k] < n as f64 - 0.5) {
                return None;
            }
            // v ≥ −½ here, so truncation of a non-negative value is floor (no libm call).
            near[k] = (v[k] + 0.5) as usize;
            let lo = (v[k] + 1.0) as isize - 1;
            f[k] = v[k] - lo as f64;
            i0[k] = lo.clamp(0, n as isize - 1) as usize;
            i1[k] = (lo + 1).clamp(0, n as isize - 1) as usize;
        }
        let (nx, nxy) = (self.dims[0], self.dims[0] * self.dims[1]);
        if !self.mask[near[0] + nx * near[1] + nxy * near[2]] {
            return None;
        }
        let base = i0[0] + nx * i0[1] + nxy * i0[2];
        let (sx, sy, sz) = (i1[0] - i0[0], (i1[1] - i0[1]) * nx, (i1[2] - i0[2]) * nxy);
        let g = |o: usize| &self.d[base + o];
        let (t000, t100, t010, t110) = (g(0), g(sx), g(sy), g(sx + sy));
        let (t001, t101, t011, t111) = (g(sz), g(sx + sz), g(sy + sz), g(sx + sy + sz));
        let lerp = |a: f32, b: f32, t: f64| {
            let a = f64::from(a);
            a + t * (f64::from(b) - a)
        };
        let mut out = [0.0f64; 6];
        for (e, o) in out.iter_mut().enumerate() {
            let c00 = lerp(t000[e], t100[e], f[0]);
            let c10 = lerp(t010[e], t110[e], f[0]);
            let c01 = lerp(t001[e], t101[e], f[0]);
            let c11 = lerp(t011[e], t111[e], f[0]);
            let c0 = c00 + f[1] * (c10 - c00);
            let c1 = c01 + f[1] * (c11 - c01);
            *o = c0 + f[2] * (c1 - c0);
        }
        Some(out)
    }
}

/// Counts of what happened to the seeds, for provenance and QC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackCounts {
    /// Seeds generated.
    pub seeds: u64,
    /// Streamlines stored.
    pub kept: u64,
    /// Seeds whose own point failed the FA/mask test.
    pub seed_invalid: u64,
    /// Rejected by the length filters.
    pub too_short: u64,
    /// Rejected by the length filters.
    pub too_long: u64,
    /// Rejected for touching a NOT ROI.
    pub hit_not: u64,
    /// Rejected for missing an AND ROI.
    pub missed_and: u64,
    /// Rejected by the ENDS rule.
    pub failed_ends: u64,
}

impl TrackCounts {
    fn add(&mut self, o: &TrackCounts) {
        self.seeds += o.seeds;
        self.kept += o.kept;
        self.seed_invalid += o.seed_invalid;
        self.too_short += o.too_short;
        self.too_long += o.too_long;
        self.hit_not += o.hit_not;
        self.missed_and += o.missed_and;
        self.failed_ends += o.failed_ends;
    }
}

/// What a tracking run records about itself (goes into every output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    /// [`TRACKING_VERSION`].
    pub version: String,
    /// Parameters used.
    pub params: TrackParams,
    /// ROI names and roles, in definition order.
    pub rois: Vec<(String, RoiRole)>,
    /// Seed and rejection counts.
    pub counts: TrackCounts,
}

/// The result of [`track`]: streamlines in world mm (RAS+), their seeds and the run summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Tractogram {
    /// Streamline points (world mm, f32).
    pub streamlines: Streamlines,
    /// Index (in the seed list of [`seed_points`]) of each streamline's seed.
    pub seed_index: Vec<u32>,
    /// Grid of the tensor field (for TRK headers and metrics).
    pub dims: [usize; 3],
    /// Affine of the tensor field.
    pub affine: [[f64; 4]; 3],
    /// Parameters and counts.
    pub summary: TrackSummary,
}

impl Tractogram {
    /// Extra header lines for TCK output: the summary as one JSON line.
    pub fn header_lines(&self) -> Vec<(String, String)> {
        vec![(
            "evidentia_tracking".into(),
            serde_json::to_string(&self.summary).unwrap_or_default(),
        )]
    }
}

/// The seed points (world mm) in output order; see the module docs for the rule.
pub fn seed_points(
    field: &TensorField,
    params: &TrackParams,
    rois: &RoiSet,
    seed_mask: Option<&[bool]>,
) -> Result<Vec<[f64; 3]>> {
    params.validate()?;
    let n = field.d.len();
    if let Some(m) = seed_mask
        && m.len() != n
    {
        return Err(DtiError::Shape {
            what: "seed mask".into(),
            message: format!("has {} values, the tensor field {n}", m.len()),
        });
    }
    let s = params.seed_spacing_mm;
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for c in 0..8 {
        let v = [
            if c & 1 == 0 {
                -0.5
            } else {
                field.dims[0] as f64 - 0.5
            },
            if c & 2 == 0 {
                -0.5
            } else {
                field.dims[1] as f64 - 0.5
            },
            if c & 4 == 0 {
                -0.5
            } else {
                field.dims[2] as f64 - 0.5
            },
        ];
        let w = field.voxel_to_world(v);
        for k in 0..3 {
            lo[k] = lo[k].min(w[k]);
            hi[k] = hi[k].max(w[k]);
        }
    }
    let kr: Vec<(i64, i64)> = (0..3)
        .map(|k| {
            (
                (lo[k] / s - 0.5).ceil() as i64,
                (hi[k] / s - 0.5).floor() as i64,
            )
        })
        .collect();
    let total: f64 = kr.iter().map(|(a, b)| (b - a + 1).max(0) as f64).product();
    if total > 4e9 {
        return Err(DtiError::Invalid {
            what: "seed grid".into(),
            message: format!("{total} grid points; increase seed_spacing_mm"),
        });
    }
    let seed_rois: Vec<_> = rois.with_role(RoiRole::Seed).collect();
    let mut out = Vec::new();
    for kz in kr[2].0..=kr[2].1 {
        for ky in kr[1].0..=kr[1].1 {
            for kx in kr[0].0..=kr[0].1 {
                let p = [
                    (kx as f64 + 0.5) * s,
                    (ky as f64 + 0.5) * s,
                    (kz as f64 + 0.5) * s,
                ];
                let Some(i) = field.nearest_voxel(p) else {
                    continue;
                };
                if !field.mask[i] || f64::from(field.fa[i]) < params.seed_fa_threshold {
                    continue;
                }
                if let Some(m) = seed_mask
                    && !m[i]
                {
                    continue;
                }
                if !seed_rois.is_empty() && !seed_rois.iter().any(|r| r.contains(p)) {
                    continue;
                }
                out.push(p);
            }
        }
    }
    if out.len() > u32::MAX as usize {
        return Err(DtiError::Invalid {
            what: "seed grid".into(),
            message: format!("{} seeds exceed the supported 2³² − 1", out.len()),
        });
    }
    Ok(out)
}

/// Seeds per parallel work item (fixed, so nothing depends on the thread count).
const CHUNK: usize = 512;

/// Tracks every seed of [`seed_points`] and keeps the streamlines that pass the filters and ROIs.
pub fn track(
    field: &TensorField,
    params: &TrackParams,
    rois: &RoiSet,
    seed_mask: Option<&[bool]>,
) -> Result<Tractogram> {
    let seeds = seed_points(field, params, rois, seed_mask)?;
    track_seeds(field, params, rois, &seeds)
}

/// Tracks the given seeds (world mm), in order.
pub fn track_seeds(
    field: &TensorField,
    params: &TrackParams,
    rois: &RoiSet,
    seeds: &[[f64; 3]],
) -> Result<Tractogram> {
    params.validate()?;
    if seeds.len() > u32::MAX as usize {
        return Err(DtiError::Invalid {
            what: "seeds".into(),
            message: "more than 2³² − 1 seeds".into(),
        });
    }
    let tracker = Tracker::new(field, params, rois);
    let parts: Vec<(Streamlines, Vec<u32>, TrackCounts)> = seeds
        .par_chunks(CHUNK)
        .enumerate()
        .map(|(ci, chunk)| {
            let mut sl = Streamlines::default();
            let mut ids = Vec::new();
            let mut counts = TrackCounts::default();
            let mut buf = Buffers::default();
            for (j, &seed) in chunk.iter().enumerate() {
                counts.seeds += 1;
                match tracker.track_one(seed, &mut buf) {
                    Ok(()) => {
                        sl.push_f64(&buf.line);
                        ids.push((ci * CHUNK + j) as u32);
                        counts.kept += 1;
                    }
                    Err(r) => match r {
                        Reject::SeedInvalid => counts.seed_invalid += 1,
                        Reject::TooShort => counts.too_short += 1,
                        Reject::TooLong => counts.too_long += 1,
                        Reject::Not => counts.hit_not += 1,
                        Reject::And => counts.missed_and += 1,
                        Reject::Ends => counts.failed_ends += 1,
                    },
                }
            }
            (sl, ids, counts)
        })
        .collect();
    let mut streamlines = Streamlines::default();
    let mut seed_index = Vec::new();
    let mut counts = TrackCounts::default();
    for (sl, ids, c) in parts {
        streamlines.extend(&sl);
        seed_index.extend(ids);
        counts.add(&c);
    }
    Ok(Tractogram {
        streamlines,
        seed_index,
        dims: field.dims,
        affine: field.affine,
        summary: TrackSummary {
            version: TRACKING_VERSION.into(),
            params: params.clone(),
            rois: rois
                .rois()
                .iter()
                .map(|r| (r.name.clone(), r.role))
                .collect(),
            counts,
        },
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reject {
    SeedInvalid,
    TooShort,
    TooLong,
    Not,
    And,
    Ends,
}

#[derive(Default)]
struct Buffers {
    back: Vec<[f64; 3]>,
    fwd: Vec<[f64; 3]>,
    line: Vec<[f64; 3]>,
}

struct Tracker<'a> {
    field: &'a TensorField,
    p: &'a TrackParams,
    rois: &'a RoiSet,
    cos_angle: f64,
    n_sub: usize,
    and_idx: Vec<usize>,
    not_idx: Vec<usize>,
    ends_idx: Vec<usize>,
    max_steps: usize,
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn aligned(e: [f64; 3], prev: [f64; 3]) -> [f64; 3] {
    if dot(e, prev) < 0.0 {
        [-e[0], -e[1], -e[2]]
    } else {
        e
    }
}

fn axpy(p: [f64; 3], h: f64, d: [f64; 3]) -> [f64; 3] {
    [p[0] + h * d[0], p[1] + h * d[1], p[2] + h * d[2]]
}

impl<'a> Tracker<'a> {
    fn new(field: &'a TensorField, p: &'a TrackParams, rois: &'a RoiSet) -> Self {
        let idx = |role| {
            rois.rois()
                .iter()
                .enumerate()
                .filter(|(_, r)| r.role == role)
                .map(|(i, _)| i)
                .collect::<Vec<_>>()
        };
        let n_sub = rois
            .sub_step_mm()
            .map(|d| (p.step_mm / d).ceil().max(1.0) as usize)
            .unwrap_or(1);
        Self {
            field,
            p,
            rois,
            cos_angle: p.angle_deg.to_radians().cos(),
            n_sub,
            and_idx: idx(RoiRole::And),
            not_idx: idx(RoiRole::Not),
            ends_idx: idx(RoiRole::Ends),
            max_steps: (p.max_length_mm / p.step_mm).floor() as usize + 1,
        }
    }

    /// Valid tensor at `p`: inside image and mask, FA ≥ threshold.
    #[inline]
    fn valid(&self, p: [f64; 3]) -> Option<[f64; 6]> {
        let t = self.field.tensor_at(p)?;
        if fractional_anisotropy(&t) < self.p.fa_threshold {
            None
        } else {
            Some(t)
        }
    }

    fn dir_at(&self, p: [f64; 3], prev: [f64; 3]) -> Option<[f64; 3]> {
        let t = self.valid(p)?;
        Some(aligned(principal_eigen(&t).1, prev))
    }

    /// ROI bookkeeping for the segment (a, b]; `Err` when a NOT ROI is touched.
    #[inline]
    fn check_segment(
        &self,
        a: [f64; 3],
        b: [f64; 3],
        and_hits: &mut u64,
    ) -> std::result::Result<(), Reject> {
        let rois = self.rois.rois();
        for &i in &self.not_idx {
            if rois[i].hits_segment(a, b, self.n_sub) {
                return Err(Reject::Not);
            }
        }
        for (bit, &i) in self.and_idx.iter().enumerate() {
            if *and_hits & (1u64 << bit) == 0 && rois[i].hits_segment(a, b, self.n_sub) {
                *and_hits |= 1u64 << bit;
            }
        }
        Ok(())
    }

    /// Follows one half from `seed` with initial direction `d0` (tensor `t0` valid at seed).
    fn half(
        &self,
        seed: [f64; 3],
        t0: [f64; 6],
        d0: [f64; 3],
        out: &mut Vec<[f64; 3]>,
        and_hits: &mut u64,
    ) -> std::result::Result<(), Reject> {
        out.clear();
        let h = self.p.step_mm;
        let mut p = seed;
        let mut t = t0;
        let mut prev = d0;
        for _ in 0..self.max_steps {
            let e = match self.p.integrator {
                Integrator::Euler => aligned(principal_eigen(&t).1, prev),
                Integrator::Rk4 => {
                    let k1 = aligned(principal_eigen(&t).1, prev);
                    let Some(k2) = self.dir_at(axpy(p, 0.5 * h, k1), k1) else {
                        break;
                    };
                    let Some(k3) = self.dir_at(axpy(p, 0.5 * h, k2), k2) else {
                        break;
                    };
                    let Some(k4) = self.dir_at(axpy(p, h, k3), k3) else {
                        break;
                    };
                    let s = [
                        k1[0] + 2.0 * k2[0] + 2.0 * k3[0] + k4[0],
                        k1[1] + 2.0 * k2[1] + 2.0 * k3[1] + k4[1],
                        k1[2] + 2.0 * k2[2] + 2.0 * k3[2] + k4[2],
                    ];
                    let n = dot(s, s).sqrt();
                    if n == 0.0 {
                        break;
                    }
                    [s[0] / n, s[1] / n, s[2] / n]
                }
            };
            if dot(e, prev) < self.cos_angle {
                break;
            }
            let q = axpy(p, h, e);
            let Some(tq) = self.valid(q) else {
                break;
            };
            self.check_segment(p, q, and_hits)?;
            out.push(q);
            p = q;
            t = tq;
            prev = e;
        }
        Ok(())
    }

    fn track_one(&self, seed: [f64; 3], buf: &mut Buffers) -> std::result::Result<(), Reject> {
        let Some(t0) = self.valid(seed) else {
            return Err(Reject::SeedInvalid);
        };
        let rois = self.rois.rois();
        if self.not_idx.iter().any(|&i| rois[i].contains(seed)) {
            return Err(Reject::Not);
        }
        let mut and_hits = 0u64;
        for (bit, &i) in self.and_idx.iter().enumerate() {
            if rois[i].contains(seed) {
                and_hits |= 1u64 << bit;
            }
        }
        let e0 = principal_eigen(&t0).1;
        self.half(seed, t0, e0, &mut buf.fwd, &mut and_hits)?;
        self.half(
            seed,
            t0,
            [-e0[0], -e0[1], -e0[2]],
            &mut buf.back,
            &mut and_hits,
        )?;
        let steps = buf.fwd.len() + buf.back.len();
        let length = steps as f64 * self.p.step_mm;
        if length > self.p.max_length_mm {
            return Err(Reject::TooLong);
        }
        if length < self.p.min_length_mm {
            return Err(Reject::TooShort);
        }
        let n_and = self.and_idx.len();
        let all = if n_and == 64 {
            u64::MAX
        } else {
            (1u64 << n_and) - 1
        };
        if and_hits != all {
            return Err(Reject::And);
        }
        buf.line.clear();
        buf.line.extend(buf.back.iter().rev());
        buf.line.push(seed);
        buf.line.extend(buf.fwd.iter());
        if !self.ends_idx.is_empty() {
            let a = buf.line[0];
            let b = buf.line[buf.line.len() - 1];
            if !self
                .ends_idx
                .iter()
                .all(|&i| rois[i].contains(a) || rois[i].contains(b))
            {
                return Err(Reject::Ends);
            }
        }
        Ok(())
    }
}
