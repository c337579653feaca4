#!/usr/bin/env python3
"""Exact reference p-values of the Fisher–Freeman–Halton test for r×c tables.

Every table with the observed margins is enumerated by brute force and its probability
computed as an exact rational (Python's fractions), independently of the Rust network
algorithm: P(table) = Π R_i! Π C_j! / (N! Π x_ij!). The two-sided p sums the tables with
P ≤ P_obs·(1 + 1e-7), R fisher.test's rule. Also records R's documented value for the
`Job` table (?fisher.test: "fisher.test(Job) # 0.7827"), which is too large to brute-force
here.

Writes crates/stats/tests/fixtures/stats/fisher_rxc.json. Run from the repository root:
    python3 tools/reference/make_fisher_rxc.py
"""
import json
import math
import pathlib
import platform
from fractions import Fraction

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "crates/stats/tests/fixtures/stats/fisher_rxc.json"


def tables(rows, cols):
    """Every non-negative integer table with these margins (row by row, cell by cell)."""
    r, c = len(rows), len(cols)

    def rec(i, j, rem_rows, rem_cols, cur):
        if i == r:
            if all(v == 0 for v in rem_cols):
                yield [row[:] for row in cur]
            return
        if j == c - 1:
            v = rem_rows[i]
            if v <= rem_cols[j]:
                cur[i][j] = v
                rem_cols[j] -= v
                yield from rec(i + 1, 0, rem_rows, rem_cols, cur)
                rem_cols[j] += v
            return
        for v in range(min(rem_rows[i], rem_cols[j]) + 1):
            cur[i][j] = v
            rem_rows[i] -= v
            rem_cols[j] -= v
            yield from rec(i, j + 1, rem_rows, rem_cols, cur)
            rem_rows[i] += v
            rem_cols[j] += v

    yield from rec(0, 0, list(rows), list(cols), [[0] * c for _ in range(r)])


def prob(t, rows, cols, n):
    num = math.prod(math.factorial(v) for v in rows) * math.prod(math.factorial(v) for v in cols)
    den = math.factorial(n) * math.prod(math.factorial(v) for row in t for v in row)
    return Fraction(num, den)


def ffh(t):
    rows = [sum(row) for row in t]
    cols = [sum(col) for col in zip(*t)]
    n = sum(rows)
    p_obs = prob(t, rows, cols, n)
    cut = p_obs * Fraction(10_000_001, 10_000_000)
    total, p, count = Fraction(0), Fraction(0), 0
    for y in tables(rows, cols):
        q = prob(y, rows, cols, n)
        total += q
        count += 1
        if q <= cut:
            p += q
    assert total == 1, total
    return float(p), float(p_obs), count


CASES = {
    "2x3": [[3, 1, 4], [2, 5, 0]],
    "3x3": [[2, 0, 3], [1, 4, 1], [0, 2, 5]],
    "2x4_gmfcs_like": [[5, 8, 6, 3], [9, 4, 7, 2]],
    "3x4": [[1, 2, 0, 3], [2, 0, 4, 1], [3, 1, 1, 0]],
    "2x5": [[0, 3, 5, 2, 1], [4, 2, 1, 3, 0]],
    "zero_column": [[0, 3, 2], [0, 1, 4]],
    "ties_2x3": [[1, 1, 1], [1, 1, 1]],
    "4x2": [[6, 1], [2, 5], [3, 3], [0, 4]],
    "2x2": [[3, 1], [1, 3]],
    "strong_3x3": [[8, 0, 0], [0, 7, 1], [0, 1, 6]],
    # GMFCS II/III/IV/V by arm in Table 1 of the CP trial (shared/seeds/000_*).
    "cp_trial_gmfcs": [[4, 4, 11, 17], [5, 7, 10, 14]],
}

out = {
    "generator": "tools/reference/make_fisher_rxc.py",
    "method": "brute-force enumeration with exact rational probabilities",
    "python": platform.python_version(),
    "cases": [],
    "published": [
        {
            "id": "R_fisher.test_Job",
            "source": "R ?fisher.test example: fisher.test(Job) # 0.7827",
            "table": [[1, 3, 10, 6], [2, 3, 10, 7], [1, 6, 14, 12], [0, 1, 9, 11]],
            "p_value": 0.7827,
            "decimals": 4,
        }
    ],
}
for name, t in CASES.items():
    p, p_obs, count = ffh(t)
    out["cases"].append(
        {"id": name, "table": t, "p_value": p, "table_probability": p_obs, "tables": count}
    )
    print(f"{name}: p = {p:.12g} over {count} tables")
OUT.write_text(json.dumps(out, indent=1) + "\n")
print(f"wrote {OUT}")
