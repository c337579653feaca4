//! BIDS discovery, filtering, derivative naming and metadata on a temporary BIDS-shaped
//! folder.

use std::path::Path;

use evidentia_dti::Volume;
use evidentia_dti::bids::{self, BidsFilter, MapSidecar};
use evidentia_dti::nifti::{self, WriteOptions};

fn touch(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn run_files(root: &Path, stem: &str, ext: &str, skip: &[&str]) {
    for (e, text) in [
        (ext, "image"),
        (".bval", "0 1000\n"),
        (".bvec", "0 1\n0 0\n0 0\n"),
        (".json", "{}\n"),
    ] {
        if !skip.contains(&e) {
            touch(root, &format!("{stem}{e}"), text);
        }
    }
}

fn dataset() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let r = d.path();
    touch(
        r,
        "dataset_description.json",
        "{\"Name\": \"t\", \"BIDSVersion\": \"1.10.0\"}",
    );
    run_files(r, "sub-01/dwi/sub-01_dwi", ".nii.gz", &[]);
    run_files(r, "sub-02/ses-a/dwi/sub-02_ses-a_dwi", ".nii", &[]);
    run_files(
        r,
        "sub-02/ses-b/dwi/sub-02_ses-b_dwi",
        ".nii.gz",
        &[".bvec", ".json"],
    );
    run_files(r, "sub-03/dwi/sub-03_acq-b1000_run-2_dwi", ".nii.gz", &[]);
    touch(r, "sub-03/dwi/sub-03_acq-b1000_run-2_sbref.nii.gz", "x");
    touch(r, "sub-03/anat/sub-03_T1w.nii.gz", "x");
    run_files(r, "sub-04/dwi/sub-05_dwi", ".nii.gz", &[]);
    touch(r, "derivatives/evidentia/sub-09/dwi/sub-09_dwi.nii.gz", "x");
    d
}

#[test]
fn discovers_runs_and_reports_incomplete_ones() {
    let d = dataset();
    let found = bids::discover(d.path(), &BidsFilter::default()).unwrap();
    let rel: Vec<&str> = found.runs.iter().map(|r| r.relative.as_str()).collect();
    assert_eq!(
        rel,
        vec![
            "sub-01/dwi/sub-01_dwi.nii.gz",
            "sub-02/ses-a/dwi/sub-02_ses-a_dwi.nii",
            "sub-03/dwi/sub-03_acq-b1000_run-2_dwi.nii.gz",
        ]
    );
    let r2 = &found.runs[1];
    assert_eq!(
        (r2.subject.as_str(), r2.session.as_deref()),
        ("02", Some("a"))
    );
    assert!(r2.bval.ends_with("sub-02_ses-a_dwi.bval"));
    assert!(r2.sidecar.ends_with("sub-02_ses-a_dwi.json"));
    let problems: Vec<String> = found.problems.iter().map(|e| e.to_string()).collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("sub-02_ses-b_dwi.nii.gz")
                && p.contains("sub-02_ses-b_dwi.bvec, sub-02_ses-b_dwi.json")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("sub-05_dwi.nii.gz") && p.contains("do not match")),
        "{problems:?}"
    );
}

#[test]
fn filters_by_participant_and_session() {
    let d = dataset();
    let f = BidsFilter {
        participants: vec!["sub-02".into(), "03".into()],
        sessions: vec![],
    };
    let found = bids::discover(d.path(), &f).unwrap();
    let subs: Vec<&str> = found.runs.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subs, vec!["02", "03"]);
    assert_eq!(found.problems.len(), 1); // sub-02 ses-b is incomplete

    let f = BidsFilter {
        participants: vec![],
        sessions: vec!["ses-a".into()],
    };
    let found = bids::discover(d.path(), &f).unwrap();
    assert_eq!(found.runs.len(), 1);
    assert_eq!(found.runs[0].session.as_deref(), Some("a"));
    assert!(found.problems.is_empty());

    let f = BidsFilter {
        participants: vec!["42".into()],
        sessions: vec![],
    };
    let found = bids::discover(d.path(), &f).unwrap();
    assert!(found.runs.is_empty());
    assert!(found.problems[0].to_string().contains("'42'"));

    assert!(bids::discover(&d.path().join("nope"), &BidsFilter::default()).is_err());
}

#[test]
fn derivative_names_metadata_and_a_written_map() {
    let d = dataset();
    let found = bids::discover(d.path(), &BidsFilter::default()).unwrap();
    let out = bids::default_derivatives_root(d.path());
    let run3 = &found.runs[2];
    assert_eq!(
        run3.tensor_map_path(&out, "fa"),
        out.join("sub-03/dwi/sub-03_acq-b1000_run-2_model-tensor_param-fa_dwimap.nii.gz")
    );
    let run2 = &found.runs[1];
    assert_eq!(
        run2.tensor_map_path(&out, "md"),
        out.join("sub-02/ses-a/dwi/sub-02_ses-a_model-tensor_param-md_dwimap.nii.gz")
    );
    // Extra entities replace ones of the same key, keeping the input order otherwise.
    assert_eq!(
        run3.derivative_name(&[("run", "9"), ("desc", "brain")], "mask", ".nii.gz"),
        "sub-03_acq-b1000_run-9_desc-brain_mask.nii.gz"
    );
    assert_eq!(
        run2.source_uris(),
        vec![
            "bids:raw:sub-02/ses-a/dwi/sub-02_ses-a_dwi.nii",
            "bids:raw:sub-02/ses-a/dwi/sub-02_ses-a_dwi.bval",
            "bids:raw:sub-02/ses-a/dwi/sub-02_ses-a_dwi.bvec",
        ]
    );

    let desc = bids::write_dataset_description(&out, "0.1.0").unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(desc).unwrap()).unwrap();
    assert_eq!(v["DatasetType"], "derivative");
    assert_eq!(v["GeneratedBy"][0]["Name"], "Evidentia");
    assert_eq!(v["GeneratedBy"][0]["Version"], "0.1.0");
    assert_eq!(v["BIDSVersion"], bids::BIDS_VERSION);

    // A map and its sidecar in the derivative tree.
    let map = run2.tensor_map_path(&out, "fa");
    std::fs::create_dir_all(map.parent().unwrap()).unwrap();
    let aff = [
        [2.0, 0.0, 0.0, 0.0],
        [0.0, 2.0, 0.0, 0.0],
        [0.0, 0.0, 2.0, 0.0],
    ];
    let vol = Volume::new([2, 2, 1, 1], aff, vec![0.1f32, 0.2, 0.3, 0.4]).unwrap();
    nifti::write(&map, &vol, &WriteOptions::default()).unwrap();
    assert_eq!(nifti::read(&map).unwrap().1, vol);
    let side = MapSidecar::for_run(
        run2,
        "Fractional anisotropy",
        None,
        serde_json::json!({"method": "wls"}),
    )
    .unwrap();
    let side_path = bids::sidecar_path(&map);
    bids::write_json(&side_path, &side).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&side_path).unwrap()).unwrap();
    assert!(side_path.ends_with("sub-02_ses-a_model-tensor_param-fa_dwimap.json"));
    assert_eq!(v["Parameters"]["method"], "wls");
    assert_eq!(
        v["SourceSHA256"]["bids:raw:sub-02/ses-a/dwi/sub-02_ses-a_dwi.nii"],
        // printf 'image' | sha256sum
        "6105d6cc76af400325e94d588ce511be5bfdbb73b437dc51eca43917d7a43e3d"
    );
    assert_eq!(
        v["SourceSHA256"]["bids:raw:sub-02/ses-a/dwi/sub-02_ses-a_dwi.bval"],
        // printf '0 1000\n' | sha256sum
        "b8f322e7309f38a9e8decc7ad13d79576c16f1169d8d6f27ab903d23f55d99df"
    );
}
