"""Loading and splitting the training data (AnnoMI, EPITOME) for the text models.

Shared by training/train_text_models.py and eval/evaluate.py so that both see the same rows,
labels, contexts and transcript split. Reads ../shared/data only; writes nothing.

AnnoMI decisions (recorded in docs/model-card.md):
* fine therapist label = main behaviour + the subtype of that behaviour (e.g. question +
  question_subtype=open -> question_open); the three rows whose subtype is missing keep their
  main behaviour but get no fine label (ignored by the fine loss, dropped from fine metrics);
* the 7 transcripts coded by all 10 annotators are collapsed to one row per utterance
  (majority label, ties broken by label order) and are NEVER trained on: they are always in
  the test set, so the model and the human annotators are measured on the same utterances;
* the other 126 transcripts are split by transcript (never by utterance), stratified by MI
  quality, with a fixed seed: 20 % test, and of the rest 10 % dev (epoch selection).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.analysis.classifiers import (  # noqa: E402
    CLIENT_LABELS,
    THERAPIST_LABELS,
    build_context,
)

SHARED_DATA = ROOT.parent / "shared" / "data"
ANNOMI_CSV = SHARED_DATA / "annomi" / "AnnoMI-full.csv"
EPITOME_DIR = SHARED_DATA / "epitome"
SPLIT_SEED = 20261122
TEST_FRACTION = 0.20
DEV_FRACTION = 0.10

_MAIN = {"question": "question", "reflection": "reflection", "therapist_input": "input"}
_SUBTYPE_COLUMN = {
    "question": "question_subtype",
    "reflection": "reflection_subtype",
    "therapist_input": "therapist_input_subtype",
}


def fine_label(row: pd.Series) -> str | None:
    """Fine therapist label of one AnnoMI row, or None when its subtype is missing."""
    main = row["main_therapist_behaviour"]
    if main == "other":
        return "other"
    sub = row[_SUBTYPE_COLUMN[main]]
    if not isinstance(sub, str) or sub == "n/a":
        return None
    label = f"{_MAIN[main]}_{sub}"
    return label if label in THERAPIST_LABELS else None


def main_label(row: pd.Series) -> str:
    return _MAIN.get(row["main_therapist_behaviour"], "other")


def read_annomi_raw(path: Path = ANNOMI_CSV) -> pd.DataFrame:
    """The full AnnoMI file with derived ``fine``/``main``/``talk`` columns, one row per coding."""
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    df["utterance_text"] = df["utterance_text"].fillna("").astype(str)
    is_t = df["interlocutor"] == "therapist"
    df["fine"] = None
    df.loc[is_t, "fine"] = df[is_t].apply(fine_label, axis=1)
    df["main"] = None
    df.loc[is_t, "main"] = df[is_t].apply(main_label, axis=1)
    df["talk"] = None
    df.loc[~is_t, "talk"] = df.loc[~is_t, "client_talk_type"]
    counts = df.groupby("transcript_id")["annotator_id"].nunique()
    df["multi"] = df["transcript_id"].isin(counts[counts > 1].index)
    return df


def _majority(values: pd.Series, order: tuple[str, ...]) -> str | None:
    vals = [v for v in values if isinstance(v, str)]
    if not vals:
        return None
    counts = pd.Series(vals).value_counts()
    top = counts.max()
    tied = [v for v in order if counts.get(v, 0) == top]
    return tied[0] if tied else str(counts.index[0])


def load_annomi(path: Path = ANNOMI_CSV) -> pd.DataFrame:
    """One row per utterance with text, context (previous turns) and labels."""
    raw = read_annomi_raw(path)
    single = raw[~raw["multi"]].copy()
    multi = raw[raw["multi"]]
    keys = ["transcript_id", "utterance_id"]
    first = multi.drop_duplicates(keys).set_index(keys)
    grouped = multi.groupby(keys)
    first["fine"] = grouped["fine"].agg(lambda s: _majority(s, THERAPIST_LABELS))
    first["main"] = grouped["main"].agg(
        lambda s: _majority(s, ("question", "reflection", "input", "other"))
    )
    first["talk"] = grouped["talk"].agg(lambda s: _majority(s, CLIENT_LABELS))
    df = pd.concat([single, first.reset_index()], ignore_index=True)
    df = df.sort_values(keys).reset_index(drop=True)
    contexts = []
    for _, part in df.groupby("transcript_id", sort=False):
        turns: list[tuple[str, str]] = []
        for role, text in zip(part["interlocutor"], part["utterance_text"], strict=True):
            contexts.append(build_context(turns))
            turns.append((role, text))
    df["context"] = contexts
    return df[
        [
            "transcript_id",
            "utterance_id",
            "mi_quality",
            "interlocutor",
            "utterance_text",
            "context",
            "fine",
            "main",
            "talk",
            "multi",
        ]
    ].rename(columns={"utterance_text": "text", "interlocutor": "role"})


@dataclass(frozen=True)
class Split:
    train: list[int]
    dev: list[int]
    test: list[int]
    human_subset: list[int]


def split_transcripts(df: pd.DataFrame, seed: int = SPLIT_SEED) -> Split:
    """Transcript-level split, stratified by MI quality; multi-annotated ones go to test."""
    rng = random.Random(seed)
    multi = sorted(int(t) for t in df.loc[df["multi"], "transcript_id"].unique())
    train: list[int] = []
    dev: list[int] = []
    test: list[int] = list(multi)
    singles = df[~df["multi"]].drop_duplicates("transcript_id")
    for quality in sorted(singles["mi_quality"].unique()):
        ids = sorted(int(t) for t in singles.loc[singles["mi_quality"] == quality, "transcript_id"])
        rng.shuffle(ids)
        n_test = round(len(ids) * TEST_FRACTION)
        rest = ids[n_test:]
        n_dev = round(len(rest) * DEV_FRACTION)
        test += ids[:n_test]
        dev += rest[:n_dev]
        train += rest[n_dev:]
    return Split(sorted(train), sorted(dev), sorted(test), multi)


def load_epitome(directory: Path = EPITOME_DIR) -> pd.DataFrame:
    """One row per seeker/response pair with levels for the three mechanisms."""
    files = {
        "emotional_reactions": "emotional-reactions-reddit.csv",
        "interpretations": "interpretations-reddit.csv",
        "explorations": "explorations-reddit.csv",
    }
    merged: pd.DataFrame | None = None
    for name, fname in files.items():
        part = pd.read_csv(directory / fname, keep_default_na=False)
        part = part[["sp_id", "rp_id", "seeker_post", "response_post", "level"]].rename(
            columns={"level": name}
        )
        part = part.drop_duplicates(["sp_id", "rp_id"])
        if merged is None:
            merged = part
        else:
            merged = merged.merge(
                part[["sp_id", "rp_id", name]], on=["sp_id", "rp_id"], how="inner"
            )
    assert merged is not None
    for name in files:
        merged[name] = merged[name].astype(int)
    return merged.reset_index(drop=True)


def split_epitome(df: pd.DataFrame, seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """75/5/20 train/dev/test split grouped by seeker post (no post on both sides)."""
    posts = sorted(df["sp_id"].unique())
    random.Random(seed).shuffle(posts)
    n_test = round(len(posts) * 0.20)
    n_dev = round(len(posts) * 0.05)
    return {
        "test": sorted(posts[:n_test]),
        "dev": sorted(posts[n_test : n_test + n_dev]),
        "train": sorted(posts[n_test + n_dev :]),
    }
