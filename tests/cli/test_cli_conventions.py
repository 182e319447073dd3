"""The options every file-writing command spells the same way: ``-o/--output``, ``--format``,
``--force`` (never a silent overwrite), ``--quiet``, and ``-`` for standard input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance.analysis import pipeline
from alliance.cli import app

ROOT = Path(__file__).resolve().parents[2]
MATCH_EXAMPLE = ROOT / "examples" / "matching" / "clinic.json"
PHQ9 = [f"phq9_{i}" for i in range(1, 10)]
RESPONSES = (
    "client_id,session," + ",".join(PHQ9) + "\nc1,1,1,1,1,1,1,1,1,1,1\nc2,1,3,3,3,0,0,0,0,0,0\n"
)
CHANGE = (
    "client_id,session,date," + ",".join(PHQ9) + "\n"
    "c1,1,2024-02-01,3,3,3,3,3,3,2,0,0\n"
    "c1,2,2024-02-08,1,1,1,0,0,0,0,0,0\n"
)
TRANSCRIPT = "Therapist: How was your week?\nClient: Hard, honestly.\n"


class _Coder:
    """Test double for the trained coder (analysis is covered in test_cli_analyze)."""

    class _P:
        def __init__(self) -> None:
            self.label, self.confidence = "other", 0.9
            self.probabilities = {"other": 0.9}

    def therapist_behaviour(self, texts, contexts):  # type: ignore[no-untyped-def]
        return [self._P() for _ in texts]

    def client_talk(self, texts, contexts):  # type: ignore[no-untyped-def]
        return [self._P() for _ in texts]


@pytest.fixture(autouse=True)
def doubled_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        pipeline.Analyzer,
        "load",
        classmethod(lambda cls, backend="accurate", empathy=None: cls(coder=_Coder())),
    )


def _run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def _inputs(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "score": tmp_path / "responses.csv",
        "change": tmp_path / "change.csv",
        "analyze": tmp_path / "session.txt",
        "match": MATCH_EXAMPLE,
    }
    paths["score"].write_text(RESPONSES, encoding="utf-8")
    paths["change"].write_text(CHANGE, encoding="utf-8")
    paths["analyze"].write_text(TRANSCRIPT, encoding="utf-8")
    return paths


COMMANDS = {
    "score": ("score", "phq9", "{score}"),
    "change": ("change", "phq9", "{change}"),
    "analyze": ("analyze", "{analyze}", "--therapist", "Therapist"),
    "match": ("match", "{match}"),
}
SUFFIX = {"score": ".csv", "change": ".csv", "analyze": ".json", "match": ".json"}


def _command(name: str, paths: dict[str, Path]) -> list[str]:
    return [part.format(**{k: str(v) for k, v in paths.items()}) for part in COMMANDS[name]]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_existing_output_is_replaced_only_with_force(tmp_path: Path, name: str) -> None:
    paths = _inputs(tmp_path)
    out = tmp_path / f"out{SUFFIX[name]}"
    out.write_text("my own work\n", encoding="utf-8")
    code, _, err = _run(*_command(name, paths), "-o", str(out))
    assert code == 2, err
    assert err.strip().splitlines() == [f"error: {out}: already exists; add --force to replace it"]
    assert out.read_text(encoding="utf-8") == "my own work\n"
    code, _, err = _run(*_command(name, paths), "--output", str(out), "--force")
    assert code == 0, err
    assert out.read_text(encoding="utf-8") != "my own work\n"
    assert not list(tmp_path.glob(".*.part"))  # written beside, then renamed into place


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_quiet_leaves_stderr_empty(tmp_path: Path, name: str) -> None:
    paths = _inputs(tmp_path)
    out = tmp_path / f"out{SUFFIX[name]}"
    code, _, err = _run(*_command(name, paths), "-o", str(out))
    assert code == 0, err
    assert err.strip()  # a summary line without --quiet
    out.unlink()
    code, _, err = _run(*_command(name, paths), "-o", str(out), "--quiet")
    assert code == 0
    assert err == ""
    assert out.exists()


def test_match_still_takes_its_old_out_spelling(tmp_path: Path) -> None:
    out = tmp_path / "placements.json"
    code, _, err = _run("match", str(MATCH_EXAMPLE), "--out", str(out))
    assert code == 0, err
    assert "placements" in json.loads(out.read_text("utf-8"))


@pytest.mark.parametrize("command", ["score", "change"])
def test_score_and_change_write_parquet(tmp_path: Path, command: str) -> None:
    paths = _inputs(tmp_path)
    out = tmp_path / "result.parquet"
    code, _, err = _run(command, "phq9", str(paths[command]), "-o", str(out))
    assert code == 0, err
    frame = pd.read_parquet(out)
    assert list(frame["client_id"]) == (["c1", "c2"] if command == "score" else ["c1"])
    if command == "score":
        assert list(frame["total"]) == [9.0, 9.0]
        assert str(frame["phq9_1"].dtype) in {"Int64", "int64"}  # answers as numbers


def test_format_overrides_the_suffix_and_parquet_needs_a_file(tmp_path: Path) -> None:
    paths = _inputs(tmp_path)
    out = tmp_path / "scores.txt"
    code, _, err = _run("score", "phq9", str(paths["score"]), "-o", str(out), "--format", "json")
    assert code == 0, err
    assert [row["total"] for row in json.loads(out.read_text("utf-8"))] == [9.0, 9.0]
    code, _, err = _run("score", "phq9", str(paths["score"]), "--format", "parquet")
    assert code == 2
    assert "needs -o FILE.parquet" in err
    code, _, err = _run("score", "phq9", str(paths["score"]), "--format", "xlsx")
    assert code == 2
    assert err.strip().splitlines() == ["error: --format 'xlsx': choose csv, json or parquet"]


@pytest.mark.parametrize("command", ["score", "change"])
def test_a_dash_reads_standard_input(command: str) -> None:
    text = RESPONSES if command == "score" else CHANGE
    code, out, err = _run(command, "phq9", "-", "--format", "json", stdin=text)
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["client_id"] == "c1"


def test_instruments_list_is_not_cut_when_piped() -> None:
    code, out, _ = _run("instruments", "list")
    assert code == 0
    assert "Working Alliance Inventory - Short Revised (WAI-SR), client version" in out
    assert "…" not in out
