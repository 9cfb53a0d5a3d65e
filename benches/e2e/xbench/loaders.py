"""Loads every tensor of a safetensors file the two ways model loaders do, timed inside the
process. Prints one JSON line.

- `mmap`:  `safe_open(path, "np")` maps the file; `get_tensor` copies each tensor out of the
  mapping (page faults through the filesystem).
- `plain`: `f.read()` of the whole file, then `safetensors.numpy.load` of the bytes.

Usage: python -m xbench.loaders mmap|plain PATH
"""

import json
import sys
import time

import safetensors.numpy
from safetensors import safe_open


def load_mmap(path):
    total = 0
    with safe_open(path, framework="np") as f:
        for name in f.keys():
            total += f.get_tensor(name).nbytes
    return total


def load_plain(path):
    with open(path, "rb") as f:
        data = f.read()
    tensors = safetensors.numpy.load(data)
    return sum(t.nbytes for t in tensors.values())


def main():
    mode, path = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    n = {"mmap": load_mmap, "plain": load_plain}[mode](path)
    print(json.dumps({"seconds": time.perf_counter() - t0, "tensor_bytes": n}))


if __name__ == "__main__":
    main()
