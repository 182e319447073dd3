"""The analysis pipeline: a parsed transcript in, a versioned :class:`AnalysisResult` out.

Steps: talk and timing (:mod:`.talk`); therapist behaviour and client talk from the trained
coder (:mod:`.classifiers`), each utterance with the turns before it as context; empathy of
each therapist response to the client turn(s) it answers, when the optional model is there;
relationship and rupture markers (:mod:`.markers`, named rules, plus the model-based rupture
markers of :mod:`.ruptures` when loaded); MITI 4.2.1 codes that AnnoMI lacks (affirm, seek
collaboration, emphasise autonomy, persuade, confront: :mod:`.miti`) for therapist turns,
when loaded; the session summary (:mod:`.summary`).

``units`` says what the coder codes: whole turns (``"turns"``, the default), or the segments
MISC/MITI coders would code (``"segments"``: :mod:`.segments` splits each turn, every segment
is coded with its turn's context, and the turn's code is the primary segment's by the rule
documented there; the segments and their codes are kept in ``codes.segments``).

The coder and the empathy model are passed in (``Analyzer``), so the pipeline itself is pure:
:meth:`Analyzer.load` is the one place that loads the bundled models.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from alliance.analysis.labels import fold_behaviour
from alliance.analysis.markers import MarkerHit, MarkerInput, detect_session, marker_inputs
from alliance.analysis.schema import (
    SCHEMA_VERSION,
    AnalysisResult,
    Code,
    EmpathyCode,
    MarkerCode,
    MitiCodes,
    MitiHitOut,
    ModelsOut,
    RolesOut,
    SegmentOut,
    SourceOut,
    SpeakerOut,
    UtteranceCodes,
    UtteranceOut,
)
from alliance.analysis.segments import ScoredLike as PredictionLike
from alliance.analysis.segments import (
    Segment,
    TurnCode,
    aggregate,
    segment_weights,
    split_turn,
)
from alliance.analysis.summary import summarise
from alliance.analysis.talk import talk_stats
from alliance.transcripts.model import Transcript, Utterance

Backend = Literal["accurate", "fast"]
Units = Literal["turns", "segments"]
UNITS: tuple[Units, ...] = ("turns", "segments")
CONTEXT_WINDOW = 4  # turns handed to build_context, which keeps the most recent it needs


class EmpathyLike(Protocol):
    @property
    def emotional_reactions(self) -> int: ...
    @property
    def interpretations(self) -> int: ...
    @property
    def explorations(self) -> int: ...
    @property
    def confidences(self) -> Mapping[str, float]: ...


class MitiHitLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def probability(self) -> float: ...
    @property
    def sentence(self) -> str: ...


class MitiTurnLike(Protocol):
    @property
    def hits(self) -> Sequence[MitiHitLike]: ...
    @property
    def probabilities(self) -> Mapping[str, float]: ...


class Miti(Protocol):
    """What the pipeline needs from :class:`alliance.analysis.miti.MitiCoder`."""

    def code_turns(self, texts: Sequence[str]) -> Sequence[MitiTurnLike]: ...


class Coder(Protocol):
    """What the pipeline needs from :class:`alliance.analysis.classifiers.UtteranceCoder`."""

    def therapist_behaviour(
        self, texts: Sequence[str], contexts: Sequence[str]
    ) -> Sequence[PredictionLike]: ...

    def client_talk(
        self, texts: Sequence[str], contexts: Sequence[str]
    ) -> Sequence[PredictionLike]: ...


class RuptureDetector(Protocol):
    """What the pipeline needs from :class:`alliance.analysis.ruptures.RuptureModel`."""

    def detect(self, items: Sequence[MarkerInput]) -> list[list[MarkerHit]]: ...


class Empathy(Protocol):
    """What the pipeline needs from :class:`alliance.analysis.classifiers.EmpathyModel`."""

    def score(
        self, seeker_texts: Sequence[str], response_texts: Sequence[str]
    ) -> Sequence[EmpathyLike]: ...


def _code(prediction: PredictionLike) -> Code:
    return Code(
        label=prediction.label,
        confidence=round(float(prediction.confidence), 4),
        probabilities={k: round(float(v), 4) for k, v in prediction.probabilities.items()},
    )


def contexts_for(transcript: Transcript) -> list[str]:
    """Model context of every utterance: the turns before it, via ``build_context``."""
    from alliance.analysis.classifiers import build_context

    utterances = transcript.utterances
    return [
        build_context([(p.role, p.text) for p in utterances[max(0, i - CONTEXT_WINDOW) : i]])
        for i in range(len(utterances))
    ]


def seekers_for(transcript: Transcript) -> dict[str, list[Utterance]]:
    """For each therapist turn, the client turn(s) since the therapist last spoke."""
    result: dict[str, list[Utterance]] = {}
    pending: list[Utterance] = []
    for u in transcript.utterances:
        if u.role == "client":
            pending.append(u)
        elif u.role == "therapist":
            if pending:
                result[u.id] = pending
            pending = []
    return result


@dataclass(frozen=True)
class Analyzer:
    """Holds the models; :meth:`analyze` runs the whole pipeline on one transcript.

    ``coder`` may be None (transparent parts only: talk, markers, summary without behaviour
    or client-talk codes); ``empathy`` is None when the optional model is absent or disabled;
    ``miti`` is None when the MITI heads are absent or disabled.
    """

    coder: Coder | None
    empathy: Empathy | None = None
    backend: Backend | None = None
    ruptures: RuptureDetector | None = None
    miti: Miti | None = None
    units: Units = "turns"

    @classmethod
    def load(
        cls,
        backend: Backend = "accurate",
        *,
        empathy: bool | None = None,
        ruptures: bool | None = None,
        miti: bool | None = None,
        units: Units = "turns",
    ) -> Analyzer:
        """Load the bundled models (cached per process). Raises if the coder is missing.

        The model-based rupture markers (``ruptures``) and the MITI code heads (``miti``)
        default to on with the accurate backend, whose encoder they reuse, and off with the
        fast one (which would otherwise load that encoder just for them); they are skipped
        when their weights are absent.
        """
        from alliance.analysis.classifiers import load_coder, load_empathy_model
        from alliance.analysis.miti import load_miti_coder
        from alliance.analysis.ruptures import load_rupture_model

        use_ruptures = backend == "accurate" if ruptures is None else ruptures
        use_miti = backend == "accurate" if miti is None else miti
        return cls(
            coder=load_coder(backend),
            empathy=load_empathy_model(enabled=empathy),
            backend=backend,
            ruptures=load_rupture_model() if use_ruptures else None,
            miti=load_miti_coder() if use_miti else None,
            units=units,
        )

    def analyze(self, transcript: Transcript) -> AnalysisResult:
        return analyze_transcript(
            transcript,
            coder=self.coder,
            empathy=self.empathy,
            backend=self.backend,
            ruptures=self.ruptures,
            miti=self.miti,
            units=self.units,
        )


def _code_turns(
    method: Callable[[Sequence[str], Sequence[str]], Sequence[PredictionLike]],
    role: str,
    texts: Sequence[str],
    contexts: Sequence[str],
    what: str = "utterances",
) -> list[PredictionLike]:
    predictions = list(method(texts, contexts))
    if len(predictions) != len(texts):
        raise RuntimeError(
            f"the {role} coder returned {len(predictions)} predictions for {len(texts)} {what}"
        )
    return predictions


def code_segments(
    method: Callable[[Sequence[str], Sequence[str]], Sequence[PredictionLike]],
    role: Literal["therapist", "client"],
    texts: Sequence[str],
    contexts: Sequence[str],
) -> list[tuple[TurnCode, list[tuple[Segment, PredictionLike]]]]:
    """Code each turn and its segments in one coder call, and fold them into the turn's code.

    Every segment is coded with its turn's context (the turns before it); a turn of one
    segment is coded once. Returns, per turn, its aggregated code (:func:`.segments.aggregate`)
    and its segments with their own predictions.
    """
    split = [split_turn(t) for t in texts]
    extra = [(k, seg) for k, segs in enumerate(split) if len(segs) > 1 for seg in segs]
    predictions = _code_turns(
        method,
        role,
        [*texts, *(seg.text for _, seg in extra)],
        [*contexts, *(contexts[k] for k, _ in extra)],
        "turns and segments",
    )
    turn_predictions = predictions[: len(texts)]
    segment_predictions = iter(predictions[len(texts) :])
    out: list[tuple[TurnCode, list[tuple[Segment, PredictionLike]]]] = []
    for turn, segs in zip(turn_predictions, split, strict=True):
        coded = [turn] if len(segs) == 1 else [next(segment_predictions) for _ in segs]
        out.append(
            (aggregate(turn, coded, segment_weights(segs)), list(zip(segs, coded, strict=True)))
        )
    return out


def _segment_out(
    role: Literal["therapist", "client"], segment: Segment, code: Code, primary: bool
) -> SegmentOut:
    if role == "therapist":
        return SegmentOut(
            text=segment.text,
            start=segment.start,
            end=segment.end,
            therapist_behaviour=code,
            main_behaviour=fold_behaviour(code.label),
            primary=primary,
        )
    return SegmentOut(
        text=segment.text, start=segment.start, end=segment.end, client_talk=code, primary=primary
    )


def analyze_transcript(
    transcript: Transcript,
    *,
    coder: Coder | None,
    empathy: Empathy | None = None,
    backend: Backend | None = None,
    ruptures: RuptureDetector | None = None,
    miti: Miti | None = None,
    units: Units = "turns",
) -> AnalysisResult:
    """Analyse one parsed transcript with the given models (see the module docstring)."""
    from alliance._version import __version__

    if units not in UNITS:
        raise ValueError(f"unknown units {units!r}; use 'turns' or 'segments'")
    utterances = transcript.utterances
    therapist_codes: dict[str, Code] = {}
    client_codes: dict[str, Code] = {}
    segment_codes: dict[str, list[SegmentOut]] = {}
    if coder is not None:
        contexts = contexts_for(transcript)
        roles: tuple[tuple[Literal["therapist", "client"], dict[str, Code], Any], ...] = (
            ("therapist", therapist_codes, coder.therapist_behaviour),
            ("client", client_codes, coder.client_talk),
        )
        for role, store, method in roles:
            picked = [i for i, u in enumerate(utterances) if u.role == role]
            texts = [utterances[i].text for i in picked]
            picked_contexts = [contexts[i] for i in picked]
            if units == "turns":
                predictions = _code_turns(method, role, texts, picked_contexts)
                for i, prediction in zip(picked, predictions, strict=True):
                    store[utterances[i].id] = _code(prediction)
                continue
            coded = code_segments(method, role, texts, picked_contexts)
            for i, (turn_code, pairs) in zip(picked, coded, strict=True):
                store[utterances[i].id] = _code(turn_code)
                segment_codes[utterances[i].id] = [
                    _segment_out(role, seg, _code(p), k == turn_code.primary)
                    for k, (seg, p) in enumerate(pairs)
                ]

    empathy_codes: dict[str, EmpathyCode] = {}
    if empathy is not None:
        seekers = seekers_for(transcript)
        ids = list(seekers)
        scored = empathy.score(
            [" ".join(s.text for s in seekers[i]) for i in ids],
            [transcript.by_id(i).text for i in ids],
        )
        for utterance_id, e in zip(ids, scored, strict=True):
            empathy_codes[utterance_id] = EmpathyCode(
                emotional_reactions=e.emotional_reactions,
                interpretations=e.interpretations,
                explorations=e.explorations,
                confidences={k: round(float(v), 4) for k, v in e.confidences.items()},
                seeker_ids=[s.id for s in seekers[utterance_id]],
            )

    miti_codes: dict[str, MitiCodes] = {}
    if miti is not None:
        therapist = [u for u in utterances if u.role == "therapist"]
        turns = miti.code_turns([u.text for u in therapist])
        if len(turns) != len(therapist):
            raise RuntimeError(
                f"the MITI coder returned {len(turns)} results for {len(therapist)} turns"
            )
        for u, turn in zip(therapist, turns, strict=True):
            miti_codes[u.id] = MitiCodes(
                codes=[
                    MitiHitOut(
                        code=h.code, probability=round(float(h.probability), 4), sentence=h.sentence
                    )
                    for h in turn.hits
                ],
                probabilities={k: round(float(v), 4) for k, v in turn.probabilities.items()},
            )

    markers = detect_session(transcript)
    if ruptures is not None:
        # The model adds hits beside the rules' (each labelled source="model"); never removes.
        model_hits = ruptures.detect(marker_inputs(transcript))
        markers = [rule + model for rule, model in zip(markers, model_hits, strict=True)]
    out: list[UtteranceOut] = []
    for u, hits in zip(utterances, markers, strict=True):
        behaviour = therapist_codes.get(u.id)
        out.append(
            UtteranceOut(
                id=u.id,
                index=u.index,
                speaker=u.speaker,
                role=u.role,
                text=u.text,
                start=u.start,
                end=u.end,
                words=u.words,
                codes=UtteranceCodes(
                    therapist_behaviour=behaviour,
                    main_behaviour=fold_behaviour(behaviour.label) if behaviour else None,
                    client_talk=client_codes.get(u.id),
                    empathy=empathy_codes.get(u.id),
                    miti=miti_codes.get(u.id),
                    segments=segment_codes.get(u.id),
                    markers=[
                        MarkerCode(
                            marker=h.marker,
                            category=h.category,
                            rule=h.rule,
                            confidence=h.confidence,
                            evidence=h.evidence,
                            source=h.source,
                        )
                        for h in hits
                    ],
                ),
            )
        )
    summary = summarise(out, talk_stats(transcript), empathy_scored=empathy is not None)
    return AnalysisResult(
        schema_version=SCHEMA_VERSION,
        source=SourceOut(
            file=transcript.source,
            format=transcript.format,
            timing=transcript.timing,
            utterances=len(utterances),
        ),
        models=ModelsOut(
            backend=backend if coder is not None else None,
            empathy=empathy is not None,
            rupture_model=ruptures is not None,
            alliance_version=__version__,
            miti=miti is not None,
            units=units,
        ),
        speakers=[
            SpeakerOut(name=s.name, role=s.role, turns=s.turns, words=s.words)
            for s in transcript.speakers
        ],
        roles=RolesOut(
            method=transcript.roles.method,
            confidence=transcript.roles.confidence,
            reasons=list(transcript.roles.reasons),
        ),
        warnings=list(transcript.warnings),
        utterances=out,
        summary=summary,
    )
