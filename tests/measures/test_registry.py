"""Loading instruments (alliance.measures.registry): bundled files, a user directory, and
one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from measures_builders import instrument_data

from alliance.config import get_settings
from alliance.measures.instrument import Instrument
from alliance.measures.registry import (
    InstrumentError,
    InstrumentRegistry,
    UnknownInstrumentError,
    bundled_ids,
    dump_instrument,
    list_instruments,
    load_instrument,
    load_instrument_file,
    parse_instrument,
)

BUNDLED = {"phq9", "gad7", "who5", "wai_sr", "session_feedback", "client_goals"}
PHQ9_TEXT = (
    Path(__file__).resolve().parents[2] / "src/alliance/measures/instruments/phq9.yaml"
).read_text(encoding="utf-8")


def test_it_ships_the_six_bundled_instruments_and_no_licensed_ones() -> None:
    assert set(bundled_ids()) == BUNDLED
    assert not {"ors", "srs", "oq45"} & set(bundled_ids())


@pytest.mark.parametrize("instrument_id", sorted(BUNDLED))
def test_every_bundled_file_states_its_sources(instrument_id: str) -> None:
    inst = load_instrument(instrument_id)
    assert inst.id == instrument_id
    assert inst.citation
    assert inst.licence
    assert inst.scoring.source
    if inst.bands:
        assert inst.bands_source
    if inst.reliable_change is not None:
        assert inst.reliable_change.sd_source
        assert inst.reliable_change.reliability_source
    if inst.alert_thresholds:
        assert inst.alert_thresholds_source


def _error_for(text: str, name: str = "phq9.yaml") -> str:
    with pytest.raises(InstrumentError) as caught:
        parse_instrument(text, name)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{name}: ")
    return message


def _edited(edit: object) -> str:
    data = yaml.safe_load(PHQ9_TEXT)
    assert callable(edit)
    edit(data)
    return yaml.safe_dump(data, sort_keys=False)


def test_a_non_numeric_score_names_the_item_option_and_field() -> None:
    def edit(d: dict) -> None:  # type: ignore[type-arg]
        d["items"][3]["options"] = [
            {"code": 0, "label": "a", "score": 0},
            {"code": 1, "label": "b", "score": "lots"},
        ]

    assert _error_for(_edited(edit)) == (
        "phq9.yaml: items[3] (phq9_4).options[1].score: must be a number"
    )


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.pop("title"), "phq9.yaml: title: is required"),
        (lambda d: d.update(kind="mood"), "phq9.yaml: kind: must be one of"),
        (
            lambda d: d["items"][2].update(colour="red"),
            "phq9.yaml: items[2] (phq9_3).colour: unknown field",
        ),
        (
            lambda d: d["items"][4].update(linkId="phq9_1"),
            "phq9.yaml: items[4] (phq9_1).linkId: same as items[0]",
        ),
        (
            lambda d: d["items"][1].update(options="nope"),
            "phq9.yaml: items[1] (phq9_2).options: no answer set named 'nope'",
        ),
        (
            lambda d: d["items"][6].update(type="integer"),
            "phq9.yaml: items[6] (phq9_7).options: integer items take",
        ),
        (lambda d: d["bands"][2].update(min=8), "phq9.yaml: bands[2] (moderate).min: overlaps"),
        (
            lambda d: d["scoring"].update(method="median"),
            "phq9.yaml: scoring.method: must be one of 'sum' or 'mean'",
        ),
        (
            lambda d: d["reliable_change"].update(reliability=1.5),
            "phq9.yaml: reliable_change.reliability:",
        ),
    ],
)
def test_bad_files_fail_with_one_line_naming_item_and_field(edit: object, expected: str) -> None:
    assert _error_for(_edited(edit)).startswith(expected)


def test_broken_yaml_names_the_line() -> None:
    message = _error_for("id: phq9\ntitle: [unclosed\n")
    assert "line 3" in message or "line 2" in message
    assert "not valid YAML" in message


def test_duplicate_keys_are_refused_not_silently_overwritten() -> None:
    message = _error_for("id: a\nid: b\n")
    assert "duplicate key 'id'" in message


def test_a_file_that_is_not_a_mapping_is_refused() -> None:
    assert "must be a mapping" in _error_for("- just\n- a list\n")


def _write(folder: Path, name: str, **overrides: object) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(instrument_data(**overrides)), encoding="utf-8")
    return path


def test_a_user_directory_adds_instruments(tmp_path: Path) -> None:
    _write(tmp_path, "licensed.yaml", id="ors_local", title="Licensed scale")
    (tmp_path / "notes.txt").write_text("ignored", encoding="utf-8")
    assert load_instrument("ors_local", extra_dir=tmp_path).title == "Licensed scale"
    ids = [i.id for i in list_instruments(extra_dir=tmp_path)]
    assert ids[-1] == "ors_local"
    assert set(ids[:-1]) == BUNDLED


def test_the_measures_package_does_not_read_the_setting_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder is the caller's to pass (the app and the CLI pass settings.instruments_dir):
    # a pure package that read global settings would see a different folder than the app.
    _write(tmp_path, "mine.yml", id="mine")
    monkeypatch.setenv("ALLIANCE_INSTRUMENTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.raises(UnknownInstrumentError):
            load_instrument("mine")
        assert load_instrument("mine", extra_dir=tmp_path).id == "mine"
    finally:
        get_settings.cache_clear()


def test_the_registry_parses_the_folder_once_until_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import alliance.measures.registry as registry_module

    _write(tmp_path, "mine.yaml", id="mine", title="First")
    registry = InstrumentRegistry(tmp_path)
    parses: list[Path] = []
    real = registry_module.load_instrument_file

    def counting(path: Path) -> Instrument:
        parses.append(path)
        return real(path)

    monkeypatch.setattr(registry_module, "load_instrument_file", counting)
    assert registry.get("mine").title == "First"
    assert registry.get("mine").title == "First"
    assert [i.id for i in registry.all()][-1] == "mine"
    assert len(parses) == 1

    _write(tmp_path, "mine.yaml", id="mine", title="Second, reworded")  # size changes
    assert registry.get("mine").title == "Second, reworded"
    _write(tmp_path, "other.yaml", id="other")
    assert registry.get("other").id == "other"
    (tmp_path / "other.yaml").unlink()
    with pytest.raises(UnknownInstrumentError):
        registry.get("other")
    assert len(parses) == 5  # first; reworded; both after the addition; one after removal


def test_a_broken_user_file_keeps_failing_until_it_is_fixed(tmp_path: Path) -> None:
    registry = InstrumentRegistry(tmp_path)
    (tmp_path / "bad.yaml").write_text("id: [unclosed", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(InstrumentError, match=r"bad.yaml"):
            registry.get("bad")
    _write(tmp_path, "bad.yaml", id="bad_fixed", title="Fixed now")
    assert registry.get("bad_fixed").title == "Fixed now"


def test_a_user_file_cannot_replace_a_bundled_instrument(tmp_path: Path) -> None:
    _write(tmp_path, "my_phq.yaml", id="phq9")
    with pytest.raises(InstrumentError, match=r"my_phq.yaml: id 'phq9' is a bundled instrument"):
        list_instruments(extra_dir=tmp_path)
    # the bundled one still loads by id without reading the directory
    assert load_instrument("phq9", extra_dir=tmp_path).title.startswith("Patient Health")


def test_duplicate_ids_in_the_user_directory_are_an_error(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", id="same")
    _write(tmp_path, "b.yaml", id="same")
    with pytest.raises(InstrumentError, match=r"b.yaml: id 'same' is also defined in a.yaml"):
        load_instrument("same", extra_dir=tmp_path)


def test_unknown_ids_and_missing_directories_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UnknownInstrumentError, match=r"unknown instrument 'nope'.*phq9"):
        load_instrument("nope", extra_dir=tmp_path)
    with pytest.raises(InstrumentError, match="does not exist"):
        list_instruments(extra_dir=tmp_path / "missing")


def test_load_instrument_file_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken.yaml", kind="mood")
    with pytest.raises(InstrumentError, match=r"^broken.yaml: kind: must be one of"):
        load_instrument_file(path)
    with pytest.raises(InstrumentError, match="cannot be read"):
        load_instrument_file(tmp_path / "absent.yaml")


def test_the_licensee_example_in_the_docs_loads_from_a_user_directory(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "measures.md"
    block = docs.read_text(encoding="utf-8").split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "ors_licensed.yaml").write_text(block, encoding="utf-8")
    inst = load_instrument("ors_licensed", extra_dir=tmp_path)
    assert inst.score_range == (0, 40)
    assert inst.link_ids == ("ors_1", "ors_2", "ors_3", "ors_4")


@pytest.mark.parametrize("instrument_id", sorted(BUNDLED))
def test_dump_instrument_writes_a_file_that_reads_back_equal(instrument_id: str) -> None:
    inst = load_instrument(instrument_id)
    text = dump_instrument(inst, "Imported from somewhere\nSecond line")
    assert text.startswith("# Imported from somewhere\n# Second line\nid: ")
    assert parse_instrument(text, "x.yaml") == inst
    assert yaml.safe_load(text)["language"] == inst.language


_TOY_ES = [
    {
        "linkId": f"toy_{i}",
        "text": f"Pregunta {i}",
        "options": [{"code": c, "label": f"respuesta {c}", "score": c} for c in range(4)],
    }
    for i in (1, 2, 3)
]


def _toy_and_translation(folder: Path, **translation: object) -> None:
    _write(folder, "toy.yaml")
    fields: dict[str, object] = {
        "id": "toy_es",
        "translation_of": "toy",
        "language": "es",
        "items": _TOY_ES,
    }
    fields.update(translation)
    _write(folder, "toy_es.yaml", **fields)


def test_a_translation_is_found_by_language_and_not_listed_as_an_instrument(
    tmp_path: Path,
) -> None:
    _toy_and_translation(tmp_path, language="es-MX")
    registry = InstrumentRegistry(tmp_path)
    found = registry.translation("toy", "es")
    assert found is not None
    assert found.items[0].text == "Pregunta 1"
    assert registry.translation("toy", "fr") is None
    assert registry.translation("phq9", "es") is None  # none installed: never made up
    assert "toy_es" not in {i.id for i in registry.all()}
    assert "toy" in {i.id for i in registry.all()}


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"translation_of": "nothing"}, "translation_of 'nothing' is no installed instrument"),
        ({"language": "en"}, "is the original's own language"),
        (
            {"items": [{**item, "linkId": f"otra_{n}"} for n, item in enumerate(_TOY_ES, 1)]},
            "items must be those of toy",
        ),
    ],
)
def test_a_translation_that_does_not_fit_its_original_is_refused_naming_the_file(
    tmp_path: Path, edit: dict[str, object], expected: str
) -> None:
    _toy_and_translation(tmp_path, **edit)
    with pytest.raises(InstrumentError, match=r"toy_es\.yaml") as caught:
        InstrumentRegistry(tmp_path).all()
    assert expected in str(caught.value)


def test_a_translation_must_keep_the_answer_codes(tmp_path: Path) -> None:
    options = [{"code": c, "label": f"r {c}", "score": c} for c in (0, 1, 2, 9)]
    items = [{"linkId": f"toy_{i}", "text": f"P {i}", "options": options} for i in (1, 2, 3)]
    _toy_and_translation(tmp_path, items=items)
    with pytest.raises(InstrumentError, match=r"toy_es.yaml: item toy_1: answer codes"):
        InstrumentRegistry(tmp_path).get("toy")
