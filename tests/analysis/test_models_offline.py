"""The bundled models load and run with the network blocked (nothing is downloaded)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from alliance.analysis import classifiers
from alliance.analysis.pipeline import Analyzer
from alliance.transcripts import parse_transcript

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    # Start from an empty model cache so this test really loads the files.
    monkeypatch.setattr(classifiers, "_CACHE", {})


def test_the_network_block_works(no_network: None) -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("example.org", 80))


@pytest.mark.parametrize("backend", ["accurate", "fast"])
def test_the_bundled_models_load_and_code_a_session_offline(no_network: None, backend: str) -> None:
    transcript = parse_transcript((DATA / "session.srt").read_bytes(), filename="session.srt")
    analyzer = Analyzer.load(backend, empathy=True)  # type: ignore[arg-type]
    result = analyzer.analyze(transcript)
    assert result.models.backend == backend
    for u in result.utterances:
        code = u.codes.therapist_behaviour if u.role == "therapist" else u.codes.client_talk
        assert code is not None
        labels = (
            classifiers.THERAPIST_LABELS if u.role == "therapist" else classifiers.CLIENT_LABELS
        )
        assert code.label in labels
        assert 0 < code.confidence <= 1
        assert sum(code.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    if analyzer.empathy is not None:  # optional component: checked when installed
        assert result.summary.empathy is not None
        assert result.summary.empathy.responses > 0


def test_a_local_multi_process_batch_uses_the_real_models(tmp_path: Path) -> None:
    import pandas as pd
    from typer.testing import CliRunner

    from alliance.cli import app

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("session.srt", "zoom_session.vtt", "session.csv"):
        (folder / name).write_bytes((DATA / name).read_bytes())
    (folder / "truncated.vtt").write_text("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n", "utf-8")
    out = tmp_path / "results.parquet"
    result = CliRunner().invoke(
        app, ["analyze", str(folder), "--jobs", "2", "--backend", "fast", "-o", str(out)]
    )
    assert result.exit_code == 1, result.output
    frame = pd.read_parquet(out).set_index("file")
    assert frame.loc[str(folder / "truncated.vtt"), "status"] == "failed"
    assert "line 3" in frame.loc[str(folder / "truncated.vtt"), "error"]
    assert (frame.drop(str(folder / "truncated.vtt"))["status"] == "ok").all()
