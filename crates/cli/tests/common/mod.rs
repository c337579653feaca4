//! Helpers shared by the end-to-end tests of the `evidentia` binary.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs the binary with `args`.
pub fn evidentia(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evidentia"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs the binary with `args --json`, asserts success and parses stdout.
pub fn json(args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = evidentia(&a);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

/// Writes `content` to a fresh file named `name` in a per-test directory.
pub fn file(test: &str, name: &str, content: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evidentia-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// Asserts exit code 2, no panic, and that stderr contains each needle.
pub fn fails_with(args: &[&str], needles: &[&str]) {
    let out = evidentia(args);
    assert_eq!(out.status.code(), Some(2), "{args:?} should exit 2");
    let err = String::from_utf8_lossy(&out.stderr);
    for n in needles {
        assert!(err.contains(n), "{args:?}: stderr {err:?} lacks {n:?}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

/// A fixture of the meta crate (crates/meta/tests/fixtures/meta/NAME).
pub fn meta_fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../meta/tests/fixtures/meta")
        .join(name)
        .display()
        .to_string()
}

/// A fresh, empty per-test directory.
pub fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("evidentia-cli-dir-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A path as &str.
pub fn s(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// The example analysis plan `examples/NAME/plan.toml`.
pub fn plan(name: &str) -> String {
    let p =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../../examples/{name}/plan.toml"));
    p.to_str().unwrap().to_string()
}
