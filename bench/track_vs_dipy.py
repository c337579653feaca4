#!/usr/bin/env python3
"""Evidentia deterministic tensor tractography vs DIPY 1.12.1 on the same phantom and parameters.

Runs `track_bench` (release build) on `track_phantom::brain_phantom()` (96×96×60, 2 mm), which
also dumps the phantom's tensor field, FA and mask as NIfTI and the streamlines of every 8th seed
(`dump=DIR`). DIPY then tracks the same every-8th seed subset on the same tensor field with the
same stopping FA (0.2), angle (50°) and step, with two trackers:

* `dipy.tracking.tracker.eudx_tracking` (OpenMP, 2 threads) on tensor-V1 peaks quantised to a
  10,242-vertex sphere (icosahedron subdivided 5 times, ~2° spacing), sphere passed explicitly;
* `LocalTracking` with the classic EuDX direction getter (`PeaksAndMetrics`, 1 thread).

Both tractograms are summarised by the same code here: streamline count, length (all and within
10–500 mm, Evidentia's default length filter), and trilinear FA along points, for the whole brain
and for the CST-left selection with the ROI boxes of `crates/dti/tracts/cst_left.toml`
(applied to the points of each streamline). Times are wall clock in the same run on the same
machine; DIPY's subset time is multiplied by 8 to estimate a full run.

    cargo build --release -p evidentia-dti --example track_bench
    python3 bench/track_vs_dipy.py [--steps 0.5 1] [--threads 2] [--out /tmp/track_vs_dipy]
"""

import argparse
import json
import os
import subprocess
import time

import nibabel as nib
import numpy as np
from scipy.ndimage import map_coordinates

import dipy
from dipy.core.sphere import unit_icosahedron
from dipy.direction.peaks import PeaksAndMetrics
from dipy.tracking.local_tracking import LocalTracking
from dipy.tracking.stopping_criterion import ThresholdStoppingCriterion
from dipy.tracking.streamline import Streamlines
from dipy.tracking.tracker import eudx_tracking
from dipy.tracking.utils import seeds_from_mask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVERY = 8
FA_THR = 0.2
ANGLE = 50.0

# crates/dti/tracts/cst_left.toml (world mm, RAS+)
CST_AND = [((-35.0, -20.0, -41.0), (-15.0, 0.0, -39.0)), ((-35.0, -20.0, 39.0), (-15.0, 0.0, 41.0))]
CST_NOT_BOX = [((-1.0, -100.0, -100.0), (1.0, 100.0, 100.0))]
CST_NOT_SPHERE = [((-15.0, -40.0, -40.0), 8.0)]


def run_evidentia(binary, threads, step, dump):
    args = [binary, str(threads), f"step={step}", "--whole-brain"]
    if dump:
        args.append(f"dump={dump}")
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    runs = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["run"].split(",")[0]: r for r in runs}


def load_tck(path):
    return list(nib.streamlines.load(path, lazy_load=False).streamlines)


def seed_order_like_evidentia(seeds):
    """Evidentia orders seeds by world z, then y, then x (grid loops); sort DIPY's the same way."""
    r = np.round(seeds * 2).astype(np.int64)
    return seeds[np.lexsort((r[:, 0], r[:, 1], r[:, 2]))]


def peaks_from_tensor(tensor6, mask, fa, affine):
    """Tensor V1 (FSL order Dxx Dxy Dxz Dyy Dyz Dzz) quantised to the nearest sphere vertex."""
    sphere = unit_icosahedron.subdivide(n=5)
    xx, xy, xz, yy, yz, zz = (tensor6[..., i] for i in range(6))
    D = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], -2)
    idx_vox = np.flatnonzero(mask)
    w, v = np.linalg.eigh(D.reshape(-1, 3, 3)[idx_vox].astype(np.float64))
    v1 = v[:, :, 2]  # largest eigenvalue last
    verts = sphere.vertices
    ind = np.empty(len(v1), dtype=np.int32)
    for a in range(0, len(v1), 20000):
        ind[a:a + 20000] = np.argmax(np.abs(v1[a:a + 20000] @ verts.T), axis=1)
    shape = mask.shape
    pam = PeaksAndMetrics()
    pam.affine = affine
    pam.sphere = sphere
    pam.peak_indices = np.full(shape + (1,), -1, dtype=np.int32)
    pam.peak_values = np.zeros(shape + (1,))
    pam.peak_dirs = np.zeros(shape + (1, 3))
    pam.peak_indices.reshape(-1)[idx_vox] = ind
    pam.peak_values.reshape(-1)[idx_vox] = fa.reshape(-1)[idx_vox]
    pam.peak_dirs.reshape(-1, 3)[idx_vox] = verts[ind]
    pam.qa = pam.peak_values
    pam.ind = pam.peak_indices
    pam.gfa = fa
    # angular quantisation error, for the report
    err = np.degrees(np.arccos(np.clip(np.abs(np.sum(v1 * verts[ind], 1)), 0, 1)))
    return pam, sphere, float(np.max(err)), float(np.mean(err))


def summarise(sl, fa, inv_affine):
    n = len(sl)
    lens = np.array([np.sum(np.linalg.norm(np.diff(s, axis=0), axis=1)) for s in sl]) if n else np.zeros(0)
    keep = (lens >= 10.0) & (lens <= 500.0)
    kept = [s for s, k in zip(sl, keep) if k]
    out = {
        "streamlines": n,
        "kept_10_500": int(keep.sum()),
        "share_10_500": float(keep.mean()) if n else float("nan"),
        "mean_len_mm_all": float(lens.mean()) if n else float("nan"),
        "mean_len_mm": float(lens[keep].mean()) if keep.any() else float("nan"),
        "median_len_mm": float(np.median(lens[keep])) if keep.any() else float("nan"),
    }
    out.update(fa_along(kept, fa, inv_affine))
    return out, kept


def fa_along(sl, fa, inv_affine):
    if not sl:
        return {"fa_points": float("nan"), "fa_streamline_mean": float("nan")}
    pts = np.concatenate(sl).astype(np.float64)
    vox = pts @ inv_affine[:3, :3].T + inv_affine[:3, 3]
    vals = map_coordinates(fa, vox.T, order=1, mode="nearest")
    counts = np.array([len(s) for s in sl])
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per = np.add.reduceat(vals, starts) / counts
    return {"fa_points": float(vals.mean()), "fa_streamline_mean": float(per.mean())}


def select_cst_left(sl):
    """AND boxes / NOT box+sphere of cst_left.toml, tested on the stored points."""
    out = []
    for s in sl:
        s = np.asarray(s, dtype=np.float64)

        def in_box(b):
            lo, hi = np.array(b[0]), np.array(b[1])
            return bool(np.any(np.all((s >= lo) & (s <= hi), axis=1)))

        if not all(in_box(b) for b in CST_AND):
            continue
        if any(in_box(b) for b in CST_NOT_BOX):
            continue
        if any(np.any(np.sum((s - np.array(c)) ** 2, 1) <= r * r) for c, r in CST_NOT_SPHERE):
            continue
        out.append(s)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=float, nargs="+", default=[0.5, 1.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="/tmp/track_vs_dipy")
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/examples/track_bench"))
    ap.add_argument("--no-local-tracking", action="store_true", help="skip DIPY LocalTracking (1 thread)")
    a = ap.parse_args()
    print(f"dipy {dipy.__version__}, numpy {np.__version__}, nibabel {nib.__version__}")

    results = []
    for step in a.steps:
        dump = os.path.join(a.out, f"step{step:g}")
        os.makedirs(dump, exist_ok=True)
        ev = run_evidentia(a.binary, a.threads, step, dump)
        img = nib.load(os.path.join(dump, "tensor.nii.gz"))
        affine = img.affine
        inv = np.linalg.inv(affine)
        tensor6 = np.asarray(img.dataobj, dtype=np.float64)
        fa = np.asarray(nib.load(os.path.join(dump, "fa.nii.gz")).dataobj, dtype=np.float64)
        mask = np.asarray(nib.load(os.path.join(dump, "mask.nii.gz")).dataobj) > 0

        t = time.perf_counter()
        pam, sphere, qmax, qmean = peaks_from_tensor(tensor6, mask, fa, affine)
        peaks_s = time.perf_counter() - t
        seeds = seeds_from_mask(mask & (fa >= FA_THR), affine, density=2)
        seeds = seed_order_like_evidentia(seeds)
        sub = seeds[::EVERY]
        sc = ThresholdStoppingCriterion(fa, FA_THR)

        row = {"step_mm": step, "seeds_total_dipy": len(seeds), "seeds_subset": len(sub),
               "peaks_s": peaks_s, "quant_err_deg_max": qmax, "quant_err_deg_mean": qmean}
        whole = ev["whole brain"]
        row["evidentia_full"] = {"seeds": whole["seeds"], "kept": whole["kept"], "wall_s": whole["wall_s"],
                                 "mean_len_mm": whole["mean_length_mm"], "counts": whole["counts"]}
        cst = ev["track + select cst_left"]
        row["evidentia_cst_full"] = {"kept": cst["kept"], "wall_s": cst["wall_s"]}

        ev_sl = load_tck(os.path.join(dump, "whole_every8.tck"))
        s_ev, ev_kept = summarise(ev_sl, fa, inv)
        c_ev = select_cst_left(ev_kept)
        s_ev["cst_left"] = {"n": len(c_ev), **fa_along(c_ev, fa, inv)}
        row["evidentia_subset"] = s_ev
        del ev_sl

        t = time.perf_counter()
        sl = Streamlines(eudx_tracking(sub, sc, affine, pam=pam, sphere=sphere, step_size=step,
                                       max_angle=ANGLE, pmf_threshold=0.1, nbr_threads=a.threads,
                                       random_seed=1, return_all=True))
        dt = time.perf_counter() - t
        s_d, d_kept = summarise(list(sl), fa, inv)
        c_d = select_cst_left(d_kept)
        s_d["cst_left"] = {"n": len(c_d), **fa_along(c_d, fa, inv)}
        s_d["wall_s_subset"] = dt
        s_d["wall_s_scaled_full"] = dt * EVERY
        row["dipy_eudx_tracking"] = s_d
        del sl

        if not a.no_local_tracking:
            t = time.perf_counter()
            pam.qa_thr, pam.ang_thr, pam.total_weight = FA_THR, ANGLE, 0.5
            sl = Streamlines(LocalTracking(pam, sc, sub, affine, step_size=step, return_all=True))
            dt = time.perf_counter() - t
            s_l, l_kept = summarise(list(sl), fa, inv)
            c_l = select_cst_left(l_kept)
            s_l["cst_left"] = {"n": len(c_l), **fa_along(c_l, fa, inv)}
            s_l["wall_s_subset"] = dt
            s_l["wall_s_scaled_full"] = dt * EVERY
            row["dipy_local_tracking"] = s_l
            del sl

        row["speed_ratio_eudx_over_evidentia"] = s_d["wall_s_scaled_full"] / whole["wall_s"]
        print(json.dumps(row, indent=1))
        results.append(row)
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"dipy": dipy.__version__, "runs": results}, f, indent=1)


if __name__ == "__main__":
    main()
