#!/usr/bin/env python3
"""Seeds tests/fuzz/corpus/<target>/ from the reference test vectors (run once before fuzzing).

Vectors: $XETFS_TESTVECTORS, default ../../../shared/testvectors relative to this file.
"""
import glob
import hashlib
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))
vectors = os.environ.get("XETFS_TESTVECTORS", os.path.join(here, "../../../shared/testvectors"))


def put(target, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


# record_reader: [chunk count, piece seed] + records (with and without footer).
for case in json.load(open(os.path.join(vectors, "xorb_serialization.json"))):
    for forms in case["serializations"].values():
        for form in forms.values():
            if "full_hex" in form:
                body = bytes.fromhex(form["full_hex"])
                put("record_reader", bytes([case["num_chunks"], 6]) + body)


def full_shard(upload):
    """The full form of an upload body: footer_size 200, lookup tables, footer v1."""
    pos, files, xorbs, entry = 48, [], [], 0
    while upload[pos:pos + 32] != b"\xff" * 32:
        flags, n = struct.unpack_from("<II", upload, pos + 32)
        files.append((struct.unpack_from("<Q", upload, pos)[0], entry))
        k = 1 + n + (n if flags & 0x80000000 else 0) + (1 if flags & 0x40000000 else 0)
        pos, entry = pos + 48 * k, entry + k
    pos += 48
    xorb_info, entry, chunks = pos, 0, []
    while upload[pos:pos + 32] != b"\xff" * 32:
        n = struct.unpack_from("<I", upload, pos + 36)[0]
        xorbs.append((struct.unpack_from("<Q", upload, pos)[0], entry))
        for i in range(n):
            chunks.append((struct.unpack_from("<Q", upload, pos + 48 * (1 + i))[0], entry, i))
        pos, entry = pos + 48 * (1 + n), entry + 1 + n
    pos += 48
    out = bytearray(upload[:pos])
    out[40:48] = struct.pack("<Q", 200)
    fl = len(out)
    for k, v in sorted(files):
        out += struct.pack("<QI", k, v)
    xl = len(out)
    for k, v in sorted(xorbs):
        out += struct.pack("<QI", k, v)
    cl = len(out)
    for k, x, i in sorted(chunks):
        out += struct.pack("<QII", k, x, i)
    fo = len(out)
    out += struct.pack("<9Q", 1, 48, xorb_info, fl, len(files), xl, len(xorbs), cl, len(chunks))
    out += bytes(32) + struct.pack("<2Q", 0, 2**64 - 1) + bytes(48) + struct.pack("<4Q", 0, 0, 0, fo)
    return bytes(out)


for path in sorted(glob.glob(os.path.join(vectors, "upload", "*.json"))):
    case = json.load(open(path))
    for session in case["sessions"]:
        for shard in session["shards_uploaded"]:
            if "upload_body_hex" in shard:
                body = bytes.fromhex(shard["upload_body_hex"])
                put("shard_parser", body)
                put("shard_parser", full_shard(body))
    for requests in case["reconstruction_api"].values():
        for r in requests:
            for v in ("v1", "v2"):
                if v in r:
                    put("reconstruction_json", json.dumps(r[v]).encode())

for t in ("record_reader", "shard_parser", "reconstruction_json"):
    print(t, len(os.listdir(os.path.join(here, "corpus", t))), "seeds")
