#!/usr/bin/env bash
# Reads the same ~50 MB int16 .nii.gz with Evidentia (libdeflate, decode to f32) and with
# nibabel (`np.asarray(img.dataobj, dtype=np.float32)`, the closest equivalent), and prints
# the ratio. Usage: bench/nifti_read.sh [FILE]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
f="${1:-/tmp/gzbench.nii.gz}"
[ -f "$f" ] || python "$here/make_gzip_bench_input.py" "$f"
cd "$here/.."
out=$(cargo run -q --release -p evidentia-dti --example nifti_read_bench -- "$f" 5)
echo "$out"
python - "$f" "$out" <<'PY'
import re, sys, time
import numpy as np, nibabel as nib
f, out = sys.argv[1], sys.argv[2]
ts = []
for _ in range(3):
    t = time.perf_counter()
    img = nib.load(f)
    a = np.asarray(img.dataobj, dtype=np.float32)
    ts.append(time.perf_counter() - t)
nb = min(ts)
ev = float(re.search(r"min ([0-9.]+) s", out).group(1))
print(f"nibabel {nib.__version__} load + float32: min {nb:.3f} s (3 runs)")
print(f"ratio nibabel / evidentia: {nb / ev:.2f}x")
PY
