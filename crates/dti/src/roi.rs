//! Regions of interest for tract selection, and named tract definitions in TOML.
//!
//! # ROI shapes
//! - [`RoiShape::Sphere`] and [`RoiShape::Box`] in world millimetres (RAS+, the frame of the
//!   tensor field's affine). Segment tests against them are exact (closest point of a segment to
//!   the centre; slab clipping for the axis-aligned box).
//! - [`RoiShape::Mask`]: a voxel mask on its own grid (e.g. any set of labels of a label image,
//!   [`MaskRoi::from_labels`], or an index box on the tensor grid, [`MaskRoi::from_voxel_box`]).
//!   A point is inside when its **nearest voxel** (indices `round(A⁻¹·p)`) is in the mask.
//!
//! # Sub-step sampling (why a 1 mm step cannot jump a one-voxel slab)
//! Each tracking step from `p` to `q` is tested against a mask ROI at the `m` points
//! `p + k/m·(q − p)`, `k = 1..m`, with `m = ceil(|q − p| / δ)` and `δ = s/2`, `s` the smallest
//! voxel spacing of all mask ROIs of the set (the distance between voxel planes). The set of
//! points whose nearest voxel lies in a slab one voxel thick is a half-open layer of thickness
//! `s` along the slab's normal; a segment that crosses the layer covers at least `s` of arc
//! length inside it (more when oblique), and consecutive samples are at most `δ < s` apart, so
//! one sample always falls inside. Only a segment that clips a slab's corner or edge over less
//! than `δ` can miss it. The seed point itself is tested too.
//!
//! # Roles and inclusion semantics (applied during tracking, see [`crate::track`])
//! - `seed`: seeds are restricted to grid points inside at least one SEED ROI (in addition to the
//!   tracking mask and the seed FA threshold).
//! - `and`: the streamline (any point or sub-sample of either half) must enter every AND ROI;
//!   order is not checked.
//! - `not`: the streamline must touch no NOT ROI; tracking of that seed is abandoned at the first
//!   touch and nothing is stored (the whole streamline is rejected, not truncated).
//! - `ends`: each ENDS ROI must contain at least one of the two end points (nearest-voxel / shape
//!   test of the first and last stored point).
//!
//! # Tract definitions
//! [`TractDefinition`] is read from TOML (unknown keys are errors):
//! ```toml
//! name = "cst_left"
//! hemisphere = "left"            # left | right | none
//! description = "corticospinal tract, phantom coordinates"
//! [params]                       # optional overrides of TrackParams
//! angle_deg = 50.0
//! [[roi]]
//! name = "pons"
//! role = "and"                   # seed | and | not | ends
//! sphere = { center_mm = [-20.0, 0.0, -30.0], radius_mm = 6.0 }
//! # exactly one of: sphere = {center_mm, radius_mm}, box = {min_mm, max_mm},
//! # voxel_box = {min, max} (inclusive voxel indices on the tensor grid),
//! # mask = {file = "rois/pons.nii.gz", labels = [3]} (file relative to the TOML; labels
//! #   empty = any non-zero value)
//! ```
//! [`TractDefinition::resolve`] turns it into a [`RoiSet`] for a given tensor field; mask files
//! are read with a loader supplied by the caller (the NIfTI reader lives elsewhere).

// Small fixed-size (3, 4, 6) index loops over several arrays read best with indices.
#![allow(clippy::needless_range_loop)]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DtiError, Result};
use crate::track::{TensorField, TrackParams, affine_inverse, apply_affine, voxel_spacing};
use crate::volume::Volume;

/// What an ROI does during tracking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoiRole {
    /// Seeds are restricted to the SEED ROIs.
    Seed,
    /// Must be traversed.
    And,
    /// Must not be touched.
    Not,
    /// Must contain an end point.
    Ends,
}

/// A voxel mask ROI on its own grid.
#[derive(Debug, Clone, PartialEq)]
pub struct MaskRoi {
    dims: [usize; 3],
    inv: [[f64; 4]; 3],
    inside: Vec<bool>,
    spacing: f64,
    /// World bounding box of the true voxels (corners), for a cheap reject.
    bbox: ([f64; 3], [f64; 3]),
}

impl MaskRoi {
    /// Mask from booleans in NIfTI order on the grid `dims`/`affine`.
    pub fn new(dims: [usize; 3], affine: [[f64; 4]; 3], inside: Vec<bool>) -> Result<Self> {
        let n = dims[0] * dims[1] * dims[2];
        if inside.len() != n || n == 0 {
            return Err(DtiError::Shape {
                what: "ROI mask".into(),
                message: format!("dimensions {dims:?} need {n} values, got {}", inside.len()),
            });
        }
        let inv = affine_inverse(&affine).ok_or_else(|| DtiError::Invalid {
            what: "ROI mask".into(),
            message: "the affine is singular".into(),
        })?;
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for z in 0..dims[2] {
            for y in 0..dims[1] {
                for x in 0..dims[0] {
                    if !inside[x + dims[0] * (y + dims[1] * z)] {
                        continue;
                    }
                    for c in 0..8 {
                        let v = [
                            x as f64 + if c & 1 == 0 { -0.5 } else { 0.5 },
                            y as f64 + if c & 2 == 0 { -0.5 } else { 0.5 },
                            z as f64 + if c & 4 == 0 { -0.5 } else { 0.5 },
                        ];
                        let w = apply_affine(&affine, v);
                        for k in 0..3 {
                            lo[k] = lo[k].min(w[k]);
                            hi[k] = hi[k].max(w[k]);
                        }
                    }
                }
            }
        }
        let sp = voxel_spacing(&inv);
        Ok(Self {
            dims,
            inv,
            inside,
            spacing: sp[0].min(sp[1]).min(sp[2]),
            bbox: (lo, hi),
        })
    }

    /// Mask of the voxels of a 3-D label image whose value is one of `labels` (any non-zero
    /// value when `labels` is empty).
    pub fn from_labels(labels_img: &Volume<f32>, labels: &[f64]) -> Result<Self> {
        if labels_img.n_volumes() != 1 {
            return Err(DtiError::Shape {
                what: "ROI label image".into(),
                message: format!(
                    "expected a 3-D image, got {} volumes",
                    labels_img.n_volumes()
                ),
            });
        }
        let inside = labels_img
            .data()
            .iter()
            .map(|&v| {
                let v = f64::from(v);
                if labels.is_empty() {
                    v != 0.0 && v.is_finite()
                } else {
                    labels.contains(&v)
                }
            })
            .collect();
        Self::new(labels_img.dims3(), *labels_img.affine(), inside)
    }

    /// Mask of the voxel index box `min..=max` on the tensor field's grid.
    pub fn from_voxel_box(field: &TensorField, min: [usize; 3], max: [usize; 3]) -> Result<Self> {
        let dims = field.dims();
        for k in 0..3 {
            if min[k] > max[k] || max[k] >= dims[k] {
                return Err(DtiError::Invalid {
                    what: "voxel_box ROI".into(),
                    message: format!(
                        "min {min:?} / max {max:?} must satisfy min ≤ max < dims {dims:?}"
                    ),
                });
            }
        }
        let mut inside = vec![false; dims[0] * dims[1] * dims[2]];
        for z in min[2]..=max[2] {
            for y in min[1]..=max[1] {
                for x in min[0]..=max[0] {
                    inside[x + dims[0] * (y + dims[1] * z)] = true;
                }
            }
        }
        Self::new(dims, *field.affine(), inside)
    }

    /// Number of voxels in the mask.
    pub fn n_voxels(&self) -> usize {
        self.inside.iter().filter(|&&b| b).count()
    }

    #[inline]
    fn contains(&self, p: [f64; 3]) -> bool {
        let v = apply_affine(&self.inv, p);
        let mut idx = [0usize; 3];
        for k in 0..3 {
            let r = (v[k] + 0.5).floor();
            if !(r >= 0.0 && r < self.dims[k] as f64) {
                return false;
            }
            idx[k] = r as usize;
        }
        self.inside[idx[0] + self.dims[0] * (idx[1] + self.dims[1] * idx[2])]
    }
}

/// The geometric part of an ROI.
#[derive(Debug, Clone, PartialEq)]
pub enum RoiShape {
    /// Ball of `radius` mm around `center` (world mm).
    Sphere { center: [f64; 3], radius: f64 },
    /// Axis-aligned box in world mm, `min ≤ p ≤ max`.
    Box { min: [f64; 3], max: [f64; 3] },
    /// Voxel mask, nearest-voxel membership.
    Mask(MaskRoi),
}

/// One named ROI with its role.
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    /// Name used in reports.
    pub name: String,
    /// SEED, AND, NOT or ENDS.
    pub role: RoiRole,
    /// Geometry.
    pub shape: RoiShape,
}

impl Roi {
    /// Whether the point (world mm) is inside.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match &self.shape {
            RoiShape::Sphere { center, radius } => dist2(p, *center) <= radius * radius,
            RoiShape::Box { min, max } => (0..3).all(|k| p[k] >= min[k] && p[k] <= max[k]),
            RoiShape::Mask(m) => m.contains(p),
        }
    }

    /// Whether the segment `(p, q]` enters the ROI: exact for spheres and boxes, `n_sub`
    /// samples for masks (see the module docs).
    pub fn hits_segment(&self, p: [f64; 3], q: [f64; 3], n_sub: usize) -> bool {
        match &self.shape {
            RoiShape::Sphere { center, radius } => {
                for k in 0..3 {
                    if p[k].max(q[k]) < center[k] - radius || p[k].min(q[k]) > center[k] + radius {
                        return false;
                    }
                }
                let d = sub(q, p);
                let l2 = dot(d, d);
                let t = if l2 > 0.0 {
                    (dot(sub(*center, p), d) / l2).clamp(0.0, 1.0)
                } else {
                    1.0
                };
                let c = [p[0] + t * d[0], p[1] + t * d[1], p[2] + t * d[2]];
                dist2(c, *center) <= radius * radius
            }
            RoiShape::Box { min, max } => {
                for k in 0..3 {
                    if p[k].max(q[k]) < min[k] || p[k].min(q[k]) > max[k] {
                        return false;
                    }
                }
                let d = sub(q, p);
                let (mut t0, mut t1) = (0.0f64, 1.0f64);
                for k in 0..3 {
                    if d[k] == 0.0 {
                        if p[k] < min[k] || p[k] > max[k] {
                            return false;
                        }
                    } else {
                        let a = (min[k] - p[k]) / d[k];
                        let b = (max[k] - p[k]) / d[k];
                        t0 = t0.max(a.min(b));
                        t1 = t1.min(a.max(b));
                    }
                }
                t0 <= t1
            }
            RoiShape::Mask(m) => {
                let (lo, hi) = m.bbox;
                for k in 0..3 {
                    if p[k].max(q[k]) < lo[k] || p[k].min(q[k]) > hi[k] {
                        return false;
                    }
                }
                let n = n_sub.max(1);
                (1..=n).any(|i| {
                    let t = i as f64 / n as f64;
                    m.contains([
                        p[0] + t * (q[0] - p[0]),
                        p[1] + t * (q[1] - p[1]),
                        p[2] + t * (q[2] - p[2]),
                    ])
                })
            }
        }
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn dist2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let d = sub(a, b);
    dot(d, d)
}

/// A set of ROIs applied together during tracking.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoiSet {
    rois: Vec<Roi>,
}

/// Most AND ROIs one set may hold (they are tracked as bits of a `u64`).
pub const MAX_AND_ROIS: usize = 64;

impl RoiSet {
    /// An empty set: whole-brain tracking without selection.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A set from ROIs; fails with more than [`MAX_AND_ROIS`] AND ROIs or a non-positive or
    /// non-finite sphere radius / inverted box.
    pub fn new(rois: Vec<Roi>) -> Result<Self> {
        let n_and = rois.iter().filter(|r| r.role == RoiRole::And).count();
        if n_and > MAX_AND_ROIS {
            return Err(DtiError::Invalid {
                what: "ROI set".into(),
                message: format!("{n_and} AND ROIs, at most {MAX_AND_ROIS} are supported"),
            });
        }
        for r in &rois {
            let ok = match &r.shape {
                RoiShape::Sphere { center, radius } => {
                    radius.is_finite() && *radius > 0.0 && center.iter().all(|c| c.is_finite())
                }
                RoiShape::Box { min, max } => {
                    (0..3).all(|k| min[k].is_finite() && max[k].is_finite() && min[k] <= max[k])
                }
                RoiShape::Mask(_) => true,
            };
            if !ok {
                return Err(DtiError::Invalid {
                    what: format!("ROI '{}'", r.name),
                    message: "sphere radius must be positive and box min ≤ max, all finite".into(),
                });
            }
        }
        Ok(Self { rois })
    }

    /// All ROIs in definition order.
    pub fn rois(&self) -> &[Roi] {
        &self.rois
    }

    /// ROIs with the given role, in definition order.
    pub fn with_role(&self, role: RoiRole) -> impl Iterator<Item = &Roi> {
        self.rois.iter().filter(move |r| r.role == role)
    }

    /// Sample spacing δ for mask ROIs (half the smallest voxel spacing; `None` without masks).
    pub fn sub_step_mm(&self) -> Option<f64> {
        self.rois
            .iter()
            .filter_map(|r| match &r.shape {
                RoiShape::Mask(m) => Some(0.5 * m.spacing),
                _ => None,
            })
            .reduce(f64::min)
    }
}

/// Hemisphere a tract definition belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Hemisphere {
    /// Left (the subject's left, x < 0 in RAS+).
    Left,
    /// Right.
    Right,
    /// Midline or both.
    None,
}

/// Sphere in a tract definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SphereDef {
    /// Centre, world mm.
    pub center_mm: [f64; 3],
    /// Radius, mm.
    pub radius_mm: f64,
}

/// World box in a tract definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoxDef {
    /// Lower corner, world mm.
    pub min_mm: [f64; 3],
    /// Upper corner, world mm.
    pub max_mm: [f64; 3],
}

/// Voxel index box (inclusive) on the tensor grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoxelBoxDef {
    /// Lowest voxel indices.
    pub min: [usize; 3],
    /// Highest voxel indices (inclusive).
    pub max: [usize; 3],
}

/// Mask file in a tract definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskDef {
    /// Label image, relative to the TOML file's folder.
    pub file: PathBuf,
    /// Label values that form the ROI; empty = any non-zero value.
    #[serde(default)]
    pub labels: Vec<f64>,
}

/// One ROI entry of a tract definition: exactly one shape key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoiDef {
    /// Name used in reports.
    pub name: String,
    /// Role.
    pub role: RoiRole,
    /// Sphere in world mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sphere: Option<SphereDef>,
    /// Box in world mm.
    #[serde(default, rename = "box", skip_serializing_if = "Option::is_none")]
    pub box_: Option<BoxDef>,
    /// Voxel box on the tensor grid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voxel_box: Option<VoxelBoxDef>,
    /// Mask / label file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<MaskDef>,
}

/// A named tract: ROIs with roles, hemisphere and tracking parameter overrides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TractDefinition {
    /// Tract name (e.g. `cst_left`).
    pub name: String,
    /// Hemisphere.
    pub hemisphere: Hemisphere,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// Parameter overrides; missing keys keep [`TrackParams::default`].
    #[serde(default)]
    pub params: TrackParams,
    /// ROIs.
    #[serde(default, rename = "roi")]
    pub rois: Vec<RoiDef>,
}

impl TractDefinition {
    /// Parses a definition; `origin` names the source in error messages.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let def: Self = toml::from_str(text).map_err(|e| DtiError::Invalid {
            what: format!("tract definition {origin}"),
            message: e.to_string(),
        })?;
        for r in &def.rois {
            let n = usize::from(r.sphere.is_some())
                + usize::from(r.box_.is_some())
                + usize::from(r.voxel_box.is_some())
                + usize::from(r.mask.is_some());
            if n != 1 {
                return Err(DtiError::Invalid {
                    what: format!("tract definition {origin}, ROI '{}'", r.name),
                    message: format!(
                        "needs exactly one of sphere, box, voxel_box, mask (found {n})"
                    ),
                });
            }
        }
        def.params.validate()?;
        Ok(def)
    }

    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| DtiError::Invalid {
            what: format!("tract definition {}", path.display()),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// Builds the ROI set on `field`'s grid. `base_dir` is where mask paths are relative to;
    /// `load_mask` reads a label image (e.g. the crate's NIfTI reader).
    pub fn resolve(
        &self,
        field: &TensorField,
        base_dir: &Path,
        load_mask: &mut dyn FnMut(&Path) -> Result<Volume<f32>>,
    ) -> Result<RoiSet> {
        let mut rois = Vec::with_capacity(self.rois.len());
        for r in &self.rois {
            let shape = if let Some(s) = &r.sphere {
                RoiShape::Sphere {
                    center: s.center_mm,
                    radius: s.radius_mm,
                }
            } else if let Some(b) = &r.box_ {
                RoiShape::Box {
                    min: b.min_mm,
                    max: b.max_mm,
                }
            } else if let Some(vb) = &r.voxel_box {
                RoiShape::Mask(MaskRoi::from_voxel_box(field, vb.min, vb.max)?)
            } else if let Some(m) = &r.mask {
                let img = load_mask(&base_dir.join(&m.file))?;
                RoiShape::Mask(MaskRoi::from_labels(&img, &m.labels)?)
            } else {
                return Err(DtiError::Invalid {
                    what: format!("ROI '{}'", r.name),
                    message: "no shape".into(),
                });
            };
            rois.push(Roi {
                name: r.name.clone(),
                role: r.role,
                shape,
            });
        }
        RoiSet::new(rois)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(dims: [usize; 3], vox: f64) -> TensorField {
        let n = dims[0] * dims[1] * dims[2];
        let aff = [
            [vox, 0.0, 0.0, 0.0],
            [0.0, vox, 0.0, 0.0],
            [0.0, 0.0, vox, 0.0],
        ];
        TensorField::new(
            dims,
            aff,
            vec![[1.0, 0.0, 0.0, 0.5, 0.0, 0.5]; n],
            vec![true; n],
        )
        .unwrap()
    }

    #[test]
    fn one_voxel_slab_is_not_jumped() {
        let f = field([10, 4, 4], 1.0);
        let slab = MaskRoi::from_voxel_box(&f, [5, 0, 0], [5, 3, 3]).unwrap();
        let roi = Roi {
            name: "slab".into(),
            role: RoiRole::And,
            shape: RoiShape::Mask(slab),
        };
        let set = RoiSet::new(vec![roi.clone()]).unwrap();
        let delta = set.sub_step_mm().unwrap();
        assert_eq!(delta, 0.5);
        // Both end points outside the slab [4.5, 5.5): a 1.9 mm step over it.
        let (p, q) = ([4.3, 1.0, 1.0], [6.2, 1.0, 1.0]);
        assert!(!roi.contains(p) && !roi.contains(q));
        let n = (1.9f64 / delta).ceil() as usize;
        assert!(roi.hits_segment(p, q, n));
        // With a single sample (no sub-stepping) the slab is missed: the test is not vacuous.
        assert!(!roi.hits_segment(p, q, 1));
        // Every placement of a 1 mm step crossing the slab is caught with δ = 0.5 mm.
        for i in 0..200 {
            let x0 = 3.6 + i as f64 * 0.0045;
            let (p, q) = ([x0, 1.0, 1.0], [x0 + 1.0, 2.0, 1.0]);
            if p[0] < 4.5 && q[0] >= 5.5 {
                assert!(roi.hits_segment(p, q, 2), "missed at {x0}");
            }
        }
    }

    #[test]
    fn sphere_and_box_segments_are_exact() {
        let s = Roi {
            name: "s".into(),
            role: RoiRole::Not,
            shape: RoiShape::Sphere {
                center: [0.0, 0.0, 0.0],
                radius: 1.0,
            },
        };
        assert!(s.hits_segment([-5.0, 0.5, 0.0], [5.0, 0.5, 0.0], 1));
        assert!(!s.hits_segment([-5.0, 1.01, 0.0], [5.0, 1.01, 0.0], 1));
        assert!(!s.hits_segment([2.0, 0.0, 0.0], [5.0, 0.0, 0.0], 1));
        let b = Roi {
            name: "b".into(),
            role: RoiRole::And,
            shape: RoiShape::Box {
                min: [0.0, 0.0, 0.0],
                max: [0.1, 10.0, 10.0],
            },
        };
        assert!(b.hits_segment([-1.0, 5.0, 5.0], [1.0, 5.0, 5.0], 1));
        assert!(!b.hits_segment([-1.0, 11.0, 5.0], [1.0, 11.0, 5.0], 1));
    }

    #[test]
    fn toml_definition_is_strict() {
        let ok = r#"
name = "x"
hemisphere = "left"
[params]
angle_deg = 45.0
[[roi]]
name = "a"
role = "and"
sphere = { center_mm = [1.0, 2.0, 3.0], radius_mm = 2.0 }
[[roi]]
name = "b"
role = "not"
voxel_box = { min = [0, 0, 0], max = [1, 1, 1] }
"#;
        let d = TractDefinition::from_toml_str(ok, "test").unwrap();
        assert_eq!(d.params.angle_deg, 45.0);
        assert_eq!(d.params.step_mm, TrackParams::default().step_mm);
        let f = field([4, 4, 4], 2.0);
        let set = d
            .resolve(&f, Path::new("."), &mut |_| unreachable!())
            .unwrap();
        assert_eq!(set.rois().len(), 2);
        let unknown = ok.replace("angle_deg", "angle_degrees");
        assert!(TractDefinition::from_toml_str(&unknown, "t").is_err());
        let two = ok.replace(
            "radius_mm = 2.0 }",
            "radius_mm = 2.0 }\nbox = { min_mm = [0.0,0.0,0.0], max_mm = [1.0,1.0,1.0] }",
        );
        let e = TractDefinition::from_toml_str(&two, "t").unwrap_err();
        assert!(e.to_string().contains("exactly one"), "{e}");
        let bad = ok.replace("role = \"and\"", "role = \"maybe\"");
        assert!(TractDefinition::from_toml_str(&bad, "t").is_err());
    }
}
