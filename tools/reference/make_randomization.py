#!/usr/bin/env python3
"""Independent reference for crates/trial/src/randomize.rs.

Re-implements the documented list algorithm on the ChaCha20 keystream of the
`cryptography` package (OpenSSL's ChaCha20, not rand_chacha), so the Rust list for a
seed is checked against a second implementation of the same specification:

* key = the seed as 8 little-endian bytes followed by 24 zero bytes;
* one stream per stratum: the 128-bit counter||nonce block is counter 0 (64-bit LE)
  followed by the stratum index (64-bit LE), i.e. the original djb ChaCha20 layout
  that rand_chacha's `set_stream` uses;
* integers are successive little-endian 32-bit words of the keystream;
* uniform integer below n: reject words above u32::MAX - (2^32 mod n), then take x mod n;
* per block: the size is drawn uniformly from the sizes that fit the remaining list
  length (all sizes if none fits, last block cut); the block holds size/sum*ratio_i
  copies of arm i in arm order, shuffled by Fisher-Yates from the end (j uniform in 0..=i);
* strata: cartesian product of factor levels, first factor slowest, label
  `f1=l1;f2=l2`, list numbered 1.. across strata.

Writes crates/trial/tests/fixtures/trial/randomization_reference.json.
Run from the repository root:  python3 tools/reference/make_randomization.py
"""

import hashlib
import itertools
import json
import platform
import struct
from pathlib import Path

import cryptography
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms


class Stream:
    def __init__(self, seed, stream):
        key = struct.pack("<Q", seed) + bytes(24)
        nonce = struct.pack("<QQ", 0, stream)
        self.enc = Cipher(algorithms.ChaCha20(key, nonce), mode=None).encryptor()
        self.buf = b""

    def next_u32(self):
        if len(self.buf) < 4:
            self.buf += self.enc.update(bytes(4096))
        (x,) = struct.unpack("<I", self.buf[:4])
        self.buf = self.buf[4:]
        return x

    def below(self, n):
        zone = 0xFFFFFFFF - (2**32 % n)
        while True:
            x = self.next_u32()
            if x <= zone:
                return x % n


def make_list(arms, ratio, factors, block_sizes, per_stratum, seed):
    total = sum(ratio)
    levels = [[(f, l) for l in ls] for f, ls in factors]
    strata = list(itertools.product(*levels)) if factors else [()]
    lines = ["stratum,sequence,block,block_size,arm,randomization_number"]
    number = 0
    for si, st in enumerate(strata):
        label = ";".join(f"{f}={l}" for f, l in st) if st else "all"
        rng = Stream(seed, si)
        filled, block_id = 0, 0
        while filled < per_stratum:
            remaining = per_stratum - filled
            fitting = [b for b in block_sizes if b <= remaining] or block_sizes
            size = fitting[rng.below(len(fitting))]
            block = []
            for ai, r in enumerate(ratio):
                block += [ai] * (size // total * r)
            for i in range(len(block) - 1, 0, -1):
                j = rng.below(i + 1)
                block[i], block[j] = block[j], block[i]
            block_id += 1
            for ai in block[: min(size, remaining)]:
                filled += 1
                number += 1
                lines.append(f"{label},{filled},{block_id},{size},{arms[ai]},{number}")
    return "\n".join(lines) + "\n"


CASES = [
    dict(arms=["Control", "MSC"], ratio=[1, 1],
         factors=[["site", ["A", "B", "C"]], ["gmfcs", ["II-III", "IV-V"]]],
         block_sizes=[2, 4], per_stratum=40, seed=20170819),
    dict(arms=["MSC", "Control"], ratio=[2, 1], factors=[],
         block_sizes=[3, 6, 9], per_stratum=31, seed=7),
    dict(arms=["A", "B", "C"], ratio=[1, 1, 2], factors=[["sex", ["F", "M"]]],
         block_sizes=[4, 8], per_stratum=24, seed=2**64 - 1),
]


def main():
    out = []
    for c in CASES:
        text = make_list(**c)
        out.append(dict(c, sha256=hashlib.sha256(text.encode()).hexdigest(),
                        head=text.splitlines()[:12], rows=text.count("\n") - 1))
    path = Path("crates/trial/tests/fixtures/trial/randomization_reference.json")
    path.write_text(json.dumps({
        "generator": "tools/reference/make_randomization.py",
        "reference": f"cryptography {cryptography.__version__} ChaCha20 keystream, Python {platform.python_version()}",
        "cases": out,
    }, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
