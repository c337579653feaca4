//! `evidentia dti ...`: tensor fitting, brain mask, gradient orientation check, the BIDS
//! App, tractography and tract metrics. A thin layer over `evidentia-dti`: every result
//! is computed in memory and written only once it is complete (maps go to a temporary
//! folder inside the output folder and are renamed into place together), so an error
//! never leaves partial outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use evidentia_dti::bids::{self, BidsFilter, DwiRun, MapSidecar};
use evidentia_dti::gradcheck::{self, GradCheck, GradCheckOptions};
use evidentia_dti::gradients::{Frame, GradientOptions, GradientTable};
use evidentia_dti::mask::{MedianOtsuOptions, median_otsu_volume};
use evidentia_dti::motion::{MotionFormat, MotionParameters};
use evidentia_dti::nifti::{self, NiftiHeader, WriteOptions};
use evidentia_dti::streamlines::{self, Streamlines, TrkHeader};
use evidentia_dti::tensor::{FitMethod, FitOptions, TensorFit, VoxelTensor, fit_tensors, flags};
use evidentia_dti::tract_metrics::{self, ScalarMaps, TractMetrics};
use evidentia_dti::{DtiError, Hemisphere, RoiSet, TensorField, TrackParams, TractDefinition};
use evidentia_dti::{Volume, maps};
use serde::Serialize;
use serde_json::{Value, json};

use crate::error::{CliError, CliResult};
use crate::output::emit;
use crate::provenance::Provenance;

/// The diffusion MRI subcommands.
#[derive(Debug, Subcommand)]
pub enum DtiCommand {
    /// Fit diffusion tensors and write FA, MD, AD, RD, L1-L3, V1, colour FA, mode and the
    /// tensor (FSL order) as .nii.gz with the input affine, the QC maps (status flags; outlier
    /// counts for the robust methods) and dti_summary.json; --maps picks a subset.
    #[command(
        after_help = "Examples:\n  evidentia dti fit --dwi dwi.nii.gz --bval dwi.bval --bvec dwi.bvec --method wls --out fit\n  evidentia dti fit --dwi dwi.nii.gz --bval dwi.bval --bvec dwi.bvec --mask mask.nii.gz --maps fa,md --out fit\n\nV1 and the tensor are in the frame of the bvec file (FSL's image frame), as FSL dtifit.\nMethods: Basser et al. (1994) OLS; Chung et al. (2006) and DIPY's wls_fit_tensor; Chang et al. (2005) RESTORE."
    )]
    Fit(FitArgs),
    /// Brain mask by median filter and Otsu threshold on the mean b0 (DIPY's median_otsu).
    #[command(
        after_help = "Example:\n  evidentia dti mask --dwi dwi.nii.gz --bval dwi.bval --bvec dwi.bvec --out mask.nii.gz"
    )]
    Mask(MaskArgs),
    /// Check the orientation of the gradient table (24 permutations and flips, refit and
    /// track briefly, as MRtrix dwigradcheck).
    #[command(
        after_help = "Example:\n  evidentia dti check-gradients --dwi dwi.nii.gz --bval dwi.bval --bvec dwi.bvec --json"
    )]
    CheckGradients(CheckArgs),
    /// BIDS App: fit (and with --tracts, track) every diffusion run of a BIDS dataset and
    /// write BIDS derivatives; the group level gathers tract statistics for the trial.
    /// Exit code 0 when every run succeeded, 2 when any failed (the others still run).
    #[command(
        after_help = "Examples:\n  evidentia dti run bids_root bids_root/derivatives/evidentia participant --participant-label 01 02 --tracts crates/dti/tracts\n  evidentia dti run bids_root bids_root/derivatives/evidentia group --visit-time baseline=0,T4=12\n\nThe group level writes OUT_DIR/group/measurements.csv (the trial dataset's long format: cst_fa, cst_md, ... of the most affected side, per-side cst_left_fa, ...; MD in 10^-3 mm^2/s) and measurements.json."
    )]
    Run(RunArgs),
    /// Deterministic tensor tractography from a tensor image written by `dti fit`, or from
    /// a diffusion image fitted in memory (--dwi/--bval/--bvec).
    #[command(
        after_help = "Examples:\n  evidentia dti track --tensor fit/dti_tensor.nii.gz --mask fit/dti_mask.nii.gz --tract crates/dti/tracts/cst_left.toml --out cst_left.trk\n  evidentia dti track --dwi dwi.nii.gz --bval dwi.bval --bvec dwi.bvec --method wls --tract crates/dti/tracts/cst_left.toml --out cst_left.trk\n\nWith --dwi the tensor is fitted exactly as `dti fit` with the same --mask, --method and --b0-threshold would write it, so the streamlines are the same as `dti fit` then --tensor."
    )]
    Track(TrackArgs),
    /// Tract metrics (FA/MD/AD/RD over points and voxels, volume, length) and left/right
    /// asymmetry (rFA, FNA, most affected side).
    #[command(
        after_help = "Example:\n  evidentia dti tract-stats --tracts cst_left.trk,cst_right.trk --maps fit --json"
    )]
    TractStats(TractStatsArgs),
}

/// Tensor estimation methods.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    Ols,
    Wls,
    Nlls,
    Restore,
    Irls,
}

impl From<MethodArg> for FitMethod {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Ols => FitMethod::Ols,
            MethodArg::Wls => FitMethod::Wls,
            MethodArg::Nlls => FitMethod::Nlls,
            MethodArg::Restore => FitMethod::Restore,
            MethodArg::Irls => FitMethod::Irls,
        }
    }
}

/// The diffusion image and its gradient files.
#[derive(Debug, Args, Clone)]
pub struct DwiArgs {
    /// 4-D diffusion image (.nii or .nii.gz).
    #[arg(long)]
    dwi: PathBuf,
    /// FSL b-values file.
    #[arg(long)]
    bval: PathBuf,
    /// FSL b-vectors file (3×N or N×3).
    #[arg(long)]
    bvec: PathBuf,
    /// Volumes with b at or below this are b0 (s/mm²).
    #[arg(long, default_value_t = 50.0)]
    b0_threshold: f64,
}

/// Layout of a motion-parameter file.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MotionFormatArg {
    /// FSL mcflirt .par: rx ry rz (radians) tx ty tz (mm).
    Mcflirt,
    /// FSL eddy *.eddy_parameters: tx ty tz (mm) rx ry rz (radians), then eddy-current terms.
    Eddy,
}

/// Per-volume motion parameters that rotate the gradient directions.
#[derive(Debug, Args, Clone)]
pub struct MotionArgs {
    /// Motion parameters, one row per volume of the image (FSL mcflirt .par or eddy
    /// *.eddy_parameters): each volume's gradient direction is rotated into the reference
    /// frame before fitting (FSL Euler angles R = Rx·Ry·Rz; R for mcflirt, R⁻¹ for eddy, as
    /// each tool does), so the b-matrix follows the head.
    #[arg(long)]
    motion: Option<PathBuf>,
    /// Layout of --motion (default: from the file name, *.par = mcflirt,
    /// *eddy_parameters* = eddy).
    #[arg(long, value_enum, requires = "motion")]
    motion_format: Option<MotionFormatArg>,
}

/// Arguments of `dti fit`.
#[derive(Debug, Args)]
pub struct FitArgs {
    #[command(flatten)]
    input: DwiArgs,
    #[command(flatten)]
    motion: MotionArgs,
    /// Brain mask (non-zero = inside); without it median_otsu's mask is computed and written.
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Estimation method.
    #[arg(long, value_enum, default_value = "wls")]
    method: MethodArg,
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Maps to write, by key (comma-separated): fa, md, ad, rd, l1, l2, l3, v1, colorfa,
    /// mode, tensor; the QC maps flags (each voxel's status bits, uint8; the bits are listed
    /// in the summary's `flag_bits`) and outliers (measurements dropped per voxel, int16;
    /// restore and irls only); or all (the default: every map, and outliers for the robust
    /// methods). Like DIPY's `--save_metrics`; the others are then neither computed nor
    /// written.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    maps: Vec<String>,
    /// Also run the gradient orientation check (24 permutations/flips, each refitted and
    /// tracked briefly; adds a few seconds) and report it as QC in the summary.
    /// `dti check-gradients` runs it alone; `dti run` runs it unless told to skip it.
    #[arg(long)]
    check_gradients: bool,
    /// Worker threads (default: RAYON_NUM_THREADS or all cores).
    #[arg(long)]
    threads: Option<usize>,
}

/// Arguments of `dti mask`.
#[derive(Debug, Args)]
pub struct MaskArgs {
    #[command(flatten)]
    input: DwiArgs,
    /// Output mask (.nii.gz).
    #[arg(long)]
    out: PathBuf,
    /// Radius of the median filter, voxels.
    #[arg(long, default_value_t = 4)]
    median_radius: usize,
    /// Median filter passes.
    #[arg(long, default_value_t = 4)]
    numpass: usize,
}

/// Arguments of `dti check-gradients`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    input: DwiArgs,
    #[command(flatten)]
    motion: MotionArgs,
    /// Brain mask (default: median_otsu).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Most seeds tracked per candidate.
    #[arg(long, default_value_t = 2000)]
    max_seeds: usize,
    /// Worker threads.
    #[arg(long)]
    threads: Option<usize>,
}

/// Analysis level of the BIDS App.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Level {
    Participant,
    Group,
}

/// Arguments of `dti run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// BIDS dataset root.
    bids_dir: PathBuf,
    /// Output (derivative dataset) folder.
    out_dir: PathBuf,
    /// Analysis level: `participant` fits (and tracks) each run; `group` gathers every
    /// run's tract statistics from OUT_DIR into OUT_DIR/group/measurements.csv.
    #[arg(value_enum)]
    level: Level,
    /// Participant labels (with or without `sub-`); default all.
    #[arg(long, num_args = 1..)]
    participant_label: Vec<String>,
    /// Session labels (with or without `ses-`); default all.
    #[arg(long, num_args = 1..)]
    session: Vec<String>,
    /// Estimation method.
    #[arg(long, value_enum, default_value = "wls")]
    method: MethodArg,
    /// b0 threshold (s/mm²).
    #[arg(long, default_value_t = 50.0)]
    b0_threshold: f64,
    /// Skip the gradient orientation check.
    #[arg(long)]
    skip_gradient_check: bool,
    /// Participant level: track every tract definition (`*.toml`) in this folder with the
    /// fitted tensor and write `.trk` tractograms and `*_tractstats.json` per run.
    #[arg(long)]
    tracts: Option<PathBuf>,
    /// Group level: time of each visit (session label) in the trial's time unit,
    /// e.g. `baseline=0,T4=12` (default: `baseline=0` only).
    #[arg(long, value_delimiter = ',')]
    visit_time: Vec<String>,
    /// Group level: take each participant's id from this column of the BIDS dataset's
    /// `participants.tsv` (e.g. `trial_id` holding `CP-001`), since BIDS labels cannot
    /// hold the hyphens and underscores of trial ids; default: the subject label.
    #[arg(long)]
    id_column: Option<String>,
    /// Worker threads.
    #[arg(long)]
    threads: Option<usize>,
}

/// Arguments of `dti track`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["tensor", "dwi"])))]
pub struct TrackArgs {
    /// Tensor image from `dti fit` (6 volumes, FSL order Dxx Dxy Dxz Dyy Dyz Dzz, FSL image frame).
    /// Give either this or --dwi/--bval/--bvec.
    #[arg(long)]
    tensor: Option<PathBuf>,
    /// 4-D diffusion image: fit the tensor in memory (as `dti fit` with the same --mask,
    /// --method and --b0-threshold) and track it; the alternative to --tensor.
    #[arg(long, requires_all = ["bval", "bvec"])]
    dwi: Option<PathBuf>,
    /// FSL b-values file of --dwi.
    #[arg(long, requires = "dwi")]
    bval: Option<PathBuf>,
    /// FSL b-vectors file of --dwi (3×N or N×3).
    #[arg(long, requires = "dwi")]
    bvec: Option<PathBuf>,
    /// Estimation method of the in-memory fit (with --dwi; default wls).
    #[arg(long, value_enum, requires = "dwi")]
    method: Option<MethodArg>,
    /// b0 threshold of the in-memory fit, s/mm² (with --dwi; default 50).
    #[arg(long, requires = "dwi")]
    b0_threshold: Option<f64>,
    /// Motion parameters of --dwi (as `dti fit --motion`): the gradients are rotated per
    /// volume before the in-memory fit.
    #[arg(long, requires = "dwi")]
    motion: Option<PathBuf>,
    /// Layout of --motion (mcflirt or eddy; default from the file name).
    #[arg(long, value_enum, requires = "motion")]
    motion_format: Option<MotionFormatArg>,
    /// Tracking mask (default: voxels with a non-zero tensor). With --dwi it is also the
    /// mask of the fit (default there: median_otsu, as `dti fit`).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// Seed mask (default: the tracking mask).
    #[arg(long)]
    seed_mask: Option<PathBuf>,
    /// Tract definition (TOML: ROIs with roles, hemisphere, parameters).
    #[arg(long)]
    tract: Option<PathBuf>,
    /// Stop below this FA (default 0.2, or the tract file's).
    #[arg(long)]
    fa_threshold: Option<f64>,
    /// Seed only where FA is at least this (default 0.2, or the tract file's).
    #[arg(long)]
    seed_fa_threshold: Option<f64>,
    /// Largest turn between steps, degrees (default 50).
    #[arg(long)]
    angle: Option<f64>,
    /// Step, mm (default 0.5).
    #[arg(long)]
    step: Option<f64>,
    /// Seed grid spacing, mm (default 1).
    #[arg(long)]
    seed_spacing: Option<f64>,
    /// Shortest streamline kept, mm (default 10).
    #[arg(long)]
    min_length: Option<f64>,
    /// Output tractogram: .trk, .tck or .trx (a <stem>.json sidecar with the name, hemisphere,
    /// parameters and counts is written beside it). TRK and TRX carry FA and MD at every
    /// point (TRK per-point scalars `fa`, `md`; TRX `dpv/fa.float32`, `dpv/md.float32`); TRX
    /// with --tract also has the group `groups/<tract name>.uint32`.
    #[arg(long)]
    out: PathBuf,
    /// With a .trk --out: write points only, without the per-point FA/MD scalars.
    #[arg(long)]
    no_scalars: bool,
    /// Worker threads.
    #[arg(long)]
    threads: Option<usize>,
}

/// Arguments of `dti tract-stats`.
#[derive(Debug, Args)]
pub struct TractStatsArgs {
    /// Tractograms (.trk, .tck or .trx), comma-separated; left/right pairs (same name with
    /// `left`/`right`) also get the asymmetry.
    #[arg(long, value_delimiter = ',', required = true)]
    tracts: Vec<PathBuf>,
    /// Folder with dti_FA, dti_MD, dti_AD, dti_RD .nii.gz (as written by `dti fit`).
    #[arg(long)]
    maps: PathBuf,
    /// Nodes of the along-tract profiles.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// Lesion side (ipsilesional) for rFA; default: the most affected (lower FA) side.
    #[arg(long)]
    lesion: Option<String>,
}

/// Runs a `dti` subcommand.
pub fn run(cmd: DtiCommand, json: bool) -> CliResult<()> {
    let threads = match &cmd {
        DtiCommand::Fit(a) => a.threads,
        DtiCommand::CheckGradients(a) => a.threads,
        DtiCommand::Run(a) => a.threads,
        DtiCommand::Track(a) => a.threads,
        DtiCommand::Mask(_) | DtiCommand::TractStats(_) => None,
    };
    let go = move || match cmd {
        DtiCommand::Fit(a) => fit_cmd(a, json),
        DtiCommand::Mask(a) => mask_cmd(a, json),
        DtiCommand::CheckGradients(a) => check_cmd(a, json),
        DtiCommand::Run(a) => run_cmd(a, json),
        DtiCommand::Track(a) => track_cmd(a, json),
        DtiCommand::TractStats(a) => stats_cmd(a, json),
    };
    match threads {
        Some(0) => Err(CliError::Usage("--threads must be at least 1".into())),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map_err(|e| CliError::Usage(format!("cannot start {n} threads: {e}")))?
            .install(go),
        None => go(),
    }
}

/// Turns a library error into a CLI error (the message already names the file).
fn dti_err(e: DtiError) -> CliError {
    match e {
        DtiError::Io { file, message } => CliError::Data {
            path: PathBuf::from(file),
            message,
        },
        DtiError::Format { file, message } => CliError::Data {
            path: PathBuf::from(file),
            message,
        },
        other => CliError::Usage(other.to_string()),
    }
}

/// Names `path` in an error that does not name a file.
fn about(path: &Path) -> impl FnOnce(DtiError) -> CliError + '_ {
    move |e| match e {
        DtiError::Io { .. } | DtiError::Format { .. } | DtiError::Parse { .. } => dti_err(e),
        other => CliError::Data {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

fn out_err(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::Output(format!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------
// Inputs

/// A diffusion image with its gradient table, voxel-major signals and checks done.
struct Dwi {
    header: NiftiHeader,
    dims: [usize; 3],
    affine: [[f64; 4]; 3],
    gtab: GradientTable,
    /// Voxel-major signals of every grid voxel, or only of the voxels of `kept`.
    signals: Vec<f32>,
    /// The brain mask the signals were restricted to when read (`None`: whole grid).
    kept: Option<Vec<bool>>,
    nonfinite_voxels: usize,
    /// SHA-256 of the image file as read.
    sha256: String,
    /// What `--motion` did to the gradients (`None` without it).
    motion: Option<Value>,
}

impl Dwi {
    fn n_voxels(&self) -> usize {
        self.dims.iter().product()
    }
}

fn load_dwi(a: &DwiArgs) -> CliResult<Dwi> {
    load_dwi_paths(&a.dwi, &a.bval, &a.bvec, a.b0_threshold, None, None)
}

/// Reads `--motion` and rotates each volume's gradient direction by its rotation
/// ([`GradientTable::rotated`]); returns the rotated table and the summary to report.
fn rotate_by_motion(
    gtab: &GradientTable,
    path: &Path,
    format: Option<MotionFormatArg>,
    dwi: &Path,
) -> CliResult<(GradientTable, Value)> {
    let format = match format {
        Some(MotionFormatArg::Mcflirt) => MotionFormat::Mcflirt,
        Some(MotionFormatArg::Eddy) => MotionFormat::Eddy,
        None => MotionFormat::from_file_name(&path.display().to_string()).ok_or_else(|| {
            CliError::Usage(format!(
                "{}: cannot tell the motion file's layout from its name; give --motion-format mcflirt or eddy",
                path.display()
            ))
        })?,
    };
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Data {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let m = MotionParameters::parse(&text, format, &path.display().to_string()).map_err(|e| {
        CliError::Data {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    })?;
    if m.len() != gtab.len() {
        return Err(CliError::Data {
            path: path.to_path_buf(),
            message: format!(
                "{} rows of motion parameters for {} volumes (the gradients of {}): one row per volume is needed",
                m.len(),
                gtab.len(),
                dwi.display()
            ),
        });
    }
    let rotated = gtab
        .rotated(&m.rotation_matrices())
        .map_err(|e| CliError::Data {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let summary = json!({
        "gradients_rotated": true,
        "file": path.display().to_string(),
        "format": format,
        "volumes": m.len(),
        "max_rotation_deg": m.max_rotation_deg(),
        "convention": match m.format {
            MotionFormat::Mcflirt => "FSL Euler angles R = Rx·Ry·Rz (construct_rotmat_euler); mcflirt moves each volume onto the reference, so bvec g -> R·g in the FSL image frame; b0 volumes unchanged",
            MotionFormat::Eddy => "FSL Euler angles R = Rx·Ry·Rz (construct_rotmat_euler via MovePar2Matrix); eddy's R moves the reference onto the scan, so bvec g -> R⁻¹·g in the FSL image frame, as eddy's *.eddy_rotated_bvecs; b0 volumes unchanged",
        },
    });
    Ok((rotated, summary))
}

/// Reads the image and its gradients; with `keep_mask`, reads that mask (on the image's
/// grid) too and keeps only the signals of its voxels.
fn load_dwi_paths(
    dwi: &Path,
    bval: &Path,
    bvec: &Path,
    b0_threshold: f64,
    keep_mask: Option<&Path>,
    motion: Option<(&Path, Option<MotionFormatArg>)>,
) -> CliResult<Dwi> {
    if !(b0_threshold.is_finite() && b0_threshold >= 0.0) {
        return Err(CliError::Usage(format!(
            "--b0-threshold must be a non-negative number, got {b0_threshold}"
        )));
    }
    let gopts = GradientOptions {
        b0_threshold,
        ..Default::default()
    };
    let mut gtab = GradientTable::from_fsl_files(bval, bvec, &gopts).map_err(dti_err)?;
    let motion = match motion {
        Some((p, f)) => {
            let (g, summary) = rotate_by_motion(&gtab, p, f, dwi)?;
            gtab = g;
            Some(summary)
        }
        None => None,
    };
    // The checks of the image against its gradients, in the order they have always run.
    let check = |nt: usize, affine: &[[f64; 4]; 3]| -> CliResult<()> {
        if nt != gtab.len() {
            return Err(CliError::Data {
                path: dwi.to_path_buf(),
                message: format!(
                    "the image has {nt} volumes but {} lists {} b-values (and {} as many vectors): \
                     image and gradients do not match",
                    bval.display(),
                    gtab.len(),
                    bvec.display()
                ),
            });
        }
        if gtab.b0_indices().len() == gtab.len() {
            return Err(CliError::Data {
                path: bval.to_path_buf(),
                message: format!(
                    "every b-value is at or below the b0 threshold {b0_threshold}: no diffusion weighting to fit"
                ),
            });
        }
        gradcheck::frame_to_world(affine, Frame::FslImage).map_err(about(dwi))?;
        Ok(())
    };
    let kept = match keep_mask {
        Some(p) => {
            let hdr = nifti::read_header(dwi).map_err(dti_err)?;
            let d = hdr.dims();
            let affine = hdr.affine().map_err(dti_err)?;
            check(d[3], &affine)?;
            Some(load_mask(p, [d[0], d[1], d[2]])?)
        }
        None => None,
    };
    // The compressed bytes are hashed for provenance while in memory, then handed to the
    // decoder, which frees them once inflated and decodes straight to voxel-major order.
    let bytes = nifti::read_bytes(dwi).map_err(dti_err)?;
    let (img, sha256) = nifti::decode_voxel_major_with(
        &dwi.display().to_string(),
        bytes,
        kept.as_deref(),
        crate::provenance::sha256_hex,
    );
    let img = img.map_err(dti_err)?;
    let [nx, ny, nz, nt] = img.dims;
    check(nt, &img.affine)?;
    Ok(Dwi {
        header: img.header,
        dims: [nx, ny, nz],
        affine: img.affine,
        gtab,
        signals: img.signals,
        kept,
        nonfinite_voxels: img.nonfinite_voxels,
        sha256,
        motion,
    })
}

/// Reads a 3-D mask (non-zero = inside) on the grid of `dims`.
fn load_mask(path: &Path, dims: [usize; 3]) -> CliResult<Vec<bool>> {
    let (_, vol) = nifti::read(path).map_err(dti_err)?;
    let d = vol.dims();
    if [d[0], d[1], d[2]] != dims || d[3] != 1 {
        return Err(CliError::Data {
            path: path.to_path_buf(),
            message: format!(
                "mask grid {:?} does not match the image grid {dims:?}",
                &d[..if d[3] == 1 { 3 } else { 4 }]
            ),
        });
    }
    Ok(vol
        .data()
        .iter()
        .map(|&v| v != 0.0 && !v.is_nan())
        .collect())
}

/// median_otsu on the mean b0 (non-finite values read as 0).
fn compute_mask(dwi: &Dwi, dwi_path: &Path, opts: &MedianOtsuOptions) -> CliResult<Vec<bool>> {
    let b0 = dwi.gtab.b0_indices();
    if b0.is_empty() {
        return Err(CliError::Data {
            path: dwi_path.to_path_buf(),
            message: "no b0 volume to compute a brain mask from; give one with --mask".into(),
        });
    }
    let nt = dwi.gtab.len();
    let k = b0.len() as f64;
    let mean: Vec<f64> = dwi
        .signals
        .chunks(nt)
        .map(|s| {
            let m = b0.iter().map(|&i| f64::from(s[i])).sum::<f64>() / k;
            if m.is_finite() { m } else { 0.0 }
        })
        .collect();
    median_otsu_volume(&mean, dwi.dims, opts).map_err(about(dwi_path))
}

// ---------------------------------------------------------------------------------------
// Outputs

/// gzip level of the written maps (libdeflate's scale): 1, as nibabel writes `.nii.gz`
/// (zlib level 1), the fastest level; the maps of the benchmark phantom come out 0.4%
/// smaller than at level 3 with 45% fewer compressor instructions (`nifti` module docs).
const MAP_GZIP_LEVEL: i32 = nifti::DEFAULT_GZIP_LEVEL;

/// One file to write.
enum Payload {
    F32(Volume<f32>),
    U8(Volume<u8>),
    I16(Volume<i16>),
    Bytes(Vec<u8>),
}

/// Writes every file into a temporary folder inside `dir`, then renames them into `dir`;
/// on any error the temporary folder is removed and nothing is left in `dir`.
fn write_all(dir: &Path, files: &[(String, Payload)], wopts: &WriteOptions) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(|e| out_err(dir, e))?;
    let tmp = dir.join(format!(".evidentia-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp).map_err(|e| out_err(&tmp, e))?;
    let result = (|| {
        // Files are independent: compress and write them in parallel (each file's bytes do
        // not depend on the thread count), largest first, each worker taking the next file
        // when done, so the 6-volume tensor does not start last and run alone.
        let size = |p: &Payload| match p {
            Payload::F32(v) => 4 * v.data().len(),
            Payload::U8(v) => v.data().len(),
            Payload::I16(v) => 2 * v.data().len(),
            Payload::Bytes(b) => b.len(),
        };
        let mut order: Vec<usize> = (0..files.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(size(&files[i].1)));
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results: Vec<std::sync::Mutex<Option<CliResult<()>>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let workers = rayon::current_num_threads().min(files.len()).max(1);
        rayon::scope(|sc| {
            for _ in 0..workers {
                sc.spawn(|_| {
                    loop {
                        let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&i) = order.get(k) else { break };
                        let (name, p) = &files[i];
                        let path = tmp.join(name);
                        let r = match p {
                            Payload::F32(v) => nifti::write(&path, v, wopts).map_err(dti_err),
                            Payload::U8(v) => nifti::write(&path, v, wopts).map_err(dti_err),
                            Payload::I16(v) => nifti::write(&path, v, wopts).map_err(dti_err),
                            Payload::Bytes(b) => nifti::write_atomic(&path, b).map_err(dti_err),
                        };
                        if let Ok(mut slot) = results[i].lock() {
                            *slot = Some(r);
                        }
                    }
                });
            }
        });
        // The first error in file order (not completion order) is reported.
        for slot in results {
            let r = slot
                .into_inner()
                .map_err(|_| CliError::Output("internal: a writer thread panicked".into()))?;
            r.unwrap_or_else(|| Err(CliError::Output("internal: a file was not written".into())))?;
        }
        for (name, _) in files {
            std::fs::rename(tmp.join(name), dir.join(name)).map_err(|e| out_err(dir, e))?;
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

fn json_bytes<T: Serialize>(v: &T) -> CliResult<Vec<u8>> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| CliError::Output(e.to_string()))?;
    s.push('\n');
    Ok(s.into_bytes())
}

/// A 3-D or 4-D volume in NIfTI order from per-voxel tuples.
fn vol4<const K: usize>(
    dims: [usize; 3],
    affine: [[f64; 4]; 3],
    v: &[[f32; K]],
) -> CliResult<Volume<f32>> {
    let n = v.len();
    let mut data = vec![0f32; n * K];
    for (i, t) in v.iter().enumerate() {
        for k in 0..K {
            data[k * n + i] = t[k];
        }
    }
    Volume::new([dims[0], dims[1], dims[2], K], affine, data).map_err(dti_err)
}

fn vol3(dims: [usize; 3], affine: [[f64; 4]; 3], v: Vec<f32>) -> CliResult<Volume<f32>> {
    Volume::new([dims[0], dims[1], dims[2], 1], affine, v).map_err(dti_err)
}

/// One map: key (BIDS `param` value), FSL-style file stem, description, units.
struct MapSpec {
    key: &'static str,
    stem: &'static str,
    description: &'static str,
    units: Option<&'static str>,
}

const MAP_SPECS: [MapSpec; 11] = [
    MapSpec {
        key: "fa",
        stem: "dti_FA",
        description: "Fractional anisotropy",
        units: None,
    },
    MapSpec {
        key: "md",
        stem: "dti_MD",
        description: "Mean diffusivity",
        units: Some("mm^2/s"),
    },
    MapSpec {
        key: "ad",
        stem: "dti_AD",
        description: "Axial diffusivity (L1)",
        units: Some("mm^2/s"),
    },
    MapSpec {
        key: "rd",
        stem: "dti_RD",
        description: "Radial diffusivity ((L2+L3)/2)",
        units: Some("mm^2/s"),
    },
    MapSpec {
        key: "l1",
        stem: "dti_L1",
        description: "Largest eigenvalue",
        units: Some("mm^2/s"),
    },
    MapSpec {
        key: "l2",
        stem: "dti_L2",
        description: "Middle eigenvalue",
        units: Some("mm^2/s"),
    },
    MapSpec {
        key: "l3",
        stem: "dti_L3",
        description: "Smallest eigenvalue",
        units: Some("mm^2/s"),
    },
    MapSpec {
        key: "v1",
        stem: "dti_V1",
        description: "Principal eigenvector (3 volumes: x, y, z; FSL image frame)",
        units: None,
    },
    MapSpec {
        key: "colorfa",
        stem: "dti_colorFA",
        description: "Colour FA: |V1|*FA as red, green, blue (3 volumes)",
        units: None,
    },
    MapSpec {
        key: "mode",
        stem: "dti_MO",
        description: "Tensor mode (Ennis & Kindlmann 2006)",
        units: None,
    },
    MapSpec {
        key: "tensor",
        stem: "dti_tensor",
        description: "Tensor elements, FSL order Dxx Dxy Dxz Dyy Dyz Dzz (6 volumes; FSL image frame)",
        units: Some("mm^2/s"),
    },
];

/// Selects the single map with this key (e.g. the tensor, all `dti track --dwi` needs).
fn only_map(key: &str) -> Vec<bool> {
    MAP_SPECS.iter().map(|s| s.key == key).collect()
}

/// The quality-control maps `--maps` can add to the float maps of [`MAP_SPECS`].
#[derive(Debug, Clone, Copy, Default)]
struct QcMaps {
    /// `dti_flags`: each voxel's status bits ([`evidentia_dti::tensor::flags`]).
    flags: bool,
    /// `dti_outliers`: measurements each voxel's robust fit dropped (RESTORE, IRLS).
    outliers: bool,
}

/// Which maps `--maps` selects: indices in [`MAP_SPECS`], and the QC maps. `all` selects
/// every float map, the flags and, for the robust methods, the outlier counts.
fn selected_maps(keys: &[String], method: FitMethod) -> CliResult<(Vec<bool>, QcMaps)> {
    let robust = matches!(method, FitMethod::Restore | FitMethod::Irls);
    let mut on = vec![false; MAP_SPECS.len()];
    let mut qc = QcMaps::default();
    for key in keys {
        let key = key.trim().to_ascii_lowercase();
        if key == "all" {
            on.iter_mut().for_each(|v| *v = true);
            qc.flags = true;
            qc.outliers |= robust;
        } else if let Some(k) = MAP_SPECS.iter().position(|s| s.key == key) {
            on[k] = true;
        } else if key == "flags" {
            qc.flags = true;
        } else if key == "outliers" {
            if !robust {
                return Err(CliError::Usage(
                    "--maps outliers: only --method restore and irls drop outliers".into(),
                ));
            }
            qc.outliers = true;
        } else {
            let known: Vec<&str> = MAP_SPECS.iter().map(|s| s.key).collect();
            return Err(CliError::Usage(format!(
                "--maps: unknown map '{key}' (known: {}, flags, outliers, all)",
                known.join(", ")
            )));
        }
    }
    if !on.iter().any(|&v| v) && !qc.flags && !qc.outliers {
        return Err(CliError::Usage("--maps: no map selected".into()));
    }
    Ok((on, qc))
}

/// A per-voxel value of a fit on the whole grid (`default` outside a compact fit's mask).
fn per_voxel_on_grid<T: Copy + Default>(
    fit: &TensorFit,
    mask: &[bool],
    f: impl Fn(&VoxelTensor) -> T,
) -> Vec<T> {
    let v: Vec<T> = fit.voxels.iter().map(f).collect();
    if v.len() == mask.len() {
        v
    } else {
        on_grid(v, Some(mask), T::default())
    }
}

/// Places per-voxel values of the mask voxels (grid order) on the whole grid, `fill`
/// elsewhere; `None`: the values already cover the grid.
fn on_grid<T: Copy>(values: Vec<T>, mask: Option<&[bool]>, fill: T) -> Vec<T> {
    match mask {
        None => values,
        Some(m) => {
            let mut it = values.into_iter();
            m.iter()
                .map(|&inside| if inside { it.next() } else { None }.unwrap_or(fill))
                .collect()
        }
    }
}

/// The map volumes of a fit, in [`MAP_SPECS`] order, `None` where `which` is false. With
/// `mask`, the fit holds the mask voxels only and every other voxel gets the value a voxel
/// outside the mask of a whole-grid fit gets (the maps of a default [`VoxelTensor`]).
fn render_maps(
    fit: &TensorFit,
    dims: [usize; 3],
    affine: [[f64; 4]; 3],
    mask: Option<&[bool]>,
    which: &[bool],
) -> CliResult<Vec<Option<Volume<f32>>>> {
    let outside = TensorFit {
        voxels: vec![VoxelTensor::default()],
        ..fit_meta(fit)
    };
    let g1 = |f: fn(&TensorFit) -> Vec<f32>| on_grid(f(fit), mask, f(&outside)[0]);
    let ev = |k: usize| {
        on_grid(
            maps::eigenvalue(fit, k),
            mask,
            maps::eigenvalue(&outside, k)[0],
        )
    };
    // Each map is computed on its own (in parallel; the values do not depend on the
    // thread count), in MAP_SPECS order.
    use rayon::prelude::*;
    (0..MAP_SPECS.len())
        .into_par_iter()
        .map(|k| {
            if !which.get(k).copied().unwrap_or(false) {
                return Ok(None);
            }
            match k {
                0 => vol3(dims, affine, g1(maps::fa)),
                1 => vol3(dims, affine, g1(maps::md)),
                2 => vol3(dims, affine, g1(maps::ad)),
                3 => vol3(dims, affine, g1(maps::rd)),
                4..=6 => vol3(dims, affine, ev(k - 4)),
                7 => vol4(
                    dims,
                    affine,
                    &on_grid(maps::v1(fit), mask, maps::v1(&outside)[0]),
                ),
                8 => vol4(
                    dims,
                    affine,
                    &on_grid(maps::color_fa(fit), mask, maps::color_fa(&outside)[0]),
                ),
                9 => vol3(dims, affine, g1(maps::mode)),
                _ => vol4(
                    dims,
                    affine,
                    &on_grid(maps::tensor_fsl(fit), mask, maps::tensor_fsl(&outside)[0]),
                ),
            }
            .map(Some)
        })
        .collect()
}

/// A fit's summary fields with no voxels.
fn fit_meta(fit: &TensorFit) -> TensorFit {
    TensorFit {
        method: fit.method,
        voxels: Vec::new(),
        voxels_fitted: fit.voxels_fitted,
        voxels_failed: fit.voxels_failed,
        voxels_clipped: fit.voxels_clipped,
        voxels_fallback: fit.voxels_fallback,
        voxels_with_outliers: fit.voxels_with_outliers,
        total_outliers: fit.total_outliers,
        sigma: fit.sigma,
        min_diffusivity: fit.min_diffusivity,
    }
}

/// QC of the gradient table itself.
fn gradient_qc(g: &GradientTable) -> Value {
    json!({
        "volumes": g.len(),
        "b0_volumes": g.b0_indices().len(),
        "shells": g.shells().iter().map(|s| json!({"bvalue": s.bvalue, "volumes": s.volumes.len()})).collect::<Vec<_>>(),
        "bvec_layout": g.layout(),
        "frame": g.frame(),
        "warnings": g.warnings(),
    })
}

/// Everything `dti fit` computes for one image.
struct FitResult {
    fit: TensorFit,
    mask: Vec<bool>,
    mask_source: Value,
    check: Option<GradCheck>,
    /// The rendered maps in [`MAP_SPECS`] order (`None`: not selected).
    maps: Vec<Option<Volume<f32>>>,
}

/// Fits and renders the maps; the signals are freed once no longer needed (before the
/// maps are rendered), so `dwi.signals` is empty on return.
fn fit_image(
    dwi: &mut Dwi,
    dwi_path: &Path,
    mask_path: Option<&Path>,
    method: FitMethod,
    gradient_check: bool,
    which_maps: &[bool],
) -> CliResult<FitResult> {
    let kept = dwi.kept.take();
    let compact = kept.is_some();
    let (mask, mask_source) = match (kept, mask_path) {
        (Some(m), Some(p)) => (
            m,
            json!({"source": "file", "file": p.display().to_string()}),
        ),
        (None, Some(p)) => (
            load_mask(p, dwi.dims)?,
            json!({"source": "file", "file": p.display().to_string()}),
        ),
        (_, None) => {
            let o = MedianOtsuOptions::default();
            (
                compute_mask(dwi, dwi_path, &o)?,
                json!({"source": "median_otsu", "options": o}),
            )
        }
    };
    if compact && gradient_check {
        return Err(CliError::Output(
            "internal: the gradient check needs the signals of the whole grid".into(),
        ));
    }
    let options = FitOptions::with_method(method);
    // Signals read for the mask voxels only: fit those (each voxel's fit is independent
    // of the others) and place the maps on the grid below.
    let fit = if compact {
        let n = mask.iter().filter(|&&m| m).count();
        fit_tensors(&dwi.signals, n, &dwi.gtab, None, &options)
    } else {
        fit_tensors(
            &dwi.signals,
            dwi.n_voxels(),
            &dwi.gtab,
            Some(&mask),
            &options,
        )
    }
    .map_err(about(dwi_path))?;
    let check = if gradient_check {
        let opts = GradCheckOptions {
            max_seeds: 1000,
            ..Default::default()
        };
        Some(
            gradcheck::check_gradients(
                &dwi.signals,
                dwi.dims,
                &dwi.affine,
                &dwi.gtab,
                &mask,
                &opts,
            )
            .map_err(about(dwi_path))?,
        )
    } else {
        None
    };
    dwi.signals = Vec::new();
    let maps = render_maps(
        &fit,
        dwi.dims,
        dwi.affine,
        compact.then_some(&mask[..]),
        which_maps,
    )?;
    Ok(FitResult {
        fit,
        mask,
        mask_source,
        check,
        maps,
    })
}

fn check_summary(c: &Option<GradCheck>) -> Value {
    match c {
        None => Value::Null,
        Some(c) => json!({
            "given_is_best": c.given_is_best,
            "best": c.best_label,
            "improvement_ratio": c.improvement_ratio,
            "seeds": c.seeds,
            "mean_length_mm": c.combinations.iter().map(|k| json!({"combination": k.label, "mean_length_mm": k.mean_length_mm})).collect::<Vec<_>>(),
            "method": c.method,
        }),
    }
}

fn fit_summary(r: &FitResult, dwi: &Dwi, files: Value) -> Value {
    let f = &r.fit;
    json!({
        "method": f.method,
        "voxels_fitted": f.voxels_fitted,
        "voxels_failed": f.voxels_failed,
        "voxels_in_mask": r.mask.iter().filter(|&&m| m).count(),
        "voxels_nonfinite_input": dwi.nonfinite_voxels,
        "voxels_clipped": f.voxels_clipped,
        "voxels_fallback": f.voxels_fallback,
        "voxels_with_outliers": f.voxels_with_outliers,
        "total_outliers": f.total_outliers,
        "flag_bits": {
            "fitted": flags::FITTED,
            "clipped": flags::CLIPPED,
            "failed": flags::FAILED,
            "fallback": flags::FALLBACK,
            "outliers": flags::OUTLIERS,
            "eigen_clipped": flags::EIGEN_CLIPPED,
        },
        "sigma": f.sigma,
        "min_diffusivity": f.min_diffusivity,
        "dims": dwi.dims,
        "mask": r.mask_source,
        "files": files,
        "vector_frame": "V1 and tensor are in the bvec file's frame (FSL image frame)",
        "gradients": gradient_qc(&dwi.gtab),
        "gradients_rotated": dwi.motion.is_some(),
        "motion": dwi.motion,
        "gradient_check": check_summary(&r.check),
    })
}

fn mask_volume(mask: &[bool], dims: [usize; 3], affine: [[f64; 4]; 3]) -> CliResult<Volume<u8>> {
    Volume::new(
        [dims[0], dims[1], dims[2], 1],
        affine,
        mask.iter().map(|&m| u8::from(m)).collect(),
    )
    .map_err(dti_err)
}

fn fit_cmd(a: FitArgs, json: bool) -> CliResult<()> {
    let method: FitMethod = a.method.into();
    let (which_maps, qc) = selected_maps(&a.maps, method)?;
    // With a mask file, no gradient check and no background noise estimate (which reads
    // the voxels outside the mask), only the mask voxels' signals need to be held.
    let mask_only = !a.check_gradients && !matches!(method, FitMethod::Restore | FitMethod::Irls);
    let mut dwi = load_dwi_paths(
        &a.input.dwi,
        &a.input.bval,
        &a.input.bvec,
        a.input.b0_threshold,
        a.mask.as_deref().filter(|_| mask_only),
        a.motion
            .motion
            .as_deref()
            .map(|p| (p, a.motion.motion_format)),
    )?;
    let mut r = fit_image(
        &mut dwi,
        &a.input.dwi,
        a.mask.as_deref(),
        a.method.into(),
        a.check_gradients,
        &which_maps,
    )?;
    let mut files: Vec<(String, Payload)> = Vec::new();
    let mut names = serde_json::Map::new();
    let grid = [dwi.dims[0], dwi.dims[1], dwi.dims[2], 1];
    if qc.flags {
        let v = per_voxel_on_grid(&r.fit, &r.mask, |t| t.flags);
        let name = "dti_flags.nii.gz".to_string();
        names.insert("flags".into(), Value::String(name.clone()));
        files.push((
            name,
            Payload::U8(Volume::new(grid, dwi.affine, v).map_err(dti_err)?),
        ));
    }
    if qc.outliers {
        let v = per_voxel_on_grid(&r.fit, &r.mask, |t| {
            i16::try_from(t.outliers).unwrap_or(i16::MAX)
        });
        let name = "dti_outliers.nii.gz".to_string();
        names.insert("outliers".into(), Value::String(name.clone()));
        files.push((
            name,
            Payload::I16(Volume::new(grid, dwi.affine, v).map_err(dti_err)?),
        ));
    }
    // Only the counts of the fit are needed from here on: free the per-voxel tensors and
    // move the maps into the files to write.
    r.fit.voxels = Vec::new();
    for (spec, v) in MAP_SPECS.iter().zip(std::mem::take(&mut r.maps)) {
        let Some(v) = v else { continue };
        let name = format!("{}.nii.gz", spec.stem);
        names.insert(spec.key.into(), Value::String(name.clone()));
        files.push((name, Payload::F32(v)));
    }
    if a.mask.is_none() {
        let name = "dti_mask.nii.gz".to_string();
        names.insert("mask".into(), Value::String(name.clone()));
        files.push((
            name,
            Payload::U8(mask_volume(&r.mask, dwi.dims, dwi.affine)?),
        ));
    }
    names.insert("summary".into(), Value::String("dti_summary.json".into()));
    let mut summary = fit_summary(&r, &dwi, Value::Object(names));
    let mut prov = Provenance::new();
    prov.add_digest(&a.input.dwi.display().to_string(), dwi.sha256.clone());
    for p in [&a.input.bval, &a.input.bvec] {
        prov.add_input(p)?;
    }
    if let Some(p) = &a.motion.motion {
        prov.add_input(p)?;
    }
    if let Some(m) = &a.mask {
        prov.add_input(m)?;
    }
    if let Value::Object(m) = &mut summary {
        m.insert("out".into(), Value::String(a.out.display().to_string()));
        m.insert(
            "inputs".into(),
            serde_json::to_value(&prov.inputs).map_err(|e| CliError::Output(e.to_string()))?,
        );
    }
    files.push((
        "dti_summary.json".into(),
        Payload::Bytes(json_bytes(&summary)?),
    ));
    let wopts = WriteOptions {
        gzip_level: MAP_GZIP_LEVEL,
        ..WriteOptions::like(&dwi.header)
    };
    write_all(&a.out, &files, &wopts)?;
    emit(&summary, &prov, json)
}

fn mask_cmd(a: MaskArgs, json: bool) -> CliResult<()> {
    let dwi = load_dwi(&a.input)?;
    let opts = MedianOtsuOptions {
        median_radius: a.median_radius,
        numpass: a.numpass,
        dilate: 0,
    };
    let mask = compute_mask(&dwi, &a.input.dwi, &opts)?;
    let vol = mask_volume(&mask, dwi.dims, dwi.affine)?;
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| out_err(parent, e))?;
    }
    nifti::write(&a.out, &vol, &WriteOptions::like(&dwi.header)).map_err(dti_err)?;
    let mut prov = Provenance::new();
    for p in [&a.input.dwi, &a.input.bval, &a.input.bvec] {
        prov.add_input(p)?;
    }
    let result = json!({
        "out": a.out.display().to_string(),
        "voxels_in_mask": mask.iter().filter(|&&m| m).count(),
        "voxels": mask.len(),
        "method": "median_otsu",
        "options": opts,
    });
    emit(&result, &prov, json)
}

fn check_cmd(a: CheckArgs, json: bool) -> CliResult<()> {
    let dwi = load_dwi_paths(
        &a.input.dwi,
        &a.input.bval,
        &a.input.bvec,
        a.input.b0_threshold,
        None,
        a.motion
            .motion
            .as_deref()
            .map(|p| (p, a.motion.motion_format)),
    )?;
    let mask = match &a.mask {
        Some(p) => load_mask(p, dwi.dims)?,
        None => compute_mask(&dwi, &a.input.dwi, &MedianOtsuOptions::default())?,
    };
    let opts = GradCheckOptions {
        max_seeds: a.max_seeds,
        ..Default::default()
    };
    let check =
        gradcheck::check_gradients(&dwi.signals, dwi.dims, &dwi.affine, &dwi.gtab, &mask, &opts)
            .map_err(about(&a.input.dwi))?;
    let mut prov = Provenance::new();
    for p in [&a.input.dwi, &a.input.bval, &a.input.bvec] {
        prov.add_input(p)?;
    }
    if let Some(p) = &a.motion.motion {
        prov.add_input(p)?;
    }
    let mut result = serde_json::to_value(&check).map_err(|e| CliError::Output(e.to_string()))?;
    if let Value::Object(m) = &mut result {
        m.insert("gradients_rotated".into(), json!(dwi.motion.is_some()));
        m.insert("motion".into(), json!(dwi.motion));
    }
    if !json {
        eprintln!(
            "{}",
            if check.given_is_best {
                "the given gradient table is the best orientation".to_string()
            } else {
                format!(
                    "WARNING: the gradient table looks mis-oriented; best: {} ({:.3}× the mean streamline length)",
                    check.best_label, check.improvement_ratio
                )
            }
        );
    }
    emit(&result, &prov, json)
}

// ---------------------------------------------------------------------------------------
// BIDS App

#[derive(Serialize)]
struct RunReport {
    subject: String,
    session: Option<String>,
    dwi: String,
    status: &'static str,
    error: Option<String>,
    outputs: Vec<String>,
    voxels_fitted: Option<usize>,
    voxels_failed: Option<usize>,
    gradient_check_given_is_best: Option<bool>,
}

fn process_run(run: &DwiRun, a: &RunArgs) -> CliResult<(Vec<String>, FitResult)> {
    let mut dwi = load_dwi_paths(&run.dwi, &run.bval, &run.bvec, a.b0_threshold, None, None)?;
    let method: FitMethod = a.method.into();
    let all_maps = vec![true; MAP_SPECS.len()];
    let r = fit_image(
        &mut dwi,
        &run.dwi,
        None,
        method,
        !a.skip_gradient_check,
        &all_maps,
    )?;
    let dir = run.derivative_dir(&a.out_dir);
    let parameters = json!({
        "Software": format!("evidentia {}", env!("CARGO_PKG_VERSION")),
        "Model": "tensor",
        "FitMethod": method,
        "B0Threshold": a.b0_threshold,
        "Mask": r.mask_source,
        "VoxelsFitted": r.fit.voxels_fitted,
        "VoxelsFailed": r.fit.voxels_failed,
        "GradientCheck": check_summary(&r.check),
    });
    let base = MapSidecar::for_run(run, "", None, parameters).map_err(dti_err)?;
    let mut files: Vec<(String, Payload)> = Vec::new();
    for (spec, v) in MAP_SPECS.iter().zip(&r.maps) {
        let Some(v) = v else { continue };
        let name = run.derivative_name(
            &[("model", "tensor"), ("param", spec.key)],
            "dwimap",
            ".nii.gz",
        );
        let side = MapSidecar {
            description: spec.description.into(),
            units: spec.units.map(str::to_string),
            ..base.clone()
        };
        let side_name = bids::sidecar_path(Path::new(&name)).display().to_string();
        files.push((name, Payload::F32(v.clone())));
        files.push((side_name, Payload::Bytes(json_bytes(&side)?)));
    }
    let mask_name = run.derivative_name(&[("desc", "brain")], "mask", ".nii.gz");
    let mask_side = MapSidecar {
        description: "Brain mask (median_otsu on the mean b0)".into(),
        ..base.clone()
    };
    files.push((
        bids::sidecar_path(Path::new(&mask_name))
            .display()
            .to_string(),
        Payload::Bytes(json_bytes(&mask_side)?),
    ));
    files.push((
        mask_name,
        Payload::U8(mask_volume(&r.mask, dwi.dims, dwi.affine)?),
    ));
    if let Some(tdir) = &a.tracts {
        files.extend(run_tract_files(run, &r, dwi.dims, dwi.affine, tdir)?);
    }
    let wopts = WriteOptions {
        gzip_level: MAP_GZIP_LEVEL,
        ..WriteOptions::like(&dwi.header)
    };
    write_all(&dir, &files, &wopts)?;
    let outputs = files
        .iter()
        .map(|(n, _)| dir.join(n).display().to_string())
        .collect();
    Ok((outputs, r))
}

fn run_cmd(a: RunArgs, json: bool) -> CliResult<()> {
    if let Level::Group = a.level {
        return group_cmd(&a, json);
    }
    let filter = BidsFilter {
        participants: a.participant_label.clone(),
        sessions: a.session.clone(),
    };
    let found = bids::discover(&a.bids_dir, &filter).map_err(dti_err)?;
    let mut reports = Vec::new();
    for p in &found.problems {
        eprintln!("evidentia: problem: {p}");
        reports.push(RunReport {
            subject: String::new(),
            session: None,
            dwi: String::new(),
            status: "failed",
            error: Some(p.to_string()),
            outputs: vec![],
            voxels_fitted: None,
            voxels_failed: None,
            gradient_check_given_is_best: None,
        });
    }
    if found.runs.is_empty() && found.problems.is_empty() {
        return Err(CliError::Data {
            path: a.bids_dir.clone(),
            message: "no diffusion runs (sub-*/[ses-*/]dwi/*_dwi.nii[.gz]) found".into(),
        });
    }
    if !found.runs.is_empty() {
        std::fs::create_dir_all(&a.out_dir).map_err(|e| out_err(&a.out_dir, e))?;
        bids::write_dataset_description(&a.out_dir, env!("CARGO_PKG_VERSION")).map_err(dti_err)?;
    }
    let total = found.runs.len();
    for (i, run) in found.runs.iter().enumerate() {
        let label = match &run.session {
            Some(s) => format!("sub-{} ses-{s}", run.subject),
            None => format!("sub-{}", run.subject),
        };
        let mut rep = RunReport {
            subject: run.subject.clone(),
            session: run.session.clone(),
            dwi: run.dwi.display().to_string(),
            status: "ok",
            error: None,
            outputs: vec![],
            voxels_fitted: None,
            voxels_failed: None,
            gradient_check_given_is_best: None,
        };
        match process_run(run, &a) {
            Ok((outputs, r)) => {
                eprintln!(
                    "[{}/{total}] {label}: ok ({} voxels fitted)",
                    i + 1,
                    r.fit.voxels_fitted
                );
                rep.outputs = outputs;
                rep.voxels_fitted = Some(r.fit.voxels_fitted);
                rep.voxels_failed = Some(r.fit.voxels_failed);
                rep.gradient_check_given_is_best = r.check.as_ref().map(|c| c.given_is_best);
            }
            Err(e) => {
                eprintln!("[{}/{total}] {label}: FAILED: {e}", i + 1);
                rep.status = "failed";
                rep.error = Some(e.to_string());
            }
        }
        reports.push(rep);
    }
    let failed = reports.iter().filter(|r| r.status != "ok").count();
    let result = json!({
        "bids_dir": a.bids_dir.display().to_string(),
        "out_dir": a.out_dir.display().to_string(),
        "method": FitMethod::from(a.method),
        "runs": reports,
        "succeeded": reports.len() - failed,
        "failed": failed,
    });
    emit(&result, &Provenance::new(), json)?;
    if failed > 0 {
        return Err(CliError::Data {
            path: a.bids_dir,
            message: format!(
                "{failed} of {} runs failed (see the summary above)",
                reports.len()
            ),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Tracking and tract metrics

/// Sidecar written beside a tractogram by `dti track`.
#[derive(Serialize, serde::Deserialize)]
struct TractSidecar {
    name: String,
    hemisphere: Hemisphere,
    #[serde(default)]
    summary: Value,
}

fn tract_sidecar_path(p: &Path) -> PathBuf {
    p.with_extension("json")
}

#[derive(Clone, Copy, PartialEq)]
enum TractFormat {
    Trk,
    Tck,
    Trx,
}

fn tract_format(p: &Path) -> CliResult<TractFormat> {
    match p
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("trk") => Ok(TractFormat::Trk),
        Some("tck") => Ok(TractFormat::Tck),
        Some("trx") => Ok(TractFormat::Trx),
        _ => Err(CliError::Usage(format!(
            "{}: tractogram files must end in .trk, .tck or .trx",
            p.display()
        ))),
    }
}

/// The tensor image `dti track` tracks: read from --tensor, or fitted in memory from
/// --dwi/--bval/--bvec exactly as `dti fit` computes the `dti_tensor` map it writes
/// (float32, FSL order and frame), so both inputs track the same numbers. Returns the
/// volume, the path named in errors and the provenance of the inputs.
fn track_tensor_input(a: &TrackArgs) -> CliResult<(Volume<f32>, PathBuf, Provenance)> {
    let mut prov = Provenance::new();
    match (&a.tensor, &a.dwi, &a.bval, &a.bvec) {
        (Some(t), None, _, _) => {
            let (_, vol) = nifti::read(t).map_err(dti_err)?;
            prov.add_input(t)?;
            Ok((vol, t.clone(), prov))
        }
        (None, Some(dwi_path), Some(bval), Some(bvec)) => {
            let method: FitMethod = a.method.unwrap_or(MethodArg::Wls).into();
            let mask_only = !matches!(method, FitMethod::Restore | FitMethod::Irls);
            let mut dwi = load_dwi_paths(
                dwi_path,
                bval,
                bvec,
                a.b0_threshold.unwrap_or(50.0),
                a.mask.as_deref().filter(|_| mask_only),
                a.motion.as_deref().map(|p| (p, a.motion_format)),
            )?;
            let only_tensor = only_map("tensor");
            let r = fit_image(
                &mut dwi,
                dwi_path,
                a.mask.as_deref(),
                method,
                false,
                &only_tensor,
            )?;
            let tensor = r.maps.into_iter().flatten().next().ok_or_else(|| {
                CliError::Output("internal: the fit rendered no tensor map".into())
            })?;
            prov.add_digest(&dwi_path.display().to_string(), dwi.sha256.clone());
            prov.add_input(bval)?;
            prov.add_input(bvec)?;
            if let Some(p) = &a.motion {
                prov.add_input(p)?;
            }
            Ok((tensor, dwi_path.clone(), prov))
        }
        _ => Err(CliError::Usage(
            "dti track needs exactly one input: --tensor F, or --dwi F --bval F --bvec F".into(),
        )),
    }
}

fn track_cmd(a: TrackArgs, json: bool) -> CliResult<()> {
    let format = tract_format(&a.out)?;
    if a.no_scalars && format != TractFormat::Trk {
        return Err(CliError::Usage(format!(
            "{}: --no-scalars applies to .trk output only",
            a.out.display()
        )));
    }
    let (vol, input_path, mut prov) = track_tensor_input(&a)?;
    let [nx, ny, nz, nt] = vol.dims();
    if nt != 6 {
        return Err(CliError::Data {
            path: input_path.clone(),
            message: format!(
                "a tensor image has 6 volumes (Dxx Dxy Dxz Dyy Dyz Dzz), this one {nt}"
            ),
        });
    }
    let dims = [nx, ny, nz];
    let affine = *vol.affine();
    let rot = gradcheck::frame_to_world(&affine, Frame::FslImage).map_err(about(&input_path))?;
    let n = nx * ny * nz;
    let data = vol.data();
    let d: Vec<[f32; 6]> = (0..n)
        .map(|i| {
            let t = std::array::from_fn(|k| data[k * n + i]);
            gradcheck::rotate_tensor_fsl(&t, &rot)
        })
        .collect();
    let mask = match &a.mask {
        Some(p) => load_mask(p, dims)?,
        None => d
            .iter()
            .map(|t| t.iter().all(|v| v.is_finite()) && t[0] + t[3] + t[5] > 0.0)
            .collect(),
    };
    let seed_mask = a
        .seed_mask
        .as_ref()
        .map(|p| load_mask(p, dims))
        .transpose()?;
    let field = TensorField::new(dims, affine, d, mask).map_err(about(&input_path))?;
    let (name, hemisphere, mut params, rois) = match &a.tract {
        Some(p) => {
            let def = TractDefinition::load(p).map_err(dti_err)?;
            let base = p.parent().unwrap_or(Path::new("."));
            let mut loader = |q: &Path| nifti::read(q).map(|(_, v)| v);
            let rois = def.resolve(&field, base, &mut loader).map_err(about(p))?;
            (def.name.clone(), def.hemisphere, def.params.clone(), rois)
        }
        None => {
            let stem = a
                .out
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (
                stem.clone(),
                hemisphere_from_name(&stem),
                TrackParams::default(),
                RoiSet::empty(),
            )
        }
    };
    if let Some(v) = a.fa_threshold {
        params.fa_threshold = v;
    }
    if let Some(v) = a.seed_fa_threshold {
        params.seed_fa_threshold = v;
    }
    if let Some(v) = a.angle {
        params.angle_deg = v;
    }
    if let Some(v) = a.step {
        params.step_mm = v;
    }
    if let Some(v) = a.seed_spacing {
        params.seed_spacing_mm = v;
    }
    if let Some(v) = a.min_length {
        params.min_length_mm = v;
    }
    params.validate().map_err(dti_err)?;
    let tg = evidentia_dti::track(&field, &params, &rois, seed_mask.as_deref()).map_err(dti_err)?;
    let mut bytes = Vec::new();
    let mut point_data: Vec<&str> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    match format {
        TractFormat::Tck => {
            let mut lines = tg.header_lines();
            lines.push(("evidentia_tract".into(), name.clone()));
            streamlines::write_tck(&mut bytes, &tg.streamlines, &lines).map_err(dti_err)?;
        }
        TractFormat::Trk => {
            let smaps = ScalarMaps::from_tensor_field(&field).map_err(dti_err)?;
            if !a.no_scalars {
                point_data = vec!["fa", "md"];
            }
            bytes = trk_bytes(&tg.streamlines, &field, &smaps, !a.no_scalars)?;
        }
        TractFormat::Trx => {
            let smaps = ScalarMaps::from_tensor_field(&field).map_err(dti_err)?;
            let all: Vec<u32> = (0..tg.streamlines.len() as u32).collect();
            if a.tract.is_some() {
                groups.push(trx_group_name(&name));
            }
            let g: Vec<(&str, &[u32])> = groups.iter().map(|n| (n.as_str(), &all[..])).collect();
            bytes = trx_bytes(&tg.streamlines, &field, &smaps, &g)?;
            point_data = vec!["fa", "md"];
        }
    }
    let summary = serde_json::to_value(&tg.summary).map_err(|e| CliError::Output(e.to_string()))?;
    let side = TractSidecar {
        name: name.clone(),
        hemisphere,
        summary: summary.clone(),
    };
    let side_path = tract_sidecar_path(&a.out);
    let side_bytes = json_bytes(&side)?;
    if let Some(parent) = a.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| out_err(parent, e))?;
    }
    nifti::write_atomic(&a.out, &bytes).map_err(dti_err)?;
    nifti::write_atomic(&side_path, &side_bytes).map_err(dti_err)?;
    let sl = &tg.streamlines;
    let lengths: f64 = (0..sl.len()).map(|i| sl.length_mm(i)).sum();
    for p in [&a.mask, &a.seed_mask, &a.tract].into_iter().flatten() {
        prov.add_input(p)?;
    }
    let result = json!({
        "out": a.out.display().to_string(),
        "sidecar": side_path.display().to_string(),
        "name": name,
        "hemisphere": hemisphere,
        "streamlines": sl.len(),
        "points": sl.n_points(),
        "mean_length_mm": if sl.is_empty() { Value::Null } else { json!(lengths / sl.len() as f64) },
        "point_data": point_data,
        "groups": groups,
        "tracking": summary,
    });
    emit(&result, &prov, json)
}

/// FA and MD at every point of `sl` (trilinear on the maps, as the tract metrics' point
/// averages; NaN outside the image).
fn point_fa_md(sl: &Streamlines, smaps: &ScalarMaps) -> (Vec<f32>, Vec<f32>) {
    let (mut fa, mut md) = (Vec::new(), Vec::new());
    for p in sl.points() {
        let v = smaps.interpolate([f64::from(p[0]), f64::from(p[1]), f64::from(p[2])]);
        fa.push(v.map_or(f32::NAN, |v| v[0] as f32));
        md.push(v.map_or(f32::NAN, |v| v[1] as f32));
    }
    (fa, md)
}

/// A TRX tractogram with per-point FA and MD (`dpv/fa`, `dpv/md`, [`point_fa_md`]) and the
/// given groups (streamline indices per name).
fn trx_bytes(
    sl: &Streamlines,
    field: &TensorField,
    smaps: &ScalarMaps,
    groups: &[(&str, &[u32])],
) -> CliResult<Vec<u8>> {
    let (fa, md) = point_fa_md(sl, smaps);
    evidentia_dti::trx::write_trx(
        sl,
        field.dims(),
        field.affine(),
        &[("fa", &fa), ("md", &md)],
        groups,
    )
    .map_err(dti_err)
}

/// A TRK tractogram on the field's grid, with per-point scalars `fa` and `md`
/// ([`point_fa_md`]) unless `scalars` is false.
fn trk_bytes(
    sl: &Streamlines,
    field: &TensorField,
    smaps: &ScalarMaps,
    scalars: bool,
) -> CliResult<Vec<u8>> {
    let h = TrkHeader::from_grid(field.dims(), field.affine()).map_err(dti_err)?;
    let mut bytes = Vec::new();
    if scalars {
        let (fa, md) = point_fa_md(sl, smaps);
        streamlines::write_trk_with_scalars(&mut bytes, sl, &h, &[("fa", &fa), ("md", &md)])
    } else {
        streamlines::write_trk(&mut bytes, sl, &h)
    }
    .map_err(dti_err)?;
    Ok(bytes)
}

/// A tract name as a TRX group name (`[A-Za-z0-9_-]`, other characters become `_`).
fn trx_group_name(name: &str) -> String {
    let g: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if g.is_empty() { "tract".into() } else { g }
}

/// `left`/`right` (or `_l`/`_r`, `-lh`/`-rh`) at the end of a name.
fn hemisphere_from_name(stem: &str) -> Hemisphere {
    let s = stem.to_ascii_lowercase();
    if s.ends_with("left") || s.ends_with("_l") || s.ends_with("lh") {
        Hemisphere::Left
    } else if s.ends_with("right") || s.ends_with("_r") || s.ends_with("rh") {
        Hemisphere::Right
    } else {
        Hemisphere::None
    }
}

/// The name without its hemisphere suffix (to pair left and right).
fn base_name(name: &str) -> String {
    let s = name.to_ascii_lowercase();
    for suf in [
        "_left", "-left", "left", "_right", "-right", "right", "_lh", "_rh", "_l", "_r",
    ] {
        if let Some(b) = s.strip_suffix(suf) {
            return b.to_string();
        }
    }
    s
}

fn read_map(dir: &Path, stem: &str) -> CliResult<(Volume<f32>, PathBuf)> {
    let p = dir.join(format!("{stem}.nii.gz"));
    let p = if p.exists() {
        p
    } else {
        dir.join(format!("{stem}.nii"))
    };
    let (_, v) = nifti::read(&p).map_err(dti_err)?;
    Ok((v, p))
}

fn stats_cmd(a: TractStatsArgs, json: bool) -> CliResult<()> {
    let lesion = match a.lesion.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("left") => Some(Hemisphere::Left),
        Some("right") => Some(Hemisphere::Right),
        Some(o) => {
            return Err(CliError::Usage(format!(
                "--lesion must be left or right, got '{o}'"
            )));
        }
    };
    let mut prov = Provenance::new();
    let mut vols = Vec::new();
    for stem in ["dti_FA", "dti_MD", "dti_AD", "dti_RD"] {
        let (v, p) = read_map(&a.maps, stem)?;
        if v.dims()[3] != 1 {
            return Err(CliError::Data {
                path: p,
                message: "a scalar map must be 3-D".into(),
            });
        }
        if let Some((first, _)) = vols.first() {
            let f: &Volume<f32> = first;
            if f.dims() != v.dims() || f.affine() != v.affine() {
                return Err(CliError::Data {
                    path: p,
                    message: "grid differs from dti_FA's".into(),
                });
            }
        }
        prov.add_input(&p)?;
        vols.push((v, p));
    }
    let d = vols[0].0.dims();
    let affine = *vols[0].0.affine();
    let mut it = vols.into_iter().map(|(v, _)| v.into_data());
    let (fa, md, ad, rd) = match (it.next(), it.next(), it.next(), it.next()) {
        (Some(a), Some(b), Some(c), Some(e)) => (a, b, c, e),
        _ => return Err(CliError::Usage("four maps are needed".into())),
    };
    let smaps =
        ScalarMaps::new([d[0], d[1], d[2]], affine, fa, md, ad, rd).map_err(about(&a.maps))?;
    let mut tracts: Vec<TractMetrics> = Vec::new();
    for p in &a.tracts {
        let format = tract_format(p)?;
        let bytes = std::fs::read(p).map_err(|source| CliError::Io {
            path: p.clone(),
            source,
        })?;
        prov.add_bytes(&p.display().to_string(), &bytes);
        let sl: Streamlines = match format {
            TractFormat::Trk => streamlines::read_trk(&bytes).map(|t| t.streamlines),
            TractFormat::Tck => streamlines::read_tck(&bytes).map(|t| t.streamlines),
            TractFormat::Trx => evidentia_dti::trx::read_trx(&bytes).map(|t| t.streamlines),
        }
        .map_err(about(p))?;
        let side_path = tract_sidecar_path(p);
        let side: Option<TractSidecar> = std::fs::read(&side_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let (name, hemi) = match side {
            Some(s) => (s.name, s.hemisphere),
            None => {
                let stem = p
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let h = hemisphere_from_name(&stem);
                (stem, h)
            }
        };
        tracts.push(
            tract_metrics::tract_metrics(&name, hemi, &sl, &smaps, a.nodes).map_err(about(p))?,
        );
    }
    let asym = asymmetries(&tracts, lesion)?;
    let mut result = BTreeMap::new();
    result.insert("metrics_version", json!(tract_metrics::METRICS_VERSION));
    result.insert("maps", json!(a.maps.display().to_string()));
    result.insert(
        "tracts",
        serde_json::to_value(&tracts).map_err(|e| CliError::Output(e.to_string()))?,
    );
    result.insert("asymmetry", Value::Array(asym));
    emit(&result, &prov, json)
}

/// rFA/FNA of every left/right pair of `tracts` (same name but for the hemisphere suffix),
/// each with its `tract` (the base name).
fn asymmetries(tracts: &[TractMetrics], lesion: Option<Hemisphere>) -> CliResult<Vec<Value>> {
    let mut asym = Vec::new();
    for l in tracts.iter().filter(|t| t.hemisphere == Hemisphere::Left) {
        let b = base_name(&l.name);
        if let Some(r) = tracts
            .iter()
            .find(|t| t.hemisphere == Hemisphere::Right && base_name(&t.name) == b)
        {
            let x = tract_metrics::asymmetry(l, r, lesion).map_err(dti_err)?;
            let mut v = serde_json::to_value(&x).map_err(|e| CliError::Output(e.to_string()))?;
            if let Value::Object(m) = &mut v {
                m.insert("tract".into(), Value::String(b));
            }
            asym.push(v);
        }
    }
    Ok(asym)
}

// ---------------------------------------------------------------------------------------
// BIDS App: tracts per run (participant level with --tracts) and the group table

/// Suffix of the per-run tract statistics file written by `dti run ... --tracts DIR`.
const TRACT_STATS_SUFFIX: &str = "tractstats";
/// Nodes of the along-tract profiles written by `dti run`.
const RUN_PROFILE_NODES: usize = 20;

/// A tract name as a BIDS `desc` label: alphanumerics only, camelCase at `_`/`-`
/// (`cst_left` → `cstLeft`).
fn desc_label(name: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            if upper && !out.is_empty() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.push(c);
            }
            upper = false;
        } else {
            upper = true;
        }
    }
    out
}

/// The tract definitions (`*.toml`) of a folder, sorted by file name.
fn tract_definition_files(dir: &Path) -> CliResult<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| CliError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(CliError::Data {
            path: dir.to_path_buf(),
            message: "no tract definitions (*.toml) in this folder".into(),
        });
    }
    Ok(v)
}

/// Tracks every tract definition of `tdir` with a run's fitted tensor (rotated from the
/// FSL image frame to world, as `dti track` does; tracking mask = the fit's brain mask) and
/// returns the files to write beside the maps: per tract
/// `<entities>_desc-<tract>_tractography.trk` (per-point FA/MD scalars, as `dti track`) with
/// its `.json` sidecar (name, hemisphere, tracking summary; read by `dti tract-stats`),
/// `<entities>_tractography.trx` holding every tract's streamlines in definition order with
/// per-point FA/MD and one group per tract (`groups/<tract name>.uint32`), and
/// `<entities>_tractstats.json` with the same content as `dti tract-stats` over all of them.
fn run_tract_files(
    run: &DwiRun,
    r: &FitResult,
    dims: [usize; 3],
    affine: [[f64; 4]; 3],
    tdir: &Path,
) -> CliResult<Vec<(String, Payload)>> {
    let defs = tract_definition_files(tdir)?;
    let rot = gradcheck::frame_to_world(&affine, Frame::FslImage).map_err(about(&run.dwi))?;
    let d: Vec<[f32; 6]> = maps::tensor_fsl(&r.fit)
        .iter()
        .map(|t| gradcheck::rotate_tensor_fsl(t, &rot))
        .collect();
    let field = TensorField::new(dims, affine, d, r.mask.clone()).map_err(about(&run.dwi))?;
    let map_data = |k: usize| -> CliResult<Vec<f32>> {
        r.maps
            .get(k)
            .and_then(Option::as_ref)
            .map(|v| v.data().to_vec())
            .ok_or_else(|| CliError::Usage("internal: a scalar map is missing".into()))
    };
    let smaps = ScalarMaps::new(
        dims,
        affine,
        map_data(0)?,
        map_data(1)?,
        map_data(2)?,
        map_data(3)?,
    )
    .map_err(about(&run.dwi))?;
    let point_maps = ScalarMaps::from_tensor_field(&field).map_err(about(&run.dwi))?;
    let mut files = Vec::new();
    let mut metrics = Vec::new();
    let mut tract_files = Vec::new();
    let mut all = Streamlines::default();
    let mut group_names: Vec<String> = Vec::new();
    let mut group_idx: Vec<Vec<u32>> = Vec::new();
    for p in &defs {
        let def = TractDefinition::load(p).map_err(dti_err)?;
        let mut loader = |q: &Path| nifti::read(q).map(|(_, v)| v);
        let rois = def.resolve(&field, tdir, &mut loader).map_err(about(p))?;
        let params = def.params.clone();
        params.validate().map_err(about(p))?;
        let tg = evidentia_dti::track(&field, &params, &rois, None).map_err(about(p))?;
        let name = run.derivative_name(&[("desc", &desc_label(&def.name))], "tractography", ".trk");
        if tract_files.contains(&name) {
            return Err(CliError::Data {
                path: p.clone(),
                message: format!("a second tract definition gives the file name {name}"),
            });
        }
        let bytes = trk_bytes(&tg.streamlines, &field, &point_maps, true)?;
        let first = all.len() as u32;
        all.extend(&tg.streamlines);
        group_names.push(trx_group_name(&def.name));
        group_idx.push((first..all.len() as u32).collect());
        let side = TractSidecar {
            name: def.name.clone(),
            hemisphere: def.hemisphere,
            summary: serde_json::to_value(&tg.summary)
                .map_err(|e| CliError::Output(e.to_string()))?,
        };
        metrics.push(
            tract_metrics::tract_metrics(
                &def.name,
                def.hemisphere,
                &tg.streamlines,
                &smaps,
                RUN_PROFILE_NODES,
            )
            .map_err(about(p))?,
        );
        let side_name = tract_sidecar_path(Path::new(&name)).display().to_string();
        tract_files.push(name.clone());
        files.push((name, Payload::Bytes(bytes)));
        files.push((side_name, Payload::Bytes(json_bytes(&side)?)));
    }
    let groups: Vec<(&str, &[u32])> = group_names
        .iter()
        .zip(&group_idx)
        .map(|(n, i)| (n.as_str(), i.as_slice()))
        .collect();
    let trx_name = run.derivative_name(&[], "tractography", ".trx");
    let trx = trx_bytes(&all, &field, &point_maps, &groups)?;
    files.push((trx_name.clone(), Payload::Bytes(trx)));
    let asym = asymmetries(&metrics, None)?;
    let stats = json!({
        "metrics_version": tract_metrics::METRICS_VERSION,
        "subject": run.subject,
        "session": run.session,
        "dwi": run.relative,
        "maps": run.derivative_name(&[("model", "tensor"), ("param", "fa")], "dwimap", ".nii.gz"),
        "tract_definitions": defs.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "tractograms": tract_files,
        "tractogram_all": trx_name,
        "tracts": serde_json::to_value(&metrics).map_err(|e| CliError::Output(e.to_string()))?,
        "asymmetry": asym,
    });
    files.push((
        run.derivative_name(&[], TRACT_STATS_SUFFIX, ".json"),
        Payload::Bytes(json_bytes(&stats)?),
    ));
    Ok(files)
}

/// One row of the trial dataset's `measurements.csv`.
#[derive(Serialize)]
struct MeasurementRow {
    participant_id: String,
    visit: String,
    time: f64,
    outcome: String,
    value: f64,
}

/// Parses `--visit-time baseline=0,T4=12` (default `baseline=0`).
fn visit_times(items: &[String]) -> CliResult<BTreeMap<String, f64>> {
    let mut m = BTreeMap::new();
    for it in items {
        let (k, v) = it
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--visit-time wants LABEL=TIME, got '{it}'")))?;
        let t: f64 = v
            .trim()
            .parse()
            .ok()
            .filter(|t: &f64| t.is_finite())
            .ok_or_else(|| {
                CliError::Usage(format!("--visit-time {it}: '{v}' is not a finite number"))
            })?;
        m.insert(k.trim().trim_start_matches("ses-").to_string(), t);
    }
    if m.is_empty() {
        m.insert("baseline".into(), 0.0);
    }
    Ok(m)
}

/// The `dwi` folders of a derivative dataset: `sub-*/dwi` and `sub-*/ses-*/dwi`, with the
/// subject and session labels, sorted.
fn derivative_dwi_dirs(root: &Path) -> CliResult<Vec<(String, Option<String>, PathBuf)>> {
    let list = |d: &Path, prefix: &str| -> CliResult<Vec<(String, PathBuf)>> {
        let rd = std::fs::read_dir(d).map_err(|source| CliError::Io {
            path: d.to_path_buf(),
            source,
        })?;
        let mut v: Vec<(String, PathBuf)> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .filter_map(|p| {
                let n = p.file_name()?.to_str()?.strip_prefix(prefix)?.to_string();
                Some((n, p))
            })
            .collect();
        v.sort();
        Ok(v)
    };
    let mut out = Vec::new();
    for (sub, sd) in list(root, "sub-")? {
        if sd.join("dwi").is_dir() {
            out.push((sub.clone(), None, sd.join("dwi")));
        }
        for (ses, sesd) in list(&sd, "ses-")? {
            if sesd.join("dwi").is_dir() {
                out.push((sub.clone(), Some(ses), sesd.join("dwi")));
            }
        }
    }
    Ok(out)
}

/// Outcome rows of one `*_tractstats.json`: per pair of hemispheres `<tract>_fa`,
/// `<tract>_md` (most affected side = lower `fa_points`), `<tract>_rfa`, `<tract>_fna`; per
/// tract and side `<tract>_<side>_fa`, `<tract>_<side>_md`. FA and MD are the point averages
/// (`*_points`); MD in 10⁻³ mm²/s as the trial dataset. Missing values give no row.
fn stats_outcomes(path: &Path, v: &Value) -> CliResult<Vec<(String, f64)>> {
    let bad = |m: String| CliError::Data {
        path: path.to_path_buf(),
        message: m,
    };
    let num = |x: &Value, k: &str| -> CliResult<Option<f64>> {
        match x.get(k) {
            None => Err(bad(format!("a tract entry has no '{k}'"))),
            Some(Value::Null) => Ok(None),
            Some(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| bad(format!("'{k}' is not a finite number: {n}"))),
        }
    };
    let text = |x: &Value, k: &str| -> CliResult<String> {
        x.get(k)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("an entry has no text '{k}'")))
    };
    let tracts = v
        .get("tracts")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no 'tracts' array (not a tract statistics file?)".into()))?;
    let asym = v
        .get("asymmetry")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no 'asymmetry' array".into()))?;
    let mut rows = Vec::new();
    let mut push = |name: String, val: Option<f64>| {
        if let Some(x) = val {
            rows.push((name, x));
        }
    };
    for t in asym {
        let b = text(t, "tract")?;
        push(format!("{b}_fa"), num(t, "fa_most_affected")?);
        push(
            format!("{b}_md"),
            num(t, "md_most_affected")?.map(|m| m * 1e3),
        );
        push(format!("{b}_rfa"), num(t, "rfa")?);
        push(format!("{b}_fna"), num(t, "fna")?);
    }
    for t in tracts {
        let name = text(t, "name")?;
        let side = match text(t, "hemisphere")?.as_str() {
            "left" => "left",
            "right" => "right",
            _ => {
                push(format!("{}_fa", base_name(&name)), num(t, "fa_points")?);
                push(
                    format!("{}_md", base_name(&name)),
                    num(t, "md_points")?.map(|m| m * 1e3),
                );
                continue;
            }
        };
        let b = base_name(&name);
        push(format!("{b}_{side}_fa"), num(t, "fa_points")?);
        push(
            format!("{b}_{side}_md"),
            num(t, "md_points")?.map(|m| m * 1e3),
        );
    }
    Ok(rows)
}

/// Subject label (without `sub-`) → the value of `column` in a BIDS `participants.tsv`.
fn participant_ids(path: &Path, column: &str) -> CliResult<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|source| CliError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let t = crate::table::Table::parse(path, &bytes)?;
    let (subs, ids, _) = t.labels("participant_id", column)?;
    let mut map = BTreeMap::new();
    for (sub, id) in subs.into_iter().zip(ids) {
        let sub = sub.trim_start_matches("sub-").to_string();
        if evidentia_trial::dataset::is_missing(&id) {
            continue;
        }
        if let Some(old) = map.insert(sub.clone(), id) {
            return Err(CliError::Data {
                path: path.to_path_buf(),
                message: format!("sub-{sub} appears twice (first with id {old})"),
            });
        }
    }
    let mut seen = BTreeMap::new();
    for (sub, id) in &map {
        if let Some(other) = seen.insert(id.clone(), sub.clone()) {
            return Err(CliError::Data {
                path: path.to_path_buf(),
                message: format!("id {id} is given to both sub-{other} and sub-{sub}"),
            });
        }
    }
    Ok(map)
}

/// `dti run OUT_DIR ... group`: every run's `*_tractstats.json` into one long table in the
/// trial dataset's `measurements.csv` format (participant_id = subject label, visit =
/// session label or `baseline` without sessions, time from `--visit-time`).
fn group_cmd(a: &RunArgs, json: bool) -> CliResult<()> {
    let times = visit_times(&a.visit_time)?;
    let ids = match &a.id_column {
        Some(col) => Some(participant_ids(&a.bids_dir.join("participants.tsv"), col)?),
        None => None,
    };
    let keep = |label: &str, wanted: &[String], prefix: &str| {
        wanted.is_empty() || wanted.iter().any(|w| w.trim_start_matches(prefix) == label)
    };
    let mut rows: Vec<MeasurementRow> = Vec::new();
    let mut seen: BTreeMap<(String, String, String), PathBuf> = BTreeMap::new();
    let mut sources = Vec::new();
    let mut missing = Vec::new();
    let mut prov = Provenance::new();
    for (sub, ses, dir) in derivative_dwi_dirs(&a.out_dir)? {
        if !keep(&sub, &a.participant_label, "sub-")
            || !ses.as_deref().is_none_or(|s| keep(s, &a.session, "ses-"))
        {
            continue;
        }
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|source| CliError::Io {
                path: dir.clone(),
                source,
            })?
            .filter_map(|e| e.ok()?.file_name().to_str().map(str::to_string))
            .collect();
        names.sort();
        let stats: Vec<&String> = names
            .iter()
            .filter(|n| n.ends_with(&format!("_{TRACT_STATS_SUFFIX}.json")))
            .collect();
        // Fitted runs without tract statistics are reported, not skipped silently.
        for n in names
            .iter()
            .filter(|n| n.ends_with("_model-tensor_param-fa_dwimap.nii.gz"))
        {
            let want = n.replace(
                "_model-tensor_param-fa_dwimap.nii.gz",
                &format!("_{TRACT_STATS_SUFFIX}.json"),
            );
            if !names.contains(&want) {
                missing.push(dir.join(n).display().to_string());
            }
        }
        let visit = ses.clone().unwrap_or_else(|| "baseline".into());
        for n in stats {
            let p = dir.join(n);
            let bytes = std::fs::read(&p).map_err(|source| CliError::Io {
                path: p.clone(),
                source,
            })?;
            prov.add_bytes(&p.display().to_string(), &bytes);
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| CliError::Data {
                path: p.clone(),
                message: format!("not valid JSON: {e}"),
            })?;
            let time = *times.get(&visit).ok_or_else(|| CliError::Data {
                path: p.clone(),
                message: format!(
                    "visit '{visit}' has no time: pass --visit-time {visit}=T (known: {})",
                    times.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
            let pid = match &ids {
                Some(map) => map.get(&sub).cloned().ok_or_else(|| CliError::Data {
                    path: a.bids_dir.join("participants.tsv"),
                    message: format!(
                        "sub-{sub} has no row (or an empty '{}') in participants.tsv",
                        a.id_column.as_deref().unwrap_or("")
                    ),
                })?,
                None => sub.clone(),
            };
            for (outcome, value) in stats_outcomes(&p, &v)? {
                let key = (pid.clone(), visit.clone(), outcome.clone());
                if let Some(first) = seen.get(&key) {
                    return Err(CliError::Data {
                        path: p.clone(),
                        message: format!(
                            "participant {pid}, visit {visit}, outcome {outcome} is also in {}",
                            first.display()
                        ),
                    });
                }
                seen.insert(key, p.clone());
                rows.push(MeasurementRow {
                    participant_id: pid.clone(),
                    visit: visit.clone(),
                    time,
                    outcome,
                    value,
                });
            }
            sources.push(p.display().to_string());
        }
    }
    for m in &missing {
        eprintln!(
            "evidentia: no tract statistics for {m} (run the participant level with --tracts)"
        );
    }
    if rows.is_empty() {
        return Err(CliError::Data {
            path: a.out_dir.clone(),
            message: format!(
                "no tract statistics (sub-*/[ses-*/]dwi/*_{TRACT_STATS_SUFFIX}.json) found; run `dti run ... participant --tracts DIR` first"
            ),
        });
    }
    rows.sort_by(|x, y| {
        (&x.participant_id, x.time, &x.visit, &x.outcome)
            .partial_cmp(&(&y.participant_id, y.time, &y.visit, &y.outcome))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in &rows {
        w.serialize(r)
            .map_err(|e| CliError::Output(e.to_string()))?;
    }
    let csv_bytes = w
        .into_inner()
        .map_err(|e| CliError::Output(e.to_string()))?;
    let outcomes: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.outcome.as_str()).collect();
    let participants: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.participant_id.as_str()).collect();
    let visits: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.visit.as_str()).collect();
    let group_dir = a.out_dir.join("group");
    let summary = json!({
        "metrics_version": tract_metrics::METRICS_VERSION,
        "out": group_dir.join("measurements.csv").display().to_string(),
        "rows": rows.len(),
        "participants": participants,
        "visits": visits,
        "visit_times": times,
        "outcomes": outcomes,
        "sources": sources,
        "runs_without_tract_stats": missing,
        "mapping": {
            "participant_id": match &a.id_column {
                Some(c) => format!("column '{c}' of participants.tsv"),
                None => "BIDS subject label (without sub-)".to_string(),
            },
            "visit": "BIDS session label (without ses-); 'baseline' when there are no sessions",
            "time": "from --visit-time LABEL=T",
            "<tract>_fa, <tract>_md": "fa_points / md_points of the most affected side (lower FA)",
            "<tract>_<side>_fa, <tract>_<side>_md": "fa_points / md_points of that side",
            "<tract>_rfa, <tract>_fna": "relative FA and fiber number asymmetry",
            "md_unit": "10^-3 mm^2/s",
        },
    });
    write_all(
        &group_dir,
        &[
            ("measurements.csv".into(), Payload::Bytes(csv_bytes)),
            (
                "measurements.json".into(),
                Payload::Bytes(json_bytes(&summary)?),
            ),
        ],
        &WriteOptions::default(),
    )?;
    emit(&summary, &prov, json)
}
