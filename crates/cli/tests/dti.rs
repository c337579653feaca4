//! End-to-end tests of `evidentia dti ...` on phantoms written by the dti crate.

mod common;

use std::path::{Path, PathBuf};

use common::{evidentia, fails_with, json};
use evidentia_dti::Volume;
use evidentia_dti::gradients::{GradientOptions, GradientTable};
use evidentia_dti::maps;
use evidentia_dti::mask::{MedianOtsuOptions, median_otsu};
use evidentia_dti::nifti::{self, WriteOptions};
use evidentia_dti::phantom::{Phantom, PhantomOptions, generate};
use evidentia_dti::tensor::{FitMethod, FitOptions, fit_tensors};

fn tmp(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("evidentia-dti-cli-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn phantom(dims: [usize; 3]) -> Phantom {
    generate(&PhantomOptions {
        dims,
        n_b0: 3,
        n_dirs: 30,
        corruptions: vec![],
        ..Default::default()
    })
    .unwrap()
}

/// Writes `<dir>/<stem>.nii.gz`, `.bval`, `.bvec` (x negated when `flip_x`); returns the paths.
fn write_phantom(ph: &Phantom, dir: &Path, stem: &str, flip_x: bool) -> [PathBuf; 3] {
    let [nx, ny, nz] = ph.dims;
    let (n, nt) = (nx * ny * nz, ph.bvals.len());
    let mut data = vec![0f32; n * nt];
    for i in 0..n {
        for t in 0..nt {
            data[t * n + i] = ph.signals[i * nt + t];
        }
    }
    let vol = Volume::new([nx, ny, nz, nt], ph.affine, data).unwrap();
    let dwi = dir.join(format!("{stem}.nii.gz"));
    nifti::write(&dwi, &vol, &WriteOptions::default()).unwrap();
    let bval = dir.join(format!("{stem}.bval"));
    let bvec = dir.join(format!("{stem}.bvec"));
    let b: Vec<String> = ph.bvals.iter().map(|b| b.to_string()).collect();
    std::fs::write(&bval, b.join(" ") + "\n").unwrap();
    let rows: Vec<String> = (0..3)
        .map(|k| {
            ph.bvecs
                .iter()
                .map(|g| {
                    let v = if k == 0 && flip_x { -g[0] } else { g[k] };
                    format!("{v:.8}")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&bvec, rows.join("\n") + "\n").unwrap();
    [dwi, bval, bvec]
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn files_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => vec![],
    }
}

#[test]
fn fit_matches_the_library_then_track_and_tract_stats() {
    let dir = tmp("fit");
    let ph = phantom([20, 20, 10]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "dwi", false);
    let out = dir.join("fit");
    let v = json(&[
        "dti",
        "fit",
        "--dwi",
        &s(&dwi),
        "--bval",
        &s(&bval),
        "--bvec",
        &s(&bvec),
        "--method",
        "wls",
        "--out",
        &s(&out),
        "--check-gradients",
    ]);
    for k in [
        "voxels_fitted",
        "voxels_failed",
        "method",
        "files",
        "gradient_check",
        "gradients",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["method"], "wls");
    assert_eq!(v["files"]["fa"], "dti_FA.nii.gz");
    assert!(v["gradient_check"]["given_is_best"].is_boolean());
    assert!(v["voxels_fitted"].as_u64().unwrap() > 500);
    assert_eq!(v["voxels_failed"], 0);
    for f in [
        "dti_FA",
        "dti_MD",
        "dti_AD",
        "dti_RD",
        "dti_L1",
        "dti_L2",
        "dti_L3",
        "dti_V1",
        "dti_colorFA",
        "dti_MO",
        "dti_tensor",
        "dti_mask",
    ] {
        assert!(out.join(format!("{f}.nii.gz")).exists(), "{f} missing");
    }
    assert!(out.join("dti_summary.json").exists());
    assert!(
        !files_in(&out).iter().any(|f| f.starts_with('.')),
        "{:?}",
        files_in(&out)
    );

    // The same computation through the library: identical FA, same affine.
    let (_, img) = nifti::read(&dwi).unwrap();
    let signals = img.to_voxel_major();
    let g = GradientTable::from_fsl_files(&bval, &bvec, &GradientOptions::default()).unwrap();
    let n = ph.dims.iter().product::<usize>();
    let mask = median_otsu(
        &signals,
        ph.dims,
        g.len(),
        &g.b0_indices(),
        &MedianOtsuOptions::default(),
    )
    .unwrap();
    let fit = fit_tensors(
        &signals,
        n,
        &g,
        Some(&mask),
        &FitOptions::with_method(FitMethod::Wls),
    )
    .unwrap();
    let fa = maps::fa(&fit);
    let (_, fa_file) = nifti::read(&out.join("dti_FA.nii.gz")).unwrap();
    assert_eq!(fa_file.data(), &fa[..]);
    assert_eq!(fa_file.affine(), img.affine());
    assert_eq!(
        v["voxels_fitted"].as_u64().unwrap() as usize,
        fit.voxels_fitted
    );
    let (_, mask_file) = nifti::read(&out.join("dti_mask.nii.gz")).unwrap();
    let m: Vec<bool> = mask_file.data().iter().map(|&x| x != 0.0).collect();
    assert_eq!(m, mask);
    let (_, v1) = nifti::read(&out.join("dti_V1.nii.gz")).unwrap();
    assert_eq!(v1.dims()[3], 3);
    let (_, t) = nifti::read(&out.join("dti_tensor.nii.gz")).unwrap();
    assert_eq!(t.dims()[3], 6);

    // Tracking (two tractograms named as a left/right pair) and tract metrics.
    let tensor = s(&out.join("dti_tensor.nii.gz"));
    let mask_p = s(&out.join("dti_mask.nii.gz"));
    let left = dir.join("bundle_left.trk");
    let right = dir.join("bundle_right.tck");
    let t1 = json(&[
        "dti",
        "track",
        "--tensor",
        &tensor,
        "--mask",
        &mask_p,
        "--fa-threshold",
        "0.2",
        "--angle",
        "50",
        "--step",
        "0.5",
        "--seed-spacing",
        "2",
        "--out",
        &s(&left),
        "--threads",
        "2",
    ]);
    assert!(t1["streamlines"].as_u64().unwrap() > 0, "{t1}");
    assert_eq!(t1["hemisphere"], "left");
    assert_eq!(t1["tracking"]["params"]["angle_deg"], 50.0);
    let t2 = json(&[
        "dti",
        "track",
        "--tensor",
        &tensor,
        "--mask",
        &mask_p,
        "--seed-spacing",
        "3",
        "--out",
        &s(&right),
        "--threads",
        "1",
    ]);
    assert!(t2["streamlines"].as_u64().unwrap() > 0, "{t2}");
    // Same seeds and parameters give the same tractogram on any thread count.
    let again = dir.join("again_left.trk");
    json(&[
        "dti",
        "track",
        "--tensor",
        &tensor,
        "--mask",
        &mask_p,
        "--fa-threshold",
        "0.2",
        "--angle",
        "50",
        "--step",
        "0.5",
        "--seed-spacing",
        "2",
        "--out",
        &s(&again),
        "--threads",
        "1",
    ]);
    assert_eq!(
        std::fs::read(&left).unwrap(),
        std::fs::read(&again).unwrap()
    );

    let st = json(&[
        "dti",
        "tract-stats",
        "--tracts",
        &format!("{},{}", s(&left), s(&right)),
        "--maps",
        &s(&out),
    ]);
    let tracts = st["tracts"].as_array().unwrap();
    assert_eq!(tracts.len(), 2);
    for t in tracts {
        for k in [
            "name",
            "hemisphere",
            "streamlines",
            "mean_length_mm",
            "volume_mm3",
            "fa_points",
            "fa_voxels",
            "md_points",
            "md_voxels",
        ] {
            assert!(t.get(k).is_some(), "missing {k}: {t}");
        }
        let fa = t["fa_points"].as_f64().unwrap();
        assert!(fa > 0.2 && fa < 1.0, "{fa}");
    }
    assert_eq!(tracts[0]["streamlines"], t1["streamlines"]);
    let asym = &st["asymmetry"][0];
    for k in ["rfa", "fna", "most_affected"] {
        assert!(asym.get(k).is_some(), "missing {k}: {st}");
    }
    let (nl, nr) = (
        t1["streamlines"].as_f64().unwrap(),
        t2["streamlines"].as_f64().unwrap(),
    );
    assert!((asym["fna"].as_f64().unwrap() - (nl - nr) / (nl + nr)).abs() < 1e-12);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_exit_2_with_the_file_named_and_no_outputs() {
    let dir = tmp("bad");
    let ph = phantom([8, 8, 6]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "dwi", false);
    // Truncated .nii.gz.
    let bytes = std::fs::read(&dwi).unwrap();
    let cut = dir.join("cut.nii.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = dir.join("out_cut");
    let o = evidentia(&[
        "dti",
        "fit",
        "--dwi",
        &s(&cut),
        "--bval",
        &s(&bval),
        "--bvec",
        &s(&bvec),
        "--out",
        &s(&out),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cut.nii.gz"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));

    // Image and gradients disagree.
    let short = dir.join("short.bval");
    let b: Vec<String> = ph.bvals[..ph.bvals.len() - 1]
        .iter()
        .map(|b| b.to_string())
        .collect();
    std::fs::write(&short, b.join(" ")).unwrap();
    let sv = dir.join("short.bvec");
    let rows: Vec<String> = (0..3)
        .map(|k| {
            ph.bvecs[..ph.bvecs.len() - 1]
                .iter()
                .map(|g| g[k].to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&sv, rows.join("\n")).unwrap();
    let out2 = dir.join("out_dims");
    common::fails_with(
        &[
            "dti",
            "fit",
            "--dwi",
            &s(&dwi),
            "--bval",
            &s(&short),
            "--bvec",
            &s(&sv),
            "--out",
            &s(&out2),
        ],
        &[
            "dwi.nii.gz",
            "33 volumes",
            "short.bval",
            "32 b-values",
            "do not match",
        ],
    );
    assert!(files_in(&out2).is_empty());

    // All b-values zero.
    let zeros = dir.join("zero.bval");
    std::fs::write(&zeros, vec!["0"; ph.bvals.len()].join(" ")).unwrap();
    common::fails_with(
        &[
            "dti",
            "fit",
            "--dwi",
            &s(&dwi),
            "--bval",
            &s(&zeros),
            "--bvec",
            &s(&bvec),
            "--out",
            &s(&dir.join("o3")),
        ],
        &["zero.bval", "no diffusion weighting"],
    );
    // Bad tractogram extension.
    common::fails_with(
        &[
            "dti",
            "track",
            "--tensor",
            &s(&dwi),
            "--out",
            &s(&dir.join("x.txt")),
        ],
        &[".trk, .tck or .trx"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bids_run_continues_after_a_broken_participant() {
    let dir = tmp("bids");
    let root = dir.join("bids");
    let ph = phantom([10, 10, 6]);
    for sub in ["01", "02"] {
        let d = root.join(format!("sub-{sub}")).join("dwi");
        std::fs::create_dir_all(&d).unwrap();
        let stem = format!("sub-{sub}_dwi");
        let [dwi, ..] = write_phantom(&ph, &d, &stem, false);
        std::fs::write(d.join(format!("{stem}.json")), "{}").unwrap();
        if sub == "02" {
            let b = std::fs::read(&dwi).unwrap();
            std::fs::write(&dwi, &b[..b.len() / 3]).unwrap();
        }
    }
    std::fs::write(
        root.join("dataset_description.json"),
        r#"{"Name":"x","BIDSVersion":"1.10.0"}"#,
    )
    .unwrap();
    let out = dir.join("deriv");
    let o = evidentia(&[
        "dti",
        "run",
        &s(&root),
        &s(&out),
        "participant",
        "--participant-label",
        "01",
        "02",
        "--method",
        "ols",
        "--skip-gradient-check",
        "--json",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["succeeded"], 1);
    assert_eq!(v["failed"], 1);
    assert_eq!(v["runs"][0]["status"], "ok");
    assert_eq!(v["runs"][1]["status"], "failed");
    assert!(
        v["runs"][1]["error"]
            .as_str()
            .unwrap()
            .contains("sub-02_dwi.nii.gz")
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("1 of 2 runs failed"), "{err}");
    assert!(out.join("dataset_description.json").exists());
    let d1 = out.join("sub-01").join("dwi");
    let fa = d1.join("sub-01_model-tensor_param-fa_dwimap.nii.gz");
    assert!(fa.exists(), "{:?}", files_in(&d1));
    let side: serde_json::Value = serde_json::from_slice(
        &std::fs::read(d1.join("sub-01_model-tensor_param-fa_dwimap.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(side["Parameters"]["FitMethod"], "ols");
    assert_eq!(side["SourceSHA256"].as_object().unwrap().len(), 3);
    assert!(d1.join("sub-01_desc-brain_mask.nii.gz").exists());
    assert!(files_in(&out.join("sub-02").join("dwi")).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn check_gradients_detects_a_flipped_x() {
    let dir = tmp("gradcheck");
    let ph = phantom([48, 48, 30]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "flipped", true);
    let v = json(&[
        "dti",
        "check-gradients",
        "--dwi",
        &s(&dwi),
        "--bval",
        &s(&bval),
        "--bvec",
        &s(&bvec),
        "--max-seeds",
        "400",
    ]);
    assert_eq!(v["combinations"].as_array().unwrap().len(), 24);
    assert_eq!(v["given_is_best"], false, "{v}");
    assert_eq!(v["best_label"], "xyz, flip -x");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Asserts two JSON values are equal, numbers within `rel` relative difference.
fn close_json(a: &serde_json::Value, b: &serde_json::Value, rel: f64) {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= rel * x.abs().max(y.abs()), "{x} vs {y}");
        }
        (V::Array(x), V::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter().zip(y).for_each(|(x, y)| close_json(x, y, rel));
        }
        (V::Object(x), V::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
            x.iter().for_each(|(k, v)| close_json(v, &y[k], rel));
        }
        _ => assert_eq!(a, b),
    }
}

/// Writes a BIDS dataset with one phantom run per (subject, session).
fn write_bids(root: &Path, runs: &[(&str, Option<&str>)], ph: &Phantom) {
    for (sub, ses) in runs {
        let mut d = root.join(format!("sub-{sub}"));
        let mut stem = format!("sub-{sub}");
        if let Some(s) = ses {
            d = d.join(format!("ses-{s}"));
            stem = format!("{stem}_ses-{s}");
        }
        let d = d.join("dwi");
        std::fs::create_dir_all(&d).unwrap();
        let stem = format!("{stem}_dwi");
        write_phantom(ph, &d, &stem, false);
        std::fs::write(d.join(format!("{stem}.json")), "{}").unwrap();
    }
    std::fs::write(
        root.join("dataset_description.json"),
        r#"{"Name":"x","BIDSVersion":"1.10.0"}"#,
    )
    .unwrap();
}

#[test]
fn bids_run_tracks_tracts_and_group_gathers_measurements() {
    let dir = tmp("bids-tracts");
    let root = dir.join("bids");
    let ph = phantom([20, 20, 10]);
    write_bids(
        &root,
        &[
            ("01", Some("baseline")),
            ("01", Some("T4")),
            ("02", Some("baseline")),
        ],
        &ph,
    );
    // Whole-volume "tracts" (no ROIs) with different seed grids, so left and right differ.
    let tdir = dir.join("tracts");
    std::fs::create_dir_all(&tdir).unwrap();
    for (name, hemi, spacing) in [("bundle_left", "left", 2.0), ("bundle_right", "right", 3.0)] {
        std::fs::write(
            tdir.join(format!("{name}.toml")),
            format!(
                "name = \"{name}\"\nhemisphere = \"{hemi}\"\n[params]\nseed_spacing_mm = {spacing}\n"
            ),
        )
        .unwrap();
    }
    let out = dir.join("deriv");
    let base = [
        "dti",
        "run",
        &s(&root),
        &s(&out),
        "participant",
        "--method",
        "ols",
        "--skip-gradient-check",
    ];
    let mut args = base.to_vec();
    let tdir_s = s(&tdir);
    args.extend(["--participant-label", "01", "--tracts", &tdir_s]);
    let v = json(&args);
    assert_eq!(v["succeeded"], 2, "{v}");
    // sub-02 is fitted without tracts: the group step must report it.
    let mut args = base.to_vec();
    args.extend(["--participant-label", "02"]);
    json(&args);

    let d = out.join("sub-01").join("ses-baseline").join("dwi");
    let trk = d.join("sub-01_ses-baseline_desc-bundleLeft_tractography.trk");
    assert!(trk.exists(), "{:?}", files_in(&d));
    let stats_p = d.join("sub-01_ses-baseline_tractstats.json");
    let stats: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stats_p).unwrap()).unwrap();

    // The tractogram equals `dti track` on the written tensor and mask with the same definition.
    let again = dir.join("again.trk");
    json(&[
        "dti",
        "track",
        "--tensor",
        &s(&d.join("sub-01_ses-baseline_model-tensor_param-tensor_dwimap.nii.gz")),
        "--mask",
        &s(&d.join("sub-01_ses-baseline_desc-brain_mask.nii.gz")),
        "--tract",
        &s(&tdir.join("bundle_left.toml")),
        "--out",
        &s(&again),
    ]);
    assert_eq!(std::fs::read(&trk).unwrap(), std::fs::read(&again).unwrap());
    let left_trk = evidentia_dti::streamlines::read_trk(&std::fs::read(&trk).unwrap()).unwrap();
    let names: Vec<&str> = left_trk.scalars.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["fa", "md"]);

    // One TRX holds every tract, one group each (definition order), with per-point FA/MD
    // equal to the TRK scalars; `dti track --tract` on one definition gives its group.
    let all = d.join("sub-01_ses-baseline_tractography.trx");
    let t = evidentia_dti::trx::read_trx(&std::fs::read(&all).unwrap()).unwrap();
    let right_trk = evidentia_dti::streamlines::read_trk(
        &std::fs::read(d.join("sub-01_ses-baseline_desc-bundleRight_tractography.trk")).unwrap(),
    )
    .unwrap();
    let (nl, nr) = (left_trk.streamlines.len(), right_trk.streamlines.len());
    assert!(nl > 0 && nr > 0 && nl != nr, "{nl} {nr}");
    assert_eq!(t.streamlines.len(), nl + nr);
    assert_eq!(t.groups.len(), 2);
    assert_eq!(t.groups["bundle_left"], (0..nl as u32).collect::<Vec<_>>());
    assert_eq!(
        t.groups["bundle_right"],
        (nl as u32..(nl + nr) as u32).collect::<Vec<_>>()
    );
    let mut fa = left_trk.scalars[0].1.clone();
    fa.extend(&right_trk.scalars[0].1);
    assert_eq!(t.dpv["fa"], fa);
    let one = dir.join("bundle_left.trx");
    let v = json(&[
        "dti",
        "track",
        "--tensor",
        &s(&d.join("sub-01_ses-baseline_model-tensor_param-tensor_dwimap.nii.gz")),
        "--mask",
        &s(&d.join("sub-01_ses-baseline_desc-brain_mask.nii.gz")),
        "--tract",
        &s(&tdir.join("bundle_left.toml")),
        "--out",
        &s(&one),
    ]);
    assert_eq!(v["groups"], serde_json::json!(["bundle_left"]));
    let t1 = evidentia_dti::trx::read_trx(&std::fs::read(&one).unwrap()).unwrap();
    assert_eq!(t1.groups.len(), 1);
    assert_eq!(t1.groups["bundle_left"], t.groups["bundle_left"]);
    assert_eq!(t1.dpv["md"][..], t.dpv["md"][..t1.streamlines.n_points()]);

    // The statistics equal `dti tract-stats` on the written tractograms and maps.
    let maps = dir.join("maps");
    std::fs::create_dir_all(&maps).unwrap();
    for (k, stem) in [
        ("fa", "dti_FA"),
        ("md", "dti_MD"),
        ("ad", "dti_AD"),
        ("rd", "dti_RD"),
    ] {
        std::fs::copy(
            d.join(format!(
                "sub-01_ses-baseline_model-tensor_param-{k}_dwimap.nii.gz"
            )),
            maps.join(format!("{stem}.nii.gz")),
        )
        .unwrap();
    }
    let right = d.join("sub-01_ses-baseline_desc-bundleRight_tractography.trk");
    let st = json(&[
        "dti",
        "tract-stats",
        "--tracts",
        &format!("{},{}", s(&trk), s(&right)),
        "--maps",
        &s(&maps),
    ]);
    // Equal but for the TRK's float32 voxel-mm rounding of the points (stats come from the
    // streamlines in memory): counts and voxel averages exact, point averages to 1e-7.
    close_json(&st["tracts"], &stats["tracts"], 1e-7);
    close_json(&st["asymmetry"], &stats["asymmetry"], 1e-7);
    assert_eq!(
        st["tracts"][0]["fa_voxels"],
        stats["tracts"][0]["fa_voxels"]
    );
    assert_eq!(
        st["tracts"][1]["streamlines"],
        stats["tracts"][1]["streamlines"]
    );
    let left_n = stats["tracts"][0]["streamlines"].as_u64().unwrap();
    assert!(left_n > 0, "{stats}");

    // Group level: without a time for T4 it fails and names the file.
    let group = |extra: &[&str]| {
        let mut a = vec!["dti", "run", &s(&root), &s(&out), "group"]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let a = group(&[]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails_with(&a, &["sub-01_ses-T4_tractstats.json", "--visit-time T4="]);
    let a = group(&["--visit-time", "baseline=0,T4=12"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let g = json(&a);
    let missing = g["runs_without_tract_stats"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{g}");
    assert!(missing[0].as_str().unwrap().contains("sub-02"));
    let csv = std::fs::read_to_string(out.join("group").join("measurements.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("participant_id,visit,time,outcome,value")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let get = |visit: &str, outcome: &str| -> f64 {
        let r: Vec<&Vec<&str>> = rows
            .iter()
            .filter(|r| r[0] == "01" && r[1] == visit && r[3] == outcome)
            .collect();
        assert_eq!(r.len(), 1, "{visit} {outcome}: {csv}");
        r[0][4].parse().unwrap()
    };
    let t = &stats["tracts"];
    let (fl, fr) = (
        t[0]["fa_points"].as_f64().unwrap(),
        t[1]["fa_points"].as_f64().unwrap(),
    );
    assert_eq!(get("baseline", "bundle_left_fa"), fl);
    assert_eq!(get("baseline", "bundle_right_fa"), fr);
    assert_eq!(get("baseline", "bundle_fa"), fl.min(fr));
    let ml = t[0]["md_points"].as_f64().unwrap();
    assert!((get("baseline", "bundle_left_md") - ml * 1e3).abs() < 1e-12);
    assert_eq!(
        get("baseline", "bundle_fna"),
        stats["asymmetry"][0]["fna"].as_f64().unwrap()
    );
    // Same phantom at both visits: same values, times from --visit-time.
    assert_eq!(get("T4", "bundle_fa"), fl.min(fr));
    assert!(
        rows.iter()
            .any(|r| r[1] == "T4" && r[2].parse::<f64>() == Ok(12.0))
    );
    // 2 sides × (fa, md) + (fa, md, rfa, fna) per visit.
    assert_eq!(rows.len(), 2 * 8, "{csv}");
    // Trial ids from a column of participants.tsv (BIDS labels cannot hold hyphens).
    std::fs::write(
        root.join("participants.tsv"),
        "participant_id\ttrial_id\nsub-01\tCP-001\nsub-02\tCP-002\n",
    )
    .unwrap();
    let a = group(&[
        "--visit-time",
        "baseline=0,T4=12",
        "--id-column",
        "trial_id",
    ]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    json(&a);
    let mapped = std::fs::read_to_string(out.join("group").join("measurements.csv")).unwrap();
    assert_eq!(mapped, csv.replace("\n01,", "\nCP-001,"));
    std::fs::write(
        root.join("participants.tsv"),
        "participant_id\ttrial_id\nsub-02\tCP-002\n",
    )
    .unwrap();
    fails_with(&a, &["participants.tsv", "sub-01 has no row"]);
    let a = group(&["--visit-time", "baseline=0,T4=12", "--id-column", "nope"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails_with(&a, &["participants.tsv", "nope"]);
    // Back to subject labels for the rest of the test.
    let a = group(&["--visit-time", "baseline=0,T4=12"]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    json(&a);
    // The table passes the trial dataset's validation as it is.
    let trial = dir.join("trial");
    std::fs::create_dir_all(&trial).unwrap();
    std::fs::copy(
        out.join("group").join("measurements.csv"),
        trial.join("measurements.csv"),
    )
    .unwrap();
    std::fs::write(
        trial.join("participants.csv"),
        "participant_id,arm,site,randomization_date,disposition,last_visit,disposition_reason\n\
         01,A,s1,2024-01-02,completed,T4,\n02,B,s1,2024-01-03,completed,T4,\n",
    )
    .unwrap();
    std::fs::write(
        trial.join("adverse_events.csv"),
        "participant_id,term,onset_day,severity,serious,related\n",
    )
    .unwrap();
    let mut plan = String::from(
        "[trial]\nname = \"t\"\ntime_unit = \"months\"\n[analysis]\nalpha = 0.05\neffect_size = \"cohen_d\"\nprofile = \"spss\"\noutput_formats = [\"json\"]\n\
         [[arms]]\nname = \"A\"\ncontrol = true\n[[arms]]\nname = \"B\"\n\
         [[visits]]\nlabel = \"baseline\"\ntime = 0\nbaseline = true\n\
         [[visits]]\nlabel = \"T4\"\ntime = 12\n\
         [missing_data]\nmethod = \"complete_case\"\n",
    );
    for (o, lo, hi) in [
        ("bundle_fa", 0.0, 1.0),
        ("bundle_md", 0.0, 5.0),
        ("bundle_rfa", 0.0, 10.0),
        ("bundle_fna", -1.0, 1.0),
        ("bundle_left_fa", 0.0, 1.0),
        ("bundle_left_md", 0.0, 5.0),
        ("bundle_right_fa", 0.0, 1.0),
        ("bundle_right_md", 0.0, 5.0),
    ] {
        let role = if o == "bundle_fa" {
            "primary"
        } else {
            "secondary"
        };
        plan.push_str(&format!(
            "[[outcomes]]\nname = \"{o}\"\nlabel = \"{o}\"\nunit = \"1\"\nrange = [{lo:?}, {hi:?}]\nbenefit = \"higher\"\nrole = \"{role}\"\n\
             analysis = {{ method = \"paired_by_visit\", test = \"t\" }}\n"
        ));
    }
    std::fs::write(trial.join("plan.toml"), plan).unwrap();
    let o = evidentia(&[
        "trial",
        "validate",
        "--data",
        &s(&trial),
        "--plan",
        &s(&trial.join("plan.toml")),
    ]);
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn track_writes_trx_with_per_point_fa() {
    let dir = tmp("trx");
    let ph = phantom([20, 20, 10]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "dwi", false);
    let out = dir.join("fit");
    json(&[
        "dti",
        "fit",
        "--dwi",
        &s(&dwi),
        "--bval",
        &s(&bval),
        "--bvec",
        &s(&bvec),
        "--method",
        "ols",
        "--out",
        &s(&out),
    ]);
    let tensor = s(&out.join("dti_tensor.nii.gz"));
    let mask = s(&out.join("dti_mask.nii.gz"));
    let (trx, tck) = (dir.join("b_left.trx"), dir.join("b_left.tck"));
    let (trk, plain) = (dir.join("b_left.trk"), dir.join("b_plain.trk"));
    for p in [&trx, &tck, &trk] {
        json(&[
            "dti",
            "track",
            "--tensor",
            &tensor,
            "--mask",
            &mask,
            "--seed-spacing",
            "3",
            "--out",
            &s(p),
        ]);
    }
    json(&[
        "dti",
        "track",
        "--tensor",
        &tensor,
        "--mask",
        &mask,
        "--seed-spacing",
        "3",
        "--no-scalars",
        "--out",
        &s(&plain),
    ]);
    fails_with(
        &[
            "dti",
            "track",
            "--tensor",
            &tensor,
            "--no-scalars",
            "--out",
            &s(&tck),
        ],
        &["--no-scalars", ".trk"],
    );
    let t = evidentia_dti::trx::read_trx(&std::fs::read(&trx).unwrap()).unwrap();
    let c = evidentia_dti::streamlines::read_tck(&std::fs::read(&tck).unwrap()).unwrap();
    assert!(!t.streamlines.is_empty());
    // No --tract: no groups. TRK scalars are the TRX per-point values; --no-scalars gives
    // the same points without them.
    assert!(t.groups.is_empty());
    let k = evidentia_dti::streamlines::read_trk(&std::fs::read(&trk).unwrap()).unwrap();
    let p = evidentia_dti::streamlines::read_trk(&std::fs::read(&plain).unwrap()).unwrap();
    assert_eq!(k.scalars[0], ("fa".to_string(), t.dpv["fa"].clone()));
    assert_eq!(k.scalars[1], ("md".to_string(), t.dpv["md"].clone()));
    assert!(p.scalars.is_empty() && p.header.n_scalars == 0);
    assert_eq!(p.streamlines, k.streamlines);
    // Same float32 world points as the TCK, bit for bit.
    assert_eq!(t.streamlines, c.streamlines);
    assert_eq!(t.header["NB_VERTICES"], t.streamlines.n_points());
    assert_eq!(t.header["DIMENSIONS"], serde_json::json!([20, 20, 10]));
    let fa = &t.dpv["fa"];
    assert_eq!(fa.len(), t.streamlines.n_points());
    // Tracking stops below FA 0.2 (interpolated), so every stored point but the last of each
    // half is above it; the mean is well above.
    let mean = fa.iter().map(|&x| f64::from(x)).sum::<f64>() / fa.len() as f64;
    assert!(mean > 0.3 && mean < 1.0, "{mean}");
    assert!(t.dpv["md"].iter().all(|m| m.is_finite() && *m > 0.0));
    // tract-stats reads TRX like TCK.
    let a = json(&[
        "dti",
        "tract-stats",
        "--tracts",
        &s(&trx),
        "--maps",
        &s(&out),
    ]);
    let b = json(&[
        "dti",
        "tract-stats",
        "--tracts",
        &s(&tck),
        "--maps",
        &s(&out),
    ]);
    assert_eq!(a["tracts"], b["tracts"]);
    // Kept for `python tools/reference/check_trx.py $TMP/evidentia_trx_check` (trx-python).
    let keep = std::env::temp_dir().join("evidentia_trx_check");
    std::fs::create_dir_all(&keep).unwrap();
    std::fs::copy(&trx, keep.join("rust.trx")).unwrap();
    std::fs::copy(&tck, keep.join("rust.tck")).unwrap();
    // A damaged file is an error naming it, not a panic.
    let bytes = std::fs::read(&trx).unwrap();
    let bad = dir.join("bad.trx");
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(
        &[
            "dti",
            "tract-stats",
            "--tracts",
            &s(&bad),
            "--maps",
            &s(&out),
        ],
        &["bad.trx"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fit_maps_writes_only_the_selected_maps() {
    let dir = tmp("fit-maps");
    let ph = phantom([12, 12, 6]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "dwi", false);
    let (dwi, bval, bvec) = (s(&dwi), s(&bval), s(&bvec));
    let fit = |out: &Path, maps: &str| {
        json(&[
            "dti",
            "fit",
            "--dwi",
            &dwi,
            "--bval",
            &bval,
            "--bvec",
            &bvec,
            "--maps",
            maps,
            "--out",
            &s(out),
        ])
    };
    let (all, two) = (dir.join("all"), dir.join("two"));
    let j_all = fit(&all, "all");
    let j_two = fit(&two, "fa,MD");
    let mut written = files_in(&two);
    written.sort();
    assert_eq!(
        written,
        [
            "dti_FA.nii.gz",
            "dti_MD.nii.gz",
            "dti_mask.nii.gz",
            "dti_summary.json"
        ]
    );
    // 11 float maps, the flags map, the mask and the summary (no outliers for WLS).
    assert_eq!(files_in(&all).len(), 11 + 3);
    assert!(files_in(&all).contains(&"dti_flags.nii.gz".to_string()));
    assert!(!files_in(&all).contains(&"dti_outliers.nii.gz".to_string()));
    let keys: Vec<&String> = j_two["files"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["fa", "md", "mask", "summary"]);
    for stem in ["dti_FA", "dti_MD"] {
        let read = |d: &Path| nifti::read(&d.join(format!("{stem}.nii.gz"))).unwrap().1;
        let (a, b) = (read(&all), read(&two));
        assert_eq!(a.data(), b.data(), "{stem}");
    }
    assert_eq!(j_all["voxels_fitted"], j_two["voxels_fitted"]);
    let out = s(&dir.join("bad"));
    fails_with(
        &[
            "dti",
            "fit",
            "--dwi",
            &dwi,
            "--bval",
            &bval,
            "--bvec",
            &bvec,
            "--maps",
            "fa,fractional",
            "--out",
            &out,
        ],
        &["--maps", "fractional", "colorfa"],
    );
    assert!(files_in(&dir.join("bad")).is_empty());
    fails_with(
        &[
            "dti", "fit", "--dwi", &dwi, "--bval", &bval, "--bvec", &bvec, "--maps", "outliers",
            "--out", &out,
        ],
        &["--maps outliers", "restore"],
    );

    // QC maps: the status bits and, for RESTORE, the outliers dropped in each voxel agree
    // with the summary's counts.
    let qc = dir.join("qc");
    let j = json(&[
        "dti",
        "fit",
        "--dwi",
        &dwi,
        "--bval",
        &bval,
        "--bvec",
        &bvec,
        "--method",
        "restore",
        "--maps",
        "flags,outliers",
        "--out",
        &s(&qc),
    ]);
    let mut written = files_in(&qc);
    written.sort();
    assert_eq!(
        written,
        [
            "dti_flags.nii.gz",
            "dti_mask.nii.gz",
            "dti_outliers.nii.gz",
            "dti_summary.json"
        ]
    );
    let (_, flags) = nifti::read(&qc.join("dti_flags.nii.gz")).unwrap();
    let (_, outliers) = nifti::read(&qc.join("dti_outliers.nii.gz")).unwrap();
    let (_, mask) = nifti::read(&qc.join("dti_mask.nii.gz")).unwrap();
    let bits = &j["flag_bits"];
    let bit = |k: &str| bits[k].as_u64().unwrap() as u32;
    let count = |b: u32| flags.data().iter().filter(|&&f| f as u32 & b != 0).count() as u64;
    let fitted = j["voxels_fitted"].as_u64().unwrap();
    let failed = j["voxels_failed"].as_u64().unwrap();
    assert_eq!(count(bit("fitted")), fitted + failed);
    assert_eq!(count(bit("failed")), failed);
    assert_eq!(
        count(bit("outliers")),
        j["voxels_with_outliers"].as_u64().unwrap()
    );
    let in_mask = mask.data().iter().filter(|&&m| m > 0.0).count() as u64;
    assert_eq!(fitted + failed, in_mask);
    let total: f64 = outliers.data().iter().map(|&v| v as f64).sum();
    assert_eq!(total as u64, j["total_outliers"].as_u64().unwrap());
    assert!(
        total > 0.0,
        "the phantom's noise should make RESTORE drop something"
    );
    for (f, m) in flags.data().iter().zip(mask.data()) {
        assert_eq!(*f > 0.0, *m > 0.0, "flags outside the mask");
    }
}

#[test]
fn track_from_dwi_matches_fit_then_tensor() {
    let dir = tmp("track-dwi");
    let ph = phantom([16, 16, 8]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "dwi", false);
    let (dwi, bval, bvec) = (s(&dwi), s(&bval), s(&bvec));
    let fit = dir.join("fit");
    json(&[
        "dti",
        "fit",
        "--dwi",
        &dwi,
        "--bval",
        &bval,
        "--bvec",
        &bvec,
        "--method",
        "wls",
        "--out",
        &s(&fit),
    ]);
    let tensor = s(&fit.join("dti_tensor.nii.gz"));
    let mask = s(&fit.join("dti_mask.nii.gz"));
    for ext in ["trk", "tck"] {
        // Same file name in two folders (a TCK header names the tract after its file).
        let (a, b) = (
            dir.join(format!("a/x_left.{ext}")),
            dir.join(format!("b/x_left.{ext}")),
        );
        let ja = json(&[
            "dti",
            "track",
            "--tensor",
            &tensor,
            "--seed-spacing",
            "2",
            "--out",
            &s(&a),
        ]);
        let jb = json(&[
            "dti",
            "track",
            "--dwi",
            &dwi,
            "--bval",
            &bval,
            "--bvec",
            &bvec,
            "--method",
            "wls",
            "--seed-spacing",
            "2",
            "--out",
            &s(&b),
        ]);
        assert!(ja["streamlines"].as_u64().unwrap() > 0);
        assert_eq!(ja["streamlines"], jb["streamlines"]);
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{ext}: --dwi and --tensor give different files"
        );
    }
    // The fit's mask given to both: still the same streamlines.
    let (a, b) = (dir.join("a/m_left.tck"), dir.join("b/m_left.tck"));
    json(&[
        "dti",
        "track",
        "--tensor",
        &tensor,
        "--mask",
        &mask,
        "--seed-spacing",
        "2",
        "--out",
        &s(&a),
    ]);
    // OLS fit with the mask file: compared with `dti fit --method ols --mask`.
    let fit_ols = dir.join("fit_ols");
    json(&[
        "dti",
        "fit",
        "--dwi",
        &dwi,
        "--bval",
        &bval,
        "--bvec",
        &bvec,
        "--method",
        "ols",
        "--mask",
        &mask,
        "--out",
        &s(&fit_ols),
    ]);
    let (c, d) = (dir.join("a/o_left.tck"), dir.join("b/o_left.tck"));
    json(&[
        "dti",
        "track",
        "--tensor",
        &s(&fit_ols.join("dti_tensor.nii.gz")),
        "--mask",
        &mask,
        "--seed-spacing",
        "2",
        "--out",
        &s(&c),
    ]);
    json(&[
        "dti",
        "track",
        "--dwi",
        &dwi,
        "--bval",
        &bval,
        "--bvec",
        &bvec,
        "--method",
        "ols",
        "--mask",
        &mask,
        "--seed-spacing",
        "2",
        "--out",
        &s(&d),
    ]);
    assert!(
        std::fs::read(&c).unwrap() == std::fs::read(&d).unwrap(),
        "ols with mask"
    );
    // WLS with the mask: same as the WLS tensor tracked with the mask.
    json(&[
        "dti",
        "track",
        "--dwi",
        &dwi,
        "--bval",
        &bval,
        "--bvec",
        &bvec,
        "--mask",
        &mask,
        "--seed-spacing",
        "2",
        "--out",
        &s(&b),
    ]);
    assert!(
        std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
        "wls with mask"
    );

    // Exactly one input: both, neither, or an incomplete --dwi is a usage error (exit 2)
    // and writes nothing.
    let bad = dir.join("bad");
    let out = s(&bad.join("x_left.trk"));
    fails_with(
        &[
            "dti", "track", "--tensor", &tensor, "--dwi", &dwi, "--bval", &bval, "--bvec", &bvec,
            "--out", &out,
        ],
        &["--tensor", "--dwi"],
    );
    fails_with(&["dti", "track", "--out", &out], &["--tensor"]);
    fails_with(
        &[
            "dti", "track", "--dwi", &dwi, "--bval", &bval, "--out", &out,
        ],
        &["--bvec"],
    );
    fails_with(
        &[
            "dti", "track", "--tensor", &tensor, "--method", "ols", "--out", &out,
        ],
        &["--dwi"],
    );
    // Gradient files that do not match each other: exit 2, names the file, no output.
    let short = dir.join("short.bval");
    std::fs::write(&short, "0 1000\n").unwrap();
    fails_with(
        &[
            "dti",
            "track",
            "--dwi",
            &dwi,
            "--bval",
            &s(&short),
            "--bvec",
            &bvec,
            "--out",
            &out,
        ],
        &["dwi.bvec", "b-values"],
    );
    assert!(files_in(&bad).is_empty(), "{:?}", files_in(&bad));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--motion`: bvecs that were turned by a known per-volume rotation (the head moved, the
/// scanner's directions did not follow) are turned back by the mcflirt/eddy parameters,
/// giving the fit of the true directions.
#[test]
fn fit_motion_rotates_the_gradients_back() {
    use evidentia_dti::motion::{fsl_euler_angles, fsl_euler_rotation};
    let dir = tmp("motion");
    let ph = phantom([12, 12, 6]);
    let [dwi, bval, bvec] = write_phantom(&ph, &dir, "dwi", false);
    let nt = ph.bvals.len();
    // The true directions as written (8 decimals), parsed back.
    let text = std::fs::read_to_string(&bvec).unwrap();
    let rows: Vec<Vec<f64>> = text
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect();
    // Rotations up to ~0.15 rad (8.6°) about every axis, different per volume.
    let angles: Vec<[f64; 3]> = (0..nt)
        .map(|i| {
            let t = i as f64;
            [
                0.15 * (0.7 * t).sin(),
                -0.12 * (0.3 * t + 1.0).cos(),
                0.1 * (1.3 * t).sin(),
            ]
        })
        .collect();
    // The file's directions g' = Rᵀ g, so that R·g' = g.
    let mut moved = vec![vec![0f64; nt]; 3];
    for i in 0..nt {
        let r = fsl_euler_rotation(angles[i]);
        for a in 0..3 {
            moved[a][i] = (0..3).map(|k| r[k][a] * rows[k][i]).sum();
        }
    }
    let moved_bvec = dir.join("moved.bvec");
    let text: Vec<String> = moved
        .iter()
        .map(|r| {
            r.iter()
                .map(|v| format!("{v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    std::fs::write(&moved_bvec, text.join("\n") + "\n").unwrap();
    let par = dir.join("dwi_mcf.par");
    let eddy = dir.join("motion.txt");
    let (mut p, mut e) = (String::new(), String::new());
    for a in &angles {
        p += &format!("{} {} {} 0.5 -1.25 2\n", a[0], a[1], a[2]);
        // eddy's parameters move the reference onto the scan: the inverse rotation.
        let r = fsl_euler_rotation(*a);
        let rt: [[f64; 3]; 3] = std::array::from_fn(|i| std::array::from_fn(|j| r[j][i]));
        let b = fsl_euler_angles(&rt);
        e += &format!(
            "0.5 -1.25 2 {} {} {} 1e-4 0 0 0 0 0 0 0 0 0\n",
            b[0], b[1], b[2]
        );
    }
    std::fs::write(&par, &p).unwrap();
    std::fs::write(&eddy, &e).unwrap();
    let fit = |bv: &Path, out: &str, extra: &[&str]| -> (serde_json::Value, Vec<f32>) {
        let o = dir.join(out);
        let mut a = vec![
            "dti".to_string(),
            "fit".into(),
            "--dwi".into(),
            s(&dwi),
            "--bval".into(),
            s(&bval),
            "--bvec".into(),
            s(bv),
            "--method".into(),
            "ols".into(),
            "--out".into(),
            s(&o),
        ];
        a.extend(extra.iter().map(|x| x.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let v = json(&a);
        let (_, fa) = nifti::read(&o.join("dti_FA.nii.gz")).unwrap();
        (v, fa.data().to_vec())
    };
    let (truth, fa_true) = fit(&bvec, "true", &[]);
    let (moved_fit, fa_moved) = fit(&moved_bvec, "moved", &[]);
    let (with_par, fa_par) = fit(&moved_bvec, "par", &["--motion", &s(&par)]);
    let (with_eddy, fa_eddy) = fit(
        &moved_bvec,
        "eddy",
        &["--motion", &s(&eddy), "--motion-format", "eddy"],
    );
    let maxdiff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    // Undone: the FA of the true directions to float32 precision; not undone: off by far more.
    assert!(
        maxdiff(&fa_par, &fa_true) < 1e-5,
        "{}",
        maxdiff(&fa_par, &fa_true)
    );
    // The same rotations written as eddy's (inverse) parameters: the same maps, up to the
    // rounding of the angle decomposition.
    assert!(
        maxdiff(&fa_par, &fa_eddy) < 1e-6,
        "{}",
        maxdiff(&fa_par, &fa_eddy)
    );
    assert!(
        maxdiff(&fa_moved, &fa_true) > 0.02,
        "{}",
        maxdiff(&fa_moved, &fa_true)
    );
    assert_eq!(truth["gradients_rotated"], false);
    assert_eq!(moved_fit["gradients_rotated"], false);
    assert_eq!(with_par["gradients_rotated"], true);
    assert_eq!(with_par["motion"]["format"], "mcflirt");
    assert_eq!(with_eddy["motion"]["format"], "eddy");
    assert_eq!(with_par["motion"]["volumes"], nt);
    let deg = with_par["motion"]["max_rotation_deg"].as_f64().unwrap();
    assert!(deg > 5.0 && deg < 15.0, "{deg}");
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("par").join("dti_summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["gradients_rotated"], true);
    // check-gradients takes the same --motion and reports it.
    let check = json(&[
        "dti",
        "check-gradients",
        "--dwi",
        &s(&dwi),
        "--bval",
        &s(&bval),
        "--bvec",
        &s(&moved_bvec),
        "--motion",
        &s(&eddy),
        "--motion-format",
        "eddy",
        "--max-seeds",
        "50",
    ]);
    assert_eq!(check["gradients_rotated"], true);
    assert_eq!(check["motion"]["format"], "eddy");
    assert_eq!(check["combinations"].as_array().unwrap().len(), 24);

    // Wrong row count, unknown layout, degrees instead of radians: exit 2 naming the file,
    // and no outputs.
    let short = dir.join("short.par");
    std::fs::write(&short, p.lines().skip(1).collect::<Vec<_>>().join("\n")).unwrap();
    let base = |m: &Path, out: &str| {
        vec![
            "dti".to_string(),
            "fit".into(),
            "--dwi".into(),
            s(&dwi),
            "--bval".into(),
            s(&bval),
            "--bvec".into(),
            s(&bvec),
            "--motion".into(),
            s(m),
            "--out".into(),
            s(&dir.join(out)),
        ]
    };
    let a = base(&short, "bad1");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails_with(&a, &["short.par", "rows", "volumes"]);
    assert!(!dir.join("bad1").exists());
    let a = base(&eddy, "bad2");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails_with(&a, &["motion.txt", "--motion-format"]);
    let degrees = dir.join("deg.par");
    std::fs::write(
        &degrees,
        p.replace("0.5 -1.25 2", "0 0 0").replacen("0.", "10.", 1),
    )
    .unwrap();
    let a = base(&degrees, "bad3");
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails_with(&a, &["deg.par"]);

    // `dti track --dwi ... --motion` fits the rotated table as `dti fit --motion` does.
    let t1 = dir.join("t1.tck");
    let t2 = dir.join("t2.tck");
    json(&[
        "dti",
        "track",
        "--dwi",
        &s(&dwi),
        "--bval",
        &s(&bval),
        "--bvec",
        &s(&moved_bvec),
        "--motion",
        &s(&par),
        "--method",
        "ols",
        "--seed-spacing",
        "3",
        "--out",
        &s(&t1),
    ]);
    json(&[
        "dti",
        "track",
        "--tensor",
        &s(&dir.join("par").join("dti_tensor.nii.gz")),
        "--mask",
        &s(&dir.join("par").join("dti_mask.nii.gz")),
        "--seed-spacing",
        "3",
        "--out",
        &s(&t2),
    ]);
    let r1 = evidentia_dti::streamlines::read_tck(&std::fs::read(&t1).unwrap()).unwrap();
    let r2 = evidentia_dti::streamlines::read_tck(&std::fs::read(&t2).unwrap()).unwrap();
    assert_eq!(r1.streamlines, r2.streamlines);
    std::fs::remove_dir_all(&dir).unwrap();
}
