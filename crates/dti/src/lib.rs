//! # evidentia-dti
//!
//! Diffusion MRI, from the scanner's files to tract biomarkers. This first part owns
//! the gradient table: FSL `bval`/`bvec` parsing (both layouts, NaN rows, b-value
//! jitter), b0 detection, shells, and the frame the vectors are expressed in.
//! [`nifti`] reads NIfTI-1/2 (`.nii`, `.nii.gz`) with nibabel's affine and scaling rules
//! and writes NIfTI-1 maps; [`bids`] finds diffusion runs in a BIDS dataset and names
//! and describes the derivatives.
//!
//! Tractography (see `docs/dti-tracking.md`): [`track::TensorField`] is the tracker's input,
//! [`track::track`] runs deterministic tensor tractography with ROI selection ([`roi`], tract
//! definitions in TOML, examples in `crates/dti/tracts/`), [`tract_metrics`] computes tract FA/MD
//! and asymmetry, [`streamlines`] reads and writes TRK and TCK, [`track_phantom`] builds
//! phantoms with known bundle paths, and [`scan_sim`] simulates small scans with known tract
//! FA/MD and measures them through the whole pipeline (fit, track, tract metrics).
//!
//! Tensor stage: [`tensor`] fits OLS, WLS (DIPY's default), NLLS, RESTORE and IRLS to
//! voxel-major signals ([`fit_tensors`]) with per-voxel flags and outlier counts;
//! [`maps`] gives FA, MD, AD, RD, eigenvalues, V1, colour FA, mode and the tensor elements
//! in FSL and MRtrix orders; [`mask`] is DIPY's `median_otsu`; [`phantom`] builds a
//! deterministic phantom with known FA/MD/V1. Fits are checked against DIPY 1.12.1 on its
//! small datasets (`tests/tensor.rs`) and against the phantom's truth (`tests/phantom.rs`).
//!
//! [`motion`] reads FSL mcflirt/eddy motion parameters, whose rotations turn the gradient
//! directions with the head ([`gradients::GradientTable::rotated`]).
//!
//! [`gradcheck`] checks the orientation of the gradient table (as MRtrix `dwigradcheck`).
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

pub mod bids;
pub mod eig3;
pub mod error;
pub mod fuzz_harness;
pub mod gradcheck;
pub mod gradients;
mod linalg;
pub mod maps;
pub mod mask;
mod mem;
pub mod motion;
pub mod nifti;
pub mod phantom;
pub mod roi;
pub mod scan_sim;
pub mod streamlines;
pub mod tensor;
pub mod track;
pub mod track_phantom;
pub mod tract_metrics;
pub mod trx;
pub mod volume;

pub use error::{DtiError, Result};
pub use linalg::sym_eigen3;
pub use roi::{Hemisphere, Roi, RoiRole, RoiSet, RoiShape, TractDefinition};
pub use streamlines::Streamlines;
pub use tensor::{FitMethod, FitOptions, NoiseSigma, TensorFit, VoxelTensor, fit_tensors};
pub use track::{TensorField, TrackParams, Tractogram, track};
pub use volume::Volume;
