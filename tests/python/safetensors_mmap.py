"""Loads tensors of a safetensors file the way model loaders do and checks them.

    safetensors_mmap.py FILE SPEC.json [NAME ...]

SPEC.json maps each tensor name to {"dtype", "shape", "offset", "len", "sha256"}: what the
tensor must be (offset and len are absolute byte positions in FILE; sha256 is of its bytes).

With NAMEs, only those tensors are loaded with `safe_open(FILE, framework="numpy")`, which
memory-maps FILE and copies each tensor out of the mapping. Without NAMEs, every tensor is loaded
that way, and each is also read through an explicit `mmap.mmap` of FILE.

Prints {"checked": [names]} on success; on the first mismatch prints why and exits with 1.
"""

import hashlib
import json
import mmap
import sys

import numpy as np
from safetensors import safe_open

DTYPES = {"F32": np.float32, "F16": np.float16}


def fail(msg):
    print(f"MISMATCH: {msg}", file=sys.stderr)
    sys.exit(1)


def check(name, arr, want):
    if arr.dtype != np.dtype(DTYPES[want["dtype"]]).newbyteorder("<"):
        fail(f"{name}: dtype {arr.dtype}, want {want['dtype']}")
    if list(arr.shape) != want["shape"]:
        fail(f"{name}: shape {list(arr.shape)}, want {want['shape']}")
    # Little-endian bytes, as stored in the file.
    got = hashlib.sha256(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()).hexdigest()
    if got != want["sha256"]:
        fail(f"{name}: sha256 {got}, want {want['sha256']}")


def main():
    path, spec_path, names = sys.argv[1], sys.argv[2], sys.argv[3:]
    with open(spec_path) as f:
        spec = json.load(f)
    checked = []
    with safe_open(path, framework="numpy") as st:
        listed = sorted(st.keys())
        if listed != sorted(spec):
            fail(f"tensors {listed}, want {sorted(spec)}")
        for name in names or listed:
            check(name, st.get_tensor(name), spec[name])
            checked.append(name)
    if not names:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            for name, want in spec.items():
                raw = m[want["offset"] : want["offset"] + want["len"]]
                arr = np.frombuffer(raw, dtype=np.dtype(DTYPES[want["dtype"]]).newbyteorder("<"))
                check(name, arr.reshape(want["shape"]), want)
    print(json.dumps({"checked": checked}))


if __name__ == "__main__":
    main()
