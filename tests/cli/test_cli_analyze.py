"""`alliance analyze`: one file in three formats, bad input in one line, batches that resume."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance.analysis import pipeline
from alliance.analysis.schema import SCHEMA_VERSION
from alliance.cli import app

DATA = Path(__file__).resolve().parents[1] / "data" / "transcripts"


class _Prediction:
    def __init__(self, label: str) -> None:
        self.label = label
        self.confidence = 0.9
        self.probabilities = {label: 0.9}


class _Coder:
    """Test double for the trained coder: questions by '?', everything else 'other'."""

    def therapist_behaviour(self, texts, contexts):
        return [_Prediction("question_open" if t.endswith("?") else "other") for t in texts]

    def client_talk(self, texts, contexts):
        return [_Prediction("neutral") for _ in texts]


@pytest.fixture(autouse=True)
def doubled_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        pipeline.Analyzer,
        "load",
        classmethod(
            lambda cls, backend="accurate", empathy=None, units="turns": cls(
                coder=_Coder(), backend=backend, units=units
            )
        ),
    )


def run(*args: str):
    return CliRunner().invoke(app, ["analyze", *args])


def test_it_prints_json_for_one_file() -> None:
    result = run(str(DATA / "session.srt"), "--backend", "fast")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema_version"] == SCHEMA_VERSION == "1.1"
    assert data["models"]["backend"] == "fast"
    assert [u["id"] for u in data["utterances"]][:2] == ["u1", "u2"]
    assert data["summary"]["miti"]["percent_open_questions"]["evidence"]


def test_it_writes_html_and_text_chosen_by_extension(tmp_path: Path) -> None:
    html = tmp_path / "out" / "report.html"
    assert run(str(DATA / "zoom_session.vtt"), "-o", str(html)).exit_code == 0
    assert html.read_text(encoding="utf-8").startswith("<!doctype html>")
    text = tmp_path / "report.txt"
    assert run(str(DATA / "zoom_session.vtt"), "-o", str(text)).exit_code == 0
    assert "MITI-style indicators" in text.read_text(encoding="utf-8")


def test_the_therapist_option_and_role_map_are_used() -> None:
    result = run(
        str(DATA / "couple_session.txt"), "--therapist", "Nadia", "--role", "Therapist=other"
    )
    assert result.exit_code == 0, result.output
    roles = {s["name"]: s["role"] for s in json.loads(result.stdout)["speakers"]}
    assert roles == {"Therapist": "other", "Nadia": "therapist", "Chris": "client"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "line 1: empty transcript"),
        (
            b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA: hi\n\n00:00:03.000 --> 00:00:04.000\n",
            "line 6:",
        ),
        (
            b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v A>hi\n\n"
            b"00:00:05.000 --> 00:00:04.000\n<v B>yo\n",
            "line 6: cue 2 of the file ends before it starts ('00:00:05.000 --> 00:00:04.000')",
        ),
        (b"Therapist: hello\nTherapist: still me\n", "only one speaker"),
        (b"\x00\x01\x02binary", "binary"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.vtt"
    path.write_bytes(content)
    result = run(str(path))
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {path}")
    assert expected in lines[0]


def test_missing_file_and_unknown_therapist_exit_2(tmp_path: Path) -> None:
    assert run(str(tmp_path / "nope.vtt")).exit_code == 2
    result = run(str(DATA / "session.srt"), "--therapist", "Zed")
    assert result.exit_code == 2
    assert "'Zed' is not one of the speakers" in result.output


def test_units_segments_codes_and_shows_each_turns_segments(tmp_path: Path) -> None:
    path = tmp_path / "s.txt"
    path.write_text(
        "Therapist: You have tried to stop twice this year. What made you try?\nClient: My kids.\n",
        encoding="utf-8",
    )
    result = run(str(path), "--units", "segments", "--format", "text")
    assert result.exit_code == 0, result.output
    assert "Segments: 1 of 2 turns coded in more than one segment" in result.stdout
    assert "* [question_open 0.90] What made you try?" in result.stdout
    assert "[other 0.90] You have tried to stop twice this year." in result.stdout
    data = json.loads(run(str(path), "--units", "segments").stdout)
    assert data["models"]["units"] == "segments"
    assert len(data["utterances"][0]["codes"]["segments"]) == 2
    assert json.loads(run(str(path)).stdout)["utterances"][0]["codes"]["segments"] is None


def test_unknown_units_exit_2_with_one_line() -> None:
    result = run(str(DATA / "session.srt"), "--units", "words")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --units 'words': choose turns or segments"
    ]


def test_a_dash_reads_the_transcript_from_standard_input() -> None:
    data = (DATA / "srt_dots_and_gaps.srt").read_bytes()
    result = CliRunner().invoke(app, ["analyze", "-", "--format", "text"], input=data)
    assert result.exit_code == 0, result.output
    assert "MITI-style indicators" in result.stdout


def test_bad_standard_input_is_named_stdin_with_its_line() -> None:
    data = b"1\n00:00:01,000 --> 00:00:02,000\nA: hi\n\n2\n00:00:0x,000 --> 00:00:04,000\nB: yo\n"
    result = CliRunner().invoke(app, ["analyze", "-"], input=data)
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: <stdin>: line 6: malformed cue timing '00:00:0x,000 --> 00:00:04,000' "
        "(SRT times look like 00:01:02,500); without it: only one speaker ('A'); a session "
        "needs a therapist and a client"
    )


def test_standard_input_is_one_transcript_not_a_batch() -> None:
    for extra in (["--jobs", "2"], ["-o", "out.parquet"]):
        result = CliRunner().invoke(app, ["analyze", "-", *extra], input=b"A: hi\nB: yo\n")
        assert result.exit_code == 2
        assert "standard input" in result.output


def test_a_file_without_speaker_labels_needs_speakers_alternate() -> None:
    refused = run(str(DATA / "whisper_no_speakers.vtt"))
    assert refused.exit_code == 2
    assert "line 3: no speaker labels found" in refused.output
    assert "--speakers alternate" in refused.output
    result = run(str(DATA / "whisper_no_speakers.vtt"), "--speakers", "alternate")
    assert result.exit_code == 0, result.output
    speakers = [s["name"] for s in json.loads(result.stdout)["speakers"]]
    assert speakers == ["Speaker 1", "Speaker 2"]
    assert "warning: no speaker labels: read as Speaker 1 and Speaker 2" in result.stderr


def test_an_unknown_speakers_mode_exits_2() -> None:
    result = run(str(DATA / "session.srt"), "--speakers", "guess")
    assert result.exit_code == 2
    assert "--speakers 'guess': choose labels or alternate" in result.output


def _batch_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "sessions"
    folder.mkdir()
    for name in ("session.srt", "session.json", "zoom_session.vtt", "couple_session.txt"):
        shutil.copy(DATA / name, folder / name)
    (folder / "broken.json").write_text('[\n{"speaker": "A", "text": "hi"},\n{"speaker": ', "utf-8")
    return folder


def test_a_batch_lists_failures_carries_on_and_resumes(tmp_path: Path) -> None:
    folder = _batch_dir(tmp_path)
    out = tmp_path / "results.parquet"
    first = run(str(folder), "-o", str(out), "--backend", "fast")
    assert first.exit_code == 1
    assert "5 files: 4 analysed, 0 already done, 1 failed" in first.output
    assert "broken.json: line 3: invalid JSON" in first.output
    frame = pd.read_parquet(out)
    assert len(frame) == 5
    assert sorted(frame["status"]) == ["failed", "ok", "ok", "ok", "ok"]
    ok = frame[frame["status"] == "ok"]
    assert ok["reflection_to_question"].notna().all()
    json.loads(ok.iloc[0]["result_json"])

    (folder / "broken.json").write_text(
        '[{"speaker": "A", "text": "hi"}, {"speaker": "B", "text": "yo"}]', "utf-8"
    )
    second = run(str(folder), "-o", str(out), "--backend", "fast")
    assert second.exit_code == 0, second.output
    assert "5 files: 1 analysed, 4 already done, 0 failed" in second.output
    frame = pd.read_parquet(out)
    assert len(frame) == 5
    assert set(frame["status"]) == {"ok"}


def test_a_glob_selects_files(tmp_path: Path) -> None:
    folder = _batch_dir(tmp_path)
    out = tmp_path / "r.parquet"
    result = run(str(folder / "*.json"), "-o", str(out))
    assert "2 files:" in result.output
    assert sorted(Path(f).name for f in pd.read_parquet(out)["file"]) == [
        "broken.json",
        "session.json",
    ]


def test_a_batch_runs_on_a_dask_cluster(tmp_path: Path) -> None:
    LocalCluster = pytest.importorskip("distributed").LocalCluster  # the optional scale extra

    folder = _batch_dir(tmp_path)
    (folder / "broken.json").unlink()
    out = tmp_path / "dask.parquet"
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        result = run(str(folder), "-o", str(out), "--dask-scheduler", cluster.scheduler_address)
    assert result.exit_code == 0, result.output
    assert set(pd.read_parquet(out)["status"]) == {"ok"}


@pytest.mark.parametrize("missing", ["dask", "distributed"])
def test_a_cluster_batch_without_dask_says_which_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    # None in sys.modules makes any import of that name fail, as if it were not installed.
    monkeypatch.setitem(sys.modules, missing, None)
    folder = _batch_dir(tmp_path)
    out = tmp_path / "results.parquet"
    result = run(str(folder), "-o", str(out), "--dask-scheduler", "tcp://127.0.0.1:8786")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: --dask-scheduler needs Dask, which is not installed; "
        "install it with: pip install 'alliance[scale]'"
    ]
    assert not out.exists()


def test_importing_the_cli_does_not_import_dask() -> None:
    code = (
        "import sys, alliance, alliance.cli, alliance.cli._analysis_batch, alliance.web.app; "
        "print(','.join(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_batch_arguments_are_checked(tmp_path: Path) -> None:
    assert run(str(tmp_path / "none-*.vtt")).exit_code == 2
    folder = _batch_dir(tmp_path)
    assert run(str(folder), "-o", str(tmp_path / "x.csv")).exit_code == 2
    assert run(str(folder), "--jobs", "0", "-o", str(tmp_path / "j.parquet")).exit_code == 2


def test_the_schema_command_prints_the_published_schema() -> None:
    result = CliRunner().invoke(app, ["analyze-schema"])
    published = Path(__file__).resolve().parents[2] / "docs" / "analysis-schema.json"
    assert json.loads(result.stdout) == json.loads(published.read_text(encoding="utf-8"))


def test_it_refuses_a_folder_without_transcripts_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "notes.docx").write_bytes(b"not a transcript")
    out = tmp_path / "results.parquet"
    result = run(str(folder), "-o", str(out))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: no transcripts found in {folder} (looked for .vtt, .srt, .txt, "
        ".json, .csv and .tsv files)"
    ]
    assert not out.exists()
