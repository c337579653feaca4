//! Times `nifti::read` (decompress + decode to f32) and `nifti::write` (f32 .nii.gz) on
//! one file. Usage: `cargo run --release -p evidentia-dti --example nifti_read_bench --
//! FILE [REPEATS]`; `bench/nifti_read.sh` runs it next to nibabel.

use std::path::Path;
use std::time::Instant;

use evidentia_dti::nifti::{self, WriteOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: nifti_read_bench FILE [REPEATS]")?;
    let reps: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(nifti::read(Path::new(&path))?);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let (hdr, vol) = last.ok_or("no repeats")?;
    println!(
        "evidentia read {path}: dims {:?}, datatype {}, min {:.3} s, median {:.3} s ({reps} runs)",
        vol.dims(),
        hdr.datatype,
        times[0],
        times[reps / 2]
    );
    // Breakdown: the file read alone, then decompress + decode from memory.
    let t = Instant::now();
    let bytes = std::fs::read(&path)?;
    let t_read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let _ = nifti::read_from_bytes(&path, &bytes)?;
    println!(
        "  breakdown: file read {t_read:.3} s, inflate + decode {:.3} s",
        t.elapsed().as_secs_f64()
    );
    // Write one 3-D f32 map (the first volume), as a fitting run would.
    let n = vol.n_voxels();
    let [nx, ny, nz] = vol.dims3();
    let map = evidentia_dti::Volume::new([nx, ny, nz, 1], *vol.affine(), vol.data()[..n].to_vec())?;
    let out = std::env::temp_dir().join("evidentia_nifti_bench_map.nii.gz");
    let t = Instant::now();
    nifti::write(&out, &map, &WriteOptions::default())?;
    println!(
        "evidentia write 3-D f32 map .nii.gz: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    std::fs::remove_file(out)?;
    Ok(())
}
