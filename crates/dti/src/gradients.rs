//! The diffusion gradient table: b-values and unit gradient directions, read from
//! FSL `bval`/`bvec` text, with b0 detection, shell clustering and an explicit frame.
//!
//! FSL's convention (FDT documentation; MRtrix3 `dwi_gradient` docs): bvecs are given
//! in the image's voxel frame, with the x axis flipped when the voxel-to-world affine
//! has a positive determinant (neurological storage). [`GradientTable::to_world`] is
//! the one place where that convention is turned into world (RAS) directions.

use serde::Serialize;

use crate::error::{DtiError, Result};

/// Options of gradient-table construction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct GradientOptions {
    /// Volumes with b ≤ this are b0 (DIPY's `b0_threshold`, default 50 s/mm²).
    pub b0_threshold: f64,
    /// b-values closer than this to their neighbour in sorted order share a shell
    /// (MRtrix3's `BValueEpsilon`, default 80 s/mm²).
    pub shell_tolerance: f64,
    /// A direction whose length differs from 1 by more than this is normalized with a
    /// warning (smaller deviations are normalized silently).
    pub unit_tolerance: f64,
}

impl Default for GradientOptions {
    fn default() -> Self {
        GradientOptions {
            b0_threshold: 50.0,
            shell_tolerance: 80.0,
            unit_tolerance: 0.01,
        }
    }
}

/// The coordinate frame the gradient directions are expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Frame {
    /// FSL's image frame (voxel axes, x flipped for a positive-determinant affine).
    FslImage,
    /// World (scanner RAS+) coordinates, as NIfTI's affine maps voxels to.
    WorldRas,
}

/// Layout of a bvec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BvecLayout {
    /// Three rows of N values (FSL's own layout).
    ThreeByN,
    /// N rows of three values (DIPY's small datasets, some converters).
    NByThree,
}

/// One shell: the volumes whose b-values cluster together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Shell {
    /// Mean b-value of the shell's volumes.
    pub bvalue: f64,
    /// Smallest and largest b-value in the shell.
    pub range: [f64; 2],
    /// Indices of the shell's volumes.
    pub volumes: Vec<usize>,
}

/// b-values and unit directions of every volume, with the frame and what was done to them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GradientTable {
    bvals: Vec<f64>,
    /// Unit vectors for diffusion-weighted volumes, zero vectors for b0 volumes.
    bvecs: Vec<[f64; 3]>,
    frame: Frame,
    layout: BvecLayout,
    options: GradientOptions,
    /// Things the user should know (normalized vectors, NaN rows read as b0).
    warnings: Vec<String>,
}

/// Splits text into lines of numbers (whitespace or comma separated); `nan` is allowed.
fn parse_numbers(file: &str, text: &str) -> Result<Vec<Vec<f64>>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        let mut row = Vec::new();
        for tok in line.split(|c: char| c.is_whitespace() || c == ',') {
            if tok.is_empty() {
                continue;
            }
            let v: f64 = tok.parse().map_err(|_| DtiError::Parse {
                file: file.to_string(),
                line: i + 1,
                value: tok.to_string(),
                expected: "is not a number".to_string(),
            })?;
            if v.is_infinite() {
                return Err(DtiError::Parse {
                    file: file.to_string(),
                    line: i + 1,
                    value: tok.to_string(),
                    expected: "is infinite".to_string(),
                });
            }
            row.push(v);
        }
        if !row.is_empty() {
            rows.push(row);
        }
    }
    Ok(rows)
}

fn invalid(what: &str, message: String) -> DtiError {
    DtiError::Invalid {
        what: what.to_string(),
        message,
    }
}

impl GradientTable {
    /// Builds a table from b-values and directions in memory (as an FSL bval row and a 3×N
    /// bvec, which Rust's shortest round-trip formatting writes exactly), with the same
    /// checks as [`Self::from_fsl_text`].
    pub fn from_arrays(
        bvals: &[f64],
        bvecs: &[[f64; 3]],
        options: &GradientOptions,
    ) -> Result<Self> {
        let row = |f: &dyn Fn(usize) -> f64, n: usize| {
            (0..n)
                .map(|i| format!("{}", f(i)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let bval_text = row(&|i| bvals[i], bvals.len());
        let bvec_text = (0..3)
            .map(|k| row(&|i| bvecs[i][k], bvecs.len()))
            .collect::<Vec<_>>()
            .join("\n");
        Self::from_fsl_text(&bval_text, &bvec_text, options)
    }

    /// Builds a table from the text of an FSL bval file (one row, or one value per line)
    /// and a bvec file (3×N or N×3; NaN rows allowed for b0 volumes).
    pub fn from_fsl_text(
        bval_text: &str,
        bvec_text: &str,
        options: &GradientOptions,
    ) -> Result<Self> {
        let b_rows = parse_numbers("bval", bval_text)?;
        let bvals: Vec<f64> = if b_rows.len() == 1 || b_rows.iter().all(|r| r.len() == 1) {
            b_rows.into_iter().flatten().collect()
        } else {
            return Err(DtiError::Shape {
                what: "bval".into(),
                message: format!(
                    "expected one row of b-values or one value per line, found {} rows",
                    b_rows.len()
                ),
            });
        };
        let n = bvals.len();
        if n == 0 {
            return Err(invalid("bval", "the file holds no b-values".into()));
        }
        let v_rows = parse_numbers("bvec", bvec_text)?;
        let three_by_n = v_rows.len() == 3 && v_rows.iter().all(|r| r.len() == n);
        let n_by_three = v_rows.len() == n && v_rows.iter().all(|r| r.len() == 3);
        let as_three_by_n = || -> Vec<[f64; 3]> {
            (0..n)
                .map(|j| [v_rows[0][j], v_rows[1][j], v_rows[2][j]])
                .collect()
        };
        let as_n_by_three =
            || -> Vec<[f64; 3]> { v_rows.iter().map(|r| [r[0], r[1], r[2]]).collect() };
        match (three_by_n, n_by_three) {
            (true, false) => Self::new(bvals, as_three_by_n(), BvecLayout::ThreeByN, options),
            (false, true) => Self::new(bvals, as_n_by_three(), BvecLayout::NByThree, options),
            // Three volumes fit both layouts: FSL's 3×N first, N×3 if that is not valid.
            (true, true) => Self::new(
                bvals.clone(),
                as_three_by_n(),
                BvecLayout::ThreeByN,
                options,
            )
            .or_else(|_| Self::new(bvals, as_n_by_three(), BvecLayout::NByThree, options)),
            (false, false) => {
                let shape: Vec<usize> = v_rows.iter().map(Vec::len).collect();
                Err(DtiError::Shape {
                    what: "bvec".into(),
                    message: format!(
                        "expected 3 rows of {n} values or {n} rows of 3 values to match the {n} \
                         b-values, found {} rows of lengths {shape:?}",
                        v_rows.len()
                    ),
                })
            }
        }
    }

    /// Builds a table from b-values and raw directions in FSL's image frame.
    fn new(
        bvals: Vec<f64>,
        raw: Vec<[f64; 3]>,
        layout: BvecLayout,
        options: &GradientOptions,
    ) -> Result<Self> {
        if !(options.b0_threshold >= 0.0 && options.shell_tolerance >= 0.0) {
            return Err(invalid(
                "gradient options",
                "the b0 threshold and the shell tolerance must be non-negative".into(),
            ));
        }
        let mut warnings = Vec::new();
        if let Some(i) = bvals.iter().position(|b| b.is_nan() || *b < 0.0) {
            return Err(invalid(
                "bval",
                format!(
                    "volume {i}: b-value {} must be a non-negative number",
                    bvals[i]
                ),
            ));
        }
        if bvals.iter().all(|&b| b <= options.b0_threshold) {
            return Err(invalid(
                "bval",
                format!(
                    "every b-value is at most the b0 threshold ({}): no diffusion weighting",
                    options.b0_threshold
                ),
            ));
        }
        let mut bvecs = Vec::with_capacity(raw.len());
        let mut nan_b0 = 0;
        for (i, (&b, v)) in bvals.iter().zip(&raw).enumerate() {
            let is_b0 = b <= options.b0_threshold;
            if v.iter().any(|c| c.is_nan()) {
                if is_b0 {
                    nan_b0 += 1;
                    bvecs.push([0.0; 3]);
                    continue;
                }
                return Err(invalid(
                    "bvec",
                    format!("volume {i} has b = {b} but a NaN direction"),
                ));
            }
            if is_b0 {
                bvecs.push([0.0; 3]);
                continue;
            }
            let norm = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            if norm < 1e-6 {
                return Err(invalid(
                    "bvec",
                    format!("volume {i} has b = {b} but a zero-length direction"),
                ));
            }
            if (norm - 1.0).abs() > options.unit_tolerance {
                warnings.push(format!(
                    "volume {i}: direction of length {norm:.4} normalized to unit length"
                ));
            }
            bvecs.push([v[0] / norm, v[1] / norm, v[2] / norm]);
        }
        if nan_b0 > 0 {
            warnings.push(format!(
                "{nan_b0} NaN direction(s) on b0 volumes read as zero vectors"
            ));
        }
        Ok(GradientTable {
            bvals,
            bvecs,
            frame: Frame::FslImage,
            layout,
            options: *options,
            warnings,
        })
    }

    /// Number of volumes.
    pub fn len(&self) -> usize {
        self.bvals.len()
    }

    /// Whether the table is empty (never true for a constructed table).
    pub fn is_empty(&self) -> bool {
        self.bvals.is_empty()
    }

    /// b-values as given.
    pub fn bvals(&self) -> &[f64] {
        &self.bvals
    }

    /// Unit directions (zero vectors for b0 volumes), in [`Self::frame`].
    pub fn bvecs(&self) -> &[[f64; 3]] {
        &self.bvecs
    }

    /// The frame of the directions.
    pub fn frame(&self) -> Frame {
        self.frame
    }

    /// Layout the bvec file was read in.
    pub fn layout(&self) -> BvecLayout {
        self.layout
    }

    /// Warnings collected while reading.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Whether each volume is a b0 (b ≤ threshold), as DIPY's `gtab.b0s_mask`.
    pub fn b0_mask(&self) -> Vec<bool> {
        self.bvals
            .iter()
            .map(|&b| b <= self.options.b0_threshold)
            .collect()
    }

    /// Indices of the b0 volumes.
    pub fn b0_indices(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.bvals[i] <= self.options.b0_threshold)
            .collect()
    }

    /// The shells of the diffusion-weighted volumes, in increasing b: sorted b-values
    /// start a new shell where the gap to the previous one exceeds the tolerance.
    pub fn shells(&self) -> Vec<Shell> {
        let mut dw: Vec<usize> = (0..self.len())
            .filter(|&i| self.bvals[i] > self.options.b0_threshold)
            .collect();
        dw.sort_by(|&a, &b| self.bvals[a].total_cmp(&self.bvals[b]).then(a.cmp(&b)));
        let mut shells: Vec<Vec<usize>> = Vec::new();
        let mut last = f64::NEG_INFINITY;
        for i in dw {
            let b = self.bvals[i];
            match shells.last_mut() {
                Some(s) if b - last <= self.options.shell_tolerance => s.push(i),
                _ => shells.push(vec![i]),
            }
            last = b;
        }
        shells
            .into_iter()
            .map(|mut v| {
                let bs: Vec<f64> = v.iter().map(|&i| self.bvals[i]).collect();
                v.sort_unstable();
                Shell {
                    bvalue: bs.iter().sum::<f64>() / bs.len() as f64,
                    range: [bs[0], bs[bs.len() - 1]],
                    volumes: v,
                }
            })
            .collect()
    }

    /// Rows of the log-linear tensor design, b·[gx², gy², gz², 2gxgy, 2gxgz, 2gygz]
    /// (tensor elements in the order Dxx, Dyy, Dzz, Dxy, Dxz, Dyz; Basser et al. 1994).
    pub fn b_matrix(&self) -> Vec<[f64; 6]> {
        self.bvals
            .iter()
            .zip(&self.bvecs)
            .map(|(&b, g)| {
                [
                    b * g[0] * g[0],
                    b * g[1] * g[1],
                    b * g[2] * g[2],
                    2.0 * b * g[0] * g[1],
                    2.0 * b * g[0] * g[2],
                    2.0 * b * g[1] * g[2],
                ]
            })
            .collect()
    }

    /// The same table with directions in world (RAS) coordinates, given the image's
    /// voxel-to-world affine (rows of the 3×4 upper part): g_world = R·F·g with R the
    /// affine's rotation (columns normalized by the voxel sizes) and F = diag(−1, 1, 1)
    /// when det(R) > 0, else the identity (FSL's convention).
    pub fn to_world(&self, affine: &[[f64; 4]; 3]) -> Result<GradientTable> {
        if self.frame == Frame::WorldRas {
            return Ok(self.clone());
        }
        let mut r = [[0.0; 3]; 3];
        for j in 0..3 {
            let len = (0..3)
                .map(|i| affine[i][j] * affine[i][j])
                .sum::<f64>()
                .sqrt();
            if !(len > 1e-12 && len.is_finite()) {
                return Err(invalid(
                    "affine",
                    format!("column {j} has length {len}: the affine is not invertible"),
                ));
            }
            for (i, row) in r.iter_mut().enumerate() {
                row[j] = affine[i][j] / len;
            }
        }
        let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
            - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
            + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
        if det.abs() < 1e-9 {
            return Err(invalid(
                "affine",
                "its rotation part is singular (determinant 0): not invertible".into(),
            ));
        }
        let flip = if det > 0.0 { -1.0 } else { 1.0 };
        let bvecs = self
            .bvecs
            .iter()
            .map(|g| {
                let v = [flip * g[0], g[1], g[2]];
                let w = [
                    r[0][0] * v[0] + r[0][1] * v[1] + r[0][2] * v[2],
                    r[1][0] * v[0] + r[1][1] * v[1] + r[1][2] * v[2],
                    r[2][0] * v[0] + r[2][1] * v[1] + r[2][2] * v[2],
                ];
                let n = (w[0] * w[0] + w[1] * w[1] + w[2] * w[2]).sqrt();
                if n > 0.0 {
                    [w[0] / n, w[1] / n, w[2] / n]
                } else {
                    w
                }
            })
            .collect();
        Ok(GradientTable {
            bvecs,
            frame: Frame::WorldRas,
            ..self.clone()
        })
    }
}

impl GradientTable {
    /// The table with each volume's direction rotated by that volume's motion rotation
    /// (`rotations[i]`, row-major 3×3, e.g. the rotation part of the registration that
    /// aligned volume i), so that the b-matrix follows the head: for a single-direction
    /// acquisition R·B·Rᵀ = b·(Rg)(Rg)ᵀ (Leemans & Jones 2009, MRM 61:1336). Rotations must
    /// be proper (orthonormal, determinant +1, to 1e-3); b0 volumes are left unchanged.
    pub fn rotated(&self, rotations: &[[[f64; 3]; 3]]) -> Result<GradientTable> {
        if rotations.len() != self.len() {
            return Err(DtiError::Shape {
                what: "motion rotations".into(),
                message: format!("{} rotations for {} volumes", rotations.len(), self.len()),
            });
        }
        let mut bvecs = Vec::with_capacity(self.len());
        for (i, (r, g)) in rotations.iter().zip(&self.bvecs).enumerate() {
            let rrt = |a: usize, b: usize| (0..3).map(|k| r[a][k] * r[b][k]).sum::<f64>();
            let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
                - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
                + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
            let orthonormal = (0..3)
                .all(|a| (0..3).all(|b| (rrt(a, b) - if a == b { 1.0 } else { 0.0 }).abs() < 1e-3));
            if !orthonormal || (det - 1.0).abs() > 1e-3 {
                return Err(invalid(
                    "motion rotations",
                    format!("volume {i}: not a proper rotation (determinant {det:.4})"),
                ));
            }
            bvecs.push([
                r[0][0] * g[0] + r[0][1] * g[1] + r[0][2] * g[2],
                r[1][0] * g[0] + r[1][1] * g[1] + r[1][2] * g[2],
                r[2][0] * g[0] + r[2][1] * g[1] + r[2][2] * g[2],
            ]);
        }
        Ok(GradientTable {
            bvecs,
            ..self.clone()
        })
    }
}

/// Puts the real file names into errors that name a gradient file only as "bval"/"bvec".
fn name_files(e: DtiError, bval: &std::path::Path, bvec: &std::path::Path) -> DtiError {
    let rename = |w: String| match w.as_str() {
        "bval" => bval.display().to_string(),
        "bvec" => bvec.display().to_string(),
        _ => w,
    };
    match e {
        DtiError::Parse {
            file,
            line,
            value,
            expected,
        } => DtiError::Parse {
            file: rename(file),
            line,
            value,
            expected,
        },
        DtiError::Shape { what, message } => DtiError::Shape {
            what: rename(what),
            message,
        },
        DtiError::Invalid { what, message } => DtiError::Invalid {
            what: rename(what),
            message,
        },
        other => other,
    }
}

impl GradientTable {
    /// Reads FSL `bval`/`bvec` files; every error names the file it concerns.
    pub fn from_fsl_files(
        bval: &std::path::Path,
        bvec: &std::path::Path,
        options: &GradientOptions,
    ) -> Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p).map_err(|e| DtiError::Io {
                file: p.display().to_string(),
                message: e.to_string(),
            })
        };
        let (bval_text, bvec_text) = (read(bval)?, read(bvec)?);
        Self::from_fsl_text(&bval_text, &bvec_text, options).map_err(|e| name_files(e, bval, bvec))
    }
}
