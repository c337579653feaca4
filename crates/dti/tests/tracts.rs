//! The shipped tract definitions on the brain-sized phantom, and tract metrics of the result.

use std::path::{Path, PathBuf};

use evidentia_dti::roi::{Hemisphere, TractDefinition};
use evidentia_dti::track::track;
use evidentia_dti::track_phantom::{brain, brain_phantom};
use evidentia_dti::tract_metrics::{ScalarMaps, asymmetry, tract_metrics};

fn tracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tracts")
}

#[test]
fn shipped_definitions_select_their_bundles_on_the_phantom() {
    let field = brain_phantom().unwrap();
    let maps = ScalarMaps::from_tensor_field(&field).unwrap();
    // Seeds only near the bundles (a seed mask), to keep the test fast; the ROIs do the selection.
    let dims = field.dims();
    let mut seed_mask = vec![false; field.tensors().len()];
    for z in 0..dims[2] {
        for y in 0..dims[1] {
            for x in 0..dims[0] {
                let p = field.voxel_to_world([x as f64, y as f64, z as f64]);
                let near_cst =
                    (p[0].abs() - brain::CST_X).abs() < 9.0 && (p[1] - brain::CST_Y).abs() < 9.0;
                let near_ptr = p[1] < -10.0
                    && p[1] > -75.0
                    && p[0].abs() > 6.0
                    && p[0].abs() < 36.0
                    && p[2].abs() < 20.0;
                seed_mask[x + dims[0] * (y + dims[1] * z)] = near_cst || near_ptr;
            }
        }
    }
    let mut results = Vec::new();
    for name in ["cst_left", "cst_right", "ptr_left", "ptr_right"] {
        let def = TractDefinition::load(&tracts_dir().join(format!("{name}.toml"))).unwrap();
        let rois = def
            .resolve(&field, &tracts_dir(), &mut |p: &Path| {
                Err(evidentia_dti::DtiError::Invalid {
                    what: p.display().to_string(),
                    message: "no mask files in the examples".into(),
                })
            })
            .unwrap();
        let mut params = def.params.clone();
        params.seed_spacing_mm = 2.0;
        let tg = track(&field, &params, &rois, Some(&seed_mask)).unwrap();
        assert!(
            tg.streamlines.len() > 20,
            "{name}: {} streamlines",
            tg.streamlines.len()
        );
        let (mut n_pts, mut n_in) = (0usize, 0usize);
        let side = if def.hemisphere == Hemisphere::Left {
            -1.0
        } else {
            1.0
        };
        for l in tg.streamlines.iter() {
            for q in l {
                assert!(f64::from(q[0]) * side > 1.0, "{name} crosses the midline");
            }
            let zs: Vec<f64> = l.iter().map(|q| f64::from(q[2])).collect();
            let ys: Vec<f64> = l.iter().map(|q| f64::from(q[1])).collect();
            let (zlo, zhi) = zs
                .iter()
                .fold((f64::MAX, f64::MIN), |a, &z| (a.0.min(z), a.1.max(z)));
            let ylo = ys.iter().cloned().fold(f64::MAX, f64::min);
            if name.starts_with("cst") {
                assert!(zlo <= -39.0 && zhi >= 39.0, "{name} spans z {zlo}..{zhi}");
                // Between the two AND ROIs the streamline runs along the bundle: no point farther
                // from its axis than the AND boxes' corners (10·√2 mm), and at least 95 % of the
                // points inside the bundle's voxels (radius 6 mm + ½ voxel diagonal ≈ 7.4 mm);
                // edge streamlines drift in the zone where interpolation blends the bundle with
                // the background orientation field.
                let rs: Vec<f64> = l
                    .iter()
                    .filter(|q| f64::from(q[2]).abs() < 38.0)
                    .map(|q| {
                        (f64::from(q[0]).abs() - brain::CST_X).hypot(f64::from(q[1]) - brain::CST_Y)
                    })
                    .collect();
                n_pts += rs.len();
                n_in += rs.iter().filter(|&&r| r < 7.5).count();
                let rmax = rs.iter().cloned().fold(0.0, f64::max);
                assert!(
                    rmax < 14.2,
                    "{name} leaves the CST: {rmax} mm from its axis"
                );
            } else {
                assert!(ylo <= -39.0, "{name} reaches y {ylo}");
            }
        }
        if name.starts_with("cst") {
            let frac = n_in as f64 / n_pts as f64;
            assert!(
                frac > 0.95,
                "{name}: only {frac} of the points inside the bundle"
            );
        }
        let m = tract_metrics(name, def.hemisphere, &tg.streamlines, &maps, 20).unwrap();
        // Inside the bundles FA is 0.73; partial volume at the edges lowers the averages.
        let fa = m.fa_points.unwrap();
        assert!(fa > 0.6 && fa < 0.74, "{name} FA {fa}");
        assert!(m.fa_voxels.unwrap() <= fa + 0.05);
        results.push(m);
    }
    // The phantom is mirror-symmetric: rFA ≈ 1, FNA ≈ 0.
    let a = asymmetry(&results[0], &results[1], None).unwrap();
    assert!((a.rfa.unwrap() - 1.0).abs() < 0.01, "{a:?}");
    assert!(a.fna.unwrap().abs() < 0.05, "{a:?}");
}
