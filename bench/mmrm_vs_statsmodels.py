#!/usr/bin/env python3
"""MMRM speed: Evidentia (examples/mmrm_bench.rs) vs statsmodels on the same data.

2,000 subjects x 5 visits, value ~ arm * C(visit) + age, REML.  statsmodels has no
unstructured MMRM; the comparable fit is compound symmetry = MixedLM random intercept
(REML), whose time is compared with Evidentia's CS fit.  Evidentia's US time is printed
as well.  Run from the repository root:

    python3 bench/mmrm_vs_statsmodels.py
"""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import statsmodels
import statsmodels.formula.api as smf

ROOT = Path(__file__).resolve().parents[1]


def main():
    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "mmrm.csv"
        out = subprocess.run(["cargo", "run", "--release", "-q", "-p", "evidentia-stats", "--example", "mmrm_bench", "--", str(csv)],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        rust = {r["structure"]: r for r in map(json.loads, out.strip().splitlines())}
        df = pd.read_csv(csv)
    t0 = time.perf_counter()
    r = smf.mixedlm("value ~ arm * C(visit) + age", df, groups=df["subject"]).fit(reml=True)
    t_sm = time.perf_counter() - t0
    print(f"statsmodels {statsmodels.__version__} MixedLM (CS, REML): {t_sm:.3f} s, llf {r.llf:.6f}")
    for k, v in rust.items():
        print(f"evidentia MMRM {k}: {v['seconds_best_of_5']:.4f} s (incl. LS-mean differences), llf {v['log_likelihood']:.6f}, "
              f"{v['n_subjects']} subjects, {v['n_obs']} rows")
    print(f"ratio statsmodels MixedLM / evidentia CS: {t_sm / rust['cs']['seconds_best_of_5']:.1f}x")
    print(f"|llf difference| CS: {abs(r.llf - rust['cs']['log_likelihood']):.2e}")


if __name__ == "__main__":
    sys.exit(main())
