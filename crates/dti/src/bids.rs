//! BIDS input discovery and BIDS-derivative output naming for diffusion runs
//! (BIDS specification 1.10: "Magnetic Resonance Imaging → Diffusion imaging data" and
//! "Derivatives → Common data types and metadata").
//!
//! [`discover`] finds `sub-*/[ses-*/]dwi/*_dwi.nii[.gz]` with their `.bval`, `.bvec` and
//! `.json` companions (same stem; the inheritance principle is not applied), filtered by
//! participant and session labels. A run whose companions are missing is reported as a
//! problem for that run, and the others are still returned. Output names keep the
//! input's entities in their order, add the derivative entities, and swap the suffix:
//! `sub-01_ses-a_acq-b1000_dwi.nii.gz` → `sub-01_ses-a_acq-b1000_model-tensor_param-fa_dwimap.nii.gz`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{DtiError, Result};
use crate::nifti::write_atomic;

/// BIDS version the derivative metadata declares.
pub const BIDS_VERSION: &str = "1.10.0";

/// One diffusion run of a BIDS dataset with its companion files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DwiRun {
    /// Participant label (without `sub-`).
    pub subject: String,
    /// Session label (without `ses-`), if the dataset has sessions.
    pub session: Option<String>,
    /// Entities of the file name in their order, e.g. `[("sub","01"), ("acq","b1000")]`.
    pub entities: Vec<(String, String)>,
    /// The image, `.nii` or `.nii.gz`.
    pub dwi: PathBuf,
    /// FSL-format b-values.
    pub bval: PathBuf,
    /// FSL-format b-vectors.
    pub bvec: PathBuf,
    /// JSON sidecar.
    pub sidecar: PathBuf,
    /// Path of the image relative to the dataset root, with `/` separators.
    pub relative: String,
}

/// Which participants and sessions to process (empty = all). Labels may be given with
/// or without their `sub-`/`ses-` prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BidsFilter {
    /// Participant labels.
    pub participants: Vec<String>,
    /// Session labels.
    pub sessions: Vec<String>,
}

/// What [`discover`] found: complete runs, and one problem per run (or per requested
/// label) that cannot be processed.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovery {
    /// Runs with all companion files, sorted by path.
    pub runs: Vec<DwiRun>,
    /// Runs with missing companions, names that are not BIDS, labels not found.
    pub problems: Vec<DtiError>,
}

fn io_err(path: &Path, e: std::io::Error) -> DtiError {
    DtiError::Io {
        file: path.display().to_string(),
        message: e.to_string(),
    }
}

/// Sorted entries of a folder whose names start with `prefix` and that are folders.
fn subdirs(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(label) = name.strip_prefix(prefix)
            && entry.path().is_dir()
            && !label.is_empty()
        {
            out.push((label.to_string(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Splits a BIDS file stem (`sub-01_acq-x_dwi`) into entities and suffix.
pub fn parse_entities(stem: &str) -> Option<(Vec<(String, String)>, String)> {
    let mut parts: Vec<&str> = stem.split('_').collect();
    let suffix = parts.pop()?.to_string();
    if suffix.is_empty() || suffix.contains('-') || parts.is_empty() {
        return None;
    }
    let mut entities = Vec::with_capacity(parts.len());
    for p in parts {
        let (k, v) = p.split_once('-')?;
        if k.is_empty() || v.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric()) {
            return None;
        }
        entities.push((k.to_string(), v.to_string()));
    }
    Some((entities, suffix))
}

fn strip<'a>(label: &'a str, prefix: &str) -> &'a str {
    label.strip_prefix(prefix).unwrap_or(label)
}

/// Finds the diffusion runs of the BIDS dataset at `root`.
pub fn discover(root: &Path, filter: &BidsFilter) -> Result<Discovery> {
    if !root.is_dir() {
        return Err(DtiError::Io {
            file: root.display().to_string(),
            message: "is not a folder (expected a BIDS dataset root)".into(),
        });
    }
    let want_sub: Vec<&str> = filter
        .participants
        .iter()
        .map(|s| strip(s, "sub-"))
        .collect();
    let want_ses: Vec<&str> = filter.sessions.iter().map(|s| strip(s, "ses-")).collect();
    let mut runs = Vec::new();
    let mut problems = Vec::new();
    let subjects = subdirs(root, "sub-")?;
    for label in &want_sub {
        if !subjects.iter().any(|(s, _)| s == label) {
            problems.push(DtiError::Invalid {
                what: format!("participant label '{label}'"),
                message: format!("no folder sub-{label} in {}", root.display()),
            });
        }
    }
    for (subject, sub_dir) in subjects {
        if !want_sub.is_empty() && !want_sub.contains(&subject.as_str()) {
            continue;
        }
        let mut dwi_dirs: Vec<(Option<String>, PathBuf)> = Vec::new();
        for (session, ses_dir) in subdirs(&sub_dir, "ses-")? {
            dwi_dirs.push((Some(session), ses_dir.join("dwi")));
        }
        dwi_dirs.push((None, sub_dir.join("dwi")));
        for (session, dir) in dwi_dirs {
            if !dir.is_dir() {
                continue;
            }
            if !want_ses.is_empty() && !session.as_deref().is_some_and(|s| want_ses.contains(&s)) {
                continue;
            }
            scan_dwi_dir(
                root,
                &dir,
                &subject,
                session.as_deref(),
                &mut runs,
                &mut problems,
            )?;
        }
    }
    runs.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(Discovery { runs, problems })
}

fn scan_dwi_dir(
    root: &Path,
    dir: &Path,
    subject: &str,
    session: Option<&str>,
    runs: &mut Vec<DwiRun>,
    problems: &mut Vec<DtiError>,
) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| io_err(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        let stem = match name
            .strip_suffix(".nii.gz")
            .or_else(|| name.strip_suffix(".nii"))
        {
            Some(s) if s.ends_with("_dwi") => s,
            _ => continue,
        };
        let path = dir.join(&name);
        let Some((entities, _)) = parse_entities(stem) else {
            problems.push(DtiError::Format {
                file: path.display().to_string(),
                message: "is not a BIDS file name (entities must be key-value pairs)".into(),
            });
            continue;
        };
        let get = |k: &str| {
            entities
                .iter()
                .find(|(e, _)| e == k)
                .map(|(_, v)| v.as_str())
        };
        if get("sub") != Some(subject) || get("ses") != session {
            problems.push(DtiError::Format {
                file: path.display().to_string(),
                message: format!(
                    "its sub/ses entities do not match its folder (sub-{subject}{})",
                    session.map(|s| format!("/ses-{s}")).unwrap_or_default()
                ),
            });
            continue;
        }
        let companion = |ext: &str| dir.join(format!("{stem}{ext}"));
        let (bval, bvec, sidecar) = (companion(".bval"), companion(".bvec"), companion(".json"));
        let missing: Vec<String> = [&bval, &bvec, &sidecar]
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| {
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        if !missing.is_empty() {
            problems.push(DtiError::Format {
                file: path.display().to_string(),
                message: format!("missing companion file(s): {}", missing.join(", ")),
            });
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        runs.push(DwiRun {
            subject: subject.to_string(),
            session: session.map(str::to_string),
            entities,
            dwi: path,
            bval,
            bvec,
            sidecar,
            relative,
        });
    }
    Ok(())
}

impl DwiRun {
    /// A derivative file name: this run's entities in order, then `extra` entities
    /// (replacing any of the same key), then `suffix` and `extension` (with its dot).
    pub fn derivative_name(&self, extra: &[(&str, &str)], suffix: &str, extension: &str) -> String {
        let mut parts: Vec<String> = self
            .entities
            .iter()
            .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
            .map(|(k, v)| format!("{k}-{v}"))
            .collect();
        parts.extend(extra.iter().map(|(k, v)| format!("{k}-{v}")));
        parts.push(suffix.to_string());
        format!("{}{extension}", parts.join("_"))
    }

    /// The folder of this run's derivatives under a pipeline root:
    /// `ROOT/sub-XX/[ses-YY/]dwi`.
    pub fn derivative_dir(&self, pipeline_root: &Path) -> PathBuf {
        let mut d = pipeline_root.join(format!("sub-{}", self.subject));
        if let Some(s) = &self.session {
            d = d.join(format!("ses-{s}"));
        }
        d.join("dwi")
    }

    /// Full path of a derivative: [`Self::derivative_dir`] / [`Self::derivative_name`].
    pub fn derivative_path(
        &self,
        pipeline_root: &Path,
        extra: &[(&str, &str)],
        suffix: &str,
        extension: &str,
    ) -> PathBuf {
        self.derivative_dir(pipeline_root)
            .join(self.derivative_name(extra, suffix, extension))
    }

    /// The path of a tensor map, e.g. `param = "fa"` →
    /// `…/sub-01_…_model-tensor_param-fa_dwimap.nii.gz`.
    pub fn tensor_map_path(&self, pipeline_root: &Path, param: &str) -> PathBuf {
        self.derivative_path(
            pipeline_root,
            &[("model", "tensor"), ("param", param)],
            "dwimap",
            ".nii.gz",
        )
    }

    /// BIDS URIs (`bids:raw:…`) of the run's inputs, for a derivative's `Sources`.
    pub fn source_uris(&self) -> Vec<String> {
        let base = self
            .relative
            .trim_end_matches(".gz")
            .trim_end_matches(".nii")
            .to_string();
        vec![
            format!("bids:raw:{}", self.relative),
            format!("bids:raw:{base}.bval"),
            format!("bids:raw:{base}.bvec"),
        ]
    }
}

/// The conventional pipeline root inside a dataset: `BIDS/derivatives/evidentia`.
pub fn default_derivatives_root(bids_root: &Path) -> PathBuf {
    bids_root.join("derivatives").join("evidentia")
}

/// `GeneratedBy` entry of a derivative dataset description.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeneratedBy {
    /// Pipeline name.
    #[serde(rename = "Name")]
    pub name: String,
    /// Pipeline version.
    #[serde(rename = "Version")]
    pub version: String,
    /// Free-text description.
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `dataset_description.json` of a BIDS derivative dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DatasetDescription {
    /// Dataset name.
    #[serde(rename = "Name")]
    pub name: String,
    /// BIDS version followed.
    #[serde(rename = "BIDSVersion")]
    pub bids_version: String,
    /// Always `"derivative"`.
    #[serde(rename = "DatasetType")]
    pub dataset_type: String,
    /// The pipeline that produced it.
    #[serde(rename = "GeneratedBy")]
    pub generated_by: Vec<GeneratedBy>,
    /// Where the raw data came from (`{"URL": …}` entries), if known.
    #[serde(rename = "SourceDatasets", skip_serializing_if = "Vec::is_empty")]
    pub source_datasets: Vec<BTreeMap<String, String>>,
}

impl DatasetDescription {
    /// The description of an Evidentia derivative dataset made by `version`.
    pub fn evidentia(version: &str) -> Self {
        DatasetDescription {
            name: "Evidentia diffusion tensor maps".into(),
            bids_version: BIDS_VERSION.into(),
            dataset_type: "derivative".into(),
            generated_by: vec![GeneratedBy {
                name: "Evidentia".into(),
                version: version.into(),
                description: Some("Diffusion tensor fitting and scalar maps".into()),
            }],
            source_datasets: Vec::new(),
        }
    }
}

/// Writes `value` as pretty JSON (with a final newline) to `path`, atomically, creating
/// the parent folders.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    let mut text = serde_json::to_string_pretty(value).map_err(|e| DtiError::Invalid {
        what: path.display().to_string(),
        message: format!("cannot be serialised as JSON: {e}"),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Writes `ROOT/dataset_description.json` for an Evidentia derivative dataset.
pub fn write_dataset_description(pipeline_root: &Path, version: &str) -> Result<PathBuf> {
    let path = pipeline_root.join("dataset_description.json");
    write_json(&path, &DatasetDescription::evidentia(version))?;
    Ok(path)
}

/// JSON sidecar of a derivative map: what it is, its inputs (BIDS URIs and SHA-256),
/// and the parameters that made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapSidecar {
    /// What the map holds, in words.
    #[serde(rename = "Description")]
    pub description: String,
    /// BIDS URIs of the inputs.
    #[serde(rename = "Sources")]
    pub sources: Vec<String>,
    /// SHA-256 (hex) of each input file, keyed by its BIDS URI.
    #[serde(rename = "SourceSHA256")]
    pub source_sha256: BTreeMap<String, String>,
    /// Units of the values (e.g. "mm^2/s"), if any.
    #[serde(rename = "Units", skip_serializing_if = "Option::is_none")]
    pub units: Option<String>,
    /// Parameters of the run (method, thresholds, versions).
    #[serde(rename = "Parameters")]
    pub parameters: serde_json::Value,
}

impl MapSidecar {
    /// A sidecar for a map made from `run`, hashing its image, bval and bvec.
    pub fn for_run(
        run: &DwiRun,
        description: &str,
        units: Option<&str>,
        parameters: serde_json::Value,
    ) -> Result<Self> {
        let sources = run.source_uris();
        let mut source_sha256 = BTreeMap::new();
        for (uri, path) in sources.iter().zip([&run.dwi, &run.bval, &run.bvec]) {
            source_sha256.insert(uri.clone(), file_sha256(path)?);
        }
        Ok(MapSidecar {
            description: description.into(),
            sources,
            source_sha256,
            units: units.map(str::to_string),
            parameters,
        })
    }
}

/// The sidecar path of an image: `x.nii.gz` / `x.nii` → `x.json`.
pub fn sidecar_path(image: &Path) -> PathBuf {
    let name = image.file_name().unwrap_or_default().to_string_lossy();
    let stem = name
        .strip_suffix(".nii.gz")
        .or_else(|| name.strip_suffix(".nii"))
        .unwrap_or(&name);
    image.with_file_name(format!("{stem}.json"))
}

/// SHA-256 of a file's bytes, as lowercase hex.
pub fn file_sha256(path: &Path) -> Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_parse_and_reject() {
        let (e, s) = parse_entities("sub-01_ses-a_acq-b1000_run-2_dwi").unwrap();
        assert_eq!(s, "dwi");
        assert_eq!(e[2], ("acq".to_string(), "b1000".to_string()));
        assert!(parse_entities("sub01_dwi").is_none());
        assert!(parse_entities("dwi").is_none());
        assert!(parse_entities("sub-01_").is_none());
    }

    #[test]
    fn sidecar_paths() {
        assert_eq!(
            sidecar_path(Path::new("a/x_dwimap.nii.gz")),
            Path::new("a/x_dwimap.json")
        );
        assert_eq!(sidecar_path(Path::new("x.nii")), Path::new("x.json"));
    }
}
