"""The session summary: MITI indicators, talk, client talk, empathy, markers and style.

Thresholds and their sources:

- MITI 4.2.1 (Moyers, Manuel & Ernst 2014, *Motivational Interviewing Treatment Integrity
  Coding Manual 4.2.1*): reflection-to-question ratio fair 1.0, good 2.0; % complex
  reflections fair 40 %, good 50 %.
- MITI 4 dropped % open questions as a summary score. We still report it and rate it against
  the last thresholds published for it, MITI 3.1.1 (Moyers, Martin, Manuel, Miller & Ernst
  2010): fair ("beginning proficiency") 50 %, good ("competency") 70 %; the indicator's
  ``source`` says so.
- Talk share, change-talk ratio and empathy level have no published fair/good thresholds:
  they are reported "not rated" with a note on how to read them.

Our coder's labels are AnnoMI's, not MITI codes: a MITI "question" or "reflection" is
approximated by the AnnoMI behaviour of the same name, so the indicators are MITI-*style*.

MITI 4.2.1 behaviour counts (``miti.codes``, when the MITI heads ran): therapist turns coded
affirm, seek collaboration, emphasise autonomy, persuade, persuade with permission and
confront; *MI-adherent* = affirm + seek collaboration + emphasise autonomy and
*MI-non-adherent* = persuade + confront, as MITI 4.2.1 defines them (persuade with permission
is in neither). MITI 4.2.1 publishes no fair/good thresholds for these, so they are "not
rated". A turn counts once per code however many of its sentences carry it.

Relationship style (``relationship_style``), one rule, stated in the output:
each style has a share of therapist turns and a threshold —
*directive*: advice, information or closed questions (threshold 45 %);
*collaborative*: asking permission, offering choice, joint language or negotiating options
(a collaboration marker, or input coded as options/negotiation) (threshold 15 %);
*supportive*: reflections, validation or affirmation (threshold 40 %).
The style is the one whose share is the largest multiple of its threshold, if that multiple
is at least 1; otherwise "mixed". With no coded therapist turns it is "undetermined".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import cast

from alliance.analysis.labels import (
    CLIENT_LABELS,
    MI_ADHERENT,
    MI_NON_ADHERENT,
    MITI_CODES,
    THERAPIST_LABELS,
)
from alliance.analysis.markers import ALL_MARKERS, category_of
from alliance.analysis.schema import (
    ClientTalkSummary,
    CountOut,
    EmpathySummary,
    Indicator,
    LatencyOut,
    MarkerSummary,
    MitiCodeSummary,
    MitiSummary,
    OverlapOut,
    Rating,
    RelationshipStyle,
    RuptureOut,
    ShareOut,
    StyleName,
    Summary,
    TalkSummary,
    UtteranceOut,
)
from alliance.analysis.talk import Share, TalkStats

MITI_4 = "MITI 4.2.1 (Moyers, Manuel & Ernst 2014)"
MITI_3 = (
    "MITI 3.1.1 (Moyers et al. 2010); MITI 4.2.1 has no % open questions threshold, so the "
    "MITI 3.1.1 values are used"
)
MECHANISMS = ("emotional_reactions", "interpretations", "explorations")
EMPATHY_LICENCE = (
    "Empathy model trained on EPITOME (Sharma et al. 2020): academic licence, non-commercial "
    "research use only."
)
STYLE_THRESHOLDS = {"directive": 0.45, "collaborative": 0.15, "supportive": 0.40}


def rate(value: float | None, fair: float, good: float) -> Rating:
    """MITI-style rating of a value: good ≥ good threshold, fair ≥ fair threshold."""
    if value is None:
        return "no data"
    if value >= good:
        return "good"
    if value >= fair:
        return "fair"
    return "below fair"


def _ids(utterances: Iterable[UtteranceOut]) -> list[str]:
    return [u.id for u in utterances]


def _share_out(share: Share) -> ShareOut:
    return ShareOut(
        name=share.name,
        role=share.role,
        turns=share.turns,
        words=share.words,
        word_share=round(share.word_share, 4),
        seconds=share.seconds,
        time_share=round(share.time_share, 4) if share.time_share is not None else None,
        evidence=list(share.evidence),
    )


def talk_summary(stats: TalkStats) -> TalkSummary:
    therapist = stats.role("therapist")
    word_share = Indicator(
        name="therapist share of words",
        value=round(therapist.word_share, 4) if therapist else None,
        unit="share",
        numerator=therapist.words if therapist else None,
        denominator=stats.total_words,
        rating="not rated" if therapist else "no data",
        note="No published threshold; in client-centred work the client usually talks more.",
        evidence=list(therapist.evidence) if therapist else [],
    )
    time_share = None
    if therapist is not None and therapist.time_share is not None:
        time_share = Indicator(
            name="therapist share of talk time",
            value=round(therapist.time_share, 4),
            unit="share",
            numerator=therapist.seconds,
            denominator=stats.total_seconds,
            note="Sum of turn durations; overlapping speech counts for both speakers.",
            evidence=list(therapist.evidence),
        )
    return TalkSummary(
        timing=stats.timing,
        total_words=stats.total_words,
        total_seconds=stats.total_seconds,
        by_role=[_share_out(s) for s in stats.roles],
        by_speaker=[_share_out(s) for s in stats.speakers],
        therapist_word_share=word_share,
        therapist_time_share=time_share,
        monologues=list(stats.monologues),
        overlaps=(
            [
                OverlapOut(
                    utterance_id=o.utterance_id,
                    previous_id=o.previous_id,
                    seconds=o.seconds,
                    interruption=o.interruption,
                )
                for o in stats.overlaps
            ]
            if stats.overlaps is not None
            else None
        ),
        interruptions=(
            [o.utterance_id for o in stats.interruptions] if stats.overlaps is not None else None
        ),
        latencies=(
            [
                LatencyOut(
                    role=s.role,
                    count=s.count,
                    median=s.median,
                    mean=s.mean,
                    longest=s.longest,
                    longest_id=s.longest_id,
                )
                for s in stats.latency_by_role
            ]
            if stats.latency_by_role is not None
            else None
        ),
        long_pauses=list(stats.long_pauses) if stats.long_pauses is not None else None,
    )


def _counts(
    labels: Sequence[str], coded: Sequence[tuple[str, UtteranceOut]], total: int
) -> list[CountOut]:
    by_label: dict[str, list[str]] = {label: [] for label in labels}
    for label, u in coded:
        by_label.setdefault(label, []).append(u.id)
    return [
        CountOut(
            label=label,
            count=len(ids),
            share=round(len(ids) / total, 4) if total else None,
            evidence=ids,
        )
        for label, ids in by_label.items()
    ]


def miti_summary(utterances: Sequence[UtteranceOut]) -> MitiSummary:
    coded = [
        (u.codes.therapist_behaviour.label, u)
        for u in utterances
        if u.role == "therapist" and u.codes.therapist_behaviour is not None
    ]
    by = {label: [u for lab, u in coded if lab == label] for label in THERAPIST_LABELS}
    questions = by["question_open"] + by["question_closed"]
    reflections = by["reflection_simple"] + by["reflection_complex"]
    has_data = bool(coded)

    rq_value = len(reflections) / len(questions) if questions else None
    rq = Indicator(
        name="reflection-to-question ratio",
        value=round(rq_value, 3) if rq_value is not None else None,
        unit="ratio",
        numerator=len(reflections),
        denominator=len(questions),
        fair=1.0,
        good=2.0,
        rating=rate(rq_value, 1.0, 2.0) if has_data and questions else "no data",
        source=MITI_4,
        note="" if questions else "No questions coded: the ratio is undefined.",
        evidence=_ids(reflections + questions),
    )
    cr_value = 100 * len(by["reflection_complex"]) / len(reflections) if reflections else None
    cr = Indicator(
        name="% complex reflections",
        value=round(cr_value, 1) if cr_value is not None else None,
        unit="percent",
        numerator=len(by["reflection_complex"]),
        denominator=len(reflections),
        fair=40.0,
        good=50.0,
        rating=rate(cr_value, 40.0, 50.0),
        source=MITI_4,
        evidence=_ids(by["reflection_complex"]),
    )
    oq_value = 100 * len(by["question_open"]) / len(questions) if questions else None
    oq = Indicator(
        name="% open questions",
        value=round(oq_value, 1) if oq_value is not None else None,
        unit="percent",
        numerator=len(by["question_open"]),
        denominator=len(questions),
        fair=50.0,
        good=70.0,
        rating=rate(oq_value, 50.0, 70.0),
        source=MITI_3,
        evidence=_ids(by["question_open"]),
    )
    main = [
        (u.codes.main_behaviour, u)
        for u in utterances
        if u.role == "therapist" and u.codes.main_behaviour is not None
    ]
    return MitiSummary(
        reflection_to_question=rq,
        percent_complex_reflections=cr,
        percent_open_questions=oq,
        behaviours=_counts(THERAPIST_LABELS, coded, len(coded)),
        main_behaviours=_counts(
            ("question", "reflection", "input", "other"),
            [(str(label), u) for label, u in main],
            len(main),
        ),
        codes=miti_code_summary(utterances),
    )


def miti_code_summary(utterances: Sequence[UtteranceOut]) -> MitiCodeSummary | None:
    """MITI 4.2.1 behaviour counts and the MI-adherent / non-adherent totals (see the module
    docstring); None when no therapist turn was scored by the MITI heads."""
    scored = [u for u in utterances if u.role == "therapist" and u.codes.miti is not None]
    if not scored:
        return None
    coded = [(h.code, u) for u in scored if u.codes.miti for h in u.codes.miti.codes]
    counts = _counts(MITI_CODES, coded, len(scored))
    by = {c.label: c for c in counts}

    def total(name: str, codes: Sequence[str], what: str) -> Indicator:
        ids = sorted(
            {i for c in codes for i in by[c].evidence}, key=lambda s: int(s.removeprefix("u"))
        )
        return Indicator(
            name=name,
            value=float(sum(by[c].count for c in codes)),
            unit="count",
            numerator=float(sum(by[c].count for c in codes)),
            denominator=float(len(scored)),
            rating="not rated",
            source=MITI_4,
            note=f"{what}; counted by the MITI heads over {len(scored)} therapist turns. "
            "MITI 4.2.1 gives no fair/good threshold. Experimental: on other coders' MISC "
            "codes the heads miss most of these behaviours (docs/model-card.md), so read the "
            "count as turns worth a look.",
            evidence=ids,
        )

    adherent = total(
        "MI-adherent behaviours", MI_ADHERENT, "affirm + seek collaboration + emphasise autonomy"
    )
    non_adherent = total("MI-non-adherent behaviours", MI_NON_ADHERENT, "persuade + confront")
    both = (adherent.value or 0.0) + (non_adherent.value or 0.0)
    share = 100 * (adherent.value or 0.0) / both if both else None
    percent = Indicator(
        name="% MI-adherent",
        value=round(share, 1) if share is not None else None,
        unit="percent",
        numerator=adherent.value,
        denominator=both,
        rating="not rated" if both else "no data",
        source=MITI_4,
        note="MI-adherent / (MI-adherent + MI-non-adherent); no published threshold. "
        "Experimental (see the two counts).",
        evidence=sorted(
            {*adherent.evidence, *non_adherent.evidence}, key=lambda s: int(s.removeprefix("u"))
        ),
    )
    return MitiCodeSummary(
        counts=counts,
        mi_adherent=adherent,
        mi_non_adherent=non_adherent,
        percent_mi_adherent=percent,
    )


def client_talk_summary(utterances: Sequence[UtteranceOut]) -> ClientTalkSummary:
    coded = [
        (u.codes.client_talk.label, u)
        for u in utterances
        if u.role == "client" and u.codes.client_talk is not None
    ]
    change = [u for label, u in coded if label == "change"]
    sustain = [u for label, u in coded if label == "sustain"]
    total = len(change) + len(sustain)
    value = len(change) / total if total else None
    ratio = Indicator(
        name="change-talk ratio",
        value=round(value, 3) if value is not None else None,
        unit="ratio",
        numerator=len(change),
        denominator=total,
        rating="not rated" if total else "no data",
        note="change / (change + sustain) client utterances; above 0.5 means the client "
        "argued more for change than against it. No published fair/good threshold.",
        evidence=_ids(change + sustain),
    )
    return ClientTalkSummary(
        change_talk_ratio=ratio, counts=_counts(CLIENT_LABELS, coded, len(coded))
    )


def empathy_summary(utterances: Sequence[UtteranceOut]) -> EmpathySummary:
    scored = [u for u in utterances if u.codes.empathy is not None]
    mechanisms: list[Indicator] = []
    means: list[float] = []
    for name in MECHANISMS:
        levels = [(getattr(u.codes.empathy, name), u) for u in scored]
        total = sum(level for level, _ in levels)
        mean = total / len(levels) if levels else None
        if mean is not None:
            means.append(mean)
        mechanisms.append(
            Indicator(
                name=name.replace("_", " "),
                value=round(mean, 3) if mean is not None else None,
                unit="level",
                numerator=total,
                denominator=len(levels),
                rating="not rated" if levels else "no data",
                note="Mean EPITOME level (0 none, 1 weak, 2 strong) over therapist responses; "
                "evidence = responses at level 1 or 2.",
                evidence=[u.id for level, u in levels if level > 0],
            )
        )
    overall = sum(means) / len(means) if means else None
    level = Indicator(
        name="empathy level",
        value=round(overall, 3) if overall is not None else None,
        unit="level",
        rating="not rated" if scored else "no data",
        note="Mean of the three mechanism means (0–2). EPITOME was built on peer support "
        "posts, not therapy sessions, and has no fair/good thresholds.",
        evidence=sorted(
            {i for m in mechanisms for i in m.evidence}, key=lambda s: int(s.removeprefix("u"))
        ),
    )
    return EmpathySummary(
        responses=len(scored), level=level, mechanisms=mechanisms, licence=EMPATHY_LICENCE
    )


def marker_summary(utterances: Sequence[UtteranceOut]) -> MarkerSummary:
    hits = [(m, u) for u in utterances for m in u.codes.markers]
    counts = Counter(m.marker for m, _ in hits)
    ruptures = [
        RuptureOut(
            utterance_id=u.id,
            speaker=u.speaker,
            marker=m.marker,
            category=m.category,
            rule=m.rule,
            confidence=m.confidence,
            text=u.text,
            source=m.source,
        )
        for m, u in hits
        if m.category != "relationship"
    ]
    # A turn flagged by a rule and by the model (or by two rules) is one rupture turn.
    flagged = {(r.utterance_id, r.category) for r in ruptures}
    return MarkerSummary(
        counts=[
            CountOut(
                label=marker,
                count=counts[marker],
                evidence=[u.id for m, u in hits if m.marker == marker],
            )
            for marker in ALL_MARKERS
        ],
        withdrawal=sum(1 for _, c in flagged if c == "withdrawal"),
        confrontation=sum(1 for _, c in flagged if c == "confrontation"),
        ruptures=ruptures,
    )


def relationship_style(utterances: Sequence[UtteranceOut]) -> RelationshipStyle:
    therapist = [u for u in utterances if u.role == "therapist"]
    coded = [u for u in therapist if u.codes.therapist_behaviour is not None]
    evidence: dict[str, list[str]] = {"directive": [], "collaborative": [], "supportive": []}
    for u in therapist:
        label = u.codes.therapist_behaviour.label if u.codes.therapist_behaviour else ""
        markers = {m.marker for m in u.codes.markers}
        if label in ("input_advice", "input_information", "question_closed"):
            evidence["directive"].append(u.id)
        if "collaboration" in markers or label in ("input_options", "input_negotiation"):
            evidence["collaborative"].append(u.id)
        if label.startswith("reflection") or markers & {"validation", "affirmation"}:
            evidence["supportive"].append(u.id)
    shares = {k: round(len(v) / len(coded), 4) if coded else 0.0 for k, v in evidence.items()}
    if not coded:
        return RelationshipStyle(
            style="undetermined",
            rule="no therapist utterances were coded for behaviour",
            shares=shares,
            thresholds=STYLE_THRESHOLDS,
            evidence=evidence,
        )
    ratios = {k: shares[k] / STYLE_THRESHOLDS[k] for k in shares}
    best = max(ratios, key=lambda k: ratios[k])
    described = {
        "directive": "advice, information or closed questions",
        "collaborative": "ask permission, offer choice, use joint language or negotiate",
        "supportive": "reflect, validate or affirm",
    }
    style: StyleName
    if ratios[best] >= 1.0:
        style = cast(StyleName, best)
        rule = (
            f"{best}: {shares[best]:.0%} of {len(coded)} therapist turns {described[best]} "
            f"(threshold {STYLE_THRESHOLDS[best]:.0%}; {ratios[best]:.2f}× threshold, the "
            "highest of the three styles)"
        )
    else:
        style = "mixed"
        rule = (
            f"mixed: no style reaches its threshold; closest is {best} at {shares[best]:.0%} "
            f"of therapist turns (threshold {STYLE_THRESHOLDS[best]:.0%})"
        )
    return RelationshipStyle(
        style=style, rule=rule, shares=shares, thresholds=STYLE_THRESHOLDS, evidence=evidence
    )


def summarise(
    utterances: Sequence[UtteranceOut], talk: TalkStats, *, empathy_scored: bool
) -> Summary:
    """The session summary from coded utterances and talk statistics."""
    return Summary(
        talk=talk_summary(talk),
        miti=miti_summary(utterances),
        client_talk=client_talk_summary(utterances),
        empathy=empathy_summary(utterances) if empathy_scored else None,
        markers=marker_summary(utterances),
        relationship_style=relationship_style(utterances),
    )


__all__ = ["category_of", "rate", "summarise"]
