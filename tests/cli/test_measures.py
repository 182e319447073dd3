"""`alliance instruments` and `alliance score` (alliance.cli.measures), in process."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance.cli import app
from alliance.measures.registry import bundled_ids, list_instruments, load_instrument

HEADER = "client_id,session," + ",".join(f"phq9_{i}" for i in range(1, 10))


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _csv(tmp_path: Path, *lines: str, name: str = "responses.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_instruments_list_shows_every_bundled_instrument() -> None:
    code, out, _ = _run("instruments", "list")
    assert code == 0
    for instrument_id in bundled_ids():
        assert instrument_id in out


def test_instruments_show_json_is_the_parsed_definition_with_every_link_id() -> None:
    code, out, err = _run("instruments", "show", "wai_sr", "--json")
    assert code == 0
    assert err == ""
    data = json.loads(out)
    assert [i["linkId"] for i in data["items"]] == [f"wai_{i}" for i in range(1, 13)]
    assert data == load_instrument("wai_sr").model_dump(mode="json", by_alias=True)


def test_instruments_show_fhir_prints_a_questionnaire() -> None:
    code, out, _ = _run("instruments", "show", "phq9", "--fhir")
    assert code == 0
    data = json.loads(out)
    assert data["resourceType"] == "Questionnaire"
    assert len(data["item"]) == 9


def test_instruments_show_plain_lists_items() -> None:
    code, out, _ = _run("instruments", "show", "gad7")
    assert code == 0
    assert "gad7_7" in out
    assert "Spitzer" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("instruments", "show", "ors"), "error: unknown instrument 'ors'"),
        (("instruments", "show", "phq9", "--json", "--fhir"), "error: choose one of"),
    ],
)
def test_instruments_show_refuses_bad_input(args: tuple[str, ...], message: str) -> None:
    code, out, err = _run(*args)
    assert code == 2
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1


def test_score_writes_csv_to_stdout_keeping_the_input_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER, "007,1,1,2,3,0,1,2,1,0,0", "008,1,3,3,3,3,3,3,3,,3")
    code, out, _ = _run("score", "phq9", str(path))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[-3:] == ["total", "band", "valid"]
    assert rows[0]["client_id"] == "007"  # id columns are kept as written
    assert rows[0]["phq9_1"] == "1"
    assert (rows[0]["total"], rows[0]["band"], rows[0]["valid"]) == ("10", "moderate", "True")
    assert (rows[1]["total"], rows[1]["band"]) == ("27", "severe")  # 24 × 9 / 8 prorated


def test_score_writes_json_and_subscales(tmp_path: Path) -> None:
    header = "id," + ",".join(f"wai_{i}" for i in range(1, 13))
    path = _csv(tmp_path, header, "a," + ",".join(["4"] * 12), "b," + ",".join(["2"] * 12))
    out_path = tmp_path / "scores.json"
    code, out, err = _run("score", "wai_sr", str(path), "-o", str(out_path))
    assert code == 0
    assert out == ""
    assert "scored 2 responses (2 valid)" in err
    records = json.loads(out_path.read_text(encoding="utf-8"))
    assert records[0]["subscale_goal"] == 4.0
    assert records[1]["total"] == 2.0
    assert records[1]["band"] == "low"
    assert records[0]["wai_1"] == 4


def test_score_writes_a_csv_file(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER, "1,1,0,0,0,0,0,0,0,0,0")
    target = tmp_path / "out.csv"
    code, _, _ = _run("score", "phq9", str(path), "--output", str(target))
    assert code == 0
    assert "minimal" in target.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            (HEADER, "1,1,0,0,0,0,0,0,0,0,0", "2,1,0,0,0,7,0,0,0,0,0"),
            "responses.csv, line 3 (data row 2), column phq9_4: answer 7 is not one of 0, 1, 2, 3",
        ),
        (
            (HEADER, "1,1,0,0,often,0,0,0,0,0,0"),
            "responses.csv, line 2 (data row 1), column phq9_3: answer 'often' is not one of",
        ),
        ((HEADER + ",phq9_10", "1,1,0,0,0,0,0,0,0,0,0,1"), "column phq9_10: not an item of phq9"),
        (("client,score", "1,2"), "responses.csv: no item columns of phq9 found"),
        ((), "responses.csv: the file is empty"),
    ],
)
def test_score_reports_bad_input_in_one_line_with_exit_2(
    tmp_path: Path, lines: tuple[str, ...], message: str
) -> None:
    path = _csv(tmp_path, *lines) if lines else tmp_path / "responses.csv"
    if not lines:
        path.write_text("", encoding="utf-8")
    code, out, err = _run("score", "phq9", str(path))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message in err
    assert err.startswith("error: ")


def test_score_refuses_missing_files_unknown_instruments_and_output_types(
    tmp_path: Path,
) -> None:
    path = _csv(tmp_path, HEADER, "1,1,0,0,0,0,0,0,0,0,0")
    for args, message in [
        (("score", "phq9", str(tmp_path / "absent.csv")), "absent.csv: no such file"),
        (("score", "nope", str(path)), "unknown instrument 'nope'"),
        (
            ("score", "phq9", str(path), "-o", str(tmp_path / "x.xlsx")),
            "must end in .csv, .json or .parquet",
        ),
    ]:
        code, _, err = _run(*args)
        assert code == 2
        assert message in err


def test_score_reads_excel_style_utf8_with_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + HEADER + "\r\n" + "1,1,3,3,3,3,3,3,3,3,3\r\n").encode("utf-8"))
    code, out, _ = _run("score", "phq9", str(path))
    assert code == 0
    row = next(csv.DictReader(io.StringIO(out)))
    assert row["client_id"] == "1"
    assert row["total"] == "27"


def test_score_refuses_text_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"client_id,phq9_1\n1,\xe9\n")
    code, _, err = _run("score", "phq9", str(path))
    assert code == 2
    assert "latin1.csv: not UTF-8 text" in err


def test_the_cli_reads_user_instruments_from_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from alliance.config import get_settings

    data = load_instrument("who5").model_dump(mode="json", by_alias=True)
    data.update(id="mine_local", title="Our own scale")
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("ALLIANCE_INSTRUMENTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        listed = CliRunner().invoke(app, ["instruments", "list"])
        shown = CliRunner().invoke(app, ["instruments", "show", "mine_local", "--json"])
    finally:
        get_settings.cache_clear()
    assert listed.exit_code == 0, listed.output
    assert "mine_local" in listed.output
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["title"] == "Our own scale"


def test_score_csv_output_neutralises_formulas_but_keeps_negative_numbers(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        HEADER + ",note",
        '"=HYPERLINK(""http://evil.example"",""x"")",1,' + ",".join("1" * 9) + ",-3",
        "@SUM(A1),2," + ",".join("2" * 9) + ",+cmd|' /C calc'!A0",
    )
    for output in (None, tmp_path / "out.csv"):
        args = ["score", "phq9", str(path)] + ([] if output is None else ["-o", str(output)])
        code, out, _ = _run(*args)
        assert code == 0
        text = out if output is None else output.read_text("utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [r["client_id"] for r in rows] == [
            '\'=HYPERLINK("http://evil.example","x")',
            "'@SUM(A1)",
        ]
        assert [r["note"] for r in rows] == ["-3", "'+cmd|' /C calc'!A0"]
        assert [r["total"] for r in rows] == ["9", "18"]
    # JSON is not read by spreadsheets: the values stay as written.
    code, _, _ = _run("score", "phq9", str(path), "-o", str(tmp_path / "out.json"))
    assert code == 0
    data = json.loads((tmp_path / "out.json").read_text("utf-8"))
    assert data[1]["client_id"] == "@SUM(A1)"


def test_score_warns_naming_an_absent_item_column_it_can_prorate(tmp_path: Path) -> None:
    header = "client_id,session," + ",".join(f"phq9_{i}" for i in range(1, 9))
    path = _csv(tmp_path, header, "a,1," + ",".join("2" * 8))
    code, out, err = _run("score", "phq9", str(path))
    assert code == 0
    assert err.strip().splitlines() == [
        f"warning: {path}: no column for item(s) phq9_9; totals are prorated over the items "
        "present (at most 1 may be missing)"
    ]
    assert next(csv.DictReader(io.StringIO(out)))["total"] == "18"  # 16 × 9/8


def test_score_refuses_a_file_whose_absent_items_leave_nothing_to_score(tmp_path: Path) -> None:
    header = "client_id,session," + ",".join(f"phq9_{i}" for i in range(1, 8))
    path = _csv(tmp_path, header, "a,1," + ",".join("2" * 7))
    code, _, err = _run("score", "phq9", str(path), "-o", str(tmp_path / "out.csv"))
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {path}: no column for item(s) phq9_8, phq9_9: phq9 allows at most 1 missing "
        "item(s) in a total, so no response could be scored"
    ]
    assert not (tmp_path / "out.csv").exists()


def test_score_keeps_a_subscale_when_the_total_cannot_be_scored(tmp_path: Path) -> None:
    bond = ["wai_3", "wai_5", "wai_7", "wai_9"]
    path = _csv(tmp_path, "client_id," + ",".join(bond), "a,4,4,4,4")
    code, out, err = _run("score", "wai_sr", str(path))
    assert code == 0
    assert "no total can be scored" in err
    assert "subscale(s) goal, task cannot be scored" in err
    assert next(csv.DictReader(io.StringIO(out)))["subscale_bond"] == "4"


def _questionnaire(tmp_path: Path, name: str = "q.json", **extra: object) -> Path:
    ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"

    def option(code: str, score: int) -> dict[str, object]:
        return {
            "valueCoding": {"code": code, "display": code},
            "extension": [{"url": ordinal, "valueDecimal": score}],
        }

    resource = {
        "resourceType": "Questionnaire",
        "id": "sleep-check",
        "status": "active",
        "title": "Sleep check",
        "item": [
            {"linkId": "intro", "type": "display", "text": "About your sleep"},
            {
                "linkId": "H1/T1/Q1",
                "type": "choice",
                "text": "Trouble sleeping",
                "answerOption": [option("never", 0), option("often", 2)],
            },
            {
                "linkId": "H1/T1/Q2",
                "type": "choice",
                "text": "Which room?",
                "answerOption": [{"valueString": "bedroom"}, {"valueString": "other"}],
            },
        ],
        **extra,
    }
    path = tmp_path / name
    path.write_text(json.dumps(resource), encoding="utf-8")
    return path


def test_instruments_import_writes_a_file_the_registry_reads_and_reports(
    tmp_path: Path,
) -> None:
    source = _questionnaire(tmp_path)
    folder = tmp_path / "instruments"
    code, out, err = _run("instruments", "import", str(source), "-o", str(folder))
    assert code == 0, err
    written = folder / "sleep_check.yaml"
    assert f"wrote {written}" in out
    assert "skipped: item intro: display text" in out
    assert "H1/T1/Q1 → H1_T1_Q1" in out
    assert "unscored choice items kept" in out
    [inst] = list_instruments(folder)[len(bundled_ids()) :]
    assert inst.id == "sleep_check"
    assert [i.fhir_link_id for i in inst.items] == ["H1/T1/Q1", "H1/T1/Q2"]
    # A second import refuses to overwrite, --force replaces.
    code, _, err = _run("instruments", "import", str(source), "-o", str(folder))
    assert code == 2
    assert "already exists; add --force" in err
    assert _run("instruments", "import", str(source), "-o", str(folder), "--force")[0] == 0


def test_instruments_import_goes_to_the_instruments_dir_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alliance.config import get_settings

    source = _questionnaire(tmp_path)
    monkeypatch.setenv("ALLIANCE_INSTRUMENTS_DIR", str(tmp_path / "mine"))
    get_settings.cache_clear()
    try:
        code, _, err = _run("instruments", "import", str(source), "--id", "sleep_local")
    finally:
        get_settings.cache_clear()
    assert code == 0, err
    assert (tmp_path / "mine" / "sleep_local.yaml").is_file()


def test_instruments_import_of_a_phq9_says_it_is_the_bundled_one(tmp_path: Path) -> None:
    # PHQ-9 as Alliance exports it, minus the Alliance extensions: a foreign file with the
    # LOINC codes and ordinalValue scores.
    resource = json.loads(_run("instruments", "show", "phq9", "--fhir")[1])
    del resource["extension"], resource["identifier"]
    resource["id"] = "phq9"
    path = tmp_path / "phq9.json"
    path.write_text(json.dumps(resource), encoding="utf-8")
    code, out, err = _run("instruments", "import", str(path), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert "LOINC 44249-1 is the code of bundled instrument phq9" in out
    assert "the totals equal phq9's" in out
    assert (tmp_path / "out" / "phq9_fhir.yaml").is_file()
    # The Alliance export itself keeps the bundled id, which a user file may not take.
    exported = tmp_path / "exported.json"
    exported.write_text(_run("instruments", "show", "phq9", "--fhir")[1], encoding="utf-8")
    code, _, err = _run("instruments", "import", str(exported), "-o", str(tmp_path / "out"))
    assert code == 2
    assert "is a bundled instrument; give another with --id" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"resourceType": ', "not valid JSON (line 1, column 18"),
        (b'{"resourceType": "Patient"}', "not a FHIR Questionnaire (resourceType 'Patient')"),
        (b"\xff\xfe\x00", "not UTF-8 text"),
        (
            b'{"resourceType": "Questionnaire", "status": "active", "item": ['
            b'{"linkId": "a", "type": "choice", "text": "A", "answerOption": ['
            b'{"valueString": "x", "extension": [{"url": '
            b'"http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 1}]},'
            b'{"valueString": "y"}]}]}',
            "item a: answerOption[1] has no ordinalValue",
        ),
    ],
)
def test_instruments_import_refuses_bad_files_in_one_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    code, _, err = _run("instruments", "import", str(path), "-o", str(tmp_path / "out"))
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_instruments_import_refuses_missing_files_and_bad_options(tmp_path: Path) -> None:
    code, _, err = _run("instruments", "import", str(tmp_path / "none.json"), "-o", str(tmp_path))
    assert (code, err.strip()) == (2, f"error: {tmp_path / 'none.json'}: no such file")
    source = _questionnaire(tmp_path)
    code, _, err = _run("instruments", "import", str(source), "-o", str(tmp_path), "--kind", "x")
    assert code == 2
    assert "--kind 'x': must be one of" in err
