"""Reading AutoMISC's manually coded conversations, and the map from MISC codes to ours.

AutoMISC (github cimhasgithub/AutoMISC) publishes manual consensus MISC codes for ten HLQC
conversations (``data/manual/HLQC_balanced_manual.csv``, five high- and five low-quality) and
ten MIV6.3A text-chat conversations (``data/manual/MIV6.3A_manual.csv``), and the uncoded HLQC
corpus (``data/HLQC.csv``, 257 conversations whose id says ``high_…`` or ``low_…`` quality).
Each manual row is one *segment* (``utt_text``, the unit MISC coders code) inside one *turn*
(``vol_text``, a "volley"); ``t1_label_GT`` is the coarse code and ``t2_label_GT`` the MISC
behaviour code.

The repository has no licence: this module reads it at run time (from a bare git directory
with ``git show`` or from a work tree) for evaluation only. Nothing from it is committed,
shipped or trained on.

MISC → Alliance classes (``map_code``; the same table is in docs/model-card.md):

* counsellor, by the MISC behaviour code (``t2``):
  OQ, CQ → question; SR, CR, RF (reframe) → reflection;
  GI, ADP, ADW, RCP, RCW, WA, DI, CO → input (information, advice with/without permission,
  raise concern with/without permission, warn, direct, confront);
  anything else (AF affirm, EC emphasise control, SU support, FA facilitate, FI filler,
  ST structure, …) → other;
* client: the MISC client code carries its valence as a suffix (``R+``, ``D-``, ``AB+``, …):
  ``+`` → change, ``-`` → sustain, plain ``N`` → neutral. The coarse ``t1`` code (C / S / N)
  says the same; ``client_disagreements`` counts rows where the two differ.

Fine labels where MISC gives them (``fine_code``): OQ → question_open, CQ → question_closed,
SR → reflection_simple, CR → reflection_complex (RF has no simple/complex, so no fine label).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ENV_VAR = "ALLIANCE_AUTOMISC"
DEFAULT_SOURCE = Path("/work/.mirror/cimhasgithub+AutoMISC/repo")
FETCH_HINT = (
    "fetch github:cimhasgithub/AutoMISC (a bare git dir or a work tree) and pass --automisc "
    f"PATH or set {ENV_VAR}"
)
MANUAL_FILES = {
    "HLQC": "data/manual/HLQC_balanced_manual.csv",
    "MIV6.3A": "data/manual/MIV6.3A_manual.csv",
}
HLQC_FILE = "data/HLQC.csv"

QUESTION = frozenset({"OQ", "CQ"})
REFLECTION = frozenset({"SR", "CR", "RF"})
INPUT = frozenset({"GI", "ADP", "ADW", "RCP", "RCW", "WA", "DI", "CO"})
FINE = {
    "OQ": "question_open",
    "CQ": "question_closed",
    "SR": "reflection_simple",
    "CR": "reflection_complex",
}
THERAPIST_CLASSES = ("question", "reflection", "input", "other")
CLIENT_CLASSES = ("change", "neutral", "sustain")
Role = Literal["therapist", "client"]


class AutoMiscMissingError(FileNotFoundError):
    """The AutoMISC repository (or a file the caller needs from it) is not there."""


def resolve_source(given: str | os.PathLike[str] | None = None) -> Path:
    """Where to read AutoMISC: ``given`` (``--automisc``), else ``$ALLIANCE_AUTOMISC``, else
    the default mirror path. The path is not checked here (see :func:`read_text`)."""
    if given:
        return Path(given)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else DEFAULT_SOURCE


def _is_bare_git(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir()


def read_text(source: Path, relpath: str) -> str:
    """The text of ``relpath`` in the AutoMISC checkout or bare git dir ``source``.

    Raises :class:`AutoMiscMissingError` when the repository or the file is not there."""
    if (source / relpath).is_file():
        return (source / relpath).read_text(encoding="utf-8-sig")
    if source.is_dir() and _is_bare_git(source):
        done = subprocess.run(
            ["git", "--git-dir", str(source), "show", f"HEAD:{relpath}"],
            capture_output=True,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.decode("utf-8-sig")
    raise AutoMiscMissingError(f"{relpath} not found in {source}")


def available(source: Path) -> bool:
    """Whether ``source`` holds the manual files this evaluation reads."""
    try:
        for relpath in MANUAL_FILES.values():
            read_text(source, relpath)
    except AutoMiscMissingError:
        return False
    return True


# --------------------------------------------------------------------------- the code map


def speaker_role(speaker: str) -> Role:
    """AutoMISC's speaker name → our role (``counsellor`` is the therapist)."""
    s = speaker.strip().lower()
    if s in ("counsellor", "counselor", "therapist"):
        return "therapist"
    if s == "client":
        return "client"
    raise ValueError(f"unknown AutoMISC speaker {speaker!r}")


def client_class(t2: str, t1: str = "") -> str:
    """change / sustain / neutral of one client code: the ``t2`` valence suffix, else ``t1``."""
    code = t2.strip()
    if code.endswith("+"):
        return "change"
    if code.endswith("-"):
        return "sustain"
    if code == "N":
        return "neutral"
    coarse = {"C": "change", "S": "sustain", "N": "neutral"}
    if t1.strip() in coarse:
        return coarse[t1.strip()]
    raise ValueError(f"unknown MISC client code {t2!r}")


def therapist_class(t2: str) -> str:
    """question / reflection / input / other of one counsellor MISC behaviour code."""
    code = t2.strip().upper()
    if code in QUESTION:
        return "question"
    if code in REFLECTION:
        return "reflection"
    if code in INPUT:
        return "input"
    return "other"


def map_code(role: Role, t2: str, t1: str = "") -> str:
    """Our class of one MISC code (see the module docstring for the table)."""
    return therapist_class(t2) if role == "therapist" else client_class(t2, t1)


def fine_code(t2: str) -> str | None:
    """Our fine label where MISC gives one (OQ, CQ, SR, CR), else None."""
    return FINE.get(t2.strip().upper())


# --------------------------------------------------------------------------- the data


@dataclass(frozen=True, slots=True)
class CodedSegment:
    """One MISC-coded segment: its text, the raw codes and our class and fine label."""

    text: str
    t1: str
    t2: str
    gold: str
    fine: str | None


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn (AutoMISC "volley") of one speaker; ``segments`` is empty when uncoded."""

    role: Role
    text: str
    segments: tuple[CodedSegment, ...] = ()

    @property
    def gold(self) -> frozenset[str]:
        """Every class among the turn's segments (a mixed turn has several)."""
        return frozenset(s.gold for s in self.segments)


@dataclass(frozen=True, slots=True)
class Conversation:
    """One conversation: corpus, id, MI quality when the corpus gives it, turns in order."""

    corpus: str
    conv_id: str
    quality: str | None
    turns: tuple[Turn, ...]

    @property
    def text(self) -> str:
        return " ".join(t.text for t in self.turns)


def quality_of(conv_id: str) -> str | None:
    """HLQC ids start with their MI quality (``high_001``, ``low_026``)."""
    head = conv_id.split("_", 1)[0].lower()
    return head if head in ("high", "low") else None


def parse_manual(text: str, corpus: str) -> list[Conversation]:
    """Conversations from one manual CSV's text: segments grouped into turns by
    (conversation, volley index), in file order."""
    rows = list(csv.DictReader(io.StringIO(text)))
    order: list[str] = []
    turns: dict[str, dict[str, tuple[Role, str, list[CodedSegment]]]] = {}
    for row in rows:
        conv = row["conv_id"]
        if conv not in turns:
            turns[conv] = {}
            order.append(conv)
        role = speaker_role(row["speaker"])
        t1, t2 = row.get("t1_label_GT", "") or "", row.get("t2_label_GT", "") or ""
        segment = CodedSegment(
            text=row["utt_text"].strip(),
            t1=t1.strip(),
            t2=t2.strip(),
            gold=map_code(role, t2, t1),
            fine=fine_code(t2) if role == "therapist" else None,
        )
        key = row["conv_vol_idx"]
        if key not in turns[conv]:
            turns[conv][key] = (role, row["vol_text"].strip(), [])
        turns[conv][key][2].append(segment)
    return [
        Conversation(
            corpus=corpus,
            conv_id=conv,
            quality=quality_of(conv) if corpus == "HLQC" else None,
            turns=tuple(
                Turn(role=role, text=vol, segments=tuple(segs))
                for role, vol, segs in turns[conv].values()
            ),
        )
        for conv in order
    ]


def load_manual(source: Path) -> list[Conversation]:
    """Both manual files' conversations (HLQC first, then MIV6.3A)."""
    out: list[Conversation] = []
    for corpus, relpath in MANUAL_FILES.items():
        out.extend(parse_manual(read_text(source, relpath), corpus))
    return out


def parse_hlqc(text: str) -> list[Conversation]:
    """The uncoded HLQC corpus: every conversation with its turns and quality."""
    convs: dict[str, list[Turn]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        convs.setdefault(row["conv_id"], []).append(
            Turn(role=speaker_role(row["speaker"]), text=row["vol_text"].strip())
        )
    return [
        Conversation(corpus="HLQC", conv_id=c, quality=quality_of(c), turns=tuple(t))
        for c, t in convs.items()
    ]


def load_hlqc(source: Path) -> list[Conversation]:
    return parse_hlqc(read_text(source, HLQC_FILE))


def client_disagreements(conversations: Iterable[Conversation]) -> int:
    """Client segments whose t1 (C/S/N) and t2 valence say different things."""
    coarse = {"C": "change", "S": "sustain", "N": "neutral"}
    return sum(
        1
        for c in conversations
        for t in c.turns
        if t.role == "client"
        for s in t.segments
        if s.t1 in coarse and coarse[s.t1] != s.gold
    )


def code_table(conversations: Sequence[Conversation]) -> list[tuple[str, str, str, str, int]]:
    """(role, t1, t2, our class, count) for every raw code pair, most frequent first."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for c in conversations:
        for t in c.turns:
            for s in t.segments:
                key = (t.role, s.t1, s.t2, s.gold)
                counts[key] = counts.get(key, 0) + 1
    return sorted(((*k, n) for k, n in counts.items()), key=lambda r: (r[0], r[3], -r[4], r[2]))
