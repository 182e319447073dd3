"""Batch rows: a bad transcript becomes a failed row with its line, never an exception."""

from __future__ import annotations

import pytest

from alliance.analysis import pipeline
from alliance.analysis.batch import COLUMNS, BatchOptions, analyse_bytes, pending


@pytest.fixture
def doubled_models(monkeypatch: pytest.MonkeyPatch, coder) -> None:
    monkeypatch.setattr(
        pipeline.Analyzer,
        "load",
        classmethod(
            lambda cls, backend="accurate", empathy=None, units="turns": cls(
                coder=coder, backend=backend, units=units
            )
        ),
    )


def test_a_good_transcript_gives_an_ok_row_with_every_column(doubled_models) -> None:
    row = analyse_bytes(
        "a.txt", b"Therapist: How are you?\nKim: Not bad.\n", BatchOptions(backend="fast")
    )
    assert row["status"] == "ok"
    assert set(row) == set(COLUMNS)
    assert row["utterances"] == 2
    assert row["backend"] == "fast"


def test_a_broken_transcript_gives_a_failed_row_naming_the_line(doubled_models) -> None:
    row = analyse_bytes(
        "b.json", b'[\n{"speaker": "A", "text": "hi"},\n{"speaker": "B"', BatchOptions()
    )
    assert row["status"] == "failed"
    assert str(row["error"]).startswith("b.json: line 3:")
    assert row["utterances"] is None


def test_options_reach_the_parser(doubled_models) -> None:
    text = b"Ann: How was it?\nBo: What do you think?\n"
    row = analyse_bytes("c.txt", text, BatchOptions(therapist=("Bo",)))
    assert row["status"] == "ok"
    assert '"role":"therapist","text":"What do you think?"' in str(row["result_json"]).replace(
        '"speaker":"Bo",', ""
    )


def test_the_speakers_mode_reaches_the_parser(doubled_models) -> None:
    text = b"How are you?\nTired.\n"
    assert analyse_bytes("d.txt", text, BatchOptions())["status"] == "failed"
    row = analyse_bytes("d.txt", text, BatchOptions(speakers="alternate"))
    assert row["status"] == "ok"
    assert row["speakers"] == 2


def test_pending_skips_finished_files_in_order() -> None:
    assert pending(["a", "b", "c"], ["b"]) == ["a", "c"]
