//! TRK/TCK: round trips, and files written by nibabel (fixtures from
//! tools/reference/make_streamline_fixtures.py; nibabel's version is in expected.json).

use std::path::PathBuf;

use evidentia_dti::streamlines::{
    Streamlines, TrkHeader, read_tck, read_trk, write_tck, write_trk,
};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dti/streamlines")
}

fn expected() -> serde_json::Value {
    let text = std::fs::read_to_string(fixtures().join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn compare(got: &Streamlines, want: &serde_json::Value) -> f64 {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len());
    let mut worst: f64 = 0.0;
    for (g, w) in got.iter().zip(want) {
        let w = w.as_array().unwrap();
        assert_eq!(g.len(), w.len());
        for (p, q) in g.iter().zip(w) {
            for k in 0..3 {
                let d = (f64::from(p[k]) - q[k].as_f64().unwrap()).abs();
                worst = worst.max(d);
            }
        }
    }
    worst
}

#[test]
fn reads_nibabel_trk_and_tck_point_by_point() {
    let exp = expected();
    assert!(exp["nibabel_version"].as_str().unwrap().starts_with('5'));
    for name in ["las.trk", "oblique.trk", "lps_order.trk"] {
        let bytes = std::fs::read(fixtures().join(name)).unwrap();
        let trk = read_trk(&bytes).unwrap();
        let e = &exp["files"][name];
        assert_eq!(trk.header.voxel_order, e["voxel_order"].as_str().unwrap());
        // nibabel's float32 → f64 affine arithmetic vs ours: agreement to float32 rounding.
        let worst = compare(&trk.streamlines, &e["streamlines"]);
        assert!(worst < 2e-5, "{name}: largest difference {worst} mm");
    }
    let bytes = std::fs::read(fixtures().join("las.tck")).unwrap();
    let tck = read_tck(&bytes).unwrap();
    let worst = compare(&tck.streamlines, &exp["files"]["las.tck"]["streamlines"]);
    // TCK stores float32 RAS mm: exact up to the JSON decimal parsing.
    assert!(worst < 1e-12, "TCK differs by {worst}");
}

fn sample() -> Streamlines {
    let mut s = Streamlines::default();
    s.push(&[[1.0, 2.0, 3.0], [1.5, 2.25, 3.5], [-4.0, 7.125, 0.0]]);
    s.push(&[[10.0, -3.0, 2.0]]);
    s.push(&[[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]);
    s
}

#[test]
fn tck_round_trip_is_exact_and_keeps_header_lines() {
    let s = sample();
    let extra = vec![(
        "evidentia_tracking".to_string(),
        "{\"step_mm\":0.5}".to_string(),
    )];
    let mut bytes = Vec::new();
    write_tck(&mut bytes, &s, &extra).unwrap();
    let back = read_tck(&bytes).unwrap();
    assert_eq!(back.streamlines, s);
    assert!(back.header.contains(&extra[0]));
    assert!(read_tck(b"mrtrix tracks\ncount: 1\n").is_err());
    assert!(read_tck(b"not a tck").is_err());
}

#[test]
fn trk_round_trip_with_oblique_affine() {
    let s = sample();
    let aff = [
        [-1.8, 0.3, 0.1, 40.0],
        [0.2, 2.1, -0.3, -30.0],
        [0.05, 0.2, 2.4, -20.0],
    ];
    let h = TrkHeader::from_grid([30, 40, 20], &aff).unwrap();
    assert_eq!(h.voxel_order, "LAS");
    let mut bytes = Vec::new();
    write_trk(&mut bytes, &s, &h).unwrap();
    assert_eq!(bytes.len(), 1000 + 3 * 4 + 6 * 12);
    let back = read_trk(&bytes).unwrap();
    let mut worst: f32 = 0.0;
    for (a, b) in back.streamlines.iter().zip(s.iter()) {
        for (p, q) in a.iter().zip(b) {
            for k in 0..3 {
                worst = worst.max((p[k] - q[k]).abs());
            }
        }
    }
    assert!(worst < 1e-5, "{worst}");
    assert_eq!(back.header.n_count, 3);
    let mut short = bytes.clone();
    short.truncate(1010);
    assert!(read_trk(&short).is_err());
    assert!(read_trk(&bytes[..500]).is_err());
}

/// Writes Rust TRK/TCK files for `make_streamline_fixtures.py --check` (nibabel reads them).
#[test]
fn writes_files_for_the_nibabel_check() {
    let dir = std::env::temp_dir().join("evidentia_streamlines_check");
    std::fs::create_dir_all(&dir).unwrap();
    let s = sample();
    let aff = [
        [-2.0, 0.0, 0.0, 40.0],
        [0.0, 2.0, 0.0, -30.0],
        [0.0, 0.0, 2.5, -20.0],
    ];
    let mut trk = Vec::new();
    write_trk(
        &mut trk,
        &s,
        &TrkHeader::from_grid([20, 22, 18], &aff).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.join("rust.trk"), &trk).unwrap();
    let mut tck = Vec::new();
    write_tck(&mut tck, &s, &[]).unwrap();
    std::fs::write(dir.join("rust.tck"), &tck).unwrap();
    let lines: Vec<Vec<[f32; 3]>> = s.iter().map(|l| l.to_vec()).collect();
    let json = serde_json::json!({ "streamlines": lines });
    std::fs::write(dir.join("rust_expected.json"), json.to_string()).unwrap();
    assert_eq!(read_trk(&trk).unwrap().streamlines.len(), 3);
}
