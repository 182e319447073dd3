"""Sentence embeddings from the model that already ships: no second encoder.

``sentence_embeddings`` returns the accurate coder's mean-pooled encoder output (the fine-tuned
all-MiniLM-L6-v2 in ``utterance-minilm-int8.onnx``, graph output ``pooled``, added by
training/expose_embeddings.py without touching the heads), L2-normalised so that a dot
product is a cosine similarity. Downstream heads (the model-based rupture markers, MITI code
heads) are small numpy models over these vectors.

The encoder was fine-tuned to code therapist behaviour and client talk on AnnoMI, so these
are not general-purpose sentence embeddings: they place utterances by how they function in
a counselling conversation, which is what the heads built on them need.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from alliance.analysis.classifiers import OnnxUtteranceCoder, load_coder

#: Width of one embedding (MiniLM-L6's hidden size).
EMBEDDING_DIM = 384


def sentence_embeddings(
    texts: Sequence[str],
    *,
    contexts: Sequence[str] | None = None,
    models_dir: Path | None = None,
) -> npt.NDArray[np.float32]:
    """One L2-normalised ``float32`` row per text, shape ``(len(texts), 384)``.

    ``contexts[i]`` (optional) is ``build_context`` of the turns before ``texts[i]``; without
    it each text is encoded alone, as the coder sees a session's first turn. The model is
    loaded on first use and shared with the accurate coder (cached per process).
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a sequence of strings, not a string")
    coder = load_coder("accurate", models_dir=models_dir)
    if not isinstance(coder, OnnxUtteranceCoder):  # load_coder's contract; checked for mypy
        raise TypeError(f"expected the accurate coder, got {type(coder).__name__}")
    if not texts:
        return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
    ctx = [""] * len(texts) if contexts is None else list(contexts)
    pooled = coder.pooled(list(texts), ctx)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    result: npt.NDArray[np.float32] = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
    return result
