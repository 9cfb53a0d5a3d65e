"""The benchmark repo: one large safetensors file shaped like a small LLM checkpoint, with
bf16-like weights, plus the usual small files of a model repo.

Weights are bf16 bit patterns of N(0, 0.02) draws (what trained weights look like to a
compressor: random mantissas, clustered exponents). They are declared "F16" in the header
because numpy (the loader used by the benchmark) has no bfloat16; the dtype does not change
which bytes are read. Everything is derived from a fixed seed, so a repo generated twice is
byte-identical and `xetfs serve` can skip re-ingesting it.
"""

import hashlib
import json
import os
import struct

import numpy as np

HIDDEN = 2048
INTER = 5632
VOCAB = 32000
SEED = 20261123
REPO = "bench/model"
BIG = "model.safetensors"


def _layout(target_bytes):
    """(name, shape) of every tensor: embeddings, N decoder layers, norm, lm_head."""
    per_layer = 2 * (4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTER + 2 * HIDDEN)
    fixed = 2 * (2 * VOCAB * HIDDEN + HIDDEN)
    layers = max(1, -(-(target_bytes - fixed) // per_layer))
    out = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(layers):
        p = f"model.layers.{i}."
        out += [
            (p + "input_layernorm.weight", (HIDDEN,)),
            (p + "self_attn.q_proj.weight", (HIDDEN, HIDDEN)),
            (p + "self_attn.k_proj.weight", (HIDDEN, HIDDEN)),
            (p + "self_attn.v_proj.weight", (HIDDEN, HIDDEN)),
            (p + "self_attn.o_proj.weight", (HIDDEN, HIDDEN)),
            (p + "post_attention_layernorm.weight", (HIDDEN,)),
            (p + "mlp.gate_proj.weight", (INTER, HIDDEN)),
            (p + "mlp.up_proj.weight", (INTER, HIDDEN)),
            (p + "mlp.down_proj.weight", (HIDDEN, INTER)),
        ]
    out += [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]
    return out


def _weights(rng, n, norm):
    if norm:
        vals = 1.0 + 0.01 * rng.standard_normal(n, dtype=np.float32)
    else:
        vals = 0.02 * rng.standard_normal(n, dtype=np.float32)
    return (vals.view(np.uint32) >> 16).astype(np.uint16)


def write_safetensors(path, target_bytes):
    """Writes the checkpoint; returns [(name, absolute offset, length)]."""
    tensors = _layout(target_bytes)
    header, at = {"__metadata__": {"format": "pt", "note": "bf16 bit patterns"}}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [at, at + n]}
        at += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * ((8 - (8 + len(hb)) % 8) % 8)
    base = 8 + len(hb)
    rng = np.random.Generator(np.random.PCG64(SEED))
    step = 8 << 20  # elements per draw: bounded memory
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for name, shape in tensors:
            left = int(np.prod(shape))
            while left:
                n = min(left, step)
                f.write(_weights(rng, n, name.endswith("norm.weight")).tobytes())
                left -= n
    os.replace(path + ".tmp", path)
    return [(name, base + h["data_offsets"][0], h["data_offsets"][1] - h["data_offsets"][0])
            for name, h in header.items() if name != "__metadata__"]


def _small_files(d):
    """Text files (plain git) and 1 MiB `.bin` shards (Xet): cold files for TTFB."""
    cfg = {"architectures": ["LlamaForCausalLM"], "hidden_size": HIDDEN,
           "intermediate_size": INTER, "vocab_size": VOCAB, "torch_dtype": "bfloat16"}
    files = {
        "config.json": json.dumps(cfg, indent=2).encode(),
        "generation_config.json": b'{"do_sample": true, "temperature": 0.6}\n',
        "README.md": b"# xetfs benchmark model\n\nGenerated; weights are random.\n",
        "tokenizer.json": json.dumps(
            {"model": {"vocab": {f"tok{i}": i for i in range(VOCAB)}}}).encode(),
    }
    rng = np.random.Generator(np.random.PCG64(SEED + 1))
    for i in range(16):
        files[f"shards/part_{i:02}.bin"] = rng.bytes(1 << 20)
    for rel, data in files.items():
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return sorted(files)


def ensure_repo(root, marker, target_bytes):
    """Generates ROOT/bench/model unless an identical one is there (recorded in the file
    `marker`, outside ROOT). Returns its description."""
    d = os.path.join(root, REPO)
    spec = {"target_bytes": target_bytes, "seed": SEED, "version": 2}
    if os.path.exists(marker):
        with open(marker) as f:
            saved = json.load(f)
        if saved.get("spec") == spec:
            return saved
    os.makedirs(d, exist_ok=True)
    small = _small_files(d)
    tensors = write_safetensors(os.path.join(d, BIG), target_bytes)
    desc = {"spec": spec, "repo": REPO, "big": BIG, "small": small, "tensors": tensors,
            "size": os.path.getsize(os.path.join(d, BIG)),
            "sha256": _sha256(os.path.join(d, BIG))}
    with open(marker, "w") as f:
        json.dump(desc, f)
    return desc


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
