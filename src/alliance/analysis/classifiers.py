"""Trained utterance coders for session analysis, and the small loaders for their files.

What lives here:

* the label sets (nine fine therapist behaviours, three client talk types, three empathy
  mechanisms) and ``main_behaviour`` which folds a fine label into question / reflection /
  input / other;
* ``build_context`` and ``encode_pairs`` — the one definition of how an utterance and the
  turns before it become model input. The training scripts import these, so training and run
  time cannot drift apart;
* two interchangeable backends behind ``UtteranceCoder``: *accurate* (a fine-tuned MiniLM
  exported to ONNX int8, run with onnxruntime + tokenizers, no torch, averaged with the
  linear model) and *fast* (a linear model over TF-IDF word n-grams whose feature extraction
  is re-implemented here with numpy/scipy, so scikit-learn is needed only to train it);
* the optional empathy model (EPITOME; non-commercial licence) behind ``load_empathy_model``.

The model files ship inside the package (``alliance/analysis/models``) and are read with
``importlib.resources``; nothing is downloaded. Sessions and weights are loaded lazily on
first use and cached per process.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt
from scipy import sparse

from alliance.analysis.labels import CLIENT_LABELS as CLIENT_LABELS
from alliance.analysis.labels import THERAPIST_LABELS as THERAPIST_LABELS
from alliance.analysis.labels import MainBehaviour as MainBehaviour
from alliance.analysis.labels import fold_behaviour

if TYPE_CHECKING:
    from tokenizers import Tokenizer

MAIN_BEHAVIOURS: Final[tuple[str, ...]] = ("question", "reflection", "input", "other")
EMPATHY_MECHANISMS: Final[tuple[str, ...]] = (
    "emotional_reactions",
    "interpretations",
    "explorations",
)

Backend = Literal["accurate", "fast"]

#: How many preceding turns ``build_context`` keeps (the most recent ones).
CONTEXT_TURNS: Final = 2
#: Word-piece budget of one model input, special tokens included.
MAX_TOKENS: Final = 64
#: Sentences per onnxruntime call; inputs are sorted by length first so padding stays small.
BATCH_SIZE: Final = 32

ACCURATE_MODEL_FILE: Final = "utterance-minilm-int8.onnx"
EMPATHY_MODEL_FILE: Final = "empathy-minilm-int8.onnx"
TOKENIZER_FILE: Final = "tokenizer.json"
LABELS_FILE: Final = "labels.json"
FAST_WEIGHTS_FILE: Final = "fast-linear.npz"
FAST_VOCAB_FILE: Final = "fast-vocabulary.json"
#: Graph output of the accurate model holding the mean-pooled encoder vector.
POOLED_OUTPUT: Final = "pooled"

#: Token pattern of the fast backend: "?" and "!" (they mark questions and exclamations) and
#: runs of word characters. Must equal the ``token_pattern`` the training script gives
#: scikit-learn. (``\w+`` needs no ``\b`` anchors: a maximal run starts and ends on one.)
FAST_TOKEN_PATTERN: Final = r"[?!]|\w+"  # noqa: S105 - a regex, not a secret
_FAST_TOKEN_RE: Final = re.compile(FAST_TOKEN_PATTERN)
# The same pattern over a whole batch joined by newlines; "\n" marks where a text ends.
_FAST_BATCH_RE: Final = re.compile(r"[?!\n]|\w+")

_CLS_ID: Final = 101
_SEP_ID: Final = 102
_PAD_ID: Final = 0


class ModelNotInstalledError(RuntimeError):
    """A model file the caller asked for is not where the package expects it."""


@dataclass(frozen=True)
class Prediction:
    """One coded utterance: the most likely label, its probability, and all probabilities."""

    label: str
    confidence: float
    probabilities: Mapping[str, float]


@dataclass(frozen=True)
class EmpathyPrediction:
    """EPITOME levels (0 none, 1 weak, 2 strong) of one response, each with its probability."""

    emotional_reactions: int
    interpretations: int
    explorations: int
    confidences: Mapping[str, float]


def main_behaviour(label: str) -> MainBehaviour:
    """Fold a fine therapist label into question / reflection / input / other."""
    if label not in THERAPIST_LABELS:
        raise ValueError(f"unknown therapist behaviour label {label!r}")
    return fold_behaviour(label)


def build_context(previous_turns: Sequence[tuple[str, str]]) -> str:
    """Render the turns before an utterance as model context: ``"role: text | role: text"``.

    ``previous_turns`` are ``(role, text)`` pairs in session order; only the last
    ``CONTEXT_TURNS`` are kept. Training renders AnnoMI turns with this same function.
    """
    kept = list(previous_turns)[-CONTEXT_TURNS:] if CONTEXT_TURNS > 0 else []
    parts = []
    for role, text in kept:
        clean = " ".join(str(text).split())
        parts.append(f"{str(role).strip().lower() or 'speaker'}: {clean}")
    return " | ".join(parts)


def _check_pairs(first: Sequence[str], second: Sequence[str], names: tuple[str, str]) -> None:
    if isinstance(first, str) or isinstance(second, str):
        raise TypeError(f"{names[0]} and {names[1]} must be sequences of strings, not a string")
    if len(first) != len(second):
        raise ValueError(
            f"{names[0]} has {len(first)} items but {names[1]} has {len(second)}; "
            "give one entry per utterance (an empty string when there is none)"
        )


def encode_pairs(
    tokenizer: Tokenizer,
    contexts: Sequence[str],
    texts: Sequence[str],
    max_tokens: int = MAX_TOKENS,
) -> list[tuple[list[int], list[int]]]:
    """Word-piece ids and segment ids of ``[CLS] context [SEP] text [SEP]`` per pair.

    When the pair is too long the context loses its *oldest* tokens first; the utterance is
    cut at the end only if it alone exceeds the budget. Unpadded: see ``pad_batch``.
    """
    _check_pairs(contexts, texts, ("contexts", "texts"))
    budget = max_tokens - 3
    ctx_enc = tokenizer.encode_batch([str(c) for c in contexts], add_special_tokens=False)
    txt_enc = tokenizer.encode_batch([str(t) for t in texts], add_special_tokens=False)
    out: list[tuple[list[int], list[int]]] = []
    for c, t in zip(ctx_enc, txt_enc, strict=True):
        t_ids = t.ids[:budget]
        room = budget - len(t_ids)
        c_ids = c.ids[len(c.ids) - room :] if room < len(c.ids) else c.ids
        if room == 0:
            c_ids = []
        ids = [_CLS_ID, *c_ids, _SEP_ID, *t_ids, _SEP_ID]
        types = [0] * (len(c_ids) + 2) + [1] * (len(t_ids) + 1)
        out.append((ids, types))
    return out


def pad_batch(
    encoded: Sequence[tuple[list[int], list[int]]],
) -> dict[str, npt.NDArray[np.int64]]:
    """Pad a batch to its longest member: ``input_ids``, ``attention_mask``, ``token_type_ids``."""
    width = max((len(ids) for ids, _ in encoded), default=0)
    n = len(encoded)
    input_ids = np.full((n, width), _PAD_ID, dtype=np.int64)
    mask = np.zeros((n, width), dtype=np.int64)
    types = np.zeros((n, width), dtype=np.int64)
    for i, (ids, tt) in enumerate(encoded):
        input_ids[i, : len(ids)] = ids
        mask[i, : len(ids)] = 1
        types[i, : len(tt)] = tt
    return {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": types}


def length_batches(lengths: Sequence[int], batch_size: int = BATCH_SIZE) -> list[list[int]]:
    """Index batches of similar length (sorted longest first) so padding wastes little."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def softmax(logits: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
    """Row-wise softmax, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    result: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return result


def _predictions(probs: npt.NDArray[np.float64], labels: Sequence[str]) -> list[Prediction]:
    best = probs.argmax(axis=1)
    out = []
    for row, k in zip(probs, best, strict=True):
        mapping = {lab: float(p) for lab, p in zip(labels, row, strict=True)}
        out.append(
            Prediction(label=labels[int(k)], confidence=float(row[k]), probabilities=mapping)
        )
    return out


# --------------------------------------------------------------------------- loaders


def default_models_dir() -> Path:
    """Directory of the model files bundled with the package."""
    return Path(str(resources.files("alliance.analysis") / "models"))


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise ModelNotInstalledError(
            f"{what} is not installed: {path} is missing (reinstall alliance, or run "
            "`make train` in a source checkout with ../shared/data)"
        )
    return path


def _load_tokenizer(models_dir: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(_require(models_dir / TOKENIZER_FILE, "The tokenizer")))
    # The base model's file presets fixed padding/truncation to 128; we pad per batch instead.
    tok.no_padding()
    tok.no_truncation()
    return tok


def _onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


# --------------------------------------------------------------------------- coders


class UtteranceCoder(ABC):
    """Codes therapist behaviour and client talk type, one prediction per utterance."""

    backend: Backend
    therapist_labels: tuple[str, ...]
    client_labels: tuple[str, ...]

    @abstractmethod
    def _probabilities(
        self, role: Literal["therapist", "client"], texts: Sequence[str], contexts: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        """Class probabilities, one row per text, columns in the role's label order."""

    def therapist_behaviour(
        self, texts: Sequence[str], contexts: Sequence[str]
    ) -> list[Prediction]:
        """Fine therapist behaviour (see ``THERAPIST_LABELS``) of each therapist utterance.

        ``contexts[i]`` is ``build_context(turns before texts[i])`` ("" for none).
        """
        _check_pairs(texts, contexts, ("texts", "contexts"))
        if not texts:
            return []
        probs = self._probabilities("therapist", texts, contexts)
        return _predictions(probs, self.therapist_labels)

    def client_talk(self, texts: Sequence[str], contexts: Sequence[str]) -> list[Prediction]:
        """Client talk type (change / neutral / sustain) of each client utterance."""
        _check_pairs(texts, contexts, ("texts", "contexts"))
        if not texts:
            return []
        probs = self._probabilities("client", texts, contexts)
        return _predictions(probs, self.client_labels)


class OnnxUtteranceCoder(UtteranceCoder):
    """The accurate backend: fine-tuned MiniLM with two heads (ONNX int8, onnxruntime),
    its probabilities averaged with the fast linear model's.

    The blend weight of the linear model is ``labels.json``'s ``accurate_blend_fast_weight``
    (0.5, fixed in advance: the two models err differently and their mean beats each alone;
    see docs/model-card.md). With weight 0, or without the fast files, MiniLM alone is used.
    """

    backend: Backend = "accurate"

    def __init__(self, models_dir: Path) -> None:
        model_path = _require(models_dir / ACCURATE_MODEL_FILE, "The accurate utterance model")
        meta = json.loads(_require(models_dir / LABELS_FILE, "The label map").read_text("utf-8"))
        self.therapist_labels = tuple(meta["therapist_labels"])
        self.client_labels = tuple(meta["client_labels"])
        self.max_tokens = int(meta.get("max_tokens", MAX_TOKENS))
        self._tokenizer = _load_tokenizer(models_dir)
        self._session = _onnx_session(model_path)
        weight = float(meta.get("accurate_blend_fast_weight", 0.0))
        self._fast: FastUtteranceCoder | None = None
        if weight > 0 and (models_dir / FAST_WEIGHTS_FILE).is_file():
            self._fast = FastUtteranceCoder(models_dir)
            if (self._fast.therapist_labels, self._fast.client_labels) != (
                self.therapist_labels,
                self.client_labels,
            ):
                raise ModelNotInstalledError(
                    f"{models_dir}: the fast and accurate models disagree on their labels"
                )
        self.blend_weight = weight if self._fast is not None else 0.0

    def transformer_probabilities(
        self, role: Literal["therapist", "client"], texts: Sequence[str], contexts: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        """MiniLM's own class probabilities (no blending)."""
        output = "therapist_logits" if role == "therapist" else "client_logits"
        width = len(self.therapist_labels if role == "therapist" else self.client_labels)
        encoded = encode_pairs(self._tokenizer, contexts, texts, self.max_tokens)
        logits = np.zeros((len(texts), width), dtype=np.float64)
        for idx in length_batches([len(ids) for ids, _ in encoded]):
            feed = pad_batch([encoded[i] for i in idx])
            (out,) = self._session.run([output], feed)
            logits[idx] = out
        return softmax(logits)

    def pooled(self, texts: Sequence[str], contexts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The encoder's mean-pooled vector (what the heads read), one row per text.

        Read from the graph output ``pooled`` that training/expose_embeddings.py adds; an
        older model file without it raises ``ModelNotInstalledError``.
        """
        _check_pairs(texts, contexts, ("texts", "contexts"))
        outputs = {o.name: o for o in self._session.get_outputs()}
        if POOLED_OUTPUT not in outputs:
            raise ModelNotInstalledError(
                f"{ACCURATE_MODEL_FILE} has no {POOLED_OUTPUT!r} output; run "
                "training/expose_embeddings.py on it"
            )
        width = int(outputs[POOLED_OUTPUT].shape[-1])
        encoded = encode_pairs(self._tokenizer, contexts, texts, self.max_tokens)
        result = np.zeros((len(texts), width), dtype=np.float32)
        for idx in length_batches([len(ids) for ids, _ in encoded]):
            (out,) = self._session.run([POOLED_OUTPUT], pad_batch([encoded[i] for i in idx]))
            result[idx] = out
        return result

    def _probabilities(
        self, role: Literal["therapist", "client"], texts: Sequence[str], contexts: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        probs = self.transformer_probabilities(role, texts, contexts)
        if self._fast is not None:
            w = self.blend_weight
            probs = (1.0 - w) * probs + w * self._fast._probabilities(role, texts, contexts)
        return probs


# ----- fast backend: TF-IDF word n-grams + multinomial logistic regression, numpy only


def last_turn(context: str) -> str:
    """The most recent turn of a ``build_context`` string (the fast backend's context)."""
    return context.rsplit(" | ", 1)[-1]


def fast_terms(text: str, ngram_max: int = 2) -> list[str]:
    """Word n-grams of a text as the fast backend counts them (lower-cased, 1..ngram_max)."""
    tokens = _FAST_TOKEN_RE.findall(text.lower())
    terms = list(tokens)
    for n in range(2, ngram_max + 1):
        terms.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return terms


class TfidfSpace:
    """One fitted TF-IDF space (vocabulary, idf, n-gram range) applied with numpy/scipy.

    Reproduces scikit-learn's ``TfidfVectorizer(token_pattern=FAST_TOKEN_PATTERN,
    ngram_range=(1, ngram_max), sublinear_tf=..., norm="l2").transform`` for a fitted
    vocabulary, without scikit-learn. A whole batch is tokenised with one regex pass and
    bigrams are looked up as integer pairs, so the Python work is one dict lookup per token.
    """

    def __init__(
        self,
        vocabulary: Mapping[str, int],
        idf: npt.NDArray[np.float64],
        ngram_max: int,
        sublinear_tf: bool,
    ) -> None:
        if ngram_max not in (1, 2):
            raise ValueError(f"the fast backend supports 1- or 2-grams, not {ngram_max}")
        self.vocabulary: dict[str, int] = dict(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.ngram_max = ngram_max
        self.sublinear_tf = sublinear_tf
        n = len(self.idf)
        self._lookup = {t: j for t, j in self.vocabulary.items() if " " not in t}
        self._lookup["\n"] = -2  # batch separator; never a term (tokens have no whitespace)
        # A bigram seen in >= min_df documents has both words in the vocabulary, so bigrams
        # can be keyed by the pair of unigram columns.
        keys, cols = [], []
        for term, j in self.vocabulary.items():
            if " " in term:
                a, b = term.split(" ")
                ja, jb = self.vocabulary.get(a), self.vocabulary.get(b)
                if ja is not None and jb is not None:
                    keys.append(ja * n + jb)
                    cols.append(j)
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        self._bigram_keys = np.asarray(keys, dtype=np.int64)[order]
        self._bigram_cols = np.asarray(cols, dtype=np.int64)[order]

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """L2-normalised TF-IDF rows, one per text (a ``scipy.sparse.csr_matrix``)."""
        n_docs, n_cols = len(texts), len(self.idf)
        if n_docs == 0:
            return sparse.csr_matrix((0, n_cols), dtype=np.float64)
        joined = "\n".join(texts)
        if joined.count("\n") != n_docs - 1:
            # A newline inside a text is a separator for scikit-learn's pattern anyway.
            joined = "\n".join(t.replace("\n", " ") for t in texts)
        tokens = _FAST_BATCH_RE.findall(joined.lower())
        ids = np.fromiter(
            map(self._lookup.get, tokens, repeat(-1)), dtype=np.int64, count=len(tokens)
        )
        doc = np.cumsum(ids == -2)
        known = ids >= 0
        rows = [doc[known]]
        cols = [ids[known]]
        if self.ngram_max == 2 and len(ids) > 1 and len(self._bigram_keys):
            left, right = ids[:-1], ids[1:]
            both = (left >= 0) & (right >= 0)
            pair = left[both] * n_cols + right[both]
            pos = np.searchsorted(self._bigram_keys, pair)
            pos[pos == len(self._bigram_keys)] = 0
            hit = self._bigram_keys[pos] == pair
            rows.append(doc[:-1][both][hit])
            cols.append(self._bigram_cols[pos[hit]])
        r = np.concatenate(rows)
        c = np.concatenate(cols)
        # COO -> CSR sums duplicate (row, column) entries: the term counts.
        x = sparse.csr_matrix((np.ones(len(r), dtype=np.float64), (r, c)), shape=(n_docs, n_cols))
        x.sum_duplicates()
        data = x.data
        if self.sublinear_tf:
            data = np.log(data) + 1.0
        data = data * self.idf[x.indices]
        row_of = np.repeat(np.arange(n_docs), np.diff(x.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=n_docs))
        x.data = data / norms[row_of]
        return x


class FastUtteranceCoder(UtteranceCoder):
    """The fast backend: linear model over utterance and context TF-IDF, no scikit-learn.

    Features: TF-IDF of the utterance's word 1–2-grams, and of the words of the turn just
    before it (``last_turn`` of the context), each L2-normalised.
    """

    backend: Backend = "fast"

    def __init__(self, models_dir: Path) -> None:
        vocab_path = _require(models_dir / FAST_VOCAB_FILE, "The fast model's vocabulary")
        weights_path = _require(models_dir / FAST_WEIGHTS_FILE, "The fast model's weights")
        meta = json.loads(vocab_path.read_text("utf-8"))
        if meta.get("token_pattern") != FAST_TOKEN_PATTERN:
            raise ModelNotInstalledError(
                f"{vocab_path} was trained with another token pattern; retrain the fast model"
            )
        with np.load(weights_path) as w:
            arrays = {k: np.asarray(w[k]) for k in w.files}
        self.text_space = TfidfSpace(
            meta["text_vocabulary"],
            arrays["text_idf"],
            int(meta["text_ngram_max"]),
            bool(meta["sublinear_tf"]),
        )
        self.context_space = TfidfSpace(
            meta["context_vocabulary"],
            arrays["context_idf"],
            int(meta["context_ngram_max"]),
            bool(meta["sublinear_tf"]),
        )
        self.therapist_labels = tuple(meta["therapist_labels"])
        self.client_labels = tuple(meta["client_labels"])
        split = len(self.text_space.idf)
        self._weights: dict[str, tuple[npt.NDArray[np.float64], ...]] = {}
        for role in ("therapist", "client"):
            coef = arrays[f"{role}_coef"].astype(np.float64)  # (n_features, n_classes)
            intercept = arrays[f"{role}_intercept"].astype(np.float64)
            self._weights[role] = (coef[:split], coef[split:], intercept)

    def features(self, texts: Sequence[str], contexts: Sequence[str]) -> sparse.csr_matrix:
        """The feature matrix the linear model sees: utterance TF-IDF, then context TF-IDF."""
        _check_pairs(texts, contexts, ("texts", "contexts"))
        joined: sparse.csr_matrix = sparse.hstack(
            [
                self.text_space.transform(texts),
                self.context_space.transform([last_turn(c) for c in contexts]),
            ],
            format="csr",
        )
        return joined

    def _probabilities(
        self, role: Literal["therapist", "client"], texts: Sequence[str], contexts: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        text_coef, context_coef, intercept = self._weights[role]
        logits = (
            self.text_space.transform(texts) @ text_coef
            + self.context_space.transform([last_turn(c) for c in contexts]) @ context_coef
            + intercept
        )
        return softmax(np.asarray(logits))


# --------------------------------------------------------------------------- empathy


class EmpathyModel:
    """EPITOME empathy mechanisms of a response to a seeker's post (optional, non-commercial)."""

    def __init__(self, models_dir: Path) -> None:
        model_path = _require(models_dir / EMPATHY_MODEL_FILE, "The empathy model")
        meta = json.loads(_require(models_dir / LABELS_FILE, "The label map").read_text("utf-8"))
        self.max_tokens = int(meta.get("empathy_max_tokens", MAX_TOKENS))
        self._tokenizer = _load_tokenizer(models_dir)
        self._session = _onnx_session(model_path)

    def score(
        self, seeker_texts: Sequence[str], response_texts: Sequence[str]
    ) -> list[EmpathyPrediction]:
        """Levels 0–2 per mechanism; ``seeker_texts[i]`` is what ``response_texts[i]`` answers."""
        _check_pairs(seeker_texts, response_texts, ("seeker_texts", "response_texts"))
        if not response_texts:
            return []
        encoded = encode_pairs(self._tokenizer, seeker_texts, response_texts, self.max_tokens)
        outputs = [f"{m}_logits" for m in EMPATHY_MECHANISMS]
        probs = np.zeros((len(EMPATHY_MECHANISMS), len(encoded), 3), dtype=np.float64)
        for idx in length_batches([len(ids) for ids, _ in encoded]):
            feed = pad_batch([encoded[i] for i in idx])
            for m, out in enumerate(self._session.run(outputs, feed)):
                probs[m, idx] = softmax(out)
        levels = probs.argmax(axis=2)
        result = []
        for i in range(len(encoded)):
            conf = {m: float(probs[k, i, levels[k, i]]) for k, m in enumerate(EMPATHY_MECHANISMS)}
            result.append(
                EmpathyPrediction(
                    emotional_reactions=int(levels[0, i]),
                    interpretations=int(levels[1, i]),
                    explorations=int(levels[2, i]),
                    confidences=conf,
                )
            )
        return result


_CACHE: dict[tuple[str, str], Any] = {}
_CACHE_LOCK = threading.Lock()


def _cached(kind: str, models_dir: Path, factory: Any) -> Any:
    key = (kind, str(models_dir.resolve()))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = factory(models_dir)
        return _CACHE[key]


def load_coder(backend: Backend = "accurate", *, models_dir: Path | None = None) -> UtteranceCoder:
    """The coder for ``backend``, loaded on first use and cached for the process.

    Raises ``ModelNotInstalledError`` when its files are missing.
    """
    directory = models_dir if models_dir is not None else default_models_dir()
    if backend == "accurate":
        coder: UtteranceCoder = _cached("accurate", directory, OnnxUtteranceCoder)
    elif backend == "fast":
        coder = _cached("fast", directory, FastUtteranceCoder)
    else:
        raise ValueError(f"unknown analysis backend {backend!r}; use 'accurate' or 'fast'")
    return coder


def empathy_model_installed(models_dir: Path | None = None) -> bool:
    """Whether the optional empathy model file is present."""
    directory = models_dir if models_dir is not None else default_models_dir()
    return (directory / EMPATHY_MODEL_FILE).is_file()


def load_empathy_model(
    *, models_dir: Path | None = None, enabled: bool | None = None
) -> EmpathyModel | None:
    """The optional empathy model, or None when disabled in settings or not installed.

    ``enabled`` defaults to ``Settings.empathy_model`` (``ALLIANCE_EMPATHY_MODEL``).
    """
    if enabled is None:
        from alliance.config import get_settings

        enabled = bool(get_settings().empathy_model)
    if not enabled:
        return None
    directory = models_dir if models_dir is not None else default_models_dir()
    if not empathy_model_installed(directory):
        return None
    model: EmpathyModel = _cached("empathy", directory, EmpathyModel)
    return model
