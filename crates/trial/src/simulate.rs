//! Simulated trials shaped like the two source trials, for the demo and for tests that
//! need a known truth.
//!
//! * `Design::CpRct`: the intrathecal UCT-MSC trial in cerebral palsy (Amanat et al.,
//!   Stem Cell Res Ther 2021; seed 000_*): 72 children randomized 1:1 in strata site ×
//!   GMFCS group by [`crate::randomize`], Table 1 covariates, GMFM-66 and Modified
//!   Ashworth at baseline, 1, 3, 6 and 12 months, PEDI and CP-QoL at baseline, 6 and 12
//!   months, CST/PTR FA and MD at baseline and 12 months, 5 dropouts (3 lost to follow-up,
//!   2 withdrew consent), 2 completers without the second MRI, and the reported adverse
//!   events. Within-arm mean changes follow Tables 2, 3 and 5.
//! * `Design::Ards`: the UC-MSC trial in COVID-19 ARDS (seed 001_*): 20 patients 1:1,
//!   days 0/5/10/17, SpO2/FiO2, CRP and seven cytokines with the published arm means,
//!   three deaths, and the reported adverse events.
//!
//! Each participant has a random intercept and each visit independent noise, so repeated
//! measures are correlated. Draws come from ChaCha20 keyed by the seed (normal deviates by
//! `rand_distr`), so a seed gives the same dataset on every run.

use std::collections::BTreeMap;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::dataset::{
    AdverseEvent, Date, Disposition, Measurement, Participant, Relatedness, ScreeningRecord,
    Severity, TrialDataset,
};
use crate::error::{TrialError, TrialResult};
use crate::randomize::{RandomizationSpec, generate, stratum_label};

/// Which source trial to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Design {
    /// The 72-participant cerebral-palsy RCT (seed 000_*).
    CpRct,
    /// The 20-patient COVID-19 ARDS trial (seed 001_*).
    Ards,
}

impl Design {
    /// The example analysis plan shipped for this design (`examples/<design>/plan.toml`).
    pub fn example_plan(self) -> &'static str {
        match self {
            Design::CpRct => include_str!("../../../examples/cp-rct/plan.toml"),
            Design::Ards => include_str!("../../../examples/ards/plan.toml"),
        }
    }

    /// Parses `cp-rct` or `ards`.
    pub fn parse(s: &str) -> TrialResult<Design> {
        match s {
            "cp-rct" => Ok(Design::CpRct),
            "ards" => Ok(Design::Ards),
            _ => Err(TrialError::invalid("design", s, "expected cp-rct or ards")),
        }
    }

    /// Control arm name.
    pub fn control_arm(self) -> &'static str {
        "Control"
    }

    /// Treated arm name.
    pub fn treated_arm(self) -> &'static str {
        match self {
            Design::CpRct => "UCT-MSC",
            Design::Ards => "UC-MSC",
        }
    }

    /// Visit labels and nominal times.
    pub fn visits(self) -> &'static [(&'static str, f64)] {
        match self {
            Design::CpRct => &[
                ("baseline", 0.0),
                ("T1", 1.0),
                ("T2", 3.0),
                ("T3", 6.0),
                ("T4", 12.0),
            ],
            Design::Ards => &[
                ("day0", 0.0),
                ("day5", 5.0),
                ("day10", 10.0),
                ("day17", 17.0),
            ],
        }
    }

    /// The simulated outcomes with their true arm-level parameters.
    pub fn outcomes(self) -> Vec<OutcomeModel> {
        match self {
            Design::CpRct => cp_outcomes(),
            Design::Ards => ards_outcomes(),
        }
    }
}

/// How values of one outcome are generated.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// value = baseline + change + b_i + e_ij (normal, clipped to the range).
    Additive,
    /// value = mean · exp(b_i + e_ij − σ²/2) (log-normal with the given mean).
    Multiplicative,
}

/// The truth behind one simulated outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeModel {
    pub name: &'static str,
    /// Visits at which it is measured.
    pub visits: Vec<&'static str>,
    pub scale: Scale,
    /// Expected value at each of `visits`, control arm then treated arm (for the CP
    /// design, the population mean at baseline plus the published within-arm change).
    pub means: [Vec<f64>; 2],
    /// SD of the participant intercept (log scale when multiplicative).
    pub sd_between: f64,
    /// SD of the visit noise (log scale when multiplicative).
    pub sd_within: f64,
    /// Clipping range (the plan's declared range).
    pub range: [f64; 2],
    /// Decimal places written.
    pub decimals: i32,
}

impl OutcomeModel {
    /// The true mean change from the first visit, per arm (control, treated), at each visit.
    pub fn true_changes(&self) -> [Vec<f64>; 2] {
        let ch = |m: &Vec<f64>| m.iter().map(|v| v - m[0]).collect();
        [ch(&self.means[0]), ch(&self.means[1])]
    }
}

fn additive(
    name: &'static str,
    visits: &[&'static str],
    baseline: f64,
    [control, treated]: [&[f64]; 2],
    sd: (f64, f64),
    range: [f64; 2],
    decimals: i32,
) -> OutcomeModel {
    let means = |ch: &[f64]| {
        std::iter::once(baseline)
            .chain(ch.iter().map(|c| baseline + c))
            .collect()
    };
    OutcomeModel {
        name,
        visits: visits.to_vec(),
        scale: Scale::Additive,
        means: [means(control), means(treated)],
        sd_between: sd.0,
        sd_within: sd.1,
        range,
        decimals,
    }
}

const CP_ALL: [&str; 5] = ["baseline", "T1", "T2", "T3", "T4"];
const CP_PEDI: [&str; 3] = ["baseline", "T3", "T4"];
const CP_MRI: [&str; 2] = ["baseline", "T4"];

/// CP outcomes: changes from Tables 2, 3 and 5 of seed 000_*; baseline means from Table 1.
/// GMFM-66's baseline additionally depends on the GMFCS level (see `gmfm_offset`).
fn cp_outcomes() -> Vec<OutcomeModel> {
    vec![
        additive(
            "gmfm66",
            &CP_ALL,
            45.0,
            [&[0.0, 2.0, -0.6, 1.2], &[4.5, 6.8, 11.3, 9.2]],
            (8.0, 6.0),
            [0.0, 100.0],
            1,
        ),
        additive(
            "mas",
            &CP_ALL,
            3.0,
            [&[-0.53, -0.66, -0.69, -0.28], &[-0.94, -1.0, -1.26, -1.0]],
            (0.55, 0.4),
            [0.0, 4.0],
            2,
        ),
        additive(
            "pedi_selfcare",
            &CP_PEDI,
            23.0,
            [&[1.9, 0.15], &[1.95, 3.45]],
            (10.0, 3.0),
            [0.0, 100.0],
            1,
        ),
        additive(
            "pedi_mobility",
            &CP_PEDI,
            17.0,
            [&[0.13, 0.8], &[1.6, 3.9]],
            (8.0, 3.0),
            [0.0, 100.0],
            1,
        ),
        additive(
            "pedi_social",
            &CP_PEDI,
            29.0,
            [&[3.0, 1.35], &[2.55, 1.6]],
            (11.0, 3.5),
            [0.0, 100.0],
            1,
        ),
        additive(
            "cpqol_total",
            &CP_PEDI,
            367.0,
            [&[-1.8, -10.4], &[5.0, 0.9]],
            (45.0, 15.0),
            [0.0, 700.0],
            1,
        ),
        additive(
            "cst_fa",
            &CP_MRI,
            0.44,
            [&[-0.007], &[0.032]],
            (0.04, 0.012),
            [0.0, 1.0],
            4,
        ),
        additive(
            "ptr_fa",
            &CP_MRI,
            0.35,
            [&[-0.020], &[0.024]],
            (0.03, 0.01),
            [0.0, 1.0],
            4,
        ),
        additive(
            "cst_md",
            &CP_MRI,
            0.97,
            [&[0.040], &[-0.035]],
            (0.06, 0.03),
            [0.0, 4.0],
            4,
        ),
        additive(
            "ptr_md",
            &CP_MRI,
            1.063,
            [&[0.033], &[-0.045]],
            (0.08, 0.04),
            [0.0, 4.0],
            4,
        ),
    ]
}

const ARDS_DAYS: [&str; 4] = ["day0", "day5", "day10", "day17"];

/// ARDS outcomes: arm means by day from the Results of seed 001_*; the log-scale SD is
/// about the published coefficient of variation (SEM·√10 / mean).
fn ards_outcomes() -> Vec<OutcomeModel> {
    let lognormal = |name, c: [f64; 4], t: [f64; 4], sd: f64, hi: f64| OutcomeModel {
        name,
        visits: ARDS_DAYS.to_vec(),
        scale: Scale::Multiplicative,
        means: [c.to_vec(), t.to_vec()],
        sd_between: sd / std::f64::consts::SQRT_2,
        sd_within: sd / std::f64::consts::SQRT_2,
        range: [0.0, hi],
        decimals: 2,
    };
    vec![
        OutcomeModel {
            name: "spo2_fio2",
            visits: ARDS_DAYS.to_vec(),
            scale: Scale::Additive,
            means: [
                vec![204.81, 151.38, 169.49, 226.24],
                vec![186.82, 223.83, 248.88, 259.28],
            ],
            sd_between: 30.0,
            sd_within: 30.0,
            range: [0.0, 500.0],
            decimals: 1,
        },
        lognormal(
            "crp",
            [83.36, 92.55, 71.04, 62.66],
            [107.73, 70.68, 45.37, 19.55],
            0.33,
            1000.0,
        ),
        lognormal(
            "il6",
            [138.91, 131.63, 115.28, 62.78],
            [121.65, 58.70, 38.03, 8.78],
            0.55,
            10_000.0,
        ),
        lognormal(
            "ifng",
            [128.37, 120.14, 116.8, 102.13],
            [122.53, 86.92, 83.66, 57.37],
            0.5,
            10_000.0,
        ),
        lognormal(
            "tnfa",
            [38.11, 44.30, 37.52, 31.20],
            [42.33, 40.81, 34.05, 18.88],
            0.33,
            10_000.0,
        ),
        lognormal(
            "il1b",
            [27.96, 31.37, 33.08, 33.53],
            [25.70, 27.49, 28.07, 28.20],
            0.5,
            10_000.0,
        ),
        lognormal(
            "il17a",
            [43.52, 48.75, 46.37, 32.08],
            [41.42, 43.18, 25.76, 11.51],
            0.45,
            10_000.0,
        ),
        lognormal(
            "tgfb",
            [23.06, 19.89, 22.70, 24.24],
            [24.38, 27.03, 33.20, 42.52],
            0.55,
            10_000.0,
        ),
        lognormal(
            "il10",
            [8.19, 6.38, 8.06, 14.53],
            [8.57, 32.31, 42.13, 68.06],
            0.55,
            10_000.0,
        ),
    ]
}

/// The random stream of a simulation (stream 1; randomization lists use streams 0.. of
/// their own key, so the two never share words).
fn sim_rng(seed: u64) -> ChaCha20Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8] = 0x51; // a different key from the randomization list's
    ChaCha20Rng::from_seed(key)
}

fn normal(rng: &mut ChaCha20Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    // 53 random bits → [0, 1).
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn categorical(rng: &mut ChaCha20Rng, probs: &[f64]) -> usize {
    let u = uniform(rng) * probs.iter().sum::<f64>();
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}

/// `k` distinct indices from `0..n` (partial Fisher–Yates), in draw order.
fn choose(rng: &mut ChaCha20Rng, n: usize, k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let k = k.min(n);
    for i in 0..k {
        let j = i + (uniform(rng) * (n - i) as f64) as usize;
        idx.swap(i, j.min(n - 1));
    }
    idx.truncate(k);
    idx
}

fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

fn fmt1(v: f64) -> String {
    format!("{v:.1}")
}

/// Participant-level facts the measurement generator needs.
struct Enrolled {
    arm: usize,
    last_visit: usize,
    /// Outcomes not measured at the last scheduled visit (declined second MRI).
    skip_last: Vec<&'static str>,
    /// Additive shift of the outcome's baseline for this participant (GMFCS for GMFM-66).
    offsets: BTreeMap<&'static str, f64>,
}

/// Simulates a dataset of the given design; the same seed gives the same dataset.
pub fn simulate(design: Design, seed: u64) -> TrialResult<TrialDataset> {
    match design {
        Design::CpRct => simulate_cp(seed),
        Design::Ards => simulate_ards(seed),
    }
}

fn simulate_cp(seed: u64) -> TrialResult<TrialDataset> {
    let mut rng = sim_rng(seed);
    let n = 72usize;
    let arms = [Design::CpRct.control_arm(), Design::CpRct.treated_arm()];
    let spec = RandomizationSpec::parse(
        &arms.join(","),
        "1:1",
        "site=A,B,C;gmfcs_group=II-III,IV-V",
        "2,4",
        40,
        seed,
    )?;
    let list = generate(&spec)?;
    let mut next_row: BTreeMap<String, usize> = BTreeMap::new();
    let start = Date::new(2017, 8, 19).ok_or_else(|| TrialError::invalid("date", "", ""))?;
    let sites = ["A", "B", "C"];
    let levels = ["II", "III", "IV", "V"];
    let mut participants = Vec::with_capacity(n);
    let mut enrolled = Vec::with_capacity(n);
    for i in 0..n {
        let site = sites[categorical(&mut rng, &[0.42, 0.33, 0.25])];
        // GMFCS II/III/IV/V as pooled in Table 1 (9/11/21/31 of 72).
        let level = categorical(&mut rng, &[9.0, 11.0, 21.0, 31.0]);
        let group = if level < 2 { "II-III" } else { "IV-V" };
        let z_age = normal(&mut rng);
        let age = (102.0 + 30.0 * z_age).clamp(48.0, 168.0);
        let weight = (17.0 + 8.0 * (0.6 * z_age + 0.8 * normal(&mut rng))).clamp(8.0, 45.0);
        let sex = if uniform(&mut rng) < 0.45 { "F" } else { "M" };
        let cp_type = if uniform(&mut rng) < 0.86 {
            "spastic_quadriplegia"
        } else {
            "spastic_diplegia"
        };
        let stratum = stratum_label(&[
            ("site".to_string(), site.to_string()),
            ("gmfcs_group".to_string(), group.to_string()),
        ]);
        let k = next_row.entry(stratum.clone()).or_insert(0);
        let row = list.stratum_rows(&stratum).nth(*k).ok_or_else(|| {
            TrialError::invalid("stratum", &stratum, "randomization list exhausted")
        })?;
        *k += 1;
        let arm = arms.iter().position(|a| *a == row.arm).unwrap_or(0);
        let day = (i as i64 * 462) / (n as i64 - 1);
        let date = start
            .add_days(day)
            .ok_or_else(|| TrialError::invalid("date", day, "out of range"))?;
        let attributes: BTreeMap<String, String> = [
            ("randomization_number", row.randomization_number.to_string()),
            ("gmfcs_group", group.to_string()),
            ("gmfcs", levels[level].to_string()),
            ("sex", sex.to_string()),
            ("age_months", fmt1(age)),
            ("weight_kg", fmt1(weight)),
            ("cp_type", cp_type.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        participants.push(Participant {
            id: format!("CP-{:03}", i + 1),
            arm: row.arm.clone(),
            site: site.to_string(),
            randomization_date: date,
            disposition: Disposition::Completed,
            last_visit: Some("T4".to_string()),
            disposition_reason: String::new(),
            attributes,
        });
        let gmfm_offset = [27.0, 15.0, 0.0, -13.0][level];
        enrolled.push(Enrolled {
            arm,
            last_visit: 4,
            skip_last: Vec::new(),
            offsets: [("gmfm66", gmfm_offset)].into_iter().collect(),
        });
    }
    // 5 dropouts (3 lost to follow-up, 2 withdrew consent) and 2 completers whose parents
    // declined the second MRI.
    let picked = choose(&mut rng, n, 7);
    for (k, &i) in picked.iter().enumerate() {
        if k < 5 {
            let last = (uniform(&mut rng) * 4.0) as usize;
            let (disp, reason) = if k < 3 {
                (
                    Disposition::LostToFollowUp,
                    "family could not be reached after moving",
                )
            } else {
                (Disposition::WithdrewConsent, "parents withdrew consent")
            };
            participants[i].disposition = disp;
            participants[i].disposition_reason = reason.to_string();
            participants[i].last_visit = Some(CP_ALL[last].to_string());
            enrolled[i].last_visit = last;
        } else {
            participants[i].disposition_reason = "parents declined the 12-month MRI".to_string();
            enrolled[i].skip_last = vec!["cst_fa", "ptr_fa", "cst_md", "ptr_md"];
        }
    }
    let measurements = measure(&mut rng, Design::CpRct, &participants, &enrolled);
    // Adverse events as reported (Results, "Safety endpoint"): all within 24 h.
    let terms: [(&str, [usize; 2], Relatedness); 5] = [
        ("fever", [0, 2], Relatedness::Yes),
        ("irritability", [3, 6], Relatedness::Unknown),
        ("headache", [1, 5], Relatedness::Yes),
        ("low back pain", [0, 8], Relatedness::Yes),
        ("vomiting", [0, 1], Relatedness::Unknown),
    ];
    let mut adverse_events = Vec::new();
    for (term, counts, related) in terms {
        for (arm, &count) in counts.iter().enumerate() {
            let members: Vec<usize> = (0..n).filter(|&i| enrolled[i].arm == arm).collect();
            let mut who = choose(&mut rng, members.len(), count);
            who.sort_unstable();
            for w in who {
                let severity = if term == "irritability" && uniform(&mut rng) < 0.4 {
                    Severity::Moderate
                } else {
                    Severity::Mild
                };
                adverse_events.push(AdverseEvent {
                    participant_id: participants[members[w]].id.clone(),
                    term: term.to_string(),
                    onset_day: u32::from(uniform(&mut rng) < 0.3),
                    severity,
                    serious: false,
                    related,
                });
            }
        }
    }
    adverse_events.sort_by(|a, b| (&a.participant_id, &a.term).cmp(&(&b.participant_id, &b.term)));
    // Screening: 321 assessed, 72 randomized (Results); the split of the 249 not
    // randomized is illustrative, the paper's flow diagram is a figure.
    let mut slots: Vec<u8> = std::iter::repeat_n(0u8, n)
        .chain(std::iter::repeat_n(1, 176))
        .chain(std::iter::repeat_n(2, 52))
        .chain(std::iter::repeat_n(3, 21))
        .collect();
    for i in (1..slots.len()).rev() {
        let j = (uniform(&mut rng) * (i + 1) as f64) as usize;
        slots.swap(i, j.min(i));
    }
    let mut next_participant = 0usize;
    let screening = slots
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let (eligible, reason, pid) = match s {
                0 => {
                    next_participant += 1;
                    (
                        true,
                        "",
                        Some(participants[next_participant - 1].id.clone()),
                    )
                }
                1 => (false, "did not meet inclusion criteria", None),
                2 => (true, "declined to participate", None),
                _ => (true, "other reasons", None),
            };
            ScreeningRecord {
                screening_id: format!("S{:03}", k + 1),
                eligible,
                exclusion_reason: reason.to_string(),
                participant_id: pid,
            }
        })
        .collect();
    Ok(TrialDataset {
        attribute_columns: [
            "randomization_number",
            "gmfcs_group",
            "gmfcs",
            "sex",
            "age_months",
            "weight_kg",
            "cp_type",
        ]
        .map(String::from)
        .to_vec(),
        participants,
        measurements,
        adverse_events,
        screening: Some(screening),
    })
}

fn simulate_ards(seed: u64) -> TrialResult<TrialDataset> {
    let mut rng = sim_rng(seed);
    let n = 20usize;
    let arms = [Design::Ards.control_arm(), Design::Ards.treated_arm()];
    let spec = RandomizationSpec::parse(&arms.join(","), "1:1", "", "2,4", n as u32, seed)?;
    let list = generate(&spec)?;
    let start = Date::new(2020, 4, 5).ok_or_else(|| TrialError::invalid("date", "", ""))?;
    let mut participants = Vec::with_capacity(n);
    let mut enrolled = Vec::with_capacity(n);
    for (i, row) in list.rows.iter().enumerate() {
        let arm = arms.iter().position(|a| *a == row.arm).unwrap_or(0);
        let age = (61.5 + 5.0 * normal(&mut rng)).clamp(50.0, 79.0);
        let sex = if uniform(&mut rng) < 0.35 { "F" } else { "M" };
        let comorbidity =
            ["none", "hypertension", "diabetes"][categorical(&mut rng, &[0.55, 0.25, 0.2])];
        let date = start
            .add_days(i as i64 * 4)
            .ok_or_else(|| TrialError::invalid("date", i, "out of range"))?;
        participants.push(Participant {
            id: format!("ARDS-{:02}", i + 1),
            arm: row.arm.clone(),
            site: "A".to_string(),
            randomization_date: date,
            disposition: Disposition::Completed,
            last_visit: Some("day17".to_string()),
            disposition_reason: String::new(),
            attributes: [
                ("randomization_number", row.randomization_number.to_string()),
                ("age_years", format!("{age:.0}")),
                ("sex", sex.to_string()),
                ("comorbidity", comorbidity.to_string()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        });
        enrolled.push(Enrolled {
            arm,
            last_visit: 3,
            skip_last: Vec::new(),
            offsets: BTreeMap::new(),
        });
    }
    // Deaths (Results): control day 13 (pulmonary embolism); UC-MSC days 6 and 17
    // (progression of ARDS).
    let mut adverse_events = Vec::new();
    let deaths: [(usize, u32, usize, &str); 3] = [
        (0, 13, 2, "pulmonary embolism"),
        (1, 6, 1, "progression of ARDS"),
        (1, 17, 2, "progression of ARDS"),
    ];
    let mut dead = Vec::new();
    for (arm, day, last, cause) in deaths {
        let members: Vec<usize> = (0..n)
            .filter(|&i| enrolled[i].arm == arm && !dead.contains(&i))
            .collect();
        let i = members[choose(&mut rng, members.len(), 1)[0]];
        dead.push(i);
        participants[i].disposition = Disposition::Died;
        participants[i].disposition_reason = format!("{cause} on day {day}");
        participants[i].last_visit = Some(ARDS_DAYS[last].to_string());
        enrolled[i].last_visit = last;
        adverse_events.push(AdverseEvent {
            participant_id: participants[i].id.clone(),
            term: cause.to_string(),
            onset_day: day,
            severity: Severity::Fatal,
            serious: true,
            related: Relatedness::No,
        });
    }
    // Table 1: mild headache in 3 and mild fever in 1 of the UC-MSC group.
    let treated: Vec<usize> = (0..n).filter(|&i| enrolled[i].arm == 1).collect();
    let who = choose(&mut rng, treated.len(), 4);
    for (k, w) in who.into_iter().enumerate() {
        adverse_events.push(AdverseEvent {
            participant_id: participants[treated[w]].id.clone(),
            term: if k < 3 { "headache" } else { "fever" }.to_string(),
            onset_day: 1,
            severity: Severity::Mild,
            serious: false,
            related: Relatedness::Yes,
        });
    }
    adverse_events.sort_by(|a, b| (&a.participant_id, &a.term).cmp(&(&b.participant_id, &b.term)));
    let measurements = measure(&mut rng, Design::Ards, &participants, &enrolled);
    Ok(TrialDataset {
        attribute_columns: ["randomization_number", "age_years", "sex", "comorbidity"]
            .map(String::from)
            .to_vec(),
        participants,
        measurements,
        adverse_events,
        screening: None,
    })
}

/// Draws every outcome of every participant at the visits they attended.
fn measure(
    rng: &mut ChaCha20Rng,
    design: Design,
    participants: &[Participant],
    enrolled: &[Enrolled],
) -> Vec<Measurement> {
    let visits = design.visits();
    let models = design.outcomes();
    let mut out = Vec::new();
    for (p, e) in participants.iter().zip(enrolled) {
        for m in &models {
            let intercept = m.sd_between * normal(rng);
            let offset = e.offsets.get(m.name).copied().unwrap_or(0.0);
            for (k, &label) in m.visits.iter().enumerate() {
                let Some(vi) = visits.iter().position(|(l, _)| *l == label) else {
                    continue;
                };
                let noise = m.sd_within * normal(rng);
                if vi > e.last_visit || (vi == visits.len() - 1 && e.skip_last.contains(&m.name)) {
                    continue;
                }
                let mean = m.means[e.arm][k];
                let raw = match m.scale {
                    Scale::Additive => mean + offset + intercept + noise,
                    Scale::Multiplicative => {
                        let var = m.sd_between.powi(2) + m.sd_within.powi(2);
                        mean * (intercept + noise - var / 2.0).exp()
                    }
                };
                let value = round_to(raw.clamp(m.range[0], m.range[1]), m.decimals);
                out.push(Measurement {
                    participant_id: p.id.clone(),
                    visit: label.to_string(),
                    time: visits[vi].1,
                    outcome: m.name.to_string(),
                    value,
                });
            }
        }
    }
    out
}
