//! Times MMRM fits on a simulated trial of 2,000 subjects × 5 visits (two arms, a
//! baseline covariate, about 15% of visits missing by dropout), REML, for the
//! unstructured and compound-symmetry covariances, and prints one JSON line per fit.
//! With an argument, also writes the data as CSV for `bench/mmrm_vs_statsmodels.py`.
//!
//! Run: `cargo run --release -p evidentia-stats --example mmrm_bench [-- data.csv]`

use std::io::Write;
use std::time::Instant;

use evidentia_stats::design::{Coding, Column, Frame};
use evidentia_stats::mmrm::{self, CovStructure, MmrmOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

fn main() {
    let (n_sub, t) = (2000usize, 5usize);
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let (mut subject, mut arm, mut visit, mut age, mut value) =
        (vec![], vec![], vec![], vec![], vec![]);
    for s in 0..n_sub {
        let a = if s % 2 == 0 { "Placebo" } else { "Active" };
        let ag: f64 = 30.0 + 40.0 * rng.random::<f64>();
        let u: f64 = rng.sample::<f64, _>(StandardNormal) * 2.0;
        let mut prev = 0.0f64;
        for v in 0..t {
            // AR-like errors plus a subject effect.
            prev = 0.6 * prev + rng.sample::<f64, _>(StandardNormal);
            if v > 0 && rng.random::<f64>() < 0.04 {
                break; // dropout
            }
            let eff = if a == "Active" { 0.5 * v as f64 } else { 0.0 };
            subject.push(Some(format!("S{s:05}")));
            arm.push(Some(a.to_string()));
            visit.push(v as f64 + 1.0);
            age.push(ag);
            value.push(10.0 + v as f64 + eff + 0.05 * ag + u + prev * (1.0 + 0.2 * v as f64));
        }
    }
    if let Some(path) = std::env::args().nth(1) {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("create csv"));
        writeln!(f, "subject,arm,visit,age,value").unwrap();
        for i in 0..value.len() {
            writeln!(
                f,
                "{},{},{},{:.17},{:.17}",
                subject[i].as_ref().unwrap(),
                arm[i].as_ref().unwrap(),
                visit[i],
                age[i],
                value[i]
            )
            .unwrap();
        }
    }
    let n = value.len();
    let frame = Frame::new()
        .with("subject", Column::Text(subject))
        .unwrap()
        .with("arm", Column::Text(arm))
        .unwrap()
        .with("visit", Column::Numeric(visit))
        .unwrap()
        .with("age", Column::Numeric(age))
        .unwrap()
        .with("value", Column::Numeric(value))
        .unwrap();
    for (name, st) in [
        ("us", CovStructure::Unstructured),
        ("cs", CovStructure::CompoundSymmetry),
    ] {
        let opts = MmrmOptions {
            structure: st,
            ..MmrmOptions::default()
        };
        let reps = 5;
        let mut best = f64::INFINITY;
        let mut fit = None;
        for _ in 0..reps {
            let t0 = Instant::now();
            let f = mmrm::fit_formula(
                "value ~ arm * C(visit) + age",
                &frame,
                "subject",
                "visit",
                Coding::First,
                &opts,
            )
            .expect("fit");
            let ls = f.lsmean_differences("arm", "visit").expect("lsmeans");
            std::hint::black_box(&ls);
            best = best.min(t0.elapsed().as_secs_f64());
            fit = Some(f);
        }
        let f = fit.unwrap();
        println!(
            "{{\"structure\": \"{name}\", \"n_obs\": {n}, \"n_subjects\": {}, \"seconds_best_of_{reps}\": {best:.6}, \"iterations\": {}, \"converged\": {}, \"log_likelihood\": {:.10}, \"intercept\": {:.12}}}",
            f.n_subjects, f.iterations, f.converged, f.log_likelihood, f.coefficients[0].estimate
        );
    }
}
