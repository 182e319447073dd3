"""`alliance change ID FILE.csv [-o OUT]` (alliance.cli.monitoring)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from alliance.cli import app
from alliance.measures.registry import load_instrument

PHQ9_ITEMS = [f"phq9_{i}" for i in range(1, 10)]
WAI_ITEMS = [f"wai_{i}" for i in range(1, 13)]


def _phq9_answers(total: int) -> list[int]:
    """Nine answers (0–3) that add up to ``total``."""
    answers = []
    for _ in range(9):
        answer = min(3, total)
        answers.append(answer)
        total -= answer
    return answers


def _write(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _phq9_file(path: Path, clients: dict[str, list[int]]) -> Path:
    rows = [
        [client, session, f"2024-02-{session:02d}", *_phq9_answers(total)]
        for client, totals in clients.items()
        for session, total in enumerate(totals, start=1)
    ]
    return _write(path, ["client_id", "session", "date", *PHQ9_ITEMS], rows)


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def phq9_csv(tmp_path: Path) -> Path:
    return _phq9_file(
        tmp_path / "phq9.csv",
        {
            "recovers": [20, 17, 14, 10, 8, 6],
            "worsens": [10, 12, 15, 17],
            "steady": [15, 14, 13],
            "once": [12],
        },
    )


def test_it_prints_one_row_per_client_with_change_and_status(phq9_csv: Path) -> None:
    code, out, _ = _run("change", "phq9", str(phq9_csv))
    assert code == 0
    table = pd.read_csv(io.StringIO(out), keep_default_na=False).set_index("client_id")
    assert list(table.index) == ["recovers", "worsens", "steady", "once"]
    params = load_instrument("phq9").reliable_change
    assert params is not None
    sdiff = math.sqrt(2) * params.sd * math.sqrt(1 - params.reliability)

    recovers = table.loc["recovers"]
    # (the "once" row leaves change and rci empty, so those columns read back as text)
    assert (recovers["baseline"], recovers["latest"], float(recovers["change"])) == (20, 6, -14)
    assert float(recovers["rci"]) == pytest.approx(-14 / sdiff, abs=1e-4)
    assert recovers["reliable_change"] == "improved"
    assert recovers["clinically_significant"] == "True"  # 20 -> 6 crosses the cut-off of 10
    assert recovers["status"] == "recovered"

    worsens = table.loc["worsens"]
    assert worsens["status"] == "deteriorated"
    assert float(worsens["rci"]) == pytest.approx(7 / sdiff, abs=1e-4)
    assert "reliable_deterioration" in worsens["alerts"].split(";")

    steady = table.loc["steady"]
    assert (steady["reliable_change"], steady["status"]) == ("none", "unchanged")
    assert steady["clinically_significant"] == "False"

    once = table.loc["once"]
    assert once["n_scores"] == 1
    assert once["status"] == ""


def test_it_writes_json_with_the_same_rows(phq9_csv: Path, tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    code, _, err = _run("change", "phq9", str(phq9_csv), "-o", str(target))
    assert code == 0
    assert "4 clients" in err
    records = {r["client_id"]: r for r in json.loads(target.read_text(encoding="utf-8"))}
    assert records["recovers"]["status"] == "recovered"
    assert records["recovers"]["clinically_significant"] is True
    assert records["once"]["rci"] is None


def test_a_v_shaped_alliance_drop_shows_as_a_rupture_at_the_latest_session(
    tmp_path: Path,
) -> None:
    means = {"john": [4, 4, 4, 4, 2], "sarah": [3, 4, 4, 5, 5]}
    rows = [
        [client, session, f"2024-03-{session:02d}", *([value] * 12)]
        for client, values in means.items()
        for session, value in enumerate(values, start=1)
    ]
    path = _write(tmp_path / "wai.csv", ["client_id", "session", "date", *WAI_ITEMS], rows)
    code, out, _ = _run("change", "wai_sr", str(path))
    assert code == 0
    table = pd.read_csv(io.StringIO(out), keep_default_na=False).set_index("client_id")
    assert table.loc["john", "alerts"].split(";")[0] == "rupture"
    assert table.loc["john", "status"] == "deteriorated"  # higher is better on WAI-SR
    assert table.loc["sarah", "alerts"] == ""
    assert table.loc["sarah", "status"] == "improved"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda t: t.replace("client_id,session,date,", "client_id,session,when,"),
            "missing column 'date'",
        ),
        (
            lambda t: t.replace("worsens,2,", "worsens,two,"),
            "line 9 (data row 8), column session: 'two'",
        ),
        (lambda t: t.replace("2024-02-03", "03/02/2024", 1), "line 4 (data row 3), column date"),
        (lambda t: t.replace("worsens,2,", "worsens,1,"), "client worsens has session 1 twice"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_where(
    phq9_csv: Path, edit: object, expected: str
) -> None:
    phq9_csv.write_text(edit(phq9_csv.read_text(encoding="utf-8")), encoding="utf-8")  # type: ignore[operator]
    code, out, err = _run("change", "phq9", str(phq9_csv))
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert str(phq9_csv) in err
    assert expected in err


def test_an_answer_out_of_range_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = _phq9_file(tmp_path / "bad.csv", {"a": [5, 6]})
    text = path.read_text(encoding="utf-8").splitlines()
    cells = text[2].split(",")
    cells[3 + 4] = "9"  # phq9_5 of the second data row
    text[2] = ",".join(cells)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    code, _, err = _run("change", "phq9", str(path))
    assert code == 2
    assert "line 3 (data row 2), column phq9_5" in err


def test_unknown_instrument_missing_file_and_bad_output_suffix_exit_2(
    phq9_csv: Path, tmp_path: Path
) -> None:
    assert _run("change", "nope", str(phq9_csv))[0] == 2
    code, _, err = _run("change", "phq9", str(tmp_path / "absent.csv"))
    assert code == 2
    assert "no such file" in err
    code, _, err = _run("change", "phq9", str(phq9_csv), "-o", str(tmp_path / "out.txt"))
    assert code == 2
    assert ".csv, .json or .parquet" in err


def test_phq9_item_9_endorsed_at_the_latest_row_is_reported_as_risk_first(
    tmp_path: Path,
) -> None:
    def row(client: str, session: int, total: int, item9: object) -> list[object]:
        answers: list[object] = [*_phq9_answers(total)[:8], item9]
        return [client, session, f"2024-03-{session:02d}", *answers]

    rows = [
        row("now", 1, 12, 0),
        row("now", 2, 11, 2),  # endorsed at the latest row
        row("earlier", 1, 12, 1),
        row("earlier", 2, 11, 0),  # endorsed before, not now
        row("never", 1, 12, 0),
        row("never", 2, 11, 0),
        row("skipped", 1, 12, 0),
        ["skipped", 2, "2024-03-02", *([""] * 8), 3],  # only item 9 answered: no total
    ]
    path = _write(tmp_path / "risk.csv", ["client_id", "session", "date", *PHQ9_ITEMS], rows)
    code, out, _ = _run("change", "phq9", str(path))
    assert code == 0
    table = pd.read_csv(io.StringIO(out), keep_default_na=False).set_index("client_id")
    assert table.loc["now", "alerts"].split(";")[0] == "risk_reported"
    assert "risk_reported" not in table.loc["earlier", "alerts"].split(";")
    assert "risk_reported" not in table.loc["never", "alerts"].split(";")
    skipped = table.loc["skipped"]
    assert skipped["latest_session"] == 1  # the invalid row gives no total…
    assert skipped["alerts"].split(";")[0] == "risk_reported"  # …but its answer is heard


def test_its_csv_output_neutralises_a_client_id_a_spreadsheet_would_run(tmp_path: Path) -> None:
    payload = '=HYPERLINK("http://evil.example","x")'
    path = _phq9_file(tmp_path / "phq9.csv", {payload: [20, 8], "-worse": [5, 20]})
    code, out, _ = _run("change", "phq9", str(path))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["client_id"] for r in rows] == ["'" + payload, "'-worse"]
    assert [r["change"] for r in rows] == ["-12", "15"]  # negative numbers are left alone


def test_it_warns_that_risk_cannot_be_flagged_without_the_risk_item_column(
    tmp_path: Path,
) -> None:
    rows = [["a", s, f"2024-02-0{s}", *[2] * 8] for s in (1, 2)]
    path = _write(tmp_path / "no9.csv", ["client_id", "session", "date", *PHQ9_ITEMS[:8]], rows)
    code, _, err = _run("change", "phq9", str(path))
    assert code == 0
    assert "risk item(s) phq9_9 cannot be read, so risk is not flagged" in err
