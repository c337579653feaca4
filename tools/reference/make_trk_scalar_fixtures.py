"""TrackVis files with per-point scalars (FA, MD), for evidentia-dti's TRK reader and writer.

    pip install nibabel==5.4.2
    python tools/reference/make_trk_scalar_fixtures.py
        # writes crates/dti/tests/fixtures/dti/trk_scalars/{nibabel.trk, expected.json}: known
        # streamlines with per-point 'fa' and 'md' (data_per_point) saved by nibabel's TrkFile,
        # and the arrays as nibabel reads them back (RAS+ mm).
    python tools/reference/make_trk_scalar_fixtures.py --check
        # loads crates/dti/tests/fixtures/dti/trk_scalars/rust.trk (written by evidentia's
        # write_trk_with_scalars from expected.json's arrays: `cargo test -p evidentia-dti --test
        # trk_scalars` leaves a fresh copy in $TMPDIR/evidentia_trk_scalars/rust.trk) with
        # nibabel, compares it with expected.json and records the result under
        # "rust_trk_check" in expected.json.
"""
import json
import pathlib
import sys

import nibabel as nib
import numpy as np
from nibabel.streamlines import Field, Tractogram, TrkFile

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/dti/tests/fixtures/dti/trk_scalars"
AFF = np.array([[-2, 0, 0, 40], [0, 2, 0, -30], [0, 0, 2.5, -20], [0, 0, 0, 1]], float)
DIMS = (20, 22, 18)


def arrays():
    rng = np.random.default_rng(20261123)
    lines, fa, md = [], [], []
    for i in range(4):
        k = 3 + i
        start = rng.uniform(-10, 10, 3)
        steps = rng.normal(0, 1.0, (k, 3)) + np.array([1.0, 0.5, -0.25])
        lines.append((start + np.cumsum(steps, axis=0)).astype(np.float32))
        fa.append(rng.uniform(0.1, 0.9, (k, 1)).astype(np.float32))
        md.append(rng.uniform(0.6e-3, 1.2e-3, (k, 1)).astype(np.float32))
    return lines, fa, md


def summary(t):
    return {
        "voxel_order": t.header[Field.VOXEL_ORDER].decode()
        if isinstance(t.header[Field.VOXEL_ORDER], bytes)
        else str(t.header[Field.VOXEL_ORDER]),
        "dims": [int(v) for v in t.header[Field.DIMENSIONS]],
        "nb_scalars_per_point": int(t.header[Field.NB_SCALARS_PER_POINT]),
        "streamlines": [np.asarray(s, float).tolist() for s in t.streamlines],
        "scalars": {
            k: np.concatenate([np.asarray(x, float).ravel() for x in v]).tolist()
            for k, v in sorted(t.tractogram.data_per_point.items())
        },
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    lines, fa, md = arrays()
    hdr = {
        Field.VOXEL_TO_RASMM: AFF.astype(np.float32),
        Field.DIMENSIONS: np.array(DIMS, np.int16),
        Field.VOXEL_SIZES: np.sqrt((AFF[:3, :3] ** 2).sum(0)).astype(np.float32),
    }
    tg = Tractogram(lines, data_per_point={"fa": fa, "md": md}, affine_to_rasmm=np.eye(4))
    TrkFile(tg, header=hdr).save(str(OUT / "nibabel.trk"))
    back = nib.streamlines.load(str(OUT / "nibabel.trk"))
    exp = {
        "nibabel_version": nib.__version__,
        "numpy_version": np.__version__,
        "affine": AFF.tolist(),
        "written_by_nibabel": summary(back),
    }
    old = OUT / "expected.json"
    if old.exists():
        prev = json.loads(old.read_text())
        if "rust_trk_check" in prev:
            exp["rust_trk_check"] = prev["rust_trk_check"]
    old.write_text(json.dumps(exp, indent=1) + "\n")
    print("wrote", OUT)


def check():
    exp = json.loads((OUT / "expected.json").read_text())
    want = exp["written_by_nibabel"]
    got = summary(nib.streamlines.load(str(OUT / "rust.trk")))
    # Voxel orders may differ (nibabel's default header says RAS, evidentia writes the affine's
    # own, LAS here); points are compared in RAS+ mm.
    assert got["dims"] == want["dims"], got["dims"]
    assert got["nb_scalars_per_point"] == 2
    assert sorted(got["scalars"]) == ["fa", "md"], sorted(got["scalars"])
    worst_pos = max(
        float(np.abs(np.array(a) - np.array(b)).max())
        for a, b in zip(got["streamlines"], want["streamlines"], strict=True)
    )
    worst_sc = max(
        float(np.abs(np.array(got["scalars"][k]) - np.array(want["scalars"][k])).max()) for k in ("fa", "md")
    )
    assert worst_pos < 1e-4 and worst_sc == 0.0, (worst_pos, worst_sc)
    exp["rust_trk_check"] = {
        "loaded_by": f"nibabel {nib.__version__} nibabel.streamlines.load",
        "streamlines": len(got["streamlines"]),
        "scalar_names": sorted(got["scalars"]),
        "voxel_order": got["voxel_order"],
        "largest_point_difference_mm": worst_pos,
        "largest_scalar_difference": worst_sc,
        "result": "OK",
    }
    (OUT / "expected.json").write_text(json.dumps(exp, indent=1) + "\n")
    print(json.dumps(exp["rust_trk_check"], indent=1))


if __name__ == "__main__":
    check() if sys.argv[1:] == ["--check"] else main()
