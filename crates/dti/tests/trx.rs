//! TRX against trx-python 0.6 (fixtures from `tools/reference/make_trx_fixtures.py`):
//! a TRX written by trx-python is read with the same arrays, and the TRX this crate writes
//! from those arrays is byte-identical to `rust.trx`, which trx-python's loader accepted with
//! every array equal (recorded under `rust_trx_check` in `expected.json`).

use std::path::PathBuf;

use evidentia_dti::trx::{read_trx, write_trx};
use serde_json::Value;

mod common;

use common::{f32s, streamlines};

fn dir() -> PathBuf {
    common::fixture_dir("trx")
}

fn expected() -> Value {
    common::expected("trx")
}

fn groups(v: &Value) -> Vec<(String, Vec<u32>)> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, g)| {
            let idx = g
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i.as_u64().unwrap() as u32)
                .collect();
            (k.clone(), idx)
        })
        .collect()
}

#[test]
fn reads_a_trx_written_by_trx_python() {
    let e = expected();
    let w = &e["written_by_trx_python"];
    let t = read_trx(&std::fs::read(dir().join("trx_python.trx")).unwrap()).unwrap();
    // float32 values recorded as decimals of their exact f64 value: equal after the cast.
    assert_eq!(t.streamlines, streamlines(&w["streamlines"]));
    assert_eq!(t.streamlines.len(), 5);
    assert_eq!(t.dpv.len(), 2);
    for k in ["fa", "md"] {
        assert_eq!(t.dpv[k], f32s(&w["dpv"][k]), "{k}");
    }
    let g: Vec<(String, Vec<u32>)> = t.groups.into_iter().collect();
    assert_eq!(g, groups(&w["groups"]));
    assert_eq!(g.len(), 2);
    assert_eq!(t.header["DIMENSIONS"], w["header"]["DIMENSIONS"]);
    assert_eq!(t.header["NB_VERTICES"], w["header"]["NB_VERTICES"]);
}

#[test]
fn writes_the_trx_trx_python_loaded() {
    let e = expected();
    let w = &e["written_by_trx_python"];
    let s = streamlines(&w["streamlines"]);
    let dims: Vec<usize> = w["header"]["DIMENSIONS"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let a = &w["header"]["VOXEL_TO_RASMM"];
    let aff: [[f64; 4]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| a[i][j].as_f64().unwrap()));
    let (fa, md) = (f32s(&w["dpv"]["fa"]), f32s(&w["dpv"]["md"]));
    let g = groups(&w["groups"]);
    let gref: Vec<(&str, &[u32])> = g.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
    let bytes = write_trx(
        &s,
        [dims[0], dims[1], dims[2]],
        &aff,
        &[("fa", &fa), ("md", &md)],
        &gref,
    )
    .unwrap();
    // A fresh copy for `make_trx_fixtures.py --check` after a deliberate format change.
    let keep = std::env::temp_dir().join("evidentia_trx_fixture");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::write(keep.join("rust.trx"), &bytes).unwrap();
    let check = &e["rust_trx_check"];
    assert_eq!(check["result"], "OK", "trx-python's check is recorded");
    assert_eq!(check["groups"], w["groups"]);
    assert_eq!(
        bytes,
        std::fs::read(dir().join("rust.trx")).unwrap(),
        "the writer changed: rerun tools/reference/make_trx_fixtures.py --check on the new file"
    );
    // And our reader agrees with what trx-python read from it.
    let t = read_trx(&bytes).unwrap();
    assert_eq!(t.streamlines, s);
    assert_eq!(t.dpv["md"], md);
}
