"""Downloads a repo's files with the official client and checks them against a manifest.

usage: download.py MANIFEST [--snapshot] [--check-xet] [--token TOKEN]

MANIFEST is JSON: {"repo": "org/name", "files": [{"path", "sha256", "xet"}],
                   "safetensors": "model.safetensors", "tensors": [{"name", "dtype", "shape"}]}
--snapshot   one snapshot_download instead of one hf_hub_download per file
--check-xet  ask get_hf_file_metadata whether each file is served through Xet
"""

import argparse
import json
import os

from common import done, fail, sha256_file
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download


def main():
    p = argparse.ArgumentParser()
    p.add_argument("manifest")
    p.add_argument("--snapshot", action="store_true")
    p.add_argument("--check-xet", action="store_true")
    p.add_argument("--token")
    args = p.parse_args()
    with open(args.manifest) as f:
        manifest = json.load(f)
    repo, files = manifest["repo"], manifest["files"]
    token = args.token

    xet_seen = 0
    if args.check_xet:
        for f in files:
            meta = get_hf_file_metadata(hf_hub_url(repo, f["path"]), token=token)
            if (meta.xet_file_data is not None) != f["xet"]:
                fail(f"{f['path']}: xet_file_data is {meta.xet_file_data!r}, expected xet={f['xet']}")
            if meta.size != f["size"]:
                fail(f"{f['path']}: size {meta.size}, expected {f['size']}")
            xet_seen += f["xet"]

    local = {}
    if args.snapshot:
        root = snapshot_download(repo, token=token)
        for dirpath, _, names in os.walk(root):
            for name in names:
                full = os.path.join(dirpath, name)
                local[os.path.relpath(full, root).replace(os.sep, "/")] = full
        extra = set(local) - {f["path"] for f in files}
        if extra:
            fail(f"snapshot has unexpected files {sorted(extra)}")
    else:
        for f in files:
            local[f["path"]] = hf_hub_download(repo, f["path"], token=token)

    total = 0
    for f in files:
        path = local.get(f["path"])
        if path is None:
            fail(f"{f['path']} was not downloaded")
        got = sha256_file(path)
        if got != f["sha256"]:
            fail(f"{f['path']}: sha256 {got}, expected {f['sha256']}")
        total += os.path.getsize(path)

    tensors = 0
    if manifest.get("safetensors"):
        from safetensors import safe_open

        with safe_open(local[manifest["safetensors"]], framework="np") as st:
            names = set(st.keys())
            for t in manifest["tensors"]:
                if t["name"] not in names:
                    fail(f"tensor {t['name']} missing")
                shape = list(st.get_slice(t["name"]).get_shape())
                if shape != t["shape"]:
                    fail(f"tensor {t['name']}: shape {shape}, expected {t['shape']}")
                if t["dtype"] == "F32":
                    value = st.get_tensor(t["name"])
                    if list(value.shape) != t["shape"]:
                        fail(f"tensor {t['name']} loads with shape {value.shape}")
                tensors += 1

    done({"files": len(files), "bytes": total, "xet_checked": xet_seen, "tensors": tensors})


if __name__ == "__main__":
    main()
