#!/usr/bin/env python3
"""Reference values for crates/stats/src/gee.rs (GEE) and `evidentia stats model --gee`.

Writes two fixtures under crates/stats/tests/fixtures/stats/:

* gee_shared.json: the committed statsmodels results of
  /work/shared/reference/stats/gee_reference.json, copied verbatim (params, SEs,
  scale, dependence parameters, Wald tests), with the data they were computed on
  (epil.csv, gee_linear_1.csv, mixed_anova.csv) as columns, so the Rust tests
  need neither Python nor ../shared.
* gee_generated.json: new statsmodels 0.15.0 fits made here (versions recorded):
  - epil with 15% of the visits deleted (numpy default_rng(3), so the
    exchangeable fit no longer collapses to OLS): Gaussian and Poisson,
    exchangeable, AR(1) and unstructured (time = period - 1);
  - a simulated binary trial (50 subjects x 5 visits, default_rng(11), 12% of
    visits deleted and 3 missing covariate cells, so n_dropped > 0): binomial
    with independence, exchangeable and AR(1);
  each with statsmodels' three covariances (robust, naive, bias_reduced =
  Mancl-DeRouen) and the Kauermann-Carroll and Fay-Graubard sandwiches, which
  statsmodels does not have: they are computed below by a short numpy
  implementation written from the papers (Kauermann & Carroll, JASA 2001;
  Fay & Graubard, Biometrics 2001), evaluated at statsmodels' fitted estimates
  and working correlation. The same code recomputes Mancl-DeRouen and the
  robust sandwich as a check against statsmodels (the differences are stored).

AR(1) with missing visits: statsmodels' `Autoregressive` estimates alpha from
time distances but solves with alpha^|position difference|, i.e. it treats the
observed visits of a cluster as adjacent. Evidentia uses alpha^|t_j - t_k| in
both places. The AR(1) references with gaps therefore use a subclass
(`TimeAR1`) whose working correlation is alpha^|t_j - t_k| and whose solve is
statsmodels' generic Cholesky solve; everything else (the Rosner-Munoz
alpha estimator with Brent's method, the iteration, the stopping rule) is
statsmodels' own. On complete data the two are identical (checked: the plain
`Autoregressive(grid=False)` case is also stored).

Run: python3 tools/reference/make_gee.py
"""
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import scipy
import statsmodels
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.genmod import cov_struct as cs

ROOT = Path(__file__).resolve().parents[2]
OUTDIR = ROOT / "crates/stats/tests/fixtures/stats"
SHARED = Path("/work/shared/reference/stats")

VERSIONS = {
    "python": sys.version.split()[0],
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "pandas": pd.__version__,
    "statsmodels": statsmodels.__version__,
}


class TimeAR1(cs.Autoregressive):
    """AR(1) working correlation alpha^|t_j - t_k| in the time distances."""

    def covariance_matrix(self, endog_expval, index):
        t = self.model.time_li[index][:, 0].astype(float)
        return self.dep_params ** np.abs(t[:, None] - t[None, :]), True

    def covariance_matrix_solve(self, expval, index, stdev, rhs):
        return cs.CovStruct.covariance_matrix_solve(self, expval, index, stdev, rhs)


def columns(df):
    out = {}
    for name in df.columns:
        s = df[name]
        if pd.api.types.is_numeric_dtype(s):
            out[name] = {"type": "numeric", "values": [None if math.isnan(float(v)) else float(v) for v in s]}
        else:
            out[name] = {"type": "text", "values": [None if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v) for v in s]}
    return out


def sym_pow(a, power):
    w, q = np.linalg.eigh(a)
    return (q * w**power) @ q.T


def small_sample_covs(res, fg_bound=0.75):
    """Robust, Mancl-DeRouen, Kauermann-Carroll and Fay-Graubard sandwiches from the papers.

    B = sum D'V^-1 D; u_i = D'V^-1 r_i.
    MD (Mancl & DeRouen 2001): r_i -> (I - H_i)^-1 r_i, H_i = D_i B^-1 D_i' V_i^-1.
    KC (Kauermann & Carroll 2001): r_i -> V^1/2 (I - Ht_i)^-1/2 V^-1/2 r_i with the
        symmetric Ht_i = V^-1/2 D_i B^-1 D_i' V^-1/2 and symmetric square roots.
    FG (Fay & Graubard 2001): u_i -> G_i u_i, G_i = diag((1 - min(b, [Omega_i B^-1]_jj))^-1/2),
        Omega_i = D_i' V_i^-1 D_i, b = 0.75.
    """
    model = res.model
    params = np.asarray(res.params)
    cstr = model.cov_struct
    fam = model.family
    pieces = []
    bmat = 0
    for i in range(model.num_group):
        x = model.exog_li[i]
        y = model.endog_li[i]
        lpr = x @ params
        mu = fam.link.inverse(lpr)
        d = x * fam.link.inverse_deriv(lpr)[:, None]
        sd = np.sqrt(fam.variance(mu))
        r, is_cor = cstr.covariance_matrix(mu, i)
        v = np.array(r, dtype=float) * np.outer(sd, sd)
        vinv = np.linalg.inv(v)
        bmat = bmat + d.T @ vinv @ d
        pieces.append((d, y - mu, v, vinv))
    binv = np.linalg.inv(bmat)
    p = len(params)
    meats = {k: np.zeros((p, p)) for k in ("robust", "md", "kc", "fg")}
    for d, r, v, vinv in pieces:
        m = len(r)
        u = d.T @ vinv @ r
        meats["robust"] += np.outer(u, u)
        h = d @ binv @ d.T @ vinv
        a = np.linalg.solve(np.eye(m) - h, r)
        u = d.T @ vinv @ a
        meats["md"] += np.outer(u, u)
        vmh = sym_pow(v, -0.5)
        vh = sym_pow(v, 0.5)
        ht = vmh @ d @ binv @ d.T @ vmh
        a = vh @ sym_pow(np.eye(m) - ht, -0.5) @ vmh @ r
        u = d.T @ vinv @ a
        meats["kc"] += np.outer(u, u)
        omega = d.T @ vinv @ d
        q = np.diag(omega @ binv)
        g = (1 - np.minimum(fg_bound, q)) ** -0.5
        u = g * (d.T @ vinv @ r)
        meats["fg"] += np.outer(u, u)
    return {k: binv @ m @ binv for k, m in meats.items()}


def named(names, values):
    return {n: float(v) for n, v in zip(names, values)}


def fit_case(name, df, dataset, formula, family, corr, groups, time=None, test_prefix=None):
    fam = {"gaussian": sm.families.Gaussian(), "poisson": sm.families.Poisson(), "binomial": sm.families.Binomial()}[family]
    struct = {
        "independence": cs.Independence,
        "exchangeable": cs.Exchangeable,
        "ar1": lambda: cs.Autoregressive(grid=False),
        "ar1-time": TimeAR1,
        "unstructured": cs.Unstructured,
    }[corr]()
    kw = {}
    if time is not None:
        kw["time"] = df[time].astype(int).values if corr == "unstructured" else df[time].values
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.gee(formula, groups=df[groups].values, data=df, family=fam, cov_struct=struct, missing="drop", **kw)
        res = model.fit(maxiter=60, ctol=1e-6, cov_type="bias_reduced")
    names = list(res.params.index)
    covs = small_sample_covs(res)
    bse = lambda c: named(names, np.sqrt(np.diag(c)))
    dep = struct.dep_params
    if isinstance(dep, np.ndarray):
        dep = dep.tolist()
    elif dep is not None:
        dep = float(dep)
    case = {
        "name": name,
        "dataset": dataset,
        "formula": formula,
        "family": family,
        "corr": "ar1" if corr.startswith("ar1") else corr,
        "statsmodels_cov_struct": type(struct).__name__,
        "groups": groups,
        "time": time,
        "n_obs": int(res.nobs),
        "n_groups": int(model.num_group),
        "params": named(names, res.params),
        "bse_robust": bse(res.cov_robust),
        "bse_naive": bse(res.cov_naive),
        "bse_mancl_derouen": bse(res.cov_robust_bc),
        "bse_kauermann_carroll_numpy": bse(covs["kc"]),
        "bse_fay_graubard_numpy": bse(covs["fg"]),
        "check_max_rel_diff_numpy_vs_statsmodels": {
            "robust": float(np.max(np.abs(covs["robust"] - res.cov_robust) / np.abs(res.cov_robust).max())),
            "mancl_derouen": float(np.max(np.abs(covs["md"] - res.cov_robust_bc) / np.abs(res.cov_robust_bc).max())),
        },
        "scale": float(res.scale),
        "dep_params": dep,
        "iterations": len(res.fit_history["params"]),
        "converged": bool(res.converged),
        "score_norm": float(res.score_norm),
        "warnings": sorted({str(w.message) for w in caught if "grid" not in str(w.message)}),
    }
    if test_prefix is not None:
        idx = [i for i, n in enumerate(names) if n.startswith(test_prefix) and ":" in n]
        lmat = np.zeros((len(idx), len(names)))
        for r, j in enumerate(idx):
            lmat[r, j] = 1.0
        b = lmat @ res.params.values
        out = {}
        for key, cov in (("robust", res.cov_robust), ("mancl_derouen", res.cov_robust_bc)):
            v = lmat @ cov @ lmat.T
            chi2 = float(b @ np.linalg.solve(v, b))
            out[key] = {"chi2": chi2, "df": len(idx), "p": float(scipy.stats.chi2.sf(chi2, len(idx)))}
        g, p = model.num_group, len(names)
        chi2 = out["robust"]["chi2"]
        out["robust_f_cluster_df"] = {"f": chi2 / len(idx), "df1": len(idx), "df2": g - p,
                                      "p": float(scipy.stats.f.sf(chi2 / len(idx), len(idx), g - p))}
        case["wald"] = {"columns": [names[j] for j in idx], **out}
    return case


def epil():
    return pd.read_csv(SHARED / "epil.csv", index_col=0)


def epil_missing():
    df = epil()
    rng = np.random.default_rng(3)
    keep = rng.uniform(size=len(df)) > 0.15
    df = df[keep].reset_index(drop=True)
    df["visit"] = df["period"] - 1
    return df


def binary_trial():
    rng = np.random.default_rng(11)
    rows = []
    for s in range(50):
        arm = "UCT-MSC" if s % 2 else "Control"
        age = float(np.round(rng.uniform(4, 16), 1))
        u = rng.normal(0, 1.0)
        for visit in range(1, 6):
            eta = -0.8 + 0.6 * (arm == "UCT-MSC") + 0.25 * (visit - 3) + 0.08 * (age - 10) + u
            y = float(rng.uniform() < 1 / (1 + math.exp(-eta)))
            rows.append(dict(subject=f"S{s:02d}", arm=arm, visit=visit, age=age, responder=y))
    df = pd.DataFrame(rows)
    keep = rng.uniform(size=len(df)) > 0.12
    df = df[keep].reset_index(drop=True)
    idx = rng.choice(len(df), 3, replace=False)
    df.loc[idx, "age"] = np.nan
    return df


def shared():
    ref = json.loads((SHARED / "gee_reference.json").read_text())
    lin = pd.read_csv(SHARED / "gee_linear_1.csv", header=None, names=["Id", "Y", "X1", "X2", "X3"])
    mixed = pd.read_csv(SHARED / "mixed_anova.csv")
    out = {
        "source": "copied verbatim from /work/shared/reference/stats/gee_reference.json (statsmodels results) "
                  "with the data of epil.csv, gee_linear_1.csv (columns Id, Y, X1, X2, X3) and mixed_anova.csv",
        "versions": ref["versions"],
        "notes": ref["notes"],
        "datasets": {"epil": columns(epil()), "gee_linear_1": columns(lin), "mixed_anova": columns(mixed)},
        "cases": ref["cases"],
    }
    (OUTDIR / "gee_shared.json").write_text(json.dumps(out, indent=1) + "\n")


def generated():
    em = epil_missing()
    bt = binary_trial()
    ep = epil()
    f_epil = "y ~ C(trt, Treatment('placebo')) * C(period) + base + age"
    pre = "C(trt, Treatment('placebo'))"
    cases = [
        fit_case("epil_miss_gaussian_exch", em, "epil_missing", f_epil, "gaussian", "exchangeable", "subject", test_prefix=pre),
        fit_case("epil_miss_poisson_exch", em, "epil_missing", f_epil, "poisson", "exchangeable", "subject", test_prefix=pre),
        fit_case("epil_miss_gaussian_indep", em, "epil_missing", f_epil, "gaussian", "independence", "subject", test_prefix=pre),
        fit_case("epil_miss_gaussian_ar1_time", em, "epil_missing", f_epil, "gaussian", "ar1-time", "subject", time="period", test_prefix=pre),
        fit_case("epil_miss_poisson_ar1_time", em, "epil_missing", f_epil, "poisson", "ar1-time", "subject", time="period", test_prefix=pre),
        fit_case("epil_miss_gaussian_unstructured", em, "epil_missing", f_epil, "gaussian", "unstructured", "subject", time="visit", test_prefix=pre),
        fit_case("epil_miss_poisson_unstructured", em, "epil_missing", f_epil, "poisson", "unstructured", "subject", time="visit", test_prefix=pre),
        fit_case("epil_full_gaussian_ar1_statsmodels", ep, "epil", f_epil, "gaussian", "ar1", "subject", test_prefix=pre),
        fit_case("binary_indep", bt, "binary_trial", "responder ~ arm * C(visit) + age", "binomial", "independence", "subject", test_prefix="arm"),
        fit_case("binary_exch", bt, "binary_trial", "responder ~ arm * C(visit) + age", "binomial", "exchangeable", "subject", test_prefix="arm"),
        fit_case("binary_ar1_time", bt, "binary_trial", "responder ~ arm + visit + age", "binomial", "ar1-time", "subject", time="visit"),
    ]
    out = {
        "source": "tools/reference/make_gee.py",
        "versions": VERSIONS,
        "notes": [
            "statsmodels GEE.fit(maxiter=60, ctol=1e-6, cov_type='bias_reduced'); bse_robust/naive/mancl_derouen are "
            "statsmodels' cov_robust, cov_naive, cov_robust_bc.",
            "bse_kauermann_carroll_numpy and bse_fay_graubard_numpy: numpy implementation from the papers in this "
            "script (statsmodels has neither), at statsmodels' estimates; b = 0.75 for Fay-Graubard.",
            "corr ar1 with time: TimeAR1 = alpha^|t_j - t_k| (see the docstring); epil_full_gaussian_ar1_statsmodels "
            "is statsmodels' own Autoregressive(grid=False) on complete data.",
            "wald: joint test of the interaction columns; chi2 with the robust and Mancl-DeRouen covariances, and "
            "F = chi2/q on (q, G - p) df with the robust covariance.",
        ],
        "datasets": {"epil_missing": columns(em), "binary_trial": columns(bt), "epil": columns(ep)},
        "cases": cases,
    }
    (OUTDIR / "gee_generated.json").write_text(json.dumps(out, indent=1) + "\n")
    # CSVs for the CLI tests.
    em.to_csv(ROOT / "crates/cli/tests/fixtures/gee_epil_missing.csv", index=False)
    bt.to_csv(ROOT / "crates/cli/tests/fixtures/gee_binary_trial.csv", index=False)
    for c in cases:
        print(c["name"], c["iterations"], c["converged"], c["dep_params"] if not isinstance(c["dep_params"], list) else "matrix",
              c["check_max_rel_diff_numpy_vs_statsmodels"], c["warnings"])


if __name__ == "__main__":
    shared()
    generated()
