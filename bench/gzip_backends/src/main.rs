//! Times gzip decompression (and level-6 compression) of one `.nii.gz` with each
//! candidate back-end. Usage: `gzip-backends FILE [REPEATS]`; build once with the
//! default features (flate2 on miniz_oxide) and once with `--no-default-features
//! --features zlib-rs`. libdeflate is measured in both builds.

use std::io::Read;
use std::time::Instant;

fn isize_hint(gz: &[u8]) -> usize {
    let n = gz.len();
    u32::from_le_bytes([gz[n - 4], gz[n - 3], gz[n - 2], gz[n - 1]]) as usize
}

fn flate2_decode(gz: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(isize_hint(gz));
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn libdeflate_decode(gz: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; isize_hint(gz)];
    let mut d = libdeflater::Decompressor::new();
    let n = d.gzip_decompress(gz, &mut out).unwrap();
    out.truncate(n);
    out
}

/// Multi-member aware: one `libdeflate_gzip_decompress_ex` call per member.
fn libdeflate_ex_decode(gz: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    unsafe {
        let d = libdeflate_sys::libdeflate_alloc_decompressor();
        let (mut pin, mut pout) = (0usize, 0usize);
        while pin < gz.len() && pout < size {
            let (mut ain, mut aout) = (0usize, 0usize);
            let r = libdeflate_sys::libdeflate_gzip_decompress_ex(
                d,
                gz[pin..].as_ptr().cast(),
                gz.len() - pin,
                out[pout..].as_mut_ptr().cast(),
                size - pout,
                &mut ain,
                &mut aout,
            );
            assert_eq!(r, 0, "libdeflate error {r}");
            pin += ain;
            pout += aout;
        }
        libdeflate_sys::libdeflate_free_decompressor(d);
        out.truncate(pout);
    }
    out
}

fn time<T>(label: &str, reps: usize, mut f: impl FnMut() -> T) -> T {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        last = Some(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{label:<34} min {:.3} s  median {:.3} s  ({reps} runs)",
        times[0],
        times[reps / 2]
    );
    last.unwrap()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: gzip-backends FILE [REPEATS]");
    let reps: usize = args.next().map_or(5, |s| s.parse().unwrap());
    let gz = std::fs::read(&path).unwrap();
    let backend = if cfg!(feature = "zlib-rs") { "zlib-rs" } else { "miniz_oxide" };
    println!("{path}: {:.1} MB compressed, {:.1} MB raw", gz.len() as f64 / 1e6, isize_hint(&gz) as f64 / 1e6);
    let a = time(&format!("decode flate2 ({backend})"), reps, || flate2_decode(&gz));
    let b = time("decode libdeflater gzip", reps, || libdeflate_decode(&gz));
    let c = time("decode libdeflate _ex (multi-member)", reps, || libdeflate_ex_decode(&gz, a.len()));
    assert!(a == b && b == c);
    let raw = a;
    time(&format!("encode flate2 ({backend}) level 6"), 1, || {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        std::io::Write::write_all(&mut e, &raw).unwrap();
        let v = e.finish().unwrap();
        println!("  -> {:.1} MB", v.len() as f64 / 1e6);
    });
    time("encode libdeflate level 6", 1, || {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
        let mut v = vec![0u8; c.gzip_compress_bound(raw.len())];
        let n = c.gzip_compress(&raw, &mut v).unwrap();
        println!("  -> {:.1} MB", n as f64 / 1e6);
    });
}
