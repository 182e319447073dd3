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
        out = tmp_path / f"out{len(outputs)}.json"
        result = _run(str(path), "-o", str(out))
        assert result.exit_code == 0, result.output
        outputs.append(json.loads(out.read_text("utf-8")))
    plain, weighted = outputs
    assert plain["total_fit"] != weighted["total_fit"]
    assert weighted["alternatives"] == {}  # alternatives: 0 asks for none


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"therapists": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (b'{"alternatives": ' + b"1" * 5000 + b"}", "number out of range"),
        (b"", "not valid JSON at line 1, column 0: EOF while parsing a value"),
        (b"\x00", "not valid JSON at line 1, column 1"),
        (b'{"therapists": []} trailing', "not valid JSON at line 1, column 20"),
        (b"[]", "(top level): Input should be an object"),
        (b'"text"', "(top level): Input should be an object"),
        (b'{"therapists": [{"id": "\\ud800"}]}', "not valid JSON"),
        (b'{"therapists": "\xff\xfe"}', "not UTF-8 text"),
    ],
)
def test_malformed_json_exits_2_with_one_readable_line(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = _run(str(path))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-500:]
    assert lines[0].startswith(f"error: {path}: ")
    assert expected in lines[0]


def test_a_directory_exits_2(tmp_path: Path) -> None:
    result = _run(str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {tmp_path}: is a directory, not a JSON file"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert _run(str(path), "-o", str(tmp_path / "out.json")).exit_code == 0


def test_a_file_over_the_size_limit_is_refused_naming_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alliance.config import get_settings

    monkeypatch.setenv("ALLIANCE_MATCH_MAX_BYTES", "20000")
    get_settings.cache_clear()
    try:
        result = _run(str(EXAMPLE))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    size = EXAMPLE.stat().st_size
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {EXAMPLE}: {size:,} bytes is over the 20,000-byte limit for a matching file "
        "(setting ALLIANCE_MATCH_MAX_BYTES)"
    )


def test_a_queue_too_large_to_match_in_memory_is_refused_naming_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alliance.config import get_settings

    doc = json.loads(EXAMPLE.read_text("utf-8"))
    pairs = len(doc["intakes"]) * len(doc["therapists"])
    monkeypatch.setenv("ALLIANCE_MATCH_MAX_PAIRS", str(pairs - 1))
    get_settings.cache_clear()
    try:
        result = _run(str(EXAMPLE))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: {EXAMPLE}: {len(doc['intakes'])} intakes × {len(doc['therapists'])} "
        f"therapists = {pairs:,} pairs is over the limit of {pairs - 1:,} pairs that one run "
        "matches (setting ALLIANCE_MATCH_MAX_PAIRS); split the queue"
    )
