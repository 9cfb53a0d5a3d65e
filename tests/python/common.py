"""Helpers shared by the client scripts. Every script prints one JSON line on success and exits
non-zero with a message on the first failure; tests/clients.rs drives them."""

import hashlib
import json
import sys


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def done(result):
    print(json.dumps(result))
