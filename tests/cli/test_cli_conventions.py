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
        classmethod(
            lambda cls, backend="accurate", empathy=None, units="turns": cls(coder=_Coder())
        ),
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


def test_match_still_takes_its_old_out_spelling_but_hides_and_deprecates_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "placements.json"
    code, _, err = _run("match", str(MATCH_EXAMPLE), "--out", str(out))
    assert code == 0, err
    assert "placements" in json.loads(out.read_text("utf-8"))
    assert err.splitlines()[0] == "warning: --out is deprecated; use -o/--output"
    out.unlink()
    code, _, err = _run("match", str(MATCH_EXAMPLE), "--out", str(out), "--quiet")
    assert code == 0
    assert err == "warning: --out is deprecated; use -o/--output\n"  # warnings show when quiet
    code, _, err = _run("match", str(MATCH_EXAMPLE), "--out", str(out), "-o", str(out))
    assert code == 2
    assert err.strip().splitlines() == ["error: give -o/--output once (--out is its old spelling)"]
    code, help_text, _ = _run("match", "--help")
    assert code == 0
    assert "--output" in help_text
    assert "--out " not in help_text.replace("--output", "")  # hidden from the help


# The five commands that write results, and the spellings each must take the same way.
WRITERS = ("score", "change", "analyze", "match", "export")
SPELLINGS = {"-o", "--output", "--format", "-f", "--force", "--quiet", "-q"}


def _options(command: str) -> dict[str, bool]:
    """Every option spelling of ``command`` → whether it is hidden from the help."""
    import typer

    group = typer.main.get_command(app)
    found: dict[str, bool] = {}
    for param in group.commands[command].params:  # type: ignore[attr-defined]
        if getattr(param, "param_type_name", "") == "option":
            for spelling in (*param.opts, *param.secondary_opts):
                found[spelling] = bool(param.hidden)
    return found


@pytest.mark.parametrize("command", WRITERS)
def test_every_writing_command_spells_output_format_force_and_quiet_alike(command: str) -> None:
    options = _options(command)
    assert set(options) >= SPELLINGS, sorted(SPELLINGS - set(options))
    assert not any(options[s] for s in SPELLINGS)  # all of them in the help
    # no second visible spelling of the output option (match's --out is hidden)
    visible = {s for s, hidden in options.items() if not hidden}
    assert not visible & {"--out", "--output-file", "--outfile", "--fmt"}


@pytest.mark.parametrize("command", WRITERS)
def test_every_writing_command_documents_the_options_in_its_help(command: str) -> None:
    code, help_text, _ = _run(command, "--help")
    assert code == 0
    for spelling in ("--output", "--format", "--force", "--quiet"):
        assert spelling in help_text, f"{command} --help lacks {spelling}"


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


def test_a_dash_reads_a_transcript_from_standard_input_for_analyze(tmp_path: Path) -> None:
    teams = (
        "WEBVTT\n\n0:0:0.0 --> 0:0:2.570\n<v Therapist>How was your week?</v>\n\n"
        "0:0:3.0 --> 0:0:5.0\n<v Client>Hard, honestly. [sighs]</v>\n"
    )
    out = tmp_path / "analysis.json"
    code, _, err = _run("analyze", "-", "--therapist", "Therapist", "-o", str(out), stdin=teams)
    assert code == 0, err
    result = json.loads(out.read_text("utf-8"))
    assert result["source"]["file"] == "<stdin>"
    assert [u["text"] for u in result["utterances"]] == ["How was your week?", "Hard, honestly."]
    assert result["warnings"] == ["1 sound description (such as '[sighs]') left out: not speech"]


def test_instruments_list_is_not_cut_when_piped() -> None:
    code, out, _ = _run("instruments", "list")
    assert code == 0
    row = next(line for line in out.splitlines() if "wai_sr" in line)
    # the whole title and every column on the instrument's one line: no 80-column cut
    assert "Working Alliance Inventory - Short Revised (WAI-SR), client version" in row
    assert row.rstrip().endswith("bundled │")
    assert max(len(line) for line in out.splitlines()) > 80
    assert "…" not in out


def test_instruments_list_uses_the_terminal_width_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from alliance.cli import measures

    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("COLUMNS", "100")
    assert measures._console().width == 100


@pytest.fixture
def clinic_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A clinic database with one admin, made through the CLI as an admin would."""
    monkeypatch.setenv("ALLIANCE_PASSWORD_HASH_PROFILE", "fast-insecure-tests")
    monkeypatch.setenv("ALLIANCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ALLIANCE_DATABASE_URL", raising=False)
    monkeypatch.setenv("ALLIANCE_NEW_USER_PASSWORD", "a long enough password")
    db = str(tmp_path / "clinic.sqlite3")
    assert _run("db", "upgrade", "--db", db)[0] == 0
    assert _run("clinic", "create", "Northside", "--db", db)[0] == 0
    admin = ("--email", "ada@north.example", "--role", "admin", "--clinic", "1", "--name", "Ada")
    code, _, err = _run("user", "create", *admin, "--db", db)
    assert code == 0, err
    return db


def test_export_takes_format_output_force_and_quiet_as_the_others_do(
    clinic_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    args = ("export", "-f", "csv", "-o", str(out), "--as", "ada@north.example", "--db", clinic_db)
    code, stdout, err = _run(*args, "--quiet")
    assert (code, stdout, err) == (0, "", "")
    written = sorted(p.name for p in out.iterdir())
    assert "codebook.md" in written
    code, _, err = _run(*args)  # the same files again: refused, nothing replaced
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "already exist(s); add --force to replace" in err
    code, _, err = _run(*args, "--force")
    assert code == 0, err
    assert err.startswith("wrote ")  # the summary on stderr, as every writer puts it
    assert sorted(p.name for p in out.iterdir()) == written
