"""Reads the TRX written by `cargo test -p evidentia-cli --test dti track_writes_trx` with
trx-python and compares it with the TCK of the same tracking read by nibabel.

    pip install trx-python nibabel
    python tools/reference/check_trx.py /tmp/evidentia_trx_check
"""
import sys
from importlib.metadata import version
from pathlib import Path

import nibabel as nib
import numpy as np
from trx.trx_file_memmap import load

d = Path(sys.argv[1])
trx = load(str(d / "rust.trx"))
tck = nib.streamlines.load(str(d / "rust.tck"))
a = trx.streamlines
b = tck.streamlines
assert len(a) == len(b), (len(a), len(b))
diff = max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a, b))
fa = np.asarray(trx.data_per_vertex["fa"]._data).ravel()
print(f"trx-python {version('trx-python')}, nibabel {version('nibabel')}")
print(f"streamlines {len(a)}, vertices {len(fa)}, dims {trx.header['DIMENSIONS']}")
print("VOXEL_TO_RASMM", np.asarray(trx.header["VOXEL_TO_RASMM"]).tolist())
print(f"largest point difference TRX vs TCK: {diff:.3g} mm; mean per-point FA {fa.mean():.4f}")
assert diff == 0.0
print("OK")
