#!/usr/bin/env python3
"""Tensor-fit speed: Evidentia against DIPY on the same phantom, in the same run.

The phantom (96x96x60x69, ~250,000 brain voxels, SNR 20, two corrupted slices) is made
by `crates/dti/examples/fit_bench.rs` and dumped as raw little-endian data; DIPY fits it
with TensorModel (OLS and WLS on every brain voxel; NLLS and RESTORE on every k-th brain
voxel, timed and scaled up to the whole mask, because they take minutes); then the
example times Evidentia's fits of the identical phantom. RESTORE gets
sigma = 1.5267 * std(background), as Evidentia's NoiseSigma::Background.

Usage (from the repository root; needs pip install dipy==1.12.1):
  python bench/dti_vs_dipy.py [--dims 96,96,60] [--threads 2] [--subset 10]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--dims", default="96,96,60")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--subset", type=int, default=10, help="NLLS/RESTORE on every k-th voxel")
ap.add_argument("--repeat", type=int, default=3, help="Evidentia repeats (best time)")
ap.add_argument("--skip-build", action="store_true")
args = ap.parse_args()

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import dipy  # noqa: E402
import numpy as np  # noqa: E402
from dipy.core.gradients import gradient_table  # noqa: E402
from dipy.io.gradients import read_bvals_bvecs  # noqa: E402
from dipy.reconst.dti import TensorModel  # noqa: E402

EXE = os.path.join("target", "release", "examples", "fit_bench")
if not args.skip_build:
    subprocess.run(
        ["cargo", "build", "--release", "-p", "evidentia-dti", "--example", "fit_bench"],
        check=True,
    )

tmp = tempfile.mkdtemp(prefix="dti_bench_")
subprocess.run([EXE, "--dims", args.dims, "--dump", tmp, "--no-fit"], check=True)
meta = json.load(open(os.path.join(tmp, "meta.json")))
nx, ny, nz, nt = meta["dims"]


def vol3(name, dtype):
    return np.fromfile(os.path.join(tmp, name), dtype=dtype).reshape(nz, ny, nx).transpose(2, 1, 0)


t0 = time.perf_counter()
data = (
    np.fromfile(os.path.join(tmp, "signals.f32"), dtype="<f4")
    .reshape(nz, ny, nx, nt)
    .transpose(2, 1, 0, 3)
    .astype(np.float64)
)
load_s = time.perf_counter() - t0
mask = vol3("mask.u8", np.uint8).astype(bool)
labels = vol3("labels.u8", np.uint8)
truth_fa = vol3("truth_fa.f32", "<f4").astype(np.float64)
bvals, bvecs = read_bvals_bvecs(os.path.join(tmp, "bvals"), os.path.join(tmp, "bvecs"))
gtab = gradient_table(bvals, bvecs=bvecs)
n_mask = int(mask.sum())
wm = (labels >= 3) & (truth_fa > 0.2)

idx = np.flatnonzero(mask)
sub = np.zeros(mask.size, dtype=bool)
sub[idx[:: args.subset]] = True
sub = sub.reshape(mask.shape)
n_sub = int(sub.sum())
sigma = 1.5267 * float(np.std(data[~mask]))

dipy_s = {}
dipy_cpu = {}
dipy_acc = {}
print(f"phantom {nx}x{ny}x{nz}x{nt}, {n_mask} brain voxels; DIPY {dipy.__version__}, "
      f"numpy {np.__version__}, {args.threads} threads; raw load+cast {load_s:.2f} s", flush=True)
for method, kw, m in [
    ("ols", {}, mask),
    ("wls", {}, mask),
    ("nlls", {}, sub),
    ("restore", {"sigma": sigma}, sub),
]:
    model = TensorModel(gtab, fit_method=method.upper(), **kw)
    c0 = time.process_time()
    t0 = time.perf_counter()
    fit = model.fit(data, mask=m)
    s = time.perf_counter() - t0
    c = time.process_time() - c0
    n = int(m.sum())
    dipy_s[method] = s * n_mask / n
    dipy_cpu[method] = c * n_mask / n
    sel = wm & m
    dipy_acc[method] = float(np.median(np.abs(fit.fa[sel] - truth_fa[sel])))
    print(f"DIPY {method}: {s:.2f} s ({c:.2f} s CPU) on {n} voxels -> {dipy_s[method]:.2f} s for {n_mask}; "
          f"median |dFA| WM {dipy_acc[method]:.4f}", flush=True)

env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
out = subprocess.run(
    [EXE, "--dims", args.dims, "--repeat", str(args.repeat),
     "--methods", "ols,wls,nlls,restore,irls"],
    check=True, capture_output=True, text=True, env=env,
).stdout
ev = {}
for line in out.splitlines():
    r = json.loads(line)
    ev[r["method"]] = r

targets = {"ols": None, "wls": 30, "nlls": 20, "restore": 20}
print()
print(f"{'method':8} {'DIPY s':>9} {'Evidentia s':>12} {'ratio':>7} {'target':>7}        "
      f"{'CPU ratio':>9}  median|dFA| WM (DIPY / Evidentia)")
for m in ["ols", "wls", "nlls", "restore", "irls"]:
    e = ev[m]
    if m in dipy_s:
        ratio = dipy_s[m] / e["seconds"]
        tgt = targets[m]
        ok = "" if tgt is None else ("ok" if ratio >= tgt else "MISSED")
        cpu_ratio = dipy_cpu[m] / max(e["cpu_seconds"], 1e-3)
        print(f"{m:8} {dipy_s[m]:9.2f} {e['seconds']:12.3f} {ratio:7.1f} "
              f"{'' if tgt is None else str(tgt) + 'x':>7} {ok:6} {cpu_ratio:9.1f}  "
              f"{dipy_acc[m]:.4f} / {e['median_dfa_wm']:.4f}")
    else:
        print(f"{m:8} {'-':>9} {e['seconds']:12.3f} {'-':>7} {'':>7} {'':6} {'-':>9}  "
              f"     - / {e['median_dfa_wm']:.4f}")
print("(ratio: wall time in this run; CPU ratio: CPU seconds of all threads, which is less "
      "sensitive to other processes sharing the cores)")
print(json.dumps({"dipy_seconds": dipy_s, "dipy_cpu_seconds": dipy_cpu, "evidentia": ev, "brain_voxels": n_mask,
                  "subset_every": args.subset, "threads": args.threads,
                  "dipy": dipy.__version__, "sigma": sigma}))
