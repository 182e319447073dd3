"""``alliance match``: a roster and queue in, placements with reasons out; bad input → exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alliance.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "matching" / "clinic.json"


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["match", *args])


def test_it_matches_the_example_clinic_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = _run(str(EXAMPLE), "-o", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text("utf-8"))
    intakes = json.loads(EXAMPLE.read_text("utf-8"))["intakes"]
    placed = {p["client_id"]: p for p in data["placements"]}
    waiting = {u["client_id"]: u["reason"] for u in data["unassigned"]}
    assert set(placed) | set(waiting) == {c["id"] for c in intakes}
    assert all(p["reasons"] for p in placed.values())
    assert all(reason for reason in waiting.values())
    for cid, alts in data["alternatives"].items():
        assert len(alts) <= 3
        assert placed.get(cid, {}).get("therapist_id") not in [a["therapist_id"] for a in alts]
    assert "placed" in result.output


def test_it_prints_json_without_an_output_file(tmp_path: Path) -> None:
    small = tmp_path / "small.json"
    doc = json.loads(EXAMPLE.read_text("utf-8"))
    doc["intakes"] = doc["intakes"][:2]
    doc["history"] = []
    small.write_text(json.dumps(doc), "utf-8")
    result = _run(str(small))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert len(data["placements"]) + len(data["unassigned"]) == 2


def _bad(tmp_path: Path, mutate) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    doc = json.loads(EXAMPLE.read_text("utf-8"))
    mutate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), "utf-8")
    result = _run(str(path))
    return result.exit_code, result.stderr


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d["therapists"][3].update(languages=[]), "therapists[3].languages"),
        (lambda d: d["intakes"][2].update(concerns=["worry"]), "intakes[2].concerns[0]"),
        (
            lambda d: d["intakes"][4]["preferences"][0].update(values=["purple"]),
            "intakes[4].preferences[0]",
        ),
        (
            lambda d: d["therapists"][1]["availability"].append("funday 9-5"),
            "therapists[1].availability[2]",
        ),
        (lambda d: d["history"][7].update(therapist_id="nobody"), "history[7].therapist_id"),
        (lambda d: d["intakes"][5].update(id=d["intakes"][0]["id"]), "intakes[5].id"),
        (lambda d: d.update(weights={"height": 2}), "weights"),
        (lambda d: d.update(surprise=1), "surprise"),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_json_path(
    tmp_path: Path,
    mutate,
    where: str,  # type: ignore[no-untyped-def]
) -> None:
    code, err = _bad(tmp_path, mutate)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert f": {where}" in lines[0]


def test_broken_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"therapists": [\n  {"id": "t1",\n}', "utf-8")
    result = _run(str(path))
    assert result.exit_code == 2
    assert "not valid JSON at line 3" in result.stderr


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = _run(str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "no such file" in result.stderr


def test_weights_in_the_file_change_the_result(tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE.read_text("utf-8"))
    doc["alternatives"] = 0
    path = tmp_path / "weighted.json"
    outputs = []
    for weights in (None, {"strengths": 0, "attributes": {"style": 3.0}}):
        if weights is not None:
            doc["weights"] = weights
        path.write_text(json.dumps(doc), "utf-8")
        out = tmp_path / "out.json"
        result = _run(str(path), "-o", str(out))
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(out.read_text("utf-8")))
    plain, weighted = outputs
    assert plain["total_fit"] != weighted["total_fit"]
    assert weighted["alternatives"] == {}  # alternatives: 0 asks for none
