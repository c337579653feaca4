//! TRK per-point scalars against nibabel 5.4.2 (fixtures from
//! `tools/reference/make_trk_scalar_fixtures.py`): a TRK with FA and MD per point written by
//! nibabel is read with the same values, and the TRK this crate writes from those arrays is
//! byte-identical to `rust.trk`, which nibabel read back with the same points and scalars
//! (recorded under `rust_trk_check` in `expected.json`).

use std::path::PathBuf;

use evidentia_dti::Streamlines;
use evidentia_dti::streamlines::{TrkHeader, read_trk, write_trk, write_trk_with_scalars};
use serde_json::Value;

mod common;

use common::{f32s, streamlines};

fn dir() -> PathBuf {
    common::fixture_dir("trk_scalars")
}

fn expected() -> Value {
    common::expected("trk_scalars")
}

fn max_diff(a: &Streamlines, b: &Streamlines) -> f32 {
    assert_eq!(a.len(), b.len());
    a.points()
        .iter()
        .zip(b.points())
        .flat_map(|(p, q)| (0..3).map(move |k| (p[k] - q[k]).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn reads_per_point_scalars_written_by_nibabel() {
    let e = expected();
    let w = &e["written_by_nibabel"];
    let t = read_trk(&std::fs::read(dir().join("nibabel.trk")).unwrap()).unwrap();
    assert_eq!(t.header.n_scalars, 2);
    let names: Vec<&str> = t.scalars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["fa", "md"]);
    // Scalars are stored float32 as they are: exact.
    assert_eq!(t.scalars[0].1, f32s(&w["scalars"]["fa"]));
    assert_eq!(t.scalars[1].1, f32s(&w["scalars"]["md"]));
    // Points go through the voxmm transform in float32 (nibabel's and ours): 1e-5 mm.
    let d = max_diff(&t.streamlines, &streamlines(&w["streamlines"]));
    assert!(d < 1e-5, "{d}");
    assert_eq!(t.streamlines.len(), 4);
}

#[test]
fn writes_scalars_nibabel_reads() {
    let e = expected();
    let w = &e["written_by_nibabel"];
    let s = streamlines(&w["streamlines"]);
    let a = &e["affine"];
    let aff: [[f64; 4]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| a[i][j].as_f64().unwrap()));
    let dims: Vec<usize> = w["dims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let h = TrkHeader::from_grid([dims[0], dims[1], dims[2]], &aff).unwrap();
    let (fa, md) = (f32s(&w["scalars"]["fa"]), f32s(&w["scalars"]["md"]));
    let mut bytes = Vec::new();
    write_trk_with_scalars(&mut bytes, &s, &h, &[("fa", &fa), ("md", &md)]).unwrap();
    let keep = std::env::temp_dir().join("evidentia_trk_scalars");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("rust.trk"), &bytes).unwrap();
    let check = &e["rust_trk_check"];
    assert_eq!(check["result"], "OK", "nibabel's check is recorded");
    assert_eq!(check["scalar_names"], serde_json::json!(["fa", "md"]));
    assert_eq!(
        bytes,
        std::fs::read(dir().join("rust.trk")).unwrap(),
        "the writer changed: rerun tools/reference/make_trk_scalar_fixtures.py --check"
    );
    // Our reader gives back the scalars, and the plain writer gives the same points.
    let t = read_trk(&bytes).unwrap();
    assert_eq!(
        t.scalars,
        vec![("fa".to_string(), fa), ("md".to_string(), md)]
    );
    let mut plain = Vec::new();
    write_trk(&mut plain, &s, &h).unwrap();
    let p = read_trk(&plain).unwrap();
    assert!(p.scalars.is_empty());
    assert_eq!(p.streamlines, t.streamlines);
    assert_eq!(plain.len(), bytes.len() - 8 * s.n_points());
}

#[test]
fn bad_scalars_are_errors() {
    let mut s = Streamlines::default();
    s.push(&[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]);
    let aff = [
        [1.0, 0.0, 0.0, 0.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 0.0, 1.0, 0.0],
    ];
    let h = TrkHeader::from_grid([4, 4, 4], &aff).unwrap();
    let mut b = Vec::new();
    let v = [0.5f32, 0.6];
    assert!(write_trk_with_scalars(&mut b, &s, &h, &[("fa", &v[..1])]).is_err());
    assert!(write_trk_with_scalars(&mut b, &s, &h, &[("", &v)]).is_err());
    assert!(write_trk_with_scalars(&mut b, &s, &h, &[("a_very_long_scalar_name", &v)]).is_err());
    let eleven: Vec<(&str, &[f32])> = (0..11).map(|_| ("x", &v[..])).collect();
    assert!(write_trk_with_scalars(&mut b, &s, &h, &eleven).is_err());
    // A file cut inside the scalars is an error, not a panic.
    write_trk_with_scalars(&mut b, &s, &h, &[("fa", &v)]).unwrap();
    for n in 1000..b.len() {
        let r = read_trk(&b[..n]);
        assert!(
            r.is_err() || r.unwrap().streamlines.is_empty(),
            "cut at {n}"
        );
    }
}
