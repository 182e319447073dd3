"""Human-readable renderings of an :class:`AnalysisResult`: plain text and a one-file HTML report.

The HTML report is self-contained: CSS inline, charts rendered server-side from Altair
(Vega-Lite) specs to inline SVG with vl-convert, no scripts, fonts or images fetched from
anywhere. Charts: talk share by role, therapist behaviour mix, and a timeline of markers.
Every figure in the report names the utterances behind it (links to the transcript rows).
Every model code shows its probability; behaviour and client-talk codes under
``LOW_CONFIDENCE_THRESHOLD`` are marked "low confidence" in words, and counted.
With segment-level coding (``models.units == "segments"``) each turn cut into more than one
segment lists its segments with their codes, the primary one (which gives the turn its code)
marked.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from alliance.analysis.calibration import LOW_CONFIDENCE_THRESHOLD, is_low_confidence
from alliance.analysis.schema import (
    AnalysisResult,
    Code,
    Indicator,
    MarkerCode,
    RuptureOut,
    SegmentOut,
    UtteranceOut,
)

_CATEGORY_COLOURS = {
    "relationship": "#2b8a3e",
    "withdrawal": "#e8590c",
    "confrontation": "#c92a2a",
}


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "percent":
        return f"{value:.0f}%"
    if unit == "share":
        return f"{value:.0%}"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.2f}"


def _indicator_line(ind: Indicator) -> str:
    thresholds = ""
    if ind.fair is not None and ind.good is not None:
        thresholds = f" (fair {_fmt(ind.fair, ind.unit)}, good {_fmt(ind.good, ind.unit)})"
    return f"{ind.name}: {_fmt(ind.value, ind.unit)} [{ind.rating}]{thresholds}"


def _ids(ids: Iterable[str], limit: int = 12) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:limit])
    return shown + (f" … (+{len(ids) - limit})" if len(ids) > limit else "")


@dataclass(frozen=True)
class LowConfidence:
    """How many model codes (therapist behaviour, client talk) a session has, and which
    utterances carry one under the low-confidence threshold."""

    threshold: float
    codes: int
    ids: tuple[str, ...]

    @property
    def line(self) -> str:
        return (
            f"{len(self.ids)} of {self.codes} behaviour and client-talk codes are low confidence "
            f"(probability below {self.threshold:.2f})"
        )


def _model_codes(u: UtteranceOut) -> list[Code]:
    c = u.codes
    return [code for code in (c.therapist_behaviour, c.client_talk) if code is not None]


def low_confidence(result: AnalysisResult) -> LowConfidence:
    """The low-confidence codes of a session (threshold: ``LOW_CONFIDENCE_THRESHOLD``)."""
    codes = 0
    ids: list[str] = []
    for u in result.utterances:
        mine = _model_codes(u)
        codes += len(mine)
        if any(is_low_confidence(code.confidence) for code in mine):
            ids.append(u.id)
    return LowConfidence(LOW_CONFIDENCE_THRESHOLD, codes, tuple(ids))


def render_text(result: AnalysisResult) -> str:
    """A compact plain-text summary with the evidence ids of every figure."""
    s = result.summary
    lines = [
        f"Session analysis ({result.source.file or 'transcript'}, {result.source.format}, "
        f"{result.source.utterances} turns, schema {result.schema_version})",
        "Speakers: "
        + "; ".join(f"{sp.name} = {sp.role} ({sp.turns} turns)" for sp in result.speakers)
        + f"  [roles {result.roles.method}, confidence {result.roles.confidence:.2f}]",
    ]
    lines += [f"warning: {w}" for w in result.warnings]
    lines.append("")
    lines.append("Talk")
    for share in s.talk.by_role:
        time_part = f", {share.time_share:.0%} of time" if share.time_share is not None else ""
        lines.append(
            f"  {share.role}: {share.word_share:.0%} of words{time_part}, {share.turns} turns"
        )
    if s.talk.monologues:
        lines.append(f"  long therapist monologues: {_ids(s.talk.monologues)}")
    if s.talk.interruptions is not None:
        ids = f" ({_ids(s.talk.interruptions)})" if s.talk.interruptions else ""
        lines.append(f"  interruptions: {len(s.talk.interruptions)}{ids}")
    for lat in s.talk.latencies or []:
        lines.append(
            f"  {lat.role} response latency: median {lat.median:.1f}s, longest "
            f"{lat.longest:.1f}s ({lat.longest_id})"
        )
    lines.append("")
    lines.append(f"MITI-style indicators (backend: {result.models.backend or 'none'})")
    for ind in (
        s.miti.reflection_to_question,
        s.miti.percent_complex_reflections,
        s.miti.percent_open_questions,
    ):
        lines.append(f"  {_indicator_line(ind)}")
    mix = ", ".join(f"{c.label} {c.count}" for c in s.miti.behaviours if c.count)
    lines.append(f"  therapist behaviours: {mix or 'not coded'}")
    if s.miti.codes is not None:  # MITI 4.2.1 codes from the MITI heads (schema 1.1)
        coded = ", ".join(f"{c.label} {c.count}" for c in s.miti.codes.counts if c.count)
        lines.append(f"  MITI 4.2.1 codes: {coded or 'none'}")
        for ind in (
            s.miti.codes.mi_adherent,
            s.miti.codes.mi_non_adherent,
            s.miti.codes.percent_mi_adherent,
        ):
            lines.append(f"  {_indicator_line(ind)}")
    lines.append(f"  {_indicator_line(s.client_talk.change_talk_ratio)}")
    if s.empathy is not None:
        lines.append(f"  {_indicator_line(s.empathy.level)}")
    low = low_confidence(result)
    if low.codes:
        lines.append(f"  {low.line}" + (f": {_ids(low.ids)}" if low.ids else ""))
    style = s.relationship_style
    lines.append("")
    lines.append(f"Relationship style: {style.style} — {style.rule}")
    counts = ", ".join(f"{c.label} {c.count}" for c in s.markers.counts if c.count)
    lines.append(f"Markers: {counts or 'none'}")
    if s.markers.ruptures:
        lines.append("Rupture markers:")
        for r in s.markers.ruptures:
            lines.append(
                f"  {r.utterance_id} {r.speaker} [{r.marker} via {_found_by(r)}]: {r.text}"
            )
    lines += segment_lines(result)
    return "\n".join(lines) + "\n"


def _segment_code(segment: SegmentOut) -> str:
    code = segment.therapist_behaviour or segment.client_talk
    return f"{code.label} {code.confidence:.2f}" if code is not None else "not coded"


def _turn_code(u: UtteranceOut) -> str:
    code = u.codes.therapist_behaviour or u.codes.client_talk
    return f"{code.label} ({code.confidence:.2f})" if code is not None else "not coded"


def segment_lines(result: AnalysisResult) -> list[str]:
    """The text report's segment section: every turn coded in more than one segment, its
    code and its segments' codes (``*`` marks the primary segment). Empty for whole turns."""
    if result.models.units != "segments":
        return []
    split = [u for u in result.utterances if u.codes.segments and len(u.codes.segments) > 1]
    lines = [
        "",
        f"Segments: {len(split)} of {result.source.utterances} turns coded in more than one "
        "segment (* = the segment that gives the turn its code)",
    ]
    for u in split:
        lines.append(f"  {u.id} {u.speaker} ({u.role}): {_turn_code(u)}")
        for seg in u.codes.segments or []:
            mark = "*" if seg.primary else " "
            lines.append(f"    {mark} [{_segment_code(seg)}] {seg.text}")
    return lines


# --------------------------------------------------------------------------------- charts


def _svg(spec: Any) -> str:
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(spec.to_dict())
    # Drop the XML prolog if any: the SVG is embedded in HTML.
    return svg[svg.find("<svg") :]


def talk_chart(result: AnalysisResult) -> str:
    import altair as alt

    rows = []
    for share in result.summary.talk.by_role:
        rows.append({"role": share.role, "measure": "words", "share": share.word_share})
        if share.time_share is not None:
            rows.append({"role": share.role, "measure": "time", "share": share.time_share})
    chart = (
        alt.Chart({"values": rows}, title="Talk share")
        .mark_bar()
        .encode(
            x=alt.X("share:Q", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("measure:N", title=None),
            color=alt.Color("role:N", scale=alt.Scale(scheme="tableau10")),
            order=alt.Order("role:N"),
        )
        .properties(width=420, height=70)
    )
    return _svg(chart)


def behaviour_chart(result: AnalysisResult) -> str | None:
    import altair as alt

    rows = [
        {"behaviour": c.label.replace("_", " "), "count": c.count}
        for c in result.summary.miti.behaviours
    ]
    if not any(r["count"] for r in rows):
        return None
    chart = (
        alt.Chart({"values": rows}, title="Therapist behaviour mix")
        .mark_bar(color="#1c7ed6")
        .encode(
            x=alt.X("count:Q", title="utterances"),
            y=alt.Y("behaviour:N", sort=None, title=None),
        )
        .properties(width=420, height=200)
    )
    return _svg(chart)


def marker_timeline(result: AnalysisResult) -> str | None:
    import altair as alt

    timed = result.source.timing != "none"
    rows = [
        {
            "position": (u.start / 60 if timed and u.start is not None else u.index + 1),
            "marker": m.marker.replace("_", " "),
            "category": m.category,
            "utterance": u.id,
        }
        for u in result.utterances
        for m in u.codes.markers
    ]
    if not rows:
        return None
    chart = (
        alt.Chart({"values": rows}, title="Markers over the session")
        .mark_point(filled=True, size=80)
        .encode(
            x=alt.X("position:Q", title="minutes" if timed else "turn"),
            y=alt.Y("marker:N", title=None),
            color=alt.Color(
                "category:N",
                scale=alt.Scale(
                    domain=list(_CATEGORY_COLOURS), range=list(_CATEGORY_COLOURS.values())
                ),
            ),
        )
        .properties(width=520, height=220)
    )
    return _svg(chart)


# ----------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#212529;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #dee2e6}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #e9ecef;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f8f9fa}.good{color:#2b8a3e;font-weight:600}.fair{color:#e67700;font-weight:600}
.below{color:#c92a2a;font-weight:600}.muted{color:#6c757d;font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.tag{display:inline-block;border-radius:.3rem;
padding:0 .35rem;margin:0 .2rem .2rem 0;font-size:.78rem;color:#fff}
.relationship{background:#2b8a3e}.withdrawal{background:#e8590c}
.confrontation{background:#c92a2a}tr.therapist td:nth-child(2){color:#1c7ed6}
a{color:#1864ab}.low{font-style:italic;color:#862e9c}
ol.segments{margin:.3rem 0 0 1rem;padding:0;font-size:.85rem}
ol.segments li.primary b{text-decoration:underline}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _links(ids: Iterable[str], limit: int = 20) -> str:
    ids = list(ids)
    shown = " ".join(f'<a href="#{_e(i)}">{_e(i)}</a>' for i in ids[:limit])
    if len(ids) > limit:
        shown += f" … (+{len(ids) - limit})"
    return shown or "–"


def _rating_class(rating: str) -> str:
    return {"good": "good", "fair": "fair", "below fair": "below"}.get(rating, "muted")


def _indicator_row(ind: Indicator) -> str:
    thresholds = (
        f"fair {_fmt(ind.fair, ind.unit)} / good {_fmt(ind.good, ind.unit)}"
        if ind.fair is not None and ind.good is not None
        else "–"
    )
    detail = _e(ind.source or ind.note)
    return (
        f"<tr><td>{_e(ind.name)}</td><td>{_fmt(ind.value, ind.unit)}</td>"
        f'<td class="{_rating_class(ind.rating)}">{_e(ind.rating)}</td><td>{thresholds}</td>'
        f'<td class="muted">{detail}</td><td>{_links(ind.evidence, 8)}</td></tr>'
    )


def _confidence(code: Code) -> str:
    flag = ' <span class="low">low confidence</span>' if is_low_confidence(code.confidence) else ""
    return f"({code.confidence:.2f}){flag}"


def _codes_cell(u: UtteranceOut) -> str:
    parts: list[str] = []
    c = u.codes
    if c.therapist_behaviour is not None:
        parts.append(f"{_e(c.therapist_behaviour.label)} {_confidence(c.therapist_behaviour)}")
    if c.client_talk is not None:
        parts.append(f"{_e(c.client_talk.label)} talk {_confidence(c.client_talk)}")
    if c.empathy is not None:
        e = c.empathy
        conf = e.confidences
        parts.append(
            f"empathy ER {e.emotional_reactions} ({conf.get('emotional_reactions', 0):.2f}) / "
            f"IP {e.interpretations} ({conf.get('interpretations', 0):.2f}) / "
            f"EX {e.explorations} ({conf.get('explorations', 0):.2f})"
        )
    tags = "".join(
        f'<span class="tag {_e(m.category)}" title="{_e(_found_by(m))}: {_e(m.evidence)}">'
        f"{_e(m.marker.replace('_', ' '))}{' (model)' if m.source == 'model' else ''}</span>"
        for m in c.markers
    )
    if c.miti is not None and c.miti.codes:
        parts.append(
            "MITI: "
            + ", ".join(
                f'<span title="{_e(h.sentence)}">{_e(h.code.replace("_", " "))} '
                f"({h.probability:.2f})</span>"
                for h in c.miti.codes
            )
        )
    return "<br>".join(parts) + (f"<br>{tags}" if tags else "") + _segments_html(u)


def _segments_html(u: UtteranceOut) -> str:
    """A turn's segments with their codes (segment-level coding, more than one segment)."""
    segments = u.codes.segments or []
    if len(segments) < 2:
        return ""
    primary = ' class="primary" title="gives the turn its code"'
    items = "".join(
        f"<li{primary if seg.primary else ''}>"
        f"<b>{_e(_segment_code(seg).replace('_', ' '))}</b> {_e(seg.text)}</li>"
        for seg in segments
    )
    return f'<ol class="segments">{items}</ol>'


def _found_by(hit: MarkerCode | RuptureOut) -> str:
    """Who found a marker, in words: a named rule, or the model with its probability."""
    if hit.source == "model":
        return f"model-based classifier, p={hit.confidence:.2f} ({hit.rule})"
    return f"rule {hit.rule}"


def _time(value: float | None) -> str:
    if value is None:
        return ""
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes:d}:{seconds:02d}"


def render_html(result: AnalysisResult, *, charts: bool = True) -> str:
    """A self-contained HTML report (no external assets; charts are inline SVG)."""
    s = result.summary
    title = f"Session analysis — {result.source.file or 'transcript'}"
    out: list[str] = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{result.source.utterances} turns · format {_e(result.source.format)}'
        f" · backend {_e(result.models.backend or 'none')} · units {_e(result.models.units)}"
        " · empathy model "
        f"{'on' if result.models.empathy else 'off'} · schema {_e(result.schema_version)} · "
        f"alliance {_e(result.models.alliance_version)}</p>",
        "<p>Speakers: "
        + "; ".join(f"{_e(sp.name)} (<b>{_e(sp.role)}</b>)" for sp in result.speakers)
        + f' <span class="muted">roles {_e(result.roles.method)}, confidence '
        f"{result.roles.confidence:.2f}</span></p>",
    ]
    out += [f'<p class="below">Warning: {_e(w)}</p>' for w in result.warnings]
    if charts:
        svgs = [talk_chart(result), behaviour_chart(result), marker_timeline(result)]
        out.append('<div class="charts">' + "".join(f"<figure>{g}</figure>" for g in svgs if g))
        out.append("</div>")

    out.append("<h2>Indicators</h2><table><tr><th>indicator</th><th>value</th><th>rating</th>")
    out.append("<th>thresholds</th><th>source / note</th><th>evidence</th></tr>")
    indicators = [
        s.miti.reflection_to_question,
        s.miti.percent_complex_reflections,
        s.miti.percent_open_questions,
        s.talk.therapist_word_share,
        *([s.talk.therapist_time_share] if s.talk.therapist_time_share else []),
        s.client_talk.change_talk_ratio,
        *([s.empathy.level, *s.empathy.mechanisms] if s.empathy else []),
        *(
            [
                s.miti.codes.mi_adherent,
                s.miti.codes.mi_non_adherent,
                s.miti.codes.percent_mi_adherent,
            ]
            if s.miti.codes
            else []
        ),
    ]
    out += [_indicator_row(ind) for ind in indicators]
    out.append("</table>")
    if s.empathy is not None:
        out.append(f'<p class="muted">{_e(s.empathy.licence)}</p>')

    style = s.relationship_style
    out.append(f"<h2>Relationship style: {_e(style.style)}</h2><p>{_e(style.rule)}</p>")
    out.append("<table><tr><th>style</th><th>share</th><th>threshold</th><th>evidence</th></tr>")
    for name, value in style.shares.items():
        out.append(
            f"<tr><td>{_e(name)}</td><td>{value:.0%}</td>"
            f"<td>{style.thresholds.get(name, 0):.0%}</td>"
            f"<td>{_links(style.evidence.get(name, []), 12)}</td></tr>"
        )
    out.append("</table>")

    out.append("<h2>Talk and timing</h2><table><tr><th>speaker</th><th>role</th><th>turns</th>")
    out.append("<th>words</th><th>share of words</th><th>share of time</th></tr>")
    for share in s.talk.by_speaker:
        time_share = f"{share.time_share:.0%}" if share.time_share is not None else "–"
        out.append(
            f"<tr><td>{_e(share.name)}</td><td>{_e(share.role)}</td><td>{share.turns}</td>"
            f"<td>{share.words}</td><td>{share.word_share:.0%}</td><td>{time_share}</td></tr>"
        )
    out.append("</table><ul>")
    out.append(f"<li>Long therapist monologues: {_links(s.talk.monologues)}</li>")
    if s.talk.interruptions is not None:
        out.append(f"<li>Interruptions: {_links(s.talk.interruptions)}</li>")
        out.append(f"<li>Long pauses before a turn: {_links(s.talk.long_pauses or [])}</li>")
        for lat in s.talk.latencies or []:
            out.append(
                f"<li>{_e(lat.role)} response latency: median {lat.median:.1f} s, longest "
                f'{lat.longest:.1f} s (<a href="#{_e(lat.longest_id)}">'
                f"{_e(lat.longest_id)}</a>)</li>"
            )
    else:
        out.append("<li>No cue times: overlaps and latencies are not measured.</li>")
    out.append("</ul>")

    out.append(
        f"<h2>Rupture markers ({s.markers.withdrawal} withdrawal, "
        f"{s.markers.confrontation} confrontation)</h2>"
    )
    if s.markers.ruptures:
        out.append("<table><tr><th>turn</th><th>speaker</th><th>marker</th><th>rule</th>")
        out.append("<th>text</th></tr>")
        for r in s.markers.ruptures:
            out.append(
                f'<tr><td><a href="#{_e(r.utterance_id)}">{_e(r.utterance_id)}</a></td>'
                f"<td>{_e(r.speaker)}</td><td>{_e(r.marker)}</td><td>{_e(_found_by(r))}</td>"
                f"<td>{_e(r.text)}</td></tr>"
            )
        out.append("</table>")
    else:
        out.append("<p>None found.</p>")

    out.append("<h2>Transcript</h2>")
    low = low_confidence(result)
    if low.codes:
        out.append(f"<p>{_e(low.line)}: {_links(low.ids)}</p>")
    out.append("<table><tr><th>id</th><th>speaker</th><th>time</th>")
    out.append("<th>text</th><th>codes</th></tr>")
    for u in result.utterances:
        out.append(
            f'<tr id="{_e(u.id)}" class="{_e(u.role)}"><td>{_e(u.id)}</td>'
            f"<td>{_e(u.speaker)}</td><td>{_time(u.start)}</td><td>{_e(u.text)}</td>"
            f"<td>{_codes_cell(u)}</td></tr>"
        )
    out.append("</table>")
    out.append(
        '<p class="muted">Markers come from transparent rules (hover a tag for its rule); '
        "behaviour, talk and empathy codes from trained models with their probability; "
        f"behaviour and talk codes below {LOW_CONFIDENCE_THRESHOLD:.2f} are marked "
        '"low confidence": check them before relying on them. '
        "See docs/analysis.md for definitions, accuracy and limits.</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
