//! The trial report of the simulated cerebral-palsy trial (seed 11, complete cases): files,
//! offline HTML, figures that parse and render, identical bytes on a second run.

use std::path::{Path, PathBuf};

use evidentia_report::trial::{
    consort_svg, report_html, tables, to_csv, to_markdown, trajectory_svg, write_report,
};
use evidentia_report::{ReportError, svg_to_png};
use evidentia_trial::AnalysisPlan;
use evidentia_trial::analysis::{self, TrialResults};
use evidentia_trial::plan::MissingData;
use evidentia_trial::simulate::{Design, simulate};
use resvg::usvg;

fn cp() -> TrialResults {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/cp-rct/plan.toml");
    let mut plan = AnalysisPlan::load(&p).unwrap();
    plan.missing_data = MissingData::CompleteCase;
    let ds = simulate(Design::CpRct, 11).unwrap();
    analysis::analyze(&ds, &plan).unwrap()
}

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "evidentia-report-trial-{name}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// (file name, bytes) of every file in `dir`, by name.
fn contents(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn report_html_is_offline_and_holds_every_table_and_figure() {
    let res = cp();
    let out = temp("html");
    let files = write_report(&res, &out).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.contains("http"),
        "report.html must not reference the network"
    );
    assert!(!html.contains("src=") && !html.contains("href="));
    assert_eq!(html, report_html(&res).unwrap());
    for t in tables(&res) {
        assert!(html.contains(&format!("<section id=\"{}\">", t.id)));
        let md = std::fs::read_to_string(out.join(format!("{}.md", t.id))).unwrap();
        assert_eq!(md, to_markdown(&t));
        let csv = std::fs::read_to_string(out.join(format!("{}.csv", t.id))).unwrap();
        assert_eq!(csv, to_csv(&t));
        assert_eq!(csv.lines().count(), t.rows.len() + 1);
    }
    let ids: Vec<String> = tables(&res).into_iter().map(|t| t.id).collect();
    assert_eq!(
        ids,
        [
            "table1_baseline",
            "table2_endpoints",
            "table3_safety",
            "table4_consort"
        ]
    );
    assert_eq!(html.matches("<svg ").count(), res.trajectories.len() + 1);
    assert_eq!(html.matches("</svg>").count(), res.trajectories.len() + 1);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        json["endpoints"].as_array().unwrap().len(),
        res.endpoints.len()
    );
    // Every file written is listed, and every listed file exists.
    assert!(files.iter().all(|f| f.exists()));
    let listed: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    let on_disk: Vec<String> = contents(&out).into_iter().map(|(n, _)| n).collect();
    assert_eq!(sorted, on_disk);
    // The figures: an SVG and a PNG for the CONSORT flow and for each outcome.
    let mut stems = vec!["figure_consort".to_string()];
    stems.extend(
        res.trajectories
            .iter()
            .map(|t| format!("figure_{}", t.outcome)),
    );
    for stem in &stems {
        let svg = std::fs::read_to_string(out.join(format!("{stem}.svg"))).unwrap();
        let png = std::fs::read(out.join(format!("{stem}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{stem}.png");
        assert_eq!(png, svg_to_png(&svg, 2.0).unwrap(), "{stem}.png");
        assert!(listed.contains(&format!("{stem}.png")));
    }
    // 1 JSON, 4 tables × 2, figures × 2, the HTML.
    assert_eq!(files.len(), 1 + 8 + 2 * stems.len() + 1);
    // The GMFM-66 β at T4 appears in the endpoint table as printed.
    let g = res.endpoints.iter().find(|o| o.name == "gmfm66").unwrap();
    let b = &g.visits[3].between;
    assert!(html.contains(&format!(
        "{:.1} [{:.1}, {:.1}]",
        b.estimate, b.ci[0], b.ci[1]
    )));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn figures_parse_render_and_repeat_byte_for_byte() {
    let res = cp();
    let again = cp();
    let mut svgs = vec![consort_svg(&res.consort).unwrap()];
    svgs.extend(res.trajectories.iter().map(|t| trajectory_svg(t).unwrap()));
    let mut second = vec![consort_svg(&again.consort).unwrap()];
    second.extend(
        again
            .trajectories
            .iter()
            .map(|t| trajectory_svg(t).unwrap()),
    );
    assert_eq!(svgs, second);
    for svg in &svgs {
        usvg::Tree::from_str(svg, &usvg::Options::default()).expect("usvg parses the SVG");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let a = svg_to_png(svg, 1.5).unwrap();
        assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
        assert_eq!(a, svg_to_png(svg, 1.5).unwrap());
    }
    // Each trajectory has its outcome's label as title and one dot per arm and visit.
    for (t, svg) in res.trajectories.iter().zip(&svgs[1..]) {
        assert!(
            svg.contains(&format!("{} (mean ± SEM)", t.label)),
            "{}",
            t.outcome
        );
        let points: usize = t.arms.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(svg.matches("class=\"trajectory-point\"").count(), points);
    }
}

#[test]
fn writing_twice_gives_identical_files() {
    let res = cp();
    let (a, b) = (temp("a"), temp("b"));
    write_report(&res, &a).unwrap();
    write_report(&cp(), &b).unwrap();
    let (ca, cb) = (contents(&a), contents(&b));
    assert!(ca.len() > 10);
    assert_eq!(ca, cb);
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn a_bad_figure_writes_nothing_and_an_unwritable_directory_is_an_io_error() {
    let mut res = cp();
    res.trajectories[0].arms[0].1[0].sem = f64::INFINITY;
    let out = temp("bad");
    assert!(matches!(
        write_report(&res, &out),
        Err(ReportError::NonFinite { field: "sem", .. })
    ));
    assert!(
        !out.exists(),
        "nothing may be written for a figure that fails"
    );
    assert!(report_html(&res).is_err());

    // A plain file where the output directory should be.
    let file = temp("file");
    std::fs::write(&file, b"x").unwrap();
    let err = write_report(&cp(), &file).unwrap_err();
    assert!(
        matches!(
            err,
            ReportError::Trial(evidentia_trial::TrialError::Io { .. })
        ),
        "{err}"
    );
    let _ = std::fs::remove_file(&file);
}
