#!/usr/bin/env python3
"""Reference values for crates/stats/src/mmrm.rs.

Writes crates/stats/tests/fixtures/stats/mmrm_reference.json.

Data: a simulated two-arm trial, 60 subjects x 4 visits (numpy default_rng(
20240917)), an unstructured true covariance, monotone dropout that depends on the
previous outcome (MAR), a few intermittent missing visits and one missing
covariate value.  Model: value ~ arm * C(visit) + age (patsy design, as the Rust
design builder).

References, all computed here independently of the Rust code:

(a) compound symmetry vs statsmodels MixedLM (random intercept per subject, REML,
    fitted with several optimizers and tight tolerances).  A CS covariance with
    non-negative within-subject correlation is exactly this model: Sigma = tau^2 J +
    sigma^2 I.  Stored: fixed effects, SEs, tau^2 (cov_re), sigma^2 (scale), the
    REML log-likelihood (statsmodels' llf has the same constant as SAS / mmrm).
(b) a direct REML (and ML) log-likelihood written below with numpy:
    -2 l_R = (n - p) ln 2 pi + sum_i ln|S_i| + ln|X'V^-1X| + sum_i r_i' S_i^-1 r_i,
    the covariance parametrized freely (unstructured: log-Cholesky; CS, AR(1),
    Toeplitz: their own maps), maximized by scipy.optimize BFGS (central-difference
    gradient) from several starts, then polished by Newton steps on a numerical
    Hessian.  Stored: coefficients, SEs, covariance matrix, log-likelihood, and
    Satterthwaite df computed with numerical derivatives: A = 2 * inverse of the
    numerical Hessian of -2 l_R (so A = inverse Hessian of -l), grad of l'C(theta)l by
    central differences, df = 2 v^2 / (g'Ag) (invariant to the parametrization at the
    optimum); the joint F test of the arm:visit block by the eigen method of
    mmrm::df_md / lmerTest::contestMD; least-squares means per arm x visit with age at
    its mean (patsy build_design_matrices on the grid) and arm differences per visit.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import patsy
import scipy
import scipy.optimize as so
import statsmodels
import statsmodels.formula.api as smf

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/stats/tests/fixtures/stats/mmrm_reference.json"
FORMULA = "value ~ arm * C(visit) + age"
T = 4


def simulate():
    rng = np.random.default_rng(20240917)
    sd = np.array([2.0, 2.5, 3.0, 3.6])
    corr = np.array([[1, .6, .45, .3], [.6, 1, .6, .45], [.45, .6, 1, .65], [.3, .45, .65, 1]])
    sigma = corr * np.outer(sd, sd)
    chol = np.linalg.cholesky(sigma)
    rows = []
    for s in range(60):
        arm = "Active" if s % 2 else "Placebo"
        age = float(np.round(rng.uniform(20, 70), 1))
        e = chol @ rng.normal(size=T)
        dropped = False
        for v in range(T):
            mean = 10 + 1.0 * v + (0.8 * v if arm == "Active" else 0) + 0.05 * age
            y = float(mean + e[v])
            if v > 0 and not dropped:
                # MAR dropout: more likely after a low previous value.
                prev = rows[-1]["value"]
                if prev is not None and rng.uniform() < 1 / (1 + math.exp(2.5 + 0.4 * (prev - 11))):
                    dropped = True
            if dropped:
                continue
            rows.append(dict(subject=f"S{s:02d}", arm=arm, visit=v + 1, age=age, value=y))
    df = pd.DataFrame(rows)
    # A few intermittent missing outcomes and one missing covariate.
    idx = rng.choice(len(df), 6, replace=False)
    df.loc[idx[:5], "value"] = np.nan
    df.loc[idx[5], "age"] = np.nan
    return df


# ---------------------------------------------------------------- covariance maps
def us_sigma(th):
    L = np.zeros((T, T))
    L[np.diag_indices(T)] = np.exp(th[:T])
    L[np.tril_indices(T, -1)] = th[T:]
    return L @ L.T


def cs_sigma(th):
    tau2, s2 = np.exp(th)
    return tau2 * np.ones((T, T)) + s2 * np.eye(T)


def ar1_sigma(th):
    s2, rho = math.exp(th[0]), math.tanh(th[1])
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    return s2 * rho ** lag


def toep_sigma(th):
    s2 = math.exp(th[0])
    rho = np.concatenate([[1.0], np.tanh(th[1:])])
    lag = np.abs(np.subtract.outer(np.arange(T), np.arange(T)))
    return s2 * rho[lag]


class Reml:
    def __init__(self, y, X, groups, visits, reml=True):
        self.y, self.X, self.reml = y, X, reml
        self.n, self.p = X.shape
        self.subj = []
        for g in pd.unique(groups):
            ix = np.where(groups == g)[0]
            self.subj.append((ix, visits[ix]))

    def parts(self, S):
        p = self.p
        H = np.zeros((p, p))
        u = np.zeros(p)
        ld = 0.0
        for ix, v in self.subj:
            Si = S[np.ix_(v, v)]
            sign, l = np.linalg.slogdet(Si)
            if sign <= 0:
                return None
            ld += l
            Xi, yi = self.X[ix], self.y[ix]
            W = np.linalg.solve(Si, Xi)
            H += Xi.T @ W
            u += W.T @ yi
        beta = np.linalg.solve(H, u)
        q = 0.0
        for ix, v in self.subj:
            r = self.y[ix] - self.X[ix] @ beta
            q += r @ np.linalg.solve(S[np.ix_(v, v)], r)
        return H, beta, ld, q

    def m2ll(self, S):
        pr = self.parts(S)
        if pr is None:
            return np.inf
        H, beta, ld, q = pr
        if self.reml:
            return (self.n - self.p) * math.log(2 * math.pi) + ld + np.linalg.slogdet(H)[1] + q
        return self.n * math.log(2 * math.pi) + ld + q

    def cov_beta(self, S):
        return np.linalg.inv(self.parts(S)[0])


def num_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for k in range(len(x)):
        e = np.zeros_like(x)
        e[k] = h * (1 + abs(x[k]))
        g[k] = (f(x + e) - f(x - e)) / (2 * e[k])
    return g


def num_hess(f, x, h=1e-4):
    n = len(x)
    Hs = np.zeros((n, n))
    hs = h * (1 + np.abs(x))
    for i in range(n):
        for j in range(i, n):
            ei = np.zeros(n)
            ej = np.zeros(n)
            ei[i] = hs[i]
            ej[j] = hs[j]
            v = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * hs[i] * hs[j])
            Hs[i, j] = Hs[j, i] = v
    return Hs


def maximize(model, smap, starts):
    f = lambda th: model.m2ll(smap(th))
    best = None
    for th0 in starts:
        r = so.minimize(f, th0, jac=lambda th: num_grad(f, th), method="BFGS",
                        options=dict(gtol=1e-9, maxiter=5000))
        if best is None or r.fun < best.fun:
            best = r
    th = best.x.copy()
    # Newton polish on the numerical Hessian.
    for _ in range(5):
        g = num_grad(f, th)
        Hs = num_hess(f, th)
        step = np.linalg.solve(Hs, g)
        cand = th - step
        if f(cand) <= f(th):
            th = cand
    return th, f(th), np.max(np.abs(num_grad(f, th)))


def satterthwaite(model, smap, th, Lrows):
    """df of each row of L: 2 v^2 / (g' A g), A = 2 * inverse Hessian of -2 l."""
    f = lambda t: model.m2ll(smap(t))
    A = 2 * np.linalg.inv(num_hess(f, th))
    C = model.cov_beta(smap(th))
    out = []
    for l in Lrows:
        v = l @ C @ l
        g = num_grad(lambda t: l @ model.cov_beta(smap(t)) @ l, th, h=1e-5)
        out.append(2 * v * v / (g @ A @ g))
    return out, A


def f_test(model, smap, th, L, beta):
    C = model.cov_beta(smap(th))
    M = L @ C @ L.T
    vals, vecs = np.linalg.eigh(M)
    lb = L @ beta
    F = float(sum((vecs[:, m] @ lb) ** 2 / vals[m] for m in range(len(vals))) / len(vals))
    rows = [vecs[:, m] @ L for m in range(len(vals))]
    nus, _ = satterthwaite(model, smap, th, rows)
    q = len(vals)
    E = sum(nu / (nu - 2) for nu in nus if nu > 2)
    df = 2 * E / (E - q) if E > q else min(nus)
    return F, df, float(scipy.stats.f.sf(F, q, df))


def column(s):
    if not pd.api.types.is_numeric_dtype(s):
        return {"type": "text", "values": [None if v is None else str(v) for v in s]}
    return {"type": "numeric", "values": [None if math.isnan(float(v)) else float(v) for v in s]}


def main():
    df = simulate()
    used = df.dropna(subset=["value", "age"]).reset_index(drop=True)
    y, X = patsy.dmatrices(FORMULA, used, return_type="dataframe")
    names = list(X.columns)
    yv, Xv = y.values[:, 0], X.values
    groups = used["subject"].values
    visits = used["visit"].values.astype(int) - 1
    di = X.design_info
    # LS-means grid: arm x visit, age at its mean over the rows used.
    grid = pd.DataFrame([dict(arm=a, visit=v, age=used["age"].mean())
                         for a in ["Active", "Placebo"] for v in range(1, T + 1)])
    Lgrid = np.asarray(patsy.build_design_matrices([di], grid)[0])
    diffs = []
    for v in range(T):
        diffs.append(Lgrid[v] - Lgrid[T + v])  # Active - Placebo (reference) at visit v+1
    term_cols = di.term_name_slices["arm:C(visit)"]
    Lf = np.eye(len(names))[term_cols]

    out = {"generator": "tools/reference/make_mmrm.py",
           "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__,
                        "statsmodels": statsmodels.__version__, "pandas": pd.__version__, "patsy": patsy.__version__},
           "formula": FORMULA, "subject": "subject", "visit": "visit",
           "data": {c: column(df[c]) for c in ["subject", "arm", "visit", "age", "value"]},
           "column_names": names, "n_obs": int(len(used)), "n_subjects": int(used["subject"].nunique()),
           "n_dropped": int(len(df) - len(used)), "models": {}}

    ols = np.linalg.lstsq(Xv, yv, rcond=None)[0]
    res = yv - Xv @ ols
    S0 = np.zeros((T, T))
    cnt = np.zeros((T, T))
    for g in pd.unique(groups):
        ix = np.where(groups == g)[0]
        v = visits[ix]
        S0[np.ix_(v, v)] += np.outer(res[ix], res[ix])
        cnt[np.ix_(v, v)] += 1
    S0 /= cnt
    L0 = np.linalg.cholesky(S0)
    us0 = np.concatenate([np.log(np.diag(L0)), L0[np.tril_indices(T, -1)]])
    rng = np.random.default_rng(1)
    us_starts = [us0, np.concatenate([np.log(np.sqrt(np.diag(S0))), np.zeros(6)]),
                 us0 + rng.normal(0, 0.3, len(us0))]
    specs = {
        "us": (us_sigma, us_starts),
        "cs": (cs_sigma, [np.log([2.0, 5.0]), np.log([5.0, 2.0])]),
        "ar1": (ar1_sigma, [np.array([math.log(8.0), 0.5]), np.array([math.log(4.0), 0.0])]),
        "toep": (toep_sigma, [np.array([math.log(8.0), 0.5, 0.3, 0.1]), np.array([math.log(5.0), 0.0, 0.0, 0.0])]),
    }
    for method in ["reml", "ml"]:
        for key, (smap, starts) in specs.items():
            if method == "ml" and key != "us":
                continue
            model = Reml(yv, Xv, groups, visits, reml=(method == "reml"))
            th, m2, gmax = maximize(model, smap, starts)
            S = smap(th)
            H, beta, _, _ = model.parts(S)
            Cb = np.linalg.inv(H)
            dfs, _ = satterthwaite(model, smap, th, list(np.eye(len(names))))
            entry = {"structure": key, "method": method, "coefficients": beta.tolist(),
                     "std_errors": np.sqrt(np.diag(Cb)).tolist(), "df": dfs, "covariance": S.tolist(),
                     "log_likelihood": -m2 / 2, "max_abs_gradient": float(gmax)}
            if key == "us" and method == "reml":
                ls = Lgrid @ beta
                ls_se = np.sqrt(np.einsum("ij,jk,ik->i", Lgrid, Cb, Lgrid))
                ls_df, _ = satterthwaite(model, smap, th, list(Lgrid))
                entry["lsmeans"] = [{"arm": a, "visit": str(v), "estimate": float(e), "se": float(s), "df": float(d)}
                                    for (a, v), e, s, d in zip([(a, v) for a in ["Active", "Placebo"] for v in range(1, T + 1)],
                                                               ls, ls_se, ls_df)]
                dd = np.array(diffs)
                d_df, _ = satterthwaite(model, smap, th, list(dd))
                entry["differences"] = [{"visit": str(v + 1), "estimate": float(dd[v] @ beta),
                                         "se": float(math.sqrt(dd[v] @ Cb @ dd[v])), "df": float(d_df[v])}
                                        for v in range(T)]
                F, fdf, fp = f_test(model, smap, th, Lf, beta)
                entry["f_test"] = {"term": "arm:C(visit)", "f": F, "df_num": int(Lf.shape[0]), "df_denom": fdf, "p_value": fp}
            out["models"][f"{key}_{method}"] = entry
            print(key, method, "-2l =", m2, "max|grad| =", gmax, file=sys.stderr)

    # (a) statsmodels MixedLM random intercept, REML.
    md = smf.mixedlm(FORMULA, used, groups=used["subject"])
    best = None
    for meth in ["lbfgs", "bfgs", "powell"]:
        try:
            kw = {"gtol": 1e-10} if meth == "bfgs" else ({"pgtol": 1e-10} if meth == "lbfgs" else {})
            r = md.fit(reml=True, method=meth, **kw)
        except Exception:
            continue
        if best is None or r.llf > best.llf:
            best = r
    # statsmodels' bse_fe come from the Hessian of its profiled likelihood in (beta, theta),
    # which under REML is not block-diagonal; the MMRM (like SAS and mmrm) reports the
    # model-based (X'V^-1X)^-1, computed here at MixedLM's variance components.
    V = float(best.cov_re.iloc[0, 0]) * np.ones((T, T)) + float(best.scale) * np.eye(T)
    se_gls = np.sqrt(np.diag(Reml(yv, Xv, groups, visits).cov_beta(V)))
    out["mixedlm_cs"] = {"fe_params": best.fe_params.tolist(), "bse_fe": best.bse_fe.tolist(),
                         "se_gls_at_mixedlm": se_gls.tolist(),
                         "cov_re": float(best.cov_re.iloc[0, 0]), "scale": float(best.scale),
                         "llf": float(best.llf), "fe_names": list(best.fe_params.index)}
    cs = out["models"]["cs_reml"]
    print("MixedLM vs numpy CS: max |d beta| =",
          np.max(np.abs(np.array(best.fe_params) - np.array(cs["coefficients"]))),
          "llf", best.llf, cs["log_likelihood"], file=sys.stderr)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
