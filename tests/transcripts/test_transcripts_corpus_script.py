"""eval/transcripts_corpus.py: one line per subtitle file, the reason for each refusal, and
the count on the last line (the figure docs/benchmarks.md quotes)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from alliance.analysis import pipeline
from eval_scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "eval" / "transcripts_corpus.py"


class _Coder:
    """Test double for the trained coder: the script's counting is under test, not models."""

    class _P:
        def __init__(self) -> None:
            self.label, self.confidence = "other", 0.9
            self.probabilities = {"other": 0.9}

    def therapist_behaviour(self, texts, contexts):  # type: ignore[no-untyped-def]
        return [self._P() for _ in texts]

    def client_talk(self, texts, contexts):  # type: ignore[no-untyped-def]
        return [self._P() for _ in texts]


@pytest.fixture
def corpus(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setattr(
        pipeline.Analyzer,
        "load",
        classmethod(
            lambda cls, backend="accurate", empathy=None, units="turns": cls(coder=_Coder())
        ),
    )
    return load_script("transcripts_corpus", SCRIPT.parent)


def _files(folder: Path) -> None:
    (folder / "teams").mkdir(parents=True)
    (folder / "teams" / "session.vtt").write_text(
        "WEBVTT\n\n0:0:0.0 --> 0:0:1.5\n<v Dr Lee>How are you?</v>\n\n"
        "0:0:2.0 --> 0:0:3.0\n<v Sam>Tired. [sighs]</v>\n",
        encoding="utf-8",
    )
    film = "1\n00:00:01,000 --> 00:00:02,000\nBonjour.\n\n2\n00:00:02,000 --> 00:00:03,000\n"
    (folder / "film.srt").write_bytes((film + "Salut.\n").encode("utf-32"))
    (folder / "notes.txt").write_text("Dr Lee: not a subtitle file\nSam: so not counted\n")


def test_it_counts_each_subtitle_file_and_says_why_one_was_refused(
    corpus: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _files(tmp_path)
    assert corpus.main(["transcripts_corpus.py", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("refused  film.srt: line 2: no speaker labels found")
    assert lines[1] == (
        "parsed   teams/session.vtt: 2 turns, 2 speakers, timing cues "
        "(1 sound description (such as '[sighs]') left out: not speech)"
    )
    assert lines[-1] == "transcripts: 1 of 2 subtitle files analysed"


def test_alternate_speakers_count_what_the_cli_option_reads(
    corpus: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _files(tmp_path)
    assert corpus.main(["transcripts_corpus.py", str(tmp_path), "--speakers", "alternate"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "transcripts: 2 of 2 subtitle files analysed"
    )


def test_a_missing_directory_is_skipped_with_a_message(
    corpus: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert corpus.main(["transcripts_corpus.py", str(tmp_path / "absent")]) == 0
    assert capsys.readouterr().out.startswith("no subtitle files at ")
    assert corpus.main(["transcripts_corpus.py", str(tmp_path), "--speakers", "both"]) == 2
