"""Writes the NIfTI reader fixtures and their expected values (nibabel's reading).

Run from the repository root:  python tools/reference/make_nifti_fixtures.py
Needs nibabel (5.4.2 used) and dipy 1.12.1 (for its small BSD-licensed datasets).

Outputs
- crates/dti/tests/fixtures/nifti/*.nii[.gz] + expected.json: small images built
  header-field by header-field with nibabel's header classes (so every case is exactly
  the one named), then read back with `nib.load`: `img.affine`, `img.shape`, and
  `img.get_fdata()` (float64, Fortran/NIfTI order) are the expected values.
- crates/dti/tests/fixtures/dipy/: copies of dipy/data/files/small_{64D,101D,25}.*
  and expected.json with nibabel's affine, shape, header codes, a few voxel values and
  the sum of all values.
"""
import gzip
import json
import os
import shutil
import struct

import numpy as np
import nibabel as nib
import dipy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NIFTI = os.path.join(ROOT, "crates/dti/tests/fixtures/nifti")
DIPY = os.path.join(ROOT, "crates/dti/tests/fixtures/dipy")
os.makedirs(NIFTI, exist_ok=True)
os.makedirs(DIPY, exist_ok=True)

c, s = np.cos(0.3), np.sin(0.3)
OBLIQUE = np.array(
    [[-2.0 * c, 0.0, 2.5 * s, 10.5], [2.0 * s, 0.1, 2.5 * c, -20.25], [0.0, 2.2, 0.0, 5.0], [0, 0, 0, 1]]
)
ROT_Z = np.array([[c, -s, 0, -7.0], [s, c, 0, 3.0], [0, 0, 1, 12.0], [0, 0, 0, 1]]) @ np.diag([1.5, 2.0, -3.0, 1])


def values(dtype, shape):
    """Deterministic values spanning the type's range (extremes included)."""
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind == "f":
        v = np.linspace(-1000.5, 2000.25, n).astype(dt)
        v[0], v[-1] = np.finfo(np.float32).max / 4, -0.0
    else:
        info = np.iinfo(dt)
        v = np.linspace(float(info.min) / 3, float(info.max) / 3, n).astype(dt)
        v[0], v[-1] = info.min, info.max
        if n > 2:
            v[1] = 0
    return v.reshape(shape, order="F")


def write_raw(path, hdr, data, extensions_bytes=b"\0\0\0\0", gz_members=1):
    """Header binary block + extension flag/bytes + data, in the header's byte order."""
    data = np.asarray(data, dtype=hdr.get_data_dtype())
    body = hdr.binaryblock + extensions_bytes
    pad = int(hdr["vox_offset"]) - len(body)
    assert pad >= 0, (path, pad)
    blob = body + b"\0" * pad + data.tobytes(order="F")
    if path.endswith(".gz"):
        if gz_members == 1:
            out = gzip.compress(blob, mtime=0)
        else:
            cut = len(blob) // gz_members
            parts = [blob[i * cut : (i + 1) * cut if i < gz_members - 1 else len(blob)] for i in range(gz_members)]
            out = b"".join(gzip.compress(p, mtime=0) for p in parts)
        open(path, "wb").write(out)
    else:
        open(path, "wb").write(blob)


def make_header(klass, dtype, shape, endian="<", affine=OBLIQUE, sform=1, qform=1, slope=np.nan, inter=np.nan):
    hdr = klass(endianness=endian)
    hdr.set_data_dtype(dtype)
    hdr.set_data_shape(shape)
    if qform is not None:
        hdr.set_qform(affine, code=qform)
    if sform is not None:
        hdr.set_sform(affine, code=sform)
    hdr["scl_slope"], hdr["scl_inter"] = slope, inter
    hdr["vox_offset"] = 352 if klass is nib.Nifti1Header else 544
    return hdr


expected = {}


def record(name, extra=None):
    img = nib.load(os.path.join(NIFTI, name))
    hdr = img.header
    entry = {
        "shape": list(img.shape),
        "affine": img.affine.tolist(),
        "datatype": int(hdr["datatype"]),
        "version": 2 if isinstance(hdr, nib.Nifti2Header) else 1,
        "big_endian": hdr.endianness == ">",
        "sform_code": int(hdr["sform_code"]),
        "qform_code": int(hdr["qform_code"]),
        "data": np.asarray(img.get_fdata(), dtype=np.float64).ravel(order="F").tolist(),
    }
    entry.update(extra or {})
    expected[name] = entry


DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"]
for dt in DTYPES:
    shape = (4, 3, 2)
    name = f"dtype_{dt}.nii"
    write_raw(os.path.join(NIFTI, name), make_header(nib.Nifti1Header, dt, shape), values(dt, shape))
    record(name)

# Big-endian, 4-D, scaled int16.
shape = (3, 3, 2, 2)
h = make_header(nib.Nifti1Header, "int16", shape, endian=">", slope=2.0, inter=-1.0)
write_raw(os.path.join(NIFTI, "be_int16_scaled.nii"), h, values("int16", shape))
record("be_int16_scaled.nii")

# Scaling cases.
for name, dt, slope, inter in [
    ("scaled_uint8.nii", "uint8", 0.25, 3.5),
    ("scaled_float32.nii", "float32", 2.0, 1.0),
    ("scaled_int32.nii", "int32", 1e-3, -5.0),
    ("slope_zero_int16.nii", "int16", 0.0, 7.0),
    ("slope_nan_int16.nii", "int16", np.nan, 7.0),
    ("slope_inf_uint16.nii", "uint16", np.inf, 7.0),
]:
    shape = (4, 3, 2)
    write_raw(os.path.join(NIFTI, name), make_header(nib.Nifti1Header, dt, shape, slope=slope, inter=inter), values(dt, shape))
    record(name)

# NIfTI-2, little- and big-endian.
shape = (3, 2, 2, 3)
write_raw(os.path.join(NIFTI, "nifti2_float32.nii"), make_header(nib.Nifti2Header, "float32", shape, affine=ROT_Z, sform=0, qform=1), values("float32", shape))
record("nifti2_float32.nii")
write_raw(os.path.join(NIFTI, "nifti2_be_int16_scaled.nii"), make_header(nib.Nifti2Header, "int16", shape, endian=">", slope=0.5, inter=2.0), values("int16", shape))
record("nifti2_be_int16_scaled.nii")

# Form precedence.
shape = (4, 3, 2)
write_raw(os.path.join(NIFTI, "qform_only.nii"), make_header(nib.Nifti1Header, "int16", shape, affine=ROT_Z, sform=0, qform=1), values("int16", shape))
record("qform_only.nii")
write_raw(os.path.join(NIFTI, "sform_only.nii"), make_header(nib.Nifti1Header, "int16", shape, affine=OBLIQUE, sform=2, qform=0), values("int16", shape))
record("sform_only.nii")
h = make_header(nib.Nifti1Header, "int16", shape, sform=0, qform=0)
h["pixdim"][1:4] = [2.0, 3.0, 4.0]
write_raw(os.path.join(NIFTI, "neither.nii"), h, values("int16", shape))
record("neither.nii")
# Both set and different: the sform wins.
h = make_header(nib.Nifti1Header, "int16", shape, affine=ROT_Z, sform=None, qform=1)
h.set_sform(OBLIQUE, code=4)
write_raw(os.path.join(NIFTI, "both_differ.nii"), h, values("int16", shape))
record("both_differ.nii")
# qfac stored as 0 (nibabel reads it as 1) and a negative pixdim (read as its absolute value).
h = make_header(nib.Nifti1Header, "int16", shape, affine=ROT_Z, sform=0, qform=1)
h["pixdim"][0] = 0.0
h["pixdim"][2] = -h["pixdim"][2]
write_raw(os.path.join(NIFTI, "qform_qfac0_negpix.nii"), h, values("int16", shape))
record("qform_qfac0_negpix.nii")
# 180-degree rotation: quaternion b = 1, w = 0.
h = make_header(nib.Nifti1Header, "uint8", shape, sform=0, qform=1, affine=np.diag([2.0, -2.0, -2.0, 1.0]))
write_raw(os.path.join(NIFTI, "qform_w0.nii"), h, values("uint8", shape))
record("qform_w0.nii", {"quatern_b": float(h["quatern_b"])})

# An extension before the data (vox_offset 400).
h = make_header(nib.Nifti1Header, "float32", shape)
content = b"evidentia fixture".ljust(40, b"\0")  # esize 48: the extension fills 352..400
ext_bytes = b"\1\0\0\0" + struct.pack("<ii", 8 + len(content), 6) + content  # ecode 6: comment
h["vox_offset"] = 400
write_raw(os.path.join(NIFTI, "extension_offset400.nii"), h, values("float32", shape), extensions_bytes=ext_bytes)
record("extension_offset400.nii")

# gzip, single and multi-member.
shape = (5, 4, 3, 2)
write_raw(os.path.join(NIFTI, "gz_int16.nii.gz"), make_header(nib.Nifti1Header, "int16", shape), values("int16", shape))
record("gz_int16.nii.gz")
write_raw(os.path.join(NIFTI, "gz_multimember_float32.nii.gz"), make_header(nib.Nifti1Header, "float32", shape), values("float32", shape), gz_members=3)
record("gz_multimember_float32.nii.gz")

# Rejected by the reader: complex and RGB data.
write_raw(os.path.join(NIFTI, "reject_complex64.nii"), make_header(nib.Nifti1Header, "complex64", (2, 2, 1)), np.zeros((2, 2, 1), np.complex64))
rgb = np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")])
write_raw(os.path.join(NIFTI, "reject_rgb24.nii"), make_header(nib.Nifti1Header, rgb, (2, 2, 1)), np.zeros((2, 2, 1), rgb))

with open(os.path.join(NIFTI, "expected.json"), "w") as f:
    json.dump({"generator": "tools/reference/make_nifti_fixtures.py", "nibabel": nib.__version__, "numpy": np.__version__,
               "images": expected}, f, indent=1)

# DIPY's small datasets.
src = os.path.join(os.path.dirname(dipy.__file__), "data", "files")
dipy_expected = {}
for stem, ext in [("small_64D", ".nii"), ("small_101D", ".nii.gz"), ("small_25", ".nii.gz")]:
    for suffix in (ext, ".bval", ".bvec"):
        shutil.copyfile(os.path.join(src, stem + suffix), os.path.join(DIPY, stem + suffix))
    img = nib.load(os.path.join(DIPY, stem + ext))
    data = img.get_fdata()
    flat = data.ravel(order="F")
    idx = np.linspace(0, flat.size - 1, 25).astype(int).tolist()
    dipy_expected[stem + ext] = {
        "shape": list(img.shape),
        "affine": img.affine.tolist(),
        "datatype": int(img.header["datatype"]),
        "sform_code": int(img.header["sform_code"]),
        "qform_code": int(img.header["qform_code"]),
        "sample_indices": idx,
        "sample_values": [float(flat[i]) for i in idx],
        "sum": float(flat.sum()),
        "n_bvals": int(np.loadtxt(os.path.join(DIPY, stem + ".bval")).size),
    }
with open(os.path.join(DIPY, "expected.json"), "w") as f:
    json.dump({"generator": "tools/reference/make_nifti_fixtures.py", "nibabel": nib.__version__, "dipy": dipy.__version__,
               "images": dipy_expected}, f, indent=1)
print("wrote", len(expected), "NIfTI fixtures and", len(dipy_expected), "DIPY datasets")
