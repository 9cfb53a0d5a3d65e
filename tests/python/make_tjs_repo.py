"""Writes a small feature-extraction model repo that Transformers.js (and Python transformers)
can load, plus the numbers a sentence must produce.

usage: make_tjs_repo.py OUT_DIR [--seed N] [--sentence TEXT]

OUT_DIR gets:
  config.json              a BERT-type config (Transformers.js picks its model class by model_type)
  tokenizer.json           a WordPiece tokenizer trained with `tokenizers` on a generated corpus
  tokenizer_config.json
  onnx/model.onnx          >= 10 MiB: last_hidden_state = Embedding[input_ids] * attention_mask,
                           built with `onnx` (Transformers.js's mean pooling averages it)
and, next to OUT_DIR (not part of the repo), OUT_DIR.expected.json:
  {"sentence", "input_ids", "embedding" (mean over tokens, float32 math), "files": {path: {size, sha256}}}
Prints the expected.json path. Deterministic for a given seed.
"""

import argparse
import json
import os

import numpy as np
import onnx
from common import sha256_file
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import WordPieceTrainer

ROWS = 4096  # embedding rows (>= the trained vocabulary; unused rows are never looked up)
HIDDEN = 704  # ROWS * HIDDEN * 4 bytes = 11 MiB of weights
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a model file chunk cache byte hash tensor weight layer token repo hub xet mount read "
    "verified shard xorb range fetch disk memory cluster node proxy client server fast small "
    "large quick brown fox jumps over lazy dog river stone light shadow north south east west"
).split()


def corpus(rng, lines=4000):
    for _ in range(lines):
        n = int(rng.integers(4, 16))
        words = rng.choice(WORDS, size=n)
        # Made-up words too, so WordPiece learns sub-word pieces.
        extra = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(3, 9))))
        yield " ".join(list(words) + [extra]) + rng.choice([".", ",", "!", "?"])


def train_tokenizer(rng):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    trainer = WordPieceTrainer(vocab_size=ROWS, special_tokens=SPECIAL)
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    assert tok.get_vocab_size() <= ROWS
    return tok


def embedding_model(weights):
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])
    out = helper.make_tensor_value_info(
        "last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN]
    )
    nodes = [
        helper.make_node("Gather", ["embeddings", "input_ids"], ["looked_up"], axis=0),
        helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_f", "last_axis"], ["mask_3d"]),
        helper.make_node("Mul", ["looked_up", "mask_3d"], ["last_hidden_state"]),
    ]
    init = [
        numpy_helper.from_array(weights, "embeddings"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
    ]
    graph = helper.make_graph(nodes, "embed", [ids, mask], [out], initializer=init)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime of the last years
    onnx.checker.check_model(model)
    return model


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def configs():
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": ROWS,
        "hidden_size": HIDDEN,
        "num_hidden_layers": 1,
        "num_attention_heads": 11,
        "intermediate_size": 64,
        "max_position_embeddings": 512,
        "type_vocab_size": 2,
    }
    tokenizer_config = {
        "tokenizer_class": "BertTokenizer",
        "do_lower_case": True,
        "model_max_length": 512,
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "unk_token": "[UNK]",
        "mask_token": "[MASK]",
    }
    return config, tokenizer_config


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--sentence", default="The quick brown fox reads a verified xorb chunk.")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    os.makedirs(os.path.join(a.out, "onnx"), exist_ok=True)

    tok = train_tokenizer(rng)
    tok.save(os.path.join(a.out, "tokenizer.json"))
    config, tokenizer_config = configs()
    write_json(os.path.join(a.out, "config.json"), config)
    write_json(os.path.join(a.out, "tokenizer_config.json"), tokenizer_config)
    weights = rng.standard_normal((ROWS, HIDDEN), dtype=np.float32)
    onnx.save(embedding_model(weights), os.path.join(a.out, "onnx", "model.onnx"))

    ids = tok.encode(a.sentence).ids
    embedding = weights[ids].mean(axis=0, dtype=np.float32)
    files = {}
    for rel in ["config.json", "tokenizer.json", "tokenizer_config.json", "onnx/model.onnx"]:
        path = os.path.join(a.out, rel)
        files[rel] = {"size": os.path.getsize(path), "sha256": sha256_file(path)}
    assert files["onnx/model.onnx"]["size"] >= 10 << 20
    expected = os.path.normpath(a.out) + ".expected.json"
    write_json(
        expected,
        {"sentence": a.sentence, "input_ids": ids, "embedding": embedding.tolist(), "files": files},
    )
    print(expected)


if __name__ == "__main__":
    main()
