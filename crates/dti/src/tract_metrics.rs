//! Tract metrics: counts, lengths, volume, FA/MD/AD/RD and along-tract profiles, and
//! left/right asymmetry.
//!
//! # Definitions (version [`METRICS_VERSION`])
//! - `streamlines`: number of streamlines; `mean_length_mm`, `median_length_mm`: of the
//!   polyline lengths (median of an even count = mean of the two middle values).
//! - `voxels_visited`: distinct voxels of the maps' grid that contain (nearest voxel) at least
//!   one streamline point; `volume_mm3 = voxels_visited × voxel volume` (|det A|).
//! - `*_points`: the map value interpolated trilinearly at every streamline point (neighbour
//!   indices clamped at the border), averaged over all points of all streamlines (long
//!   streamlines weigh more).
//! - `*_voxels`: the voxel values averaged over the distinct visited voxels (each voxel once).
//!   On the trial's phantom these differ by ≈0.05 in FA: report both, they are different endpoints.
//! - Profiles: each streamline is resampled to `n` points equally spaced in arc length (linear
//!   interpolation along the polyline, first and last points kept); all streamlines are
//!   oriented alike first: the axis (x, y or z) along which the tract's end points spread most is
//!   found, and every streamline is reversed if needed so it starts at its end with the lower
//!   coordinate on that axis (e.g. inferior → superior for the CST). Node `j` of a profile is the
//!   plain mean over streamlines of the trilinear map value at their node `j`.
//! - Means that have nothing to average are `None` (JSON `null`).
//!
//! # Asymmetry ([`asymmetry`])
//! - `rfa = FA_ipsi / FA_contra` (relative FA, ipsilesional over contralesional, as in the
//!   stroke literature reviewed in the trial's seed paper 002, ref. 27), computed from `fa_points`.
//!   The ipsilesional side is the lesion side when it is given, otherwise the most affected side.
//! - `fna = (N_left − N_right) / (N_left + N_right)`: fibre-number asymmetry on streamline counts,
//!   left minus right (the form named in the project brief; seed paper 002 cites Chen for FNA
//!   without the formula, so the sign convention here is ours). `fna_contra_ipsi =
//!   (N_contra − N_ipsi)/(N_contra + N_ipsi)` is also given (positive = fewer fibres on the
//!   lesioned side).
//! - `most_affected`: the side with the lower `fa_points` (ties: left); its FA/MD are the values
//!   the trial analysis uses.

// Small fixed-size (3, 4, 6) index loops over several arrays read best with indices.
#![allow(clippy::needless_range_loop)]

use serde::Serialize;

use crate::eig3::scalar_measures;
use crate::error::{DtiError, Result};
use crate::roi::Hemisphere;
use crate::streamlines::Streamlines;
use crate::track::{TensorField, affine_inverse, apply_affine};

/// Version of the metric definitions above, written into every output.
pub const METRICS_VERSION: &str = "evidentia-dti tract-metrics 1";

/// FA, MD, AD and RD maps on one grid.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarMaps {
    dims: [usize; 3],
    affine: [[f64; 4]; 3],
    inv: [[f64; 4]; 3],
    maps: [Vec<f32>; 4],
}

impl ScalarMaps {
    /// Maps in NIfTI order on `dims`/`affine` (e.g. the fitter's `fa`, `md`, `ad`, `rd`).
    pub fn new(
        dims: [usize; 3],
        affine: [[f64; 4]; 3],
        fa: Vec<f32>,
        md: Vec<f32>,
        ad: Vec<f32>,
        rd: Vec<f32>,
    ) -> Result<Self> {
        let n = dims[0] * dims[1] * dims[2];
        for (name, m) in [("FA", &fa), ("MD", &md), ("AD", &ad), ("RD", &rd)] {
            if m.len() != n || n == 0 {
                return Err(DtiError::Shape {
                    what: format!("{name} map"),
                    message: format!("dimensions {dims:?} need {n} values, got {}", m.len()),
                });
            }
        }
        let inv = affine_inverse(&affine).ok_or_else(|| DtiError::Invalid {
            what: "scalar maps".into(),
            message: "the affine is singular".into(),
        })?;
        Ok(Self {
            dims,
            affine,
            inv,
            maps: [fa, md, ad, rd],
        })
    }

    /// Maps computed voxel by voxel from a tensor field (eigenvalues by the closed form).
    pub fn from_tensor_field(field: &TensorField) -> Result<Self> {
        let mut m: [Vec<f32>; 4] = Default::default();
        for t in field.tensors() {
            let s = scalar_measures(&t.map(f64::from));
            for k in 0..4 {
                m[k].push(s[k] as f32);
            }
        }
        let [fa, md, ad, rd] = m;
        Self::new(field.dims(), *field.affine(), fa, md, ad, rd)
    }

    fn nearest(&self, p: [f64; 3]) -> Option<usize> {
        let v = apply_affine(&self.inv, p);
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

    /// Trilinear values of the four maps at `p`; `None` outside the image.
    pub fn interpolate(&self, p: [f64; 3]) -> Option<[f64; 4]> {
        let v = apply_affine(&self.inv, p);
        let mut i0 = [0usize; 3];
        let mut i1 = [0usize; 3];
        let mut f = [0.0; 3];
        for k in 0..3 {
            let n = self.dims[k];
            if !(v[k] >= -0.5 && v[k] < n as f64 - 0.5) {
                return None;
            }
            let fl = v[k].floor();
            f[k] = v[k] - fl;
            i0[k] = (fl as isize).clamp(0, n as isize - 1) as usize;
            i1[k] = (fl as isize + 1).clamp(0, n as isize - 1) as usize;
        }
        let mut out = [0.0; 4];
        for c in 0..8 {
            let (ix, wx) = if c & 1 == 0 {
                (i0[0], 1.0 - f[0])
            } else {
                (i1[0], f[0])
            };
            let (iy, wy) = if c & 2 == 0 {
                (i0[1], 1.0 - f[1])
            } else {
                (i1[1], f[1])
            };
            let (iz, wz) = if c & 4 == 0 {
                (i0[2], 1.0 - f[2])
            } else {
                (i1[2], f[2])
            };
            let w = wx * wy * wz;
            let i = ix + self.dims[0] * (iy + self.dims[1] * iz);
            for (o, m) in out.iter_mut().zip(&self.maps) {
                *o += w * f64::from(m[i]);
            }
        }
        Some(out)
    }

    fn voxel_volume(&self) -> f64 {
        let a = &self.affine;
        (a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1])
            - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0])
            + a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]))
            .abs()
    }
}

/// Along-tract profiles (`n` nodes each), see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Profiles {
    /// Number of nodes.
    pub n_nodes: usize,
    /// Orientation axis (0 = x, 1 = y, 2 = z): profiles run from low to high coordinate on it.
    pub axis: usize,
    /// FA per node.
    pub fa: Vec<Option<f64>>,
    /// MD per node.
    pub md: Vec<Option<f64>>,
    /// AD per node.
    pub ad: Vec<Option<f64>>,
    /// RD per node.
    pub rd: Vec<Option<f64>>,
}

/// Metrics of one tract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TractMetrics {
    /// [`METRICS_VERSION`].
    pub metrics_version: String,
    /// Tract name.
    pub name: String,
    /// Hemisphere.
    pub hemisphere: Hemisphere,
    /// Streamline count.
    pub streamlines: usize,
    /// Mean length, mm.
    pub mean_length_mm: Option<f64>,
    /// Median length, mm.
    pub median_length_mm: Option<f64>,
    /// Distinct voxels containing a point.
    pub voxels_visited: usize,
    /// `voxels_visited ×` voxel volume, mm³.
    pub volume_mm3: f64,
    /// Mean trilinear FA over all points.
    pub fa_points: Option<f64>,
    /// Mean FA over distinct visited voxels.
    pub fa_voxels: Option<f64>,
    /// Mean trilinear MD over all points.
    pub md_points: Option<f64>,
    /// Mean MD over distinct visited voxels.
    pub md_voxels: Option<f64>,
    /// Mean trilinear AD over all points.
    pub ad_points: Option<f64>,
    /// Mean AD over distinct visited voxels.
    pub ad_voxels: Option<f64>,
    /// Mean trilinear RD over all points.
    pub rd_points: Option<f64>,
    /// Mean RD over distinct visited voxels.
    pub rd_voxels: Option<f64>,
    /// Along-tract profiles.
    pub profiles: Profiles,
}

fn resample(line: &[[f32; 3]], n: usize) -> Vec<[f64; 3]> {
    let pts: Vec<[f64; 3]> = line.iter().map(|p| p.map(f64::from)).collect();
    if pts.len() == 1 || n == 1 {
        return vec![pts[0]; n];
    }
    let mut cum = vec![0.0];
    for w in pts.windows(2) {
        let d: f64 = (0..3)
            .map(|k| (w[1][k] - w[0][k]).powi(2))
            .sum::<f64>()
            .sqrt();
        cum.push(cum[cum.len() - 1] + d);
    }
    let total = cum[cum.len() - 1];
    let mut out = Vec::with_capacity(n);
    let mut seg = 0;
    for j in 0..n {
        let s = total * j as f64 / (n - 1) as f64;
        while seg + 2 < cum.len() && cum[seg + 1] < s {
            seg += 1;
        }
        let len = cum[seg + 1] - cum[seg];
        let t = if len > 0.0 {
            ((s - cum[seg]) / len).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (a, b) = (pts[seg], pts[seg + 1]);
        out.push([
            a[0] + t * (b[0] - a[0]),
            a[1] + t * (b[1] - a[1]),
            a[2] + t * (b[2] - a[2]),
        ]);
    }
    out
}

fn mean(sum: f64, n: usize) -> Option<f64> {
    (n > 0).then(|| sum / n as f64)
}

/// Computes the metrics of one tract (see the module docs); `n_nodes ≥ 2` profile nodes.
pub fn tract_metrics(
    name: &str,
    hemisphere: Hemisphere,
    streamlines: &Streamlines,
    maps: &ScalarMaps,
    n_nodes: usize,
) -> Result<TractMetrics> {
    if n_nodes < 2 {
        return Err(DtiError::Invalid {
            what: "tract profiles".into(),
            message: format!("need at least 2 nodes, got {n_nodes}"),
        });
    }
    let mut lengths: Vec<f64> = (0..streamlines.len())
        .map(|i| streamlines.length_mm(i))
        .collect();
    let mut sums = [0.0f64; 4];
    let mut n_pts = 0usize;
    let mut voxels = Vec::new();
    for &p in streamlines.points() {
        let p = p.map(f64::from);
        if let Some(v) = maps.interpolate(p) {
            for k in 0..4 {
                sums[k] += v[k];
            }
            n_pts += 1;
        }
        if let Some(i) = maps.nearest(p) {
            voxels.push(i);
        }
    }
    voxels.sort_unstable();
    voxels.dedup();
    let mut vsums = [0.0f64; 4];
    for &i in &voxels {
        for k in 0..4 {
            vsums[k] += f64::from(maps.maps[k][i]);
        }
    }
    // Orientation axis: largest spread of end points.
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for l in streamlines.iter().filter(|l| !l.is_empty()) {
        for p in [l[0], l[l.len() - 1]] {
            for k in 0..3 {
                lo[k] = lo[k].min(f64::from(p[k]));
                hi[k] = hi[k].max(f64::from(p[k]));
            }
        }
    }
    let mut axis = 0;
    for k in 1..3 {
        if hi[k] - lo[k] > hi[axis] - lo[axis] {
            axis = k;
        }
    }
    let mut psum = vec![[0.0f64; 4]; n_nodes];
    let mut pcount = vec![0usize; n_nodes];
    for l in streamlines.iter().filter(|l| !l.is_empty()) {
        let mut r = resample(l, n_nodes);
        if r[0][axis] > r[n_nodes - 1][axis] {
            r.reverse();
        }
        for (j, p) in r.iter().enumerate() {
            if let Some(v) = maps.interpolate(*p) {
                for k in 0..4 {
                    psum[j][k] += v[k];
                }
                pcount[j] += 1;
            }
        }
    }
    let prof = |k: usize| -> Vec<Option<f64>> {
        (0..n_nodes).map(|j| mean(psum[j][k], pcount[j])).collect()
    };
    lengths.sort_by(f64::total_cmp);
    let nl = lengths.len();
    let median = if nl == 0 {
        None
    } else if nl % 2 == 1 {
        Some(lengths[nl / 2])
    } else {
        Some(0.5 * (lengths[nl / 2 - 1] + lengths[nl / 2]))
    };
    Ok(TractMetrics {
        metrics_version: METRICS_VERSION.into(),
        name: name.into(),
        hemisphere,
        streamlines: streamlines.len(),
        mean_length_mm: mean(lengths.iter().sum(), nl),
        median_length_mm: median,
        voxels_visited: voxels.len(),
        volume_mm3: voxels.len() as f64 * maps.voxel_volume(),
        fa_points: mean(sums[0], n_pts),
        fa_voxels: mean(vsums[0], voxels.len()),
        md_points: mean(sums[1], n_pts),
        md_voxels: mean(vsums[1], voxels.len()),
        ad_points: mean(sums[2], n_pts),
        ad_voxels: mean(vsums[2], voxels.len()),
        rd_points: mean(sums[3], n_pts),
        rd_voxels: mean(vsums[3], voxels.len()),
        profiles: Profiles {
            n_nodes,
            axis,
            fa: prof(0),
            md: prof(1),
            ad: prof(2),
            rd: prof(3),
        },
    })
}

/// Left/right comparison of one tract, see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Asymmetry {
    /// [`METRICS_VERSION`].
    pub metrics_version: String,
    /// Side with the lower `fa_points` (ties: left).
    pub most_affected: Hemisphere,
    /// Side used as ipsilesional: the lesion side if given, else `most_affected`.
    pub ipsilesional: Hemisphere,
    /// FA_ipsi / FA_contra (from `fa_points`).
    pub rfa: Option<f64>,
    /// (N_left − N_right) / (N_left + N_right).
    pub fna: Option<f64>,
    /// (N_contra − N_ipsi) / (N_contra + N_ipsi).
    pub fna_contra_ipsi: Option<f64>,
    /// `fa_points` of the most affected side.
    pub fa_most_affected: Option<f64>,
    /// `md_points` of the most affected side.
    pub md_most_affected: Option<f64>,
}

/// Compares the left and right versions of a tract; `lesion` names the ipsilesional side when
/// known. Fails when the hemispheres are not left and right.
pub fn asymmetry(
    left: &TractMetrics,
    right: &TractMetrics,
    lesion: Option<Hemisphere>,
) -> Result<Asymmetry> {
    if left.hemisphere != Hemisphere::Left || right.hemisphere != Hemisphere::Right {
        return Err(DtiError::Invalid {
            what: "asymmetry".into(),
            message: format!(
                "needs a left and a right tract, got {:?} and {:?}",
                left.hemisphere, right.hemisphere
            ),
        });
    }
    if lesion == Some(Hemisphere::None) {
        return Err(DtiError::Invalid {
            what: "asymmetry".into(),
            message: "the lesion side must be left or right".into(),
        });
    }
    let most_affected = match (left.fa_points, right.fa_points) {
        (Some(l), Some(r)) if r < l => Hemisphere::Right,
        (None, Some(_)) => Hemisphere::Right,
        _ => Hemisphere::Left,
    };
    let ipsi_side = lesion.unwrap_or(most_affected);
    let (ipsi, contra) = if ipsi_side == Hemisphere::Left {
        (left, right)
    } else {
        (right, left)
    };
    let rfa = match (ipsi.fa_points, contra.fa_points) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let frac = |a: usize, b: usize| (a + b > 0).then(|| (a as f64 - b as f64) / (a + b) as f64);
    let ma = if most_affected == Hemisphere::Left {
        left
    } else {
        right
    };
    Ok(Asymmetry {
        metrics_version: METRICS_VERSION.into(),
        most_affected,
        ipsilesional: ipsi_side,
        rfa,
        fna: frac(left.streamlines, right.streamlines),
        fna_contra_ipsi: frac(contra.streamlines, ipsi.streamlines),
        fa_most_affected: ma.fa_points,
        md_most_affected: ma.md_points,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn maps() -> ScalarMaps {
        // 4×1×1 grid of 2 mm voxels; FA = 0.1·(x+1), MD = 1, AD = 2, RD = 0.5.
        let aff = [
            [2.0, 0.0, 0.0, 0.0],
            [0.0, 2.0, 0.0, 0.0],
            [0.0, 0.0, 2.0, 0.0],
        ];
        ScalarMaps::new(
            [4, 1, 1],
            aff,
            vec![0.1, 0.2, 0.3, 0.4],
            vec![1.0; 4],
            vec![2.0; 4],
            vec![0.5; 4],
        )
        .unwrap()
    }

    #[test]
    fn hand_computed_metrics() {
        let mut s = Streamlines::default();
        // Points at x = 0, 1, 2 mm: voxels 0, 1 (x=1 rounds to voxel 0.5 → 1), 1.
        s.push(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]]);
        s.push(&[[6.0, 0.0, 0.0], [4.0, 0.0, 0.0]]);
        let m = tract_metrics("t", Hemisphere::Left, &s, &maps(), 3).unwrap();
        assert_eq!(m.streamlines, 2);
        assert_eq!(m.mean_length_mm, Some(2.0));
        assert_eq!(m.median_length_mm, Some(2.0));
        // Voxels: x=0→0, 1→round(0.5)=1, 2→1, 6→3, 4→2  ⇒ {0,1,2,3}.
        assert_eq!(m.voxels_visited, 4);
        assert_eq!(m.volume_mm3, 32.0);
        // Trilinear FA at x = 0,1,2,6,4 mm: 0.1, 0.15, 0.2, 0.4, 0.3 → mean 0.23.
        assert!((m.fa_points.unwrap() - 0.23).abs() < 1e-6);
        assert!((m.fa_voxels.unwrap() - 0.25).abs() < 1e-6);
        assert!((m.md_points.unwrap() - 1.0).abs() < 1e-6);
        // Profiles oriented along x from low to high: nodes at the start, middle, end.
        assert_eq!(m.profiles.axis, 0);
        let fa = &m.profiles.fa;
        // streamline 1 nodes x = 0, 1, 2 → 0.1, 0.15, 0.2; streamline 2 reversed x = 4, 5, 6 →
        // 0.3, 0.35, 0.4.
        assert!((fa[0].unwrap() - 0.2).abs() < 1e-6);
        assert!((fa[1].unwrap() - 0.25).abs() < 1e-6);
        assert!((fa[2].unwrap() - 0.3).abs() < 1e-6);
        let empty =
            tract_metrics("e", Hemisphere::Right, &Streamlines::default(), &maps(), 5).unwrap();
        assert_eq!(empty.fa_points, None);
        assert!(tract_metrics("e", Hemisphere::Right, &s, &maps(), 1).is_err());
    }

    #[test]
    fn asymmetry_definitions() {
        let mut s = Streamlines::default();
        s.push(&[[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]]);
        let mut l = tract_metrics("l", Hemisphere::Left, &s, &maps(), 2).unwrap();
        let mut r = l.clone();
        r.hemisphere = Hemisphere::Right;
        l.fa_points = Some(0.4);
        r.fa_points = Some(0.5);
        l.streamlines = 30;
        r.streamlines = 10;
        let a = asymmetry(&l, &r, None).unwrap();
        assert_eq!(a.most_affected, Hemisphere::Left);
        assert!((a.rfa.unwrap() - 0.8).abs() < 1e-12);
        assert!((a.fna.unwrap() - 0.5).abs() < 1e-12);
        assert!((a.fna_contra_ipsi.unwrap() + 0.5).abs() < 1e-12);
        let b = asymmetry(&l, &r, Some(Hemisphere::Right)).unwrap();
        assert!((b.rfa.unwrap() - 1.25).abs() < 1e-12);
        assert_eq!(b.most_affected, Hemisphere::Left);
        assert!(asymmetry(&r, &l, None).is_err());
    }
}
