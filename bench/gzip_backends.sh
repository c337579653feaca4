#!/usr/bin/env bash
# Measures gzip inflate/deflate back-ends on a ~50 MB phantom-sized .nii.gz and nibabel's
# load of the same file, to justify the back-end used in crates/dti/src/nifti.rs.
# Usage: bench/gzip_backends.sh [FILE]   (generates FILE with make_gzip_bench_input.py if absent)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
f="${1:-/tmp/gzbench.nii.gz}"
[ -f "$f" ] || python "$here/make_gzip_bench_input.py" "$f"
cd "$here/gzip_backends"
CARGO_TARGET_DIR=/tmp/gzb-target cargo run -q --release -- "$f" 5
CARGO_TARGET_DIR=/tmp/gzb-target-zrs cargo run -q --release --no-default-features --features zlib-rs -- "$f" 5
python - "$f" <<'PY'
import sys, time, gzip, nibabel as nib
f = sys.argv[1]
raw = open(f, 'rb').read()
ts = []
for _ in range(3):
    t = time.perf_counter(); gzip.decompress(raw); ts.append(time.perf_counter() - t)
print(f"python zlib gzip.decompress         min {min(ts):.3f} s")
ts = []
for _ in range(3):
    t = time.perf_counter(); nib.load(f).dataobj.get_unscaled(); ts.append(time.perf_counter() - t)
print(f"nibabel {nib.__version__} load (int16, unscaled) min {min(ts):.3f} s")
PY
