#!/usr/bin/env python3
"""Exchangeable Gaussian GEE: evidentia vs statsmodels on the same simulated data.

Simulates N participants x 5 visits (default 20,000) with 19 mean parameters
(arm x visit with visit as a factor: 10 columns, plus CP type (3 levels), GMFCS
level (5 levels), sex, age and weight: 9 more), a participant random intercept
and 15% of the visits missing at random (numpy default_rng(seed)), writes a
CSV, then times

* statsmodels 0.15 `smf.gee(..., cov_struct=Exchangeable()).fit()` (formula
  parsing included), and
* `target/release/evidentia stats model --gee ... --json` (process start, CSV
  reading, design, fit and JSON output included),

checks that the estimates and robust SEs agree (max relative difference) and
prints the time ratio. Build first: cargo build --release -p evidentia-cli.

Usage: python3 bench/gee_vs_statsmodels.py [--n 20000] [--seed 2024] [--repeat 3]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import statsmodels.api as sm
import statsmodels.formula.api as smf

ROOT = Path(__file__).resolve().parents[1]
FORMULA = "gmfm ~ arm * C(visit) + C(cptype) + C(gmfcs) + sex + age + weight"


def simulate(n, seed):
    rng = np.random.default_rng(seed)
    sid = np.repeat(np.arange(n), 5)
    visit = np.tile(np.arange(1, 6), n)
    arm = np.repeat(np.where(rng.uniform(size=n) < 0.5, "UCT-MSC", "Control"), 5)
    cptype = np.repeat(rng.choice(["spastic", "dyskinetic", "ataxic"], size=n), 5)
    gmfcs = np.repeat(rng.integers(1, 6, size=n), 5)
    sex = np.repeat(rng.integers(0, 2, size=n), 5)
    age = np.repeat(np.round(rng.uniform(2, 12, size=n), 1), 5)
    weight = np.repeat(np.round(rng.normal(25, 6, size=n), 1), 5)
    u = np.repeat(rng.normal(0, 6, size=n), 5)
    y = (40 + 1.5 * (visit - 1) + 1.2 * (visit - 1) * (arm == "UCT-MSC") - 4 * (gmfcs - 1)
         + 0.8 * age - 0.1 * weight + 1.0 * sex + u + rng.normal(0, 4, size=5 * n))
    df = pd.DataFrame(dict(id=sid, visit=visit, arm=arm, cptype=cptype, gmfcs=gmfcs, sex=sex,
                           age=age, weight=weight, gmfm=np.round(y, 3)))
    keep = rng.uniform(size=len(df)) > 0.15
    return df[keep].reset_index(drop=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--binary", default=str(ROOT / "target/release/evidentia"))
    a = ap.parse_args()
    df = simulate(a.n, a.seed)
    tmp = Path(tempfile.mkdtemp())
    csv = tmp / "gee_bench.csv"
    df.to_csv(csv, index=False)
    print(f"data: {a.n} participants, {len(df)} rows ({1 - len(df) / (5 * a.n):.1%} of visits missing), {csv}")

    sm_times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = smf.gee(FORMULA, groups="id", data=df, cov_struct=sm.cov_struct.Exchangeable(),
                      family=sm.families.Gaussian()).fit()
        sm_times.append(time.perf_counter() - t0)
    p = len(res.params)
    cmd = [a.binary, "stats", "model", "--data", str(csv), "--formula", FORMULA, "--gee", "--groups", "id",
           "--corr", "exchangeable", "--cov", "robust", "--test", "arm:visit", "--json"]
    ev_times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        ev_times.append(time.perf_counter() - t0)
        if out.returncode != 0:
            sys.exit(out.stderr)
    ev = json.loads(out.stdout)
    est = {c["term"]: c for c in ev["coefficients"]}
    d_par = max(abs(est[k]["estimate"] - v) / max(abs(v), 1e-8) for k, v in res.params.items())
    d_se = max(abs(est[k]["se"] - v) / v for k, v in res.bse.items())
    d_rho = abs(ev["correlation"]["rho"] - res.model.cov_struct.dep_params)
    print(f"parameters: {p}; statsmodels {statsmodels.__version__} iterations {len(res.fit_history['params'])}, "
          f"evidentia iterations {ev['iterations']}")
    print(f"max relative difference: estimates {d_par:.2e}, robust SEs {d_se:.2e}; |rho diff| {d_rho:.2e}")
    assert p == 19 and d_par < 1e-6 and d_se < 1e-6, "estimates disagree"
    t_sm, t_ev = min(sm_times), min(ev_times)
    print(f"statsmodels: {t_sm:.3f} s (best of {a.repeat}: {', '.join(f'{t:.3f}' for t in sm_times)})")
    print(f"evidentia:   {t_ev:.3f} s (best of {a.repeat}: {', '.join(f'{t:.3f}' for t in ev_times)}; whole process)")
    print(f"ratio statsmodels / evidentia: {t_sm / t_ev:.1f}x")


if __name__ == "__main__":
    main()
