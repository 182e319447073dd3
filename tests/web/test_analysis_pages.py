"""Session analysis in the clinic app: attach a transcript (stored encrypted), read the
analysis with its evidence, a therapist's indicators across sessions, erasure."""

from __future__ import annotations

import html
import re
from pathlib import Path

from sqlalchemy import select
from webworld import World, csrf_from

from alliance.services import exports, transcripts
from alliance.store.crypto import is_encrypted
from alliance.store.models import AuditEvent, SessionTranscript

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "transcripts" / "teams_session.vtt"


def upload(world: World, who: str, session_id: int, data: bytes, name: str = "s.vtt"):
    http = world.login(who)
    page = http.get(f"/sessions/{session_id}/transcripts")
    assert page.status_code == 200
    return http, http.post(
        f"/sessions/{session_id}/transcripts",
        data={"csrf_token": csrf_from(page.text), "therapist": ""},
        files={"transcript": (name, data, "text/vtt")},
        follow_redirects=False,
    )


def rows(world: World) -> list[SessionTranscript]:
    with world.ctx.session_factory() as session:
        return list(session.scalars(select(SessionTranscript)))


def test_a_therapist_attaches_a_transcript_and_reads_its_analysis(world: World) -> None:
    session_id = world.new_session("tom")
    http, response = upload(world, "tom", session_id, SAMPLE.read_bytes())
    assert response.status_code == 303
    page = http.get(response.headers["location"])
    assert page.status_code == 200
    assert "Session" in page.text
    assert "I don&#39;t know. Wherever." in page.text  # the transcript with codes
    assert "confrontation progress" in page.text  # the rupture marker and its rule
    assert "reflection-to-question ratio" in page.text
    assert page.text.count("<svg") >= 2  # server-rendered charts, no scripts
    assert not re.search(r'<script(?![^>]*src="/static/)', page.text)  # nothing inline or remote

    (row,) = rows(world)
    assert is_encrypted(row.transcript_enc)
    assert is_encrypted(row.analysis_enc)
    assert "Wherever" not in row.transcript_enc + row.analysis_enc
    assert row.indicators["utterances"] == 12
    with world.ctx.session_factory() as session:
        actions = {
            (e.action, e.entity_type)
            for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == str(row.id)))
        }
    assert {("write", "session_transcript"), ("read", "session_transcript")} <= actions


def test_a_broken_transcript_is_refused_with_its_line_and_nothing_is_stored(world: World) -> None:
    session_id = world.new_session("tom")
    cut = (
        b"WEBVTT\n\n00:00:01.000 --> 00:00:03.000\n<v Jo>Hello.\n\n00:00:04.000 --> 00:00:05.000\n"
    )
    _, response = upload(world, "tom", session_id, cut, name="cut.vtt")
    assert response.status_code == 422
    assert "cut.vtt: line 6:" in response.text
    assert rows(world) == []


def test_a_cue_ending_before_it_starts_is_a_422_naming_file_and_cue(world: World) -> None:
    session_id = world.new_session("tom")
    backwards = (
        b"1\n00:00:01,000 --> 00:00:03,000\nJo: Hello.\n\n"
        b"2\n00:00:09,000 --> 00:00:04,000\nSam: Hi.\n"
    )
    _, response = upload(world, "tom", session_id, backwards, name="week3.srt")
    assert response.status_code == 422
    assert "week3.srt: line 6: cue 2 ends before it starts" in html.unescape(response.text)
    assert rows(world) == []


def test_the_analysis_page_marks_low_confidence_codes_in_words_and_counts_them(
    world: World,
) -> None:
    from alliance.analysis.report import low_confidence

    http, response = upload(world, "tom", world.new_session("tom"), SAMPLE.read_bytes())
    page = http.get(response.headers["location"]).text
    (row,) = rows(world)
    analysis = transcripts.transcript_analysis(
        world.ctx, actor=world.people["tom"].actor, transcript_id=row.id
    )
    low = low_confidence(analysis.result)
    assert low.codes > 0
    assert (
        f"{len(low.ids)} of {low.codes} behaviour and client-talk codes are low confidence" in page
    )
    flagged = re.findall(r'<tr id="(u\d+)">(?:(?!</tr>).)*?low confidence</span>', page, re.S)
    assert tuple(flagged) == low.ids
    for u in analysis.result.utterances:
        code = u.codes.therapist_behaviour or u.codes.client_talk
        if code is not None:  # every code shows its probability
            assert f"{code.confidence:.2f}" in page


def test_the_report_downloads_as_one_self_contained_file(world: World) -> None:
    http, response = upload(world, "tom", world.new_session("tom"), SAMPLE.read_bytes())
    report = http.get(response.headers["location"] + "/report.html")
    assert report.status_code == 200
    assert "attachment" in report.headers["content-disposition"]
    assert report.text.startswith("<!doctype html>")


def test_supervisors_see_their_teams_indicators_and_others_do_not(world: World) -> None:
    _, response = upload(world, "tom", world.new_session("tom"), SAMPLE.read_bytes())
    tom_id = world.people["tom"].user_id
    page = world.login("sue").get(f"/therapists/{tom_id}/analysis")
    assert page.status_code == 200
    assert response.headers["location"] in page.text
    assert world.login("tess").get(f"/therapists/{tom_id}/analysis").status_code == 404
    assert world.login("tess").get(response.headers["location"]).status_code == 404
    assert world.login("bea").get(response.headers["location"]).status_code == 404


def test_erasing_a_client_erases_their_transcripts(world: World) -> None:
    transcripts.attach_transcript(
        world.ctx,
        actor=world.people["tom"].actor,
        session_id=world.new_session("tom"),
        filename="s.vtt",
        data=SAMPLE.read_bytes(),
    )
    receipt = exports.erase_client(
        world.ctx, actor=world.people["ada"].actor, client_id=world.cases["tom"].client_id
    )
    assert receipt.deleted["session_transcripts"] == 1
    assert rows(world) == []


def test_the_client_and_team_pages_link_to_session_analysis(world: World) -> None:
    from alliance.services import sessions

    held = sessions.schedule_session(
        world.ctx,
        actor=world.people["tom"].actor,
        episode_id=world.cases["tom"].episode_id,
        scheduled_at=world.ctx.now(),
        status="attended",
    )
    client_page = world.login("tom").get(f"/clients/{world.cases['tom'].client_id}")
    assert f'href="/sessions/{held.id}/transcripts"' in client_page.text
    team_page = world.login("sue").get("/team")
    assert f'href="/therapists/{world.people["tom"].user_id}/analysis"' in team_page.text


def test_with_segment_coding_the_page_lists_a_turns_segments(tmp_path: Path) -> None:
    from webworld import build_world

    world = build_world(tmp_path, analysis_units="segments", analysis_backend="fast")
    session_id = world.new_session("tom")
    text = (
        b"Therapist: You have tried to stop twice this year. What made you try?\n"
        b"Client: My kids, mostly. I want to be there for them.\n"
    )
    http, response = upload(world, "tom", session_id, text, name="s.txt")
    assert response.status_code == 303
    page = http.get(response.headers["location"])
    assert page.status_code == 200
    assert "units segments" in page.text
    assert '<ol class="segments">' in page.text
    assert "You have tried to stop twice this year.</li>" in page.text
    assert "What made you try?</li>" in page.text
    assert page.text.count('class="primary"') >= 1
