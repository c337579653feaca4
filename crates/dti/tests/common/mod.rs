//! Fixture readers shared by the streamline-format tests (`trx.rs`, `trk_scalars.rs`).
#![allow(dead_code)]

use std::path::PathBuf;

use evidentia_dti::Streamlines;
use serde_json::Value;

/// `tests/fixtures/dti/<name>`.
pub fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dti")
        .join(name)
}

/// `expected.json` of a fixture folder.
pub fn expected(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixture_dir(name).join("expected.json")).unwrap())
        .unwrap()
}

/// A JSON array of numbers as f32.
pub fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// A JSON array of streamlines (arrays of [x, y, z]).
pub fn streamlines(v: &Value) -> Streamlines {
    let mut s = Streamlines::default();
    for line in v.as_array().unwrap() {
        let pts: Vec<[f32; 3]> = line
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                let p = f32s(p);
                [p[0], p[1], p[2]]
            })
            .collect();
        s.push(&pts);
    }
    s
}
