#!/usr/bin/env python3
"""Reference tensor fits and brain masks from DIPY on DIPY's own small datasets.

Writes crates/dti/tests/fixtures/dti_fit/:
  <name>.json          dims, b-values, b-vectors (DIPY's gradient table), versions, notes
  <name>.signals.f32   voxel-major little-endian float32 signals (voxel index
                       x + nx*(y + ny*z), all volumes of a voxel together)
  <name>.<method>.f64  per voxel: FA, MD, AD, RD, l1, l2, l3, V1x, V1y, V1z (float64 LE)
                       for method in ols, wls, nlls, restore (sigma=None), restore_sigma
  <name>.mask_default.u8  median_otsu mask (radius 4, numpass 4) on the mean b0
  <name>.mask_r1p2d1.u8   median_otsu mask (radius 1, numpass 2, dilate 1)

Fits use TensorModel on every voxel (no mask). Requires: pip install dipy==1.12.1
(this run: see the versions recorded in each JSON). Run from the repository root:
  python tools/reference/make_dti_fits.py
"""

import json
import os
import sys
import warnings

import dipy
import nibabel as nib
import numpy as np
import scipy
from dipy.core.gradients import gradient_table
from dipy.io.gradients import read_bvals_bvecs
from dipy.reconst.dti import TensorModel
from dipy.segment import mask as dmask

OUT = os.path.join("crates", "dti", "tests", "fixtures", "dti_fit")
FILES = os.path.join(os.path.dirname(dipy.__file__), "data", "files")
DATASETS = [
    ("small_64D", "small_64D.nii"),
    ("small_101D", "small_101D.nii.gz"),
    ("small_25", "small_25.nii.gz"),
]


def voxel_major(arr4):
    """(nx, ny, nz, nt) -> (nx*ny*nz, nt) with x fastest."""
    return np.ascontiguousarray(arr4.transpose(2, 1, 0, 3).reshape(-1, arr4.shape[3]))


def flat3(arr3):
    return np.ascontiguousarray(arr3.transpose(2, 1, 0).reshape(-1))


def maps(fit):
    ev = fit.evals.reshape(-1, 3)
    v1 = fit.evecs[..., :, 0]
    cols = [fit.fa, fit.md, fit.ad, fit.rd]
    out = np.column_stack(
        [flat3(np.asarray(c, dtype=np.float64)) for c in cols]
        + [flat3(fit.evals[..., k]) for k in range(3)]
        + [flat3(v1[..., k]) for k in range(3)]
    )
    assert out.shape[0] == ev.shape[0]
    return out.astype("<f8")


def main():
    # DIPY's median_otsu uses skimage's Otsu when skimage is installed: record which.
    otsu_impl = dmask.otsu.__module__
    os.makedirs(OUT, exist_ok=True)
    for name, fname in DATASETS:
        img = nib.load(os.path.join(FILES, fname))
        data = np.asarray(img.dataobj)
        bvals, bvecs = read_bvals_bvecs(
            os.path.join(FILES, name + ".bval"), os.path.join(FILES, name + ".bvec")
        )
        gtab = gradient_table(bvals, bvecs=bvecs)
        nx, ny, nz, nt = data.shape
        sig = voxel_major(data).astype("<f4")
        sig.tofile(os.path.join(OUT, name + ".signals.f32"))
        meta = {
            "dataset": name,
            "file": fname,
            "dims": [nx, ny, nz, nt],
            "dtype": str(img.get_data_dtype()),
            "bvals": [float(b) for b in gtab.bvals],
            "bvecs": [[float(c) for c in v] for v in gtab.bvecs],
            "b0_threshold": float(gtab.b0_threshold),
            "b0_indices": [int(i) for i in np.where(gtab.b0s_mask)[0]],
            "versions": {
                "dipy": dipy.__version__,
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "nibabel": nib.__version__,
                "python": sys.version.split()[0],
                "otsu": otsu_impl,
            },
            "columns": ["fa", "md", "ad", "rd", "l1", "l2", "l3", "v1x", "v1y", "v1z"],
            "notes": "bvecs are DIPY's gtab.bvecs (not renormalised; b0 rows as DIPY holds "
            "them, NaN rows read as 0). The fits use every volume with its own b-value and "
            "direction, including b0-threshold volumes with b > 0 (small_101D's b=15).",
        }
        mean_b0 = np.mean(data[..., gtab.b0s_mask], axis=3)
        # A fixed sigma exercises RESTORE's given-sigma branch. These crops have almost no
        # background, so it is an arbitrary value (5% of the spread of the mean b0, + 1),
        # not a noise estimate.
        sigma = float(np.std(mean_b0) * 0.05 + 1.0)
        meta["restore_sigma"] = sigma
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs = {
                "ols": TensorModel(gtab, fit_method="OLS"),
                "wls": TensorModel(gtab, fit_method="WLS"),
                "nlls": TensorModel(gtab, fit_method="NLLS"),
                "restore": TensorModel(gtab, fit_method="RESTORE"),
                "restore_sigma": TensorModel(gtab, fit_method="RESTORE", sigma=sigma),
            }
            for key, model in runs.items():
                fit = model.fit(data)
                maps(fit).tofile(os.path.join(OUT, f"{name}.{key}.f64"))
                if key.startswith("restore"):
                    robust = fit.model.extra.get("robust") if hasattr(fit.model, "extra") else None
                    if robust is not None:
                        dropped = (robust.reshape(-1, nt) == 0).sum(axis=1)
                        # Same voxel order as the signals.
                        dropped = flat3(dropped.reshape(nx, ny, nz))
                        meta[f"{key}_outliers"] = [int(d) for d in dropped]
        for key, kw in [
            ("mask_default", {}),
            ("mask_r1p2d1", {"median_radius": 1, "numpass": 2, "dilate": 1}),
        ]:
            _, m = dmask.median_otsu(data, vol_idx=np.where(gtab.b0s_mask)[0], **kw)
            flat3(m).astype(np.uint8).tofile(os.path.join(OUT, f"{name}.{key}.u8"))
            meta[f"{key}_count"] = int(m.sum())
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(meta, f, indent=1)
        print(name, data.shape, {k: meta[k] for k in meta if k.endswith("_count")})


if __name__ == "__main__":
    main()
