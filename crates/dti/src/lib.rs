//! # evidentia-dti
//!
//! Diffusion MRI, from the scanner's files to tract biomarkers. This part owns the
//! gradient table (FSL `bval`/`bvec` parsing in both layouts, NaN rows, b-value jitter,
//! b0 detection, shells, the frame of the vectors) and the tensor stage:
//!
//! * [`tensor`]: per-voxel OLS, WLS (DIPY's default), NLLS, RESTORE and IRLS fits of
//!   voxel-major signals ([`fit_tensors`]), with per-voxel flags and outlier counts;
//! * [`maps`]: FA, MD, AD, RD, eigenvalues, V1, colour FA, mode, tensor elements in FSL
//!   and MRtrix orders;
//! * [`mask`]: DIPY's `median_otsu` brain mask;
//! * [`phantom`]: a deterministic phantom with known FA/MD/V1 for validation and demos.
//!
//! Fits are checked against DIPY 1.12.1 on its small datasets (`tests/tensor.rs`) and
//! against the phantom's truth (`tests/phantom.rs`).
//!
//! ```
//! use evidentia_dti::gradients::{GradientOptions, GradientTable};
//!
//! let bvals = "0 1000 995 1005 0";
//! let bvecs = "0 1 0 0 0\n0 0 1 0 0\n0 0 0 1 0";
//! let g = GradientTable::from_fsl_text(bvals, bvecs, &GradientOptions::default()).unwrap();
//! assert_eq!(g.b0_indices(), vec![0, 4]);
//! assert_eq!(g.shells().len(), 1);
//! ```

pub mod error;
pub mod gradients;
mod linalg;
pub mod maps;
pub mod mask;
pub mod phantom;
pub mod tensor;
pub mod volume;

pub use error::{DtiError, Result};
pub use linalg::sym_eigen3;
pub use tensor::{FitMethod, FitOptions, NoiseSigma, TensorFit, VoxelTensor, fit_tensors};
pub use volume::Volume;
