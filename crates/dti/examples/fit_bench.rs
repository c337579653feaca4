//! Times the tensor fits on the benchmark phantom (96×96×60×69 by default).
//!
//! ```text
//! cargo run --release -p evidentia-dti --example fit_bench -- \
//!     [--dims 96,96,60] [--methods ols,wls,nlls,restore,irls] [--repeat 3] \
//!     [--dump DIR] [--no-fit]
//! ```
//! `--dump DIR` writes the phantom for other tools: `signals.f32` (voxel-major
//! little-endian f32, voxel index x + nx·(y + ny·z)), `mask.u8`, `labels.u8`,
//! `truth_fa.f32`, `bvals`, `bvecs` (FSL 3×N text) and `meta.json`. Each timing line is
//! JSON: method, best wall seconds over the repeats, the best CPU seconds (all threads;
//! shows the work when other processes share the cores), voxels fitted, threads, and the
//! median |ΔFA| / V1 angle in white matter against the phantom's truth.

use std::io::Write;
use std::time::Instant;

use evidentia_dti::maps;
use evidentia_dti::phantom::{PhantomOptions, generate, labels};
use evidentia_dti::tensor::{FitMethod, FitOptions, NoiseSigma, fit_tensors};

fn main() {
    if let Err(e) = run() {
        eprintln!("fit_bench: {e}");
        std::process::exit(2);
    }
}

/// CPU time (user + system, all threads) of this process from /proc (Linux; 10 ms
/// ticks), to see the work done when other processes share the cores.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut dims = [96usize, 96, 60];
    let mut methods = vec!["ols", "wls", "nlls", "restore", "irls"]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
    let mut repeat = 3usize;
    let mut dump: Option<String> = None;
    let mut fit = true;
    let mut i = 0;
    while i < args.len() {
        let val = |i: usize| {
            args.get(i + 1)
                .cloned()
                .ok_or(format!("{} needs a value", args[i]))
        };
        match args[i].as_str() {
            "--dims" => {
                let v: Vec<usize> = val(i)?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?;
                if v.len() != 3 {
                    return Err("--dims takes nx,ny,nz".into());
                }
                dims = [v[0], v[1], v[2]];
                i += 1;
            }
            "--methods" => {
                methods = val(i)?.split(',').map(String::from).collect();
                i += 1;
            }
            "--repeat" => {
                repeat = val(i)?.parse()?;
                i += 1;
            }
            "--dump" => {
                dump = Some(val(i)?);
                i += 1;
            }
            "--no-fit" => fit = false,
            other => return Err(format!("unknown argument {other}").into()),
        }
        i += 1;
    }
    let mut opts = PhantomOptions {
        dims,
        ..Default::default()
    };
    // Keep the corrupted slices inside smaller grids (same relative height).
    for c in opts.corruptions.iter_mut() {
        c.z = c.z * dims[2] / 60;
    }
    let t = Instant::now();
    let ph = generate(&opts)?;
    let n = ph.mask.len();
    let n_mask = ph.mask.iter().filter(|m| **m).count();
    eprintln!(
        "phantom {:?} x {} volumes, {n_mask} brain voxels, generated in {:.2} s",
        dims,
        ph.bvals.len(),
        t.elapsed().as_secs_f64()
    );
    if let Some(dir) = &dump {
        std::fs::create_dir_all(dir)?;
        let p = std::path::Path::new(dir);
        let mut f = std::io::BufWriter::new(std::fs::File::create(p.join("signals.f32"))?);
        for v in &ph.signals {
            f.write_all(&v.to_le_bytes())?;
        }
        f.flush()?;
        std::fs::write(
            p.join("mask.u8"),
            ph.mask.iter().map(|&m| m as u8).collect::<Vec<_>>(),
        )?;
        std::fs::write(p.join("labels.u8"), &ph.labels)?;
        std::fs::write(
            p.join("truth_fa.f32"),
            ph.fa
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<_>>(),
        )?;
        let bvals = ph
            .bvals
            .iter()
            .map(|b| format!("{b}"))
            .collect::<Vec<_>>()
            .join(" ");
        std::fs::write(p.join("bvals"), bvals + "\n")?;
        let bvecs = (0..3)
            .map(|k| {
                ph.bvecs
                    .iter()
                    .map(|v| format!("{}", v[k]))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(p.join("bvecs"), bvecs + "\n")?;
        std::fs::write(
            p.join("meta.json"),
            format!(
                "{{\"dims\": [{}, {}, {}, {}], \"brain_voxels\": {n_mask}, \"sigma\": {}}}\n",
                dims[0],
                dims[1],
                dims[2],
                ph.bvals.len(),
                ph.sigma
            ),
        )?;
        eprintln!("wrote {dir}");
    }
    if !fit {
        return Ok(());
    }
    let wm: Vec<usize> = (0..n)
        .filter(|&i| ph.labels[i] >= labels::WM && ph.fa[i] > 0.2)
        .collect();
    let threads = rayon::current_num_threads();
    for m in &methods {
        let method = FitMethod::parse(m)?;
        let options = FitOptions {
            sigma: NoiseSigma::Background,
            ..FitOptions::with_method(method)
        };
        let mut best = f64::INFINITY;
        let mut best_cpu = f64::INFINITY;
        let mut last = None;
        for _ in 0..repeat.max(1) {
            let c = cpu_seconds();
            let t = Instant::now();
            let f = fit_tensors(&ph.signals, n, &ph.gtab, Some(&ph.mask), &options)?;
            best = best.min(t.elapsed().as_secs_f64());
            if let (Some(a), Some(b)) = (c, cpu_seconds()) {
                best_cpu = best_cpu.min(b - a);
            }
            last = Some(f);
        }
        let Some(f) = last else { continue };
        let fa = maps::fa(&f);
        let v1 = maps::v1(&f);
        let mut dfa: Vec<f64> = wm
            .iter()
            .map(|&i| (fa[i] - ph.fa[i]).abs() as f64)
            .collect();
        let mut ang: Vec<f64> = wm
            .iter()
            .map(|&i| {
                let d: f64 = (0..3).map(|k| (v1[i][k] * ph.v1[i][k]) as f64).sum();
                d.abs().min(1.0).acos().to_degrees()
            })
            .collect();
        dfa.sort_by(f64::total_cmp);
        ang.sort_by(f64::total_cmp);
        println!(
            "{{\"method\": \"{m}\", \"seconds\": {best:.4}, \"cpu_seconds\": {best_cpu:.3}, \"voxels\": {}, \"failed\": {}, \"threads\": {threads}, \
             \"us_per_voxel\": {:.3}, \"median_dfa_wm\": {:.4}, \"median_v1_deg_wm\": {:.3}, \"outliers\": {}}}",
            f.voxels_fitted,
            f.voxels_failed,
            best * 1e6 / f.voxels_fitted.max(1) as f64,
            dfa.get(dfa.len() / 2).copied().unwrap_or(f64::NAN),
            ang.get(ang.len() / 2).copied().unwrap_or(f64::NAN),
            f.total_outliers
        );
    }
    Ok(())
}
