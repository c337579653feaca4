"""TRX files for evidentia-dti's TRX reader and writer, checked with trx-python.

    pip install trx-python==0.6 nibabel
    python tools/reference/make_trx_fixtures.py
        # writes crates/dti/tests/fixtures/dti/trx/{trx_python.trx, expected.json}:
        # known arrays (streamlines in RAS+ mm, per-vertex fa/md, groups) saved by trx-python
        # (`TrxFile.from_tractogram`, groups assigned, `save`), and the arrays as trx-python
        # reads the file back.
    python tools/reference/make_trx_fixtures.py --check
        # loads crates/dti/tests/fixtures/dti/trx/rust.trx (written by evidentia's write_trx
        # from expected.json's arrays: `cargo test -p evidentia-dti --test trx` leaves a
        # fresh copy in $TMPDIR/evidentia_trx_fixture/rust.trx) with
        # trx.trx_file_memmap.load, compares every array with expected.json and records the
        # result under "rust_trx_check" in expected.json.
"""
import json
import pathlib
import sys
from importlib.metadata import version

import nibabel as nib
import numpy as np
from nibabel.streamlines import ArraySequence, Tractogram
from trx.trx_file_memmap import TrxFile, load, save

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/dti/tests/fixtures/dti/trx"


def arrays():
    rng = np.random.default_rng(20261122)
    lines = []
    for i in range(5):
        k = 2 + i
        start = rng.uniform(-10, 10, 3)
        steps = rng.normal(0, 1.0, (k, 3)) + np.array([0.5, 1.0, -0.25])
        lines.append((start + np.cumsum(steps, axis=0)).astype(np.float32))
    nv = sum(len(x) for x in lines)
    fa = rng.uniform(0.1, 0.9, nv).astype(np.float32)
    md = rng.uniform(0.6e-3, 1.2e-3, nv).astype(np.float32)
    groups = {"cst_left": np.array([0, 2, 3], np.uint32), "ptr_right": np.array([1, 4], np.uint32)}
    aff = np.array([[-2, 0, 0, 40], [0, 2, 0, -30], [0, 0, 2.5, -20], [0, 0, 0, 1]], np.float32)
    dims = np.array([20, 22, 18], np.uint16)
    return lines, fa, md, groups, aff, dims


def summary(t):
    return {
        "header": {
            "DIMENSIONS": [int(v) for v in t.header["DIMENSIONS"]],
            "VOXEL_TO_RASMM": np.asarray(t.header["VOXEL_TO_RASMM"], float).tolist(),
            "NB_STREAMLINES": int(t.header["NB_STREAMLINES"]),
            "NB_VERTICES": int(t.header["NB_VERTICES"]),
        },
        "streamlines": [np.asarray(s, float).tolist() for s in t.streamlines],
        "dpv": {k: np.asarray(v._data, float).ravel().tolist() for k, v in sorted(t.data_per_vertex.items())},
        "groups": {k: [int(i) for i in v] for k, v in sorted(t.groups.items())},
    }


def main():
    lines, fa, md, groups, aff, dims = arrays()
    OUT.mkdir(parents=True, exist_ok=True)
    tg = Tractogram(
        ArraySequence(lines),
        data_per_point={"fa": ArraySequence(np.split(fa[:, None], np.cumsum([len(x) for x in lines])[:-1])),
                        "md": ArraySequence(np.split(md[:, None], np.cumsum([len(x) for x in lines])[:-1]))},
        affine_to_rasmm=np.eye(4),
    )
    img = nib.Nifti1Image(np.zeros(tuple(int(d) for d in dims), np.uint8), aff.astype(float))
    trx = TrxFile.from_tractogram(tg, reference=img)
    for k, v in groups.items():
        trx.groups[k] = v
    save(trx, str(OUT / "trx_python.trx"))
    back = load(str(OUT / "trx_python.trx"))
    exp = {
        "trx_python_version": version("trx-python"),
        "nibabel_version": nib.__version__,
        "numpy_version": np.__version__,
        "written_by_trx_python": summary(back),
    }
    old = OUT / "expected.json"
    if old.exists():
        prev = json.loads(old.read_text())
        if "rust_trx_check" in prev:
            exp["rust_trx_check"] = prev["rust_trx_check"]
    old.write_text(json.dumps(exp, indent=1) + "\n")
    print("members:", sorted(__import__("zipfile").ZipFile(OUT / "trx_python.trx").namelist()))
    print("wrote", OUT)


def check():
    exp = json.loads((OUT / "expected.json").read_text())
    want = exp["written_by_trx_python"]
    t = load(str(OUT / "rust.trx"))
    got = summary(t)
    worst = {"positions_mm": 0.0, "dpv": 0.0}
    assert got["header"]["NB_STREAMLINES"] == want["header"]["NB_STREAMLINES"]
    assert got["header"]["NB_VERTICES"] == want["header"]["NB_VERTICES"]
    assert got["header"]["DIMENSIONS"] == want["header"]["DIMENSIONS"]
    assert np.allclose(got["header"]["VOXEL_TO_RASMM"], want["header"]["VOXEL_TO_RASMM"])
    for a, b in zip(got["streamlines"], want["streamlines"], strict=True):
        worst["positions_mm"] = max(worst["positions_mm"], float(np.abs(np.array(a) - np.array(b)).max()))
    assert sorted(got["dpv"]) == sorted(want["dpv"])
    for k in want["dpv"]:
        worst["dpv"] = max(worst["dpv"], float(np.abs(np.array(got["dpv"][k]) - np.array(want["dpv"][k])).max()))
    assert got["groups"] == want["groups"], (got["groups"], want["groups"])
    assert worst["positions_mm"] == 0.0 and worst["dpv"] == 0.0, worst
    import zipfile
    exp["rust_trx_check"] = {
        "loaded_by": f"trx-python {version('trx-python')} trx.trx_file_memmap.load",
        "members": sorted(zipfile.ZipFile(OUT / "rust.trx").namelist()),
        "streamlines": len(got["streamlines"]),
        "groups": got["groups"],
        "dpv": sorted(got["dpv"]),
        "largest_difference": worst,
        "result": "OK",
    }
    (OUT / "expected.json").write_text(json.dumps(exp, indent=1) + "\n")
    print(json.dumps(exp["rust_trx_check"], indent=1))


if __name__ == "__main__":
    check() if sys.argv[1:] == ["--check"] else main()
