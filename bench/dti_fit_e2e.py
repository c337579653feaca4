#!/usr/bin/env python3
"""End to end `dti fit`: Evidentia's command line against DIPY, from the `.nii.gz` to the
written maps, on the benchmark phantom, in the same run.

The phantom (96x96x60x69, ~250,000 brain voxels) is dumped by
`crates/dti/examples/fit_bench.rs --dump DIR --no-fit` and written with nibabel as an
int16 `dwi.nii.gz` (signals rounded and clipped to 0..32767; nibabel's default gzip
level 1) and a uint8 `mask.nii.gz`. Evidentia runs
`evidentia dti fit --dwi dwi.nii.gz --bval bvals --bvec bvecs --mask mask.nii.gz
--method wls --maps fa,md --out DIR` (the same two maps as DIPY), then the same with
`--maps all` (all 11 maps); DIPY loads the image with nibabel, fits
TensorModel(fit_method="WLS") in the mask and saves FA and MD with nibabel. Wall and CPU seconds (user + system of the child), peak RSS, and the load average
are printed: on a shared machine, compare the minimum wall times and the CPU times.

Usage (from the repository root; needs pip install dipy==1.12.1):
  python bench/dti_fit_e2e.py [--repeat 7] [--threads 2] [--keep DIR] [--skip-build]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--repeat", type=int, default=7, help="Evidentia runs (min and median)")
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--keep", help="folder for the phantom files (reused when present)")
ap.add_argument("--skip-build", action="store_true")
ap.add_argument("--skip-dipy", action="store_true")
args = ap.parse_args()

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(args.threads)

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402

EXE = os.path.join("target", "release", "evidentia")
BENCH = os.path.join("target", "release", "examples", "fit_bench")
if not args.skip_build:
    subprocess.run(["cargo", "build", "--release", "-p", "evidentia-cli"], check=True)
    subprocess.run(
        ["cargo", "build", "--release", "-p", "evidentia-dti", "--example", "fit_bench"],
        check=True,
    )

d = args.keep or tempfile.mkdtemp(prefix="dti_e2e_")
os.makedirs(d, exist_ok=True)
dwi, mask_f = os.path.join(d, "dwi.nii.gz"), os.path.join(d, "mask.nii.gz")
bval, bvec = os.path.join(d, "bvals"), os.path.join(d, "bvecs")
if not os.path.exists(dwi):
    raw = os.path.join(d, "raw")
    subprocess.run([BENCH, "--dump", raw, "--no-fit"], check=True)
    nx, ny, nz, nt = json.load(open(os.path.join(raw, "meta.json")))["dims"]
    sig = np.fromfile(os.path.join(raw, "signals.f32"), dtype="<f4")
    sig = sig.reshape(nz, ny, nx, nt).transpose(2, 1, 0, 3)
    aff = np.diag([2.0, 2.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(np.clip(np.round(sig), 0, 32767).astype(np.int16), aff), dwi)
    m = np.fromfile(os.path.join(raw, "mask.u8"), dtype=np.uint8).reshape(nz, ny, nx)
    nib.save(nib.Nifti1Image(m.transpose(2, 1, 0), aff), mask_f)
    shutil.copy(os.path.join(raw, "bvals"), bval)
    shutil.copy(os.path.join(raw, "bvecs"), bvec)
    shutil.rmtree(raw)
raw_mb = np.prod(nib.load(dwi).shape) * 2 / 1e6


def load():
    return open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else "?"


env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))


def time_evidentia(maps):
    """Runs `evidentia dti fit` args.repeat times; returns sorted walls, median CPU, peak RSS."""
    walls, cpus, rss = [], [], 0
    for _ in range(args.repeat):
        out = tempfile.mkdtemp(prefix="dti_e2e_out_")
        t0 = time.perf_counter()
        p = subprocess.Popen(
            [EXE, "dti", "fit", "--dwi", dwi, "--bval", bval, "--bvec", bvec, "--mask", mask_f,
             "--method", "wls", "--maps", maps, "--out", out],
            env=env, stdout=subprocess.DEVNULL,
        )
        _, status, ru = os.wait4(p.pid, 0)  # this child's own CPU time and peak RSS
        walls.append(time.perf_counter() - t0)
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            sys.exit(f"evidentia dti fit failed with exit code {p.returncode}")
        cpus.append(ru.ru_utime + ru.ru_stime)
        rss = max(rss, ru.ru_maxrss / 1e3)
        shutil.rmtree(out)
    walls.sort()
    return walls, sorted(cpus)[len(cpus) // 2], rss


print(f"input {os.path.getsize(dwi) / 1e6:.1f} MB .nii.gz ({raw_mb:.1f} MB raw int16); "
      f"{args.threads} threads; load average {' '.join(load())}")
results = {}
for maps, label in [("fa,md", "FA+MD, as DIPY below"), ("all", "all 11 maps")]:
    walls, cpu, rss = time_evidentia(maps)
    results[maps] = walls
    print(f"evidentia dti fit (wls, --maps {maps}: {label}): wall min {walls[0]:.3f} s, "
          f"median {walls[len(walls) // 2]:.3f} s ({' '.join(f'{w:.2f}' for w in walls)}); "
          f"CPU median {cpu:.2f} s; peak RSS {rss:.0f} MB ({rss / raw_mb:.2f}x the raw input; "
          f"limit 3x)")
ev_min = results["fa,md"][0]
ev_med = results["fa,md"][len(results["fa,md"]) // 2]
print(f"target 0.5 s end to end to written FA/MD maps: "
      f"{'met' if ev_med < 0.5 else 'NOT met'} (median wall {ev_med:.3f} s)")
if not args.skip_dipy:
    import dipy
    from dipy.core.gradients import gradient_table
    from dipy.io.gradients import read_bvals_bvecs
    from dipy.reconst.dti import TensorModel

    out = tempfile.mkdtemp(prefix="dti_e2e_dipy_")
    c0, t0 = time.process_time(), time.perf_counter()
    img = nib.load(dwi)
    data = img.get_fdata()
    mask = nib.load(mask_f).get_fdata() > 0
    b, v = read_bvals_bvecs(bval, bvec)
    fit = TensorModel(gradient_table(b, bvecs=v), fit_method="WLS").fit(data, mask=mask)
    nib.save(nib.Nifti1Image(fit.fa.astype(np.float32), img.affine), os.path.join(out, "fa.nii.gz"))
    nib.save(nib.Nifti1Image(fit.md.astype(np.float32), img.affine), os.path.join(out, "md.nii.gz"))
    dipy_s, dipy_cpu = time.perf_counter() - t0, time.process_time() - c0
    shutil.rmtree(out)
    print(f"DIPY {dipy.__version__} (nibabel load, WLS, FA+MD saved): {dipy_s:.2f} s wall, "
          f"{dipy_cpu:.2f} s CPU; ratio DIPY / Evidentia (median wall, FA+MD) {dipy_s / ev_med:.1f}x")
if not args.keep:
    shutil.rmtree(d)
sys.exit(0)
