"""Writes a phantom-sized 4-D int16 DWI-like image (96x96x60x69, ~76 MB raw) as .nii.gz
for the gzip back-end benchmark. Deterministic (seed 42). Usage: python make_gzip_bench_input.py OUT.nii.gz"""
import sys
import numpy as np
import nibabel as nib

rng = np.random.default_rng(42)
nx, ny, nz, nt = 96, 96, 60, 69
x, y, z = np.meshgrid(np.linspace(-1, 1, nx), np.linspace(-1, 1, ny), np.linspace(-1, 1, nz), indexing="ij")
brain = (x**2 / 0.8 + y**2 / 0.9 + z**2 / 0.7) < 1.0
md = 0.0008 + 0.0020 * ((x**2 + y**2) < 0.05)
data = np.empty((nx, ny, nz, nt), dtype=np.int16)
for t in range(nt):
    b = 0.0 if t % 17 == 0 else 1000.0
    s = 1000.0 * np.exp(-b * md * (1.0 + 0.5 * np.sin(3 * x + t) * np.cos(2 * y))) * brain
    noisy = np.hypot(s + rng.normal(0, 50, s.shape), rng.normal(0, 50, s.shape))
    data[..., t] = np.clip(np.round(noisy), 0, 32767).astype(np.int16)
img = nib.Nifti1Image(data, np.diag([-2.0, 2.0, 2.0, 1.0]))
nib.save(img, sys.argv[1])
