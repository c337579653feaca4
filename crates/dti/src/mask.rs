//! Brain mask from the mean b0: DIPY's `median_otsu` (dipy.segment.mask, 1.12).
//!
//! Steps, each as DIPY does them: mean of the b0 volumes (f64); `numpass` passes of a
//! cubic median filter of side 2·radius + 1 with scipy's `reflect` boundary
//! (d c b a | a b c d | d c b a), the median being the middle of the sorted window
//! (windows have an odd number of values); Otsu's threshold with DIPY's histogram
//! convention (`dipy.segment.threshold.otsu`: 256 bins of `np.histogram` over the
//! filtered image, class means weighted by each bin's *upper* edge, threshold = the
//! lower edge of the best bin); mask = filtered > threshold; then optional binary
//! dilation with the 6-connected cross. DIPY uses scikit-image's Otsu instead when
//! scikit-image is installed; the reference fixtures were made without it.
//!
//! Voxels are indexed in NIfTI order, x + nx·(y + ny·z).

use rayon::prelude::*;
use serde::Serialize;

use crate::error::{DtiError, Result};

/// Options of [`median_otsu`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MedianOtsuOptions {
    /// Radius of the median filter in voxels (DIPY: 4).
    pub median_radius: usize,
    /// Number of median-filter passes (DIPY: 4).
    pub numpass: usize,
    /// Iterations of binary dilation after thresholding (DIPY: none = 0).
    pub dilate: usize,
}

impl Default for MedianOtsuOptions {
    fn default() -> Self {
        MedianOtsuOptions {
            median_radius: 4,
            numpass: 4,
            dilate: 0,
        }
    }
}

/// Brain mask of voxel-major signals (`dims` = nx, ny, nz; `n_vols` volumes per voxel)
/// from the mean of the volumes in `b0_indices`.
pub fn median_otsu(
    signals: &[f32],
    dims: [usize; 3],
    n_vols: usize,
    b0_indices: &[usize],
    options: &MedianOtsuOptions,
) -> Result<Vec<bool>> {
    let nvox = dims.iter().product::<usize>();
    if nvox == 0 || nvox.checked_mul(n_vols) != Some(signals.len()) {
        return Err(DtiError::Shape {
            what: "median_otsu".into(),
            message: format!(
                "{} signals are not {dims:?} voxels × {n_vols} volumes",
                signals.len()
            ),
        });
    }
    if b0_indices.is_empty() {
        return Err(DtiError::Invalid {
            what: "median_otsu".into(),
            message: "no b0 volume to build the mask from".into(),
        });
    }
    if let Some(&i) = b0_indices.iter().find(|&&i| i >= n_vols) {
        return Err(DtiError::Invalid {
            what: "median_otsu".into(),
            message: format!("b0 volume {i} is beyond the {n_vols} volumes"),
        });
    }
    let k = b0_indices.len() as f64;
    let mean: Vec<f64> = (0..nvox)
        .map(|v| {
            let s = &signals[v * n_vols..(v + 1) * n_vols];
            b0_indices.iter().map(|&i| s[i] as f64).sum::<f64>() / k
        })
        .collect();
    median_otsu_volume(&mean, dims, options)
}

/// [`median_otsu`] on an already averaged 3-D volume.
pub fn median_otsu_volume(
    volume: &[f64],
    dims: [usize; 3],
    options: &MedianOtsuOptions,
) -> Result<Vec<bool>> {
    if dims.iter().product::<usize>() != volume.len() || volume.is_empty() {
        return Err(DtiError::Shape {
            what: "median_otsu".into(),
            message: format!("{} values do not fill {dims:?}", volume.len()),
        });
    }
    if volume.iter().any(|v| !v.is_finite()) {
        return Err(DtiError::Invalid {
            what: "median_otsu".into(),
            message: "the b0 volume holds non-finite values".into(),
        });
    }
    let mut data = volume.to_vec();
    for _ in 0..options.numpass {
        data = median_filter(&data, dims, options.median_radius);
    }
    let t = otsu_threshold(&data);
    let mut mask: Vec<bool> = data.iter().map(|&v| v > t).collect();
    for _ in 0..options.dilate {
        mask = dilate(&mask, dims);
    }
    Ok(mask)
}

/// scipy.ndimage's `reflect` boundary: index i mapped into 0..n.
#[inline]
fn reflect(i: isize, n: usize) -> usize {
    let n = n as isize;
    let m = i.rem_euclid(2 * n);
    (if m >= n { 2 * n - 1 - m } else { m }) as usize
}

/// Cubic median filter of side 2r + 1 with reflecting boundaries.
pub fn median_filter(data: &[f64], dims: [usize; 3], radius: usize) -> Vec<f64> {
    let [nx, ny, nz] = dims;
    let r = radius as isize;
    let side = 2 * radius + 1;
    let rank = side * side * side / 2;
    let mut out = vec![0.0; data.len()];
    out.par_chunks_mut(nx * ny)
        .enumerate()
        .for_each(|(z, slice)| {
            let mut win = Vec::with_capacity(side * side * side);
            let zs: Vec<usize> = (-r..=r).map(|d| reflect(z as isize + d, nz)).collect();
            for y in 0..ny {
                let ys: Vec<usize> = (-r..=r).map(|d| reflect(y as isize + d, ny)).collect();
                for x in 0..nx {
                    win.clear();
                    for &zz in &zs {
                        for &yy in &ys {
                            let base = nx * (yy + ny * zz);
                            for d in -r..=r {
                                win.push(data[base + reflect(x as isize + d, nx)]);
                            }
                        }
                    }
                    let (_, m, _) = win.select_nth_unstable_by(rank, f64::total_cmp);
                    slice[x + nx * y] = *m;
                }
            }
        });
    out
}

/// Otsu's threshold with DIPY's convention (`dipy.segment.threshold.otsu`, 256 bins).
pub fn otsu_threshold(values: &[f64]) -> f64 {
    const NB: usize = 256;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if values.is_empty() {
        return 0.0;
    }
    if lo == hi {
        lo -= 0.5;
        hi += 0.5;
    }
    // np.linspace(lo, hi, 257): i·step + lo, last edge exactly hi.
    let step = (hi - lo) / NB as f64;
    let mut edges = [0.0f64; NB + 1];
    for (i, e) in edges.iter_mut().enumerate() {
        *e = i as f64 * step + lo;
    }
    edges[NB] = hi;
    // np.histogram's binning: scaled index, then corrected against the edges.
    let mut hist = [0.0f64; NB];
    let denom = hi - lo;
    for &v in values {
        let mut i = (((v - lo) / denom) * NB as f64) as usize;
        if i >= NB {
            i = NB - 1;
        }
        if v < edges[i] && i > 0 {
            i -= 1;
        } else if i != NB - 1 && v >= edges[i + 1] {
            i += 1;
        }
        hist[i] += 1.0;
    }
    let mut w1 = [0.0f64; NB];
    let mut m1 = [0.0f64; NB];
    let (mut cw, mut cm) = (0.0, 0.0);
    for i in 0..NB {
        cw += hist[i];
        cm += hist[i] * edges[i + 1];
        w1[i] = cw;
        m1[i] = cm / cw;
    }
    let mut w2 = [0.0f64; NB];
    let mut m2 = [0.0f64; NB];
    let (mut cw, mut cm) = (0.0, 0.0);
    for i in (0..NB).rev() {
        cw += hist[i];
        cm += hist[i] * edges[i + 1];
        w2[i] = cw;
        m2[i] = cm / cw;
    }
    let mut best = 0;
    let mut best_v = f64::NEG_INFINITY;
    for i in 0..NB - 1 {
        let v = w1[i] * w2[i + 1] * (m1[i] - m2[i + 1]).powi(2);
        // np.argmax: first maximum; NaN (empty classes) never wins here.
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    edges[best]
}

/// One binary dilation with the 6-connected cross (outside the image counts as false).
fn dilate(mask: &[bool], dims: [usize; 3]) -> Vec<bool> {
    let [nx, ny, nz] = dims;
    let mut out = mask.to_vec();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let i = x + nx * (y + ny * z);
                if mask[i] {
                    continue;
                }
                out[i] = (x > 0 && mask[i - 1])
                    || (x + 1 < nx && mask[i + 1])
                    || (y > 0 && mask[i - nx])
                    || (y + 1 < ny && mask[i + nx])
                    || (z > 0 && mask[i - nx * ny])
                    || (z + 1 < nz && mask[i + nx * ny]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_matches_scipy() {
        let got: Vec<usize> = (-4..7).map(|i| reflect(i, 3)).collect();
        // scipy reflect of [a b c]: ... c b a | a b c | c b a | a b ...
        assert_eq!(got, vec![2, 2, 1, 0, 0, 1, 2, 2, 1, 0, 0]);
        assert_eq!(reflect(-3, 1), 0);
    }

    #[test]
    fn otsu_splits_two_clusters() {
        let mut v = vec![10.0; 50];
        v.extend(vec![100.0; 50]);
        let t = otsu_threshold(&v);
        assert!((10.0..100.0).contains(&t), "{t}");
    }

    #[test]
    fn bright_block_is_found() {
        let dims = [12, 12, 12];
        let mut vol = vec![5.0; 12 * 12 * 12];
        for z in 3..9 {
            for y in 3..9 {
                for x in 3..9 {
                    vol[x + 12 * (y + 12 * z)] = 200.0;
                }
            }
        }
        let opts = MedianOtsuOptions {
            median_radius: 1,
            numpass: 1,
            dilate: 0,
        };
        let m = median_otsu_volume(&vol, dims, &opts).unwrap();
        assert!(m[6 + 12 * (6 + 12 * 6)]);
        assert!(!m[0]);
        let d = median_otsu_volume(&vol, dims, &MedianOtsuOptions { dilate: 1, ..opts }).unwrap();
        assert!(d.iter().filter(|b| **b).count() > m.iter().filter(|b| **b).count());
        assert!(median_otsu_volume(&vol[1..], dims, &opts).is_err());
    }
}
