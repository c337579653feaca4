//! Tracking speed on a whole-brain-sized phantom (96×96×60, 2 mm; ~1 M seeds on the 1 mm grid
//! where FA ≥ 0.2), with the trial's parameters and the shipped CST definition.
//!
//! ```text
//! cargo run --release -p evidentia-dti --example track_bench -- [THREADS=2] [TRACT.toml=crates/dti/tracts/cst_left.toml] [step=MM] [--whole-brain] [dump=DIR]
//! ```
//! Prints one JSON object per run: seeds, streamlines kept, wall seconds (tracking + ROI
//! selection; the phantom's construction is timed separately).
//!
//! `dump=DIR` (used by `bench/track_vs_dipy.py`) also writes the phantom as `DIR/tensor.nii.gz`
//! (6 volumes, FSL `dtifit` order Dxx Dxy Dxz Dyy Dyz Dzz, mm²/s), `DIR/fa.nii.gz`,
//! `DIR/mask.nii.gz`, the selected tract as `DIR/<tract>.tck` and, with `--whole-brain`, the
//! streamlines grown from every 8th seed as `DIR/whole_every8.tck` (the subset DIPY tracks).

use std::path::{Path, PathBuf};
use std::time::Instant;

use evidentia_dti::nifti::{self, WriteOptions};
use evidentia_dti::roi::{RoiSet, TractDefinition};
use evidentia_dti::streamlines::{self, Streamlines};
use evidentia_dti::track::{TensorField, seed_points, track};
use evidentia_dti::track_phantom::brain_phantom;
use evidentia_dti::volume::Volume;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(2);
    let tract = args
        .iter()
        .find(|a| a.ends_with(".toml"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tracts/cst_left.toml"));
    let whole = args.iter().any(|a| a == "--whole-brain");
    let step: Option<f64> = args
        .iter()
        .find_map(|a| a.strip_prefix("step=").and_then(|v| v.parse().ok()));
    let dump = args
        .iter()
        .find_map(|a| a.strip_prefix("dump=").map(PathBuf::from));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?;

    let t = Instant::now();
    let field = brain_phantom()?;
    let build_s = t.elapsed().as_secs_f64();
    let mut def = TractDefinition::load(&tract)?;
    if let Some(h) = step {
        def.params.step_mm = h;
    }
    let base = tract.parent().unwrap_or(Path::new("."));
    let rois = def.resolve(&field, base, &mut |p: &Path| {
        Err(evidentia_dti::DtiError::Invalid {
            what: p.display().to_string(),
            message: "mask files are not used by the benchmark".into(),
        })
    })?;
    if let Some(dir) = &dump {
        dump_field(&field, dir)?;
    }
    let n_seeds = seed_points(&field, &def.params, &RoiSet::empty(), None)?.len();

    let t = Instant::now();
    let tg = pool.install(|| track(&field, &def.params, &rois, None))?;
    let sel_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "run": format!("track + select {}", def.name),
            "threads": threads,
            "step_mm": def.params.step_mm,
            "phantom_build_s": build_s,
            "seeds": n_seeds,
            "kept": tg.streamlines.len(),
            "counts": tg.summary.counts,
            "wall_s": sel_s,
            "seeds_per_s": n_seeds as f64 / sel_s,
        })
    );
    if let Some(dir) = &dump {
        write_tck(&dir.join(format!("{}.tck", def.name)), &tg.streamlines)?;
    }
    if whole {
        let t = Instant::now();
        let all = pool.install(|| track(&field, &def.params, &RoiSet::empty(), None))?;
        let s = t.elapsed().as_secs_f64();
        let n = all.streamlines.len();
        let mean_len = (0..n).map(|i| all.streamlines.length_mm(i)).sum::<f64>() / n.max(1) as f64;
        println!(
            "{}",
            serde_json::json!({
                "run": "whole brain, all streamlines kept",
                "threads": threads,
                "seeds": n_seeds,
                "kept": n,
                "points": all.streamlines.n_points(),
                "mean_length_mm": mean_len,
                "counts": all.summary.counts,
                "wall_s": s,
                "seeds_per_s": n_seeds as f64 / s,
            })
        );
        if let Some(dir) = &dump {
            let mut sub = Streamlines::default();
            for (i, &seed) in all.seed_index.iter().enumerate() {
                if seed % 8 == 0 {
                    sub.push(all.streamlines.get(i));
                }
            }
            write_tck(&dir.join("whole_every8.tck"), &sub)?;
        }
    }
    Ok(())
}

/// Writes the tensor field (FSL order), its FA and its mask as NIfTI for the DIPY comparison.
fn dump_field(field: &TensorField, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let [nx, ny, nz] = field.dims();
    let n = nx * ny * nz;
    let mut d = vec![0f32; 6 * n];
    for (i, t) in field.tensors().iter().enumerate() {
        for (c, v) in t.iter().enumerate() {
            d[c * n + i] = *v;
        }
    }
    let opts = WriteOptions::default();
    let aff = *field.affine();
    nifti::write(
        &dir.join("tensor.nii.gz"),
        &Volume::new([nx, ny, nz, 6], aff, d)?,
        &opts,
    )?;
    nifti::write(
        &dir.join("fa.nii.gz"),
        &Volume::new([nx, ny, nz, 1], aff, field.voxel_fa().to_vec())?,
        &opts,
    )?;
    let mask: Vec<u8> = field.mask().iter().map(|&m| u8::from(m)).collect();
    nifti::write(
        &dir.join("mask.nii.gz"),
        &Volume::new([nx, ny, nz, 1], aff, mask)?,
        &opts,
    )?;
    Ok(())
}

fn write_tck(path: &Path, s: &Streamlines) -> Result<(), Box<dyn std::error::Error>> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    streamlines::write_tck(&mut w, s, &[])?;
    Ok(())
}
