"""Expose the accurate coder's mean-pooled encoder output as an extra ONNX graph output.

The fine-tuned MiniLM in ``utterance-minilm-int8.onnx`` already computes a mean-pooled
sentence vector (``/Div_output_0``: the masked mean of the last layer) on its way to the two
heads. This script adds that tensor to the graph outputs under the name ``pooled`` so that
``alliance.analysis.embeddings`` can read sentence embeddings from the model that already
ships, instead of shipping a second 23 MB encoder. Nothing else in the graph changes:

* the script refuses a graph whose heads do not read ``/Div_output_0`` (a retrained export
  with another layout), rather than guessing;
* it is idempotent (an existing ``pooled`` output is left alone) and deterministic (same
  input file, same output bytes: protobuf serialisation of the same message);
* before overwriting, it runs both graphs on fixed sentences and refuses to write unless the
  head logits are bit-for-bit identical, then writes those logits to
  ``tests/data/embeddings/head_logits.json`` so the test suite can check them later.

Needs the ``onnx`` package (the ``train`` extra). Run from a source checkout:

    .venv/bin/python training/expose_embeddings.py            # edit the shipped model in place
    .venv/bin/python training/expose_embeddings.py --check    # only report, write nothing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.analysis import classifiers as clf  # noqa: E402

MODEL = ROOT / "src" / "alliance" / "analysis" / "models" / clf.ACCURATE_MODEL_FILE
REFERENCE = ROOT / "tests" / "data" / "embeddings" / "head_logits.json"
POOLED_TENSOR = "/Div_output_0"
POOLED_OUTPUT = "pooled"
HEADS = ("therapist_logits", "client_logits")

# Fixed probe sentences (ours), with and without context, of varied length.
PROBES: tuple[tuple[str, str], ...] = (
    ("", "I guess so."),
    ("therapist: What brings you here today?", "My wife says I drink too much, so here I am."),
    ("client: I keep skipping the walks.", "What gets in the way of going out?"),
    ("", "You're not hearing me at all, and I pay for every one of these hours."),
    (
        "therapist: How has the week been? | client: Long.",
        "It sounds like you are tired of trying things that have not worked for you.",
    ),
    ("", "Okay."),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_pooled_output(model_path: Path, out_path: Path) -> bool:
    """Write the model with ``pooled`` added; False if it was already there (copied as is)."""
    import onnx

    model = onnx.load(str(model_path))
    graph = model.graph
    names = [o.name for o in graph.output]
    if POOLED_OUTPUT in names:
        out_path.write_bytes(model_path.read_bytes())
        return False
    producers = {o: n for n in graph.node for o in n.output}
    if POOLED_TENSOR not in producers or producers[POOLED_TENSOR].op_type != "Div":
        raise SystemExit(f"{model_path}: no mean-pooling Div named {POOLED_TENSOR}; not editing")
    readers = [n for n in graph.node if POOLED_TENSOR in n.input]
    if not readers:
        raise SystemExit(f"{model_path}: nothing reads {POOLED_TENSOR}; not editing")
    # Read the hidden size from a head's quantised weight: (hidden, classes).
    weights = {t.name: t for t in graph.initializer}
    hidden = int(weights["heads.client.weight_quantized"].dims[0])
    # An Identity gives the tensor its public name without renaming anything the heads read.
    graph.node.append(
        onnx.helper.make_node("Identity", [POOLED_TENSOR], [POOLED_OUTPUT], name="pooled_output")
    )
    batch = graph.input[0].type.tensor_type.shape.dim[0].dim_param or "batch"
    graph.output.append(
        onnx.helper.make_tensor_value_info(POOLED_OUTPUT, onnx.TensorProto.FLOAT, [batch, hidden])
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))
    return True


def probe_logits(model_path: Path) -> dict[str, np.ndarray]:
    """Head logits of both heads on the probe sentences."""
    session = clf._onnx_session(model_path)
    tok = clf._load_tokenizer(MODEL.parent)
    contexts = [c for c, _ in PROBES]
    texts = [t for _, t in PROBES]
    # One padded batch: the same padding before and after, so the comparison is exact.
    feed = clf.pad_batch(clf.encode_pairs(tok, contexts, texts))
    outs = session.run(list(HEADS), feed)
    return {h: np.asarray(o, dtype=np.float32) for h, o in zip(HEADS, outs, strict=True)}


def run(check: bool = False) -> None:
    """Add the output to the shipped model (or only report, with ``check``)."""
    before_sha = sha256(MODEL)
    with tempfile.TemporaryDirectory() as tmp:
        edited = Path(tmp) / MODEL.name
        changed = add_pooled_output(MODEL, edited)
        before = probe_logits(MODEL)
        after = probe_logits(edited)
        for head in HEADS:
            if not np.array_equal(before[head], after[head]):
                diff = float(np.abs(before[head] - after[head]).max())
                raise SystemExit(f"{head} changed by up to {diff}; not writing")
        session = clf._onnx_session(edited)
        tok = clf._load_tokenizer(MODEL.parent)
        feed = clf.pad_batch(clf.encode_pairs(tok, [c for c, _ in PROBES], [t for _, t in PROBES]))
        (pooled,) = session.run([POOLED_OUTPUT], feed)
        print(f"model before: sha256 {before_sha}")
        print(f"pooled output added: {changed}; shape {tuple(pooled.shape)}")
        print(f"head logits identical before/after on {len(PROBES)} probes: yes")
        if check:
            print(f"model after (not written): sha256 {sha256(edited)}")
            return
        if changed:
            MODEL.write_bytes(edited.read_bytes())
    print(f"model after: sha256 {sha256(MODEL)}")
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    reference = {
        "about": "head logits of the accurate model on training/expose_embeddings.py PROBES, "
        "recorded when the pooled output was added; the heads must not change",
        "probes": [{"context": c, "text": t} for c, t in PROBES],
        **{h: [[round(float(x), 6) for x in row] for row in before[h]] for h in HEADS},
    }
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {REFERENCE.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report only, write nothing")
    run(check=parser.parse_args().check)


if __name__ == "__main__":
    main()
