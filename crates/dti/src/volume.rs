//! The in-memory image shared by the readers, the fitting code and the trackers.
//!
//! Data are stored in NIfTI order (x fastest, then y, z, then volume), as `f32` after
//! scaling; the affine maps voxel indices to world millimetres (RAS+), as nibabel's
//! `img.affine` does.

use crate::error::{DtiError, Result};

/// A 3-D or 4-D image: dimensions, voxel-to-world affine (first three rows) and data.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume<T> {
    dims: [usize; 4],
    affine: [[f64; 4]; 3],
    data: Vec<T>,
}

impl<T: Copy> Volume<T> {
    /// Builds a volume; `dims[3]` is 1 for a 3-D image. Fails when the data length is not
    /// the product of the dimensions or a dimension is zero.
    pub fn new(dims: [usize; 4], affine: [[f64; 4]; 3], data: Vec<T>) -> Result<Self> {
        let n = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| DtiError::Shape {
                what: "volume".into(),
                message: format!("dimensions {dims:?} overflow"),
            })?;
        if dims.contains(&0) || n != data.len() {
            return Err(DtiError::Shape {
                what: "volume".into(),
                message: format!("dimensions {dims:?} need {n} values, got {}", data.len()),
            });
        }
        Ok(Self { dims, affine, data })
    }

    /// (nx, ny, nz, nvol).
    pub fn dims(&self) -> [usize; 4] {
        self.dims
    }

    /// Spatial dimensions (nx, ny, nz).
    pub fn dims3(&self) -> [usize; 3] {
        [self.dims[0], self.dims[1], self.dims[2]]
    }

    /// Number of voxels in one volume.
    pub fn n_voxels(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }

    /// Number of volumes (1 for a 3-D image).
    pub fn n_volumes(&self) -> usize {
        self.dims[3]
    }

    /// Voxel-to-world affine (rows x, y, z of the 4×4 matrix).
    pub fn affine(&self) -> &[[f64; 4]; 3] {
        &self.affine
    }

    /// Voxel sizes in mm: the column norms of the affine's 3×3 part.
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

    /// All values in NIfTI order.
    pub fn data(&self) -> &[T] {
        &self.data
    }

    /// Consumes the volume and returns its values in NIfTI order.
    pub fn into_data(self) -> Vec<T> {
        self.data
    }

    /// Linear index of voxel (x, y, z) in volume t.
    pub fn index(&self, x: usize, y: usize, z: usize, t: usize) -> usize {
        x + self.dims[0] * (y + self.dims[1] * (z + self.dims[2] * t))
    }

    /// Value at voxel (x, y, z) of volume t, or `None` outside the image.
    pub fn get(&self, x: usize, y: usize, z: usize, t: usize) -> Option<T> {
        if x < self.dims[0] && y < self.dims[1] && z < self.dims[2] && t < self.dims[3] {
            Some(self.data[self.index(x, y, z, t)])
        } else {
            None
        }
    }

    /// The data rearranged voxel-major (all volumes of voxel 0, then voxel 1, ...), the
    /// layout the per-voxel fitting code reads.
    pub fn to_voxel_major(&self) -> Vec<T> {
        let nv = self.n_voxels();
        let nt = self.dims[3];
        let mut out = Vec::with_capacity(self.data.len());
        for v in 0..nv {
            for t in 0..nt {
                out.push(self.data[v + nv * t]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EYE: [[f64; 4]; 3] = [
        [2.0, 0.0, 0.0, 0.0],
        [0.0, 2.0, 0.0, 0.0],
        [0.0, 0.0, 2.5, 0.0],
    ];

    #[test]
    fn shape_is_checked() {
        assert!(Volume::new([2, 2, 1, 1], EYE, vec![0.0f32; 3]).is_err());
        assert!(Volume::new([0, 2, 1, 1], EYE, Vec::<f32>::new()).is_err());
    }

    #[test]
    fn indexing_and_voxel_major() {
        let data: Vec<f32> = (0..8).map(|v| v as f32).collect();
        let v = Volume::new([2, 2, 1, 2], EYE, data).unwrap();
        assert_eq!(v.get(1, 0, 0, 1), Some(5.0));
        assert_eq!(v.get(2, 0, 0, 0), None);
        assert_eq!(
            v.to_voxel_major(),
            vec![0.0, 4.0, 1.0, 5.0, 2.0, 6.0, 3.0, 7.0]
        );
        assert_eq!(v.voxel_size(), [2.0, 2.0, 2.5]);
    }
}
