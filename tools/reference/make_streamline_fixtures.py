"""Streamline files written by nibabel, for evidentia-dti's TRK/TCK readers.

Writes crates/dti/tests/fixtures/dti/streamlines/{las.trk, oblique.trk, lps_order.trk, las.tck,
expected.json}. expected.json holds nibabel's version and the streamlines in RAS+ mm as nibabel
reads them back (float32 values as decimal), per file.

    python tools/reference/make_streamline_fixtures.py          # write fixtures
    python tools/reference/make_streamline_fixtures.py --check DIR
        # read DIR/rust.trk and DIR/rust.tck (written by `cargo test -p evidentia-dti --test
        # streamlines`, in the system temp dir under evidentia_streamlines_check) with nibabel and
        # compare them with the streamlines the Rust test wrote (DIR/rust_expected.json).
"""
import json
import pathlib
import sys

import nibabel as nib
import numpy as np
from nibabel.streamlines import Field, TckFile, Tractogram, TrkFile

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/dti/tests/fixtures/dti/streamlines"


def streamlines(rng, n=4):
    out = []
    for i in range(n):
        k = 3 + 2 * i
        start = rng.uniform(-10, 10, 3)
        steps = rng.normal(0, 1.0, (k, 3)) + np.array([1.0, 0.5, -0.25])
        out.append((start + np.cumsum(steps, axis=0)).astype(np.float32))
    return out


def rot(a, b):
    ca, sa, cb, sb = np.cos(a), np.sin(a), np.cos(b), np.sin(b)
    rz = np.array([[ca, -sa, 0], [sa, ca, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cb, -sb], [0, sb, cb]])
    return rz @ rx


def main():
    rng = np.random.default_rng(20261121)
    OUT.mkdir(parents=True, exist_ok=True)
    las = np.array([[-2, 0, 0, 40], [0, 2, 0, -30], [0, 0, 2.5, -20], [0, 0, 0, 1]], float)
    obl = np.eye(4)
    obl[:3, :3] = rot(0.3, -0.2) @ np.diag([1.5, 2.0, 2.5])
    obl[:3, 3] = [-12.0, 7.5, 3.25]
    ras = np.diag([2.0, 2.0, 2.0, 1.0])
    ras[:3, 3] = [-20, -22, -18]
    cases = {
        "las.trk": (las, (20, 22, 18), None),
        "oblique.trk": (obl, (16, 12, 10), None),
        # Header voxel order LPS with a RAS affine: nibabel flips x and y in the file.
        "lps_order.trk": (ras, (21, 23, 19), "LPS"),
    }
    expected = {"nibabel_version": nib.__version__, "numpy_version": np.__version__, "files": {}}
    for name, (aff, dims, order) in cases.items():
        sl = streamlines(rng)
        hdr = {
            Field.VOXEL_TO_RASMM: aff.astype(np.float32),
            Field.DIMENSIONS: np.array(dims, np.int16),
            Field.VOXEL_SIZES: np.sqrt((aff[:3, :3] ** 2).sum(0)).astype(np.float32),
        }
        if order:
            hdr[Field.VOXEL_ORDER] = order
        TrkFile(Tractogram(sl, affine_to_rasmm=np.eye(4)), header=hdr).save(str(OUT / name))
        back = nib.streamlines.load(str(OUT / name))
        expected["files"][name] = {
            "voxel_order": back.header[Field.VOXEL_ORDER].decode()
            if isinstance(back.header[Field.VOXEL_ORDER], bytes)
            else str(back.header[Field.VOXEL_ORDER]),
            "dims": [int(v) for v in back.header[Field.DIMENSIONS]],
            "streamlines": [s.astype(float).tolist() for s in back.streamlines],
        }
    sl = streamlines(rng, 5)
    TckFile(Tractogram(sl, affine_to_rasmm=np.eye(4))).save(str(OUT / "las.tck"))
    back = nib.streamlines.load(str(OUT / "las.tck"))
    expected["files"]["las.tck"] = {"streamlines": [s.astype(float).tolist() for s in back.streamlines]}
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print("wrote", OUT)


def check(d):
    d = pathlib.Path(d)
    exp = json.loads((d / "rust_expected.json").read_text())["streamlines"]
    worst = 0.0
    for f in ["rust.trk", "rust.tck"]:
        got = nib.streamlines.load(str(d / f)).streamlines
        assert len(got) == len(exp), (f, len(got), len(exp))
        for g, e in zip(got, exp):
            worst = max(worst, float(np.abs(np.asarray(g) - np.asarray(e)).max()))
        print(f, "read by nibabel", nib.__version__, ":", len(got), "streamlines")
    print("largest |difference| (mm):", worst)
    assert worst < 1e-4


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        main()
