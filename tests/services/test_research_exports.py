"""Research exports of the demo clinic: SPSS, Stata and R files that read back with their
labels, integers that stay integers in every format, bands as ordered categories (R ordered
factors), a wide table beside the long ones, and a codebook that describes every column of
every file (checked by the Frictionless validator for CSV)."""

from __future__ import annotations

import io
import json
import re
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyreadr
import pyreadstat
import pytest
import rdata

from alliance.demo import DemoInfo
from alliance.services import auth, exports
from alliance.services.context import ServiceContext

ADMIN = "admin@riverside.example"
ExportOf = Callable[[str, bool], dict[str, bytes]]


@pytest.fixture(scope="module")
def export_of(module_demo: tuple[ServiceContext, DemoInfo]) -> ExportOf:
    """The demo clinic's export in a format, made once per format and mode."""
    ctx, _ = module_demo
    admin = auth.actor_for_email(ctx, ADMIN)
    made: dict[tuple[str, bool], dict[str, bytes]] = {}

    def export(fmt: str, deidentified: bool = False) -> dict[str, bytes]:
        if (fmt, deidentified) not in made:
            made[fmt, deidentified] = exports.export_clinic(
                ctx, actor=admin, format=fmt, deidentified=deidentified
            )
        return made[fmt, deidentified]

    return export


def _read_stat(filename: str, data: bytes) -> tuple[pd.DataFrame, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        if filename.endswith(".rds"):
            return pyreadr.read_r(str(path))[None], None
        read = pyreadstat.read_sav if filename.endswith(".sav") else pyreadstat.read_dta
        return read(str(path))


@pytest.mark.parametrize(("fmt", "suffix"), [("spss", ".sav"), ("stata", ".dta")])
def test_spss_and_stata_files_carry_variable_and_value_labels(
    export_of: ExportOf, fmt: str, suffix: str
) -> None:
    files = export_of(fmt, False)
    assert set(files) == {f"{t}{suffix}" for t in exports.TABLES} | {
        "codebook.md",
        "datapackage.json",
    }
    wide, meta = _read_stat(f"responses_wide{suffix}", files[f"responses_wide{suffix}"])
    labels = meta.column_names_to_labels
    assert labels["phq9_phq9_9"].startswith("Patient Health Questionnaire-9 (PHQ-9) item phq9_9")
    # Answer codes keep the questionnaire's own labels, and the band is an ordered code.
    assert meta.variable_value_labels["phq9_phq9_9"][0] == "Not at all"
    band_labels = meta.variable_value_labels["phq9_band"]
    assert list(band_labels.values())[:2] == ["minimal", "mild"]
    assert sorted(band_labels) == list(range(1, len(band_labels) + 1))
    phq9 = wide[wide["instrument_id"] == "phq9"]
    assert len(phq9) > 0
    answered = phq9["phq9_phq9_9"].dropna()
    assert set(answered) <= {0.0, 1.0, 2.0, 3.0}
    # The item score sits beside the answer code (PHQ-9 item 9 is not reversed: equal).
    assert (phq9.loc[answered.index, "phq9_phq9_9_score"] == answered).all()
    sessions, _ = _read_stat(f"sessions{suffix}", files[f"sessions{suffix}"])
    assert (sessions["session_number"] % 1 == 0).all()
    if fmt == "spss":
        assert meta.original_variable_types["session_number"] == "F8.0"


def _read_r_classes(data: bytes) -> pd.DataFrame:
    """An .rds file read by rdata, which keeps R's classes (ordered factors, integers)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.rds"
        path.write_bytes(data)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Missing constructor for R class", UserWarning)
            frame: pd.DataFrame = rdata.read_rds(path)
        return frame


def test_an_r_file_per_table_with_integers_and_bands_as_ordered_factors(
    export_of: ExportOf,
) -> None:
    files = export_of("rds", False)
    sessions, _ = _read_stat("sessions.rds", files["sessions.rds"])
    assert str(sessions["session_number"].dtype).startswith("int")
    wide = _read_r_classes(files["responses_wide.rds"])
    band = wide["phq9_band"]
    assert isinstance(band.dtype, pd.CategoricalDtype)
    assert band.cat.ordered  # R: Ord.factor minimal < mild < ...
    assert list(band.cat.categories[:2]) == ["minimal", "mild"]
    # Item answer codes are R integers even where other instruments' rows leave them NA.
    assert str(wide["phq9_phq9_1"].dtype) == "Int32"
    assert wide["phq9_phq9_1"].isna().any()
    scores = _read_r_classes(files["scores.rds"])
    assert str(scores["band_order"].dtype) == "Int32"
    # Times are POSIXct: pyreadr reads them back as times, not text.
    times, _ = _read_stat("scores.rds", files["scores.rds"])
    assert pd.api.types.is_datetime64_any_dtype(times["at"])


def _integer_columns(files: dict[str, bytes]) -> dict[str, list[str]]:
    package = json.loads(files["datapackage.json"])
    return {
        r["path"]: [f["name"] for f in r["schema"]["fields"] if f["type"] == "integer"]
        for r in package["resources"]
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet", "spss", "stata", "rds"])
@pytest.mark.parametrize("deidentified", [False, True], ids=["full", "deidentified"])
def test_integers_stay_integers_in_every_format(
    export_of: ExportOf, fmt: str, deidentified: bool
) -> None:
    """Every column the codebook calls an integer reads back as one: text without ".0",
    an integer type where the format has one (Parquet, Stata, R) and a whole-number format
    in SPSS, whose numbers are all doubles."""
    files = export_of(fmt, deidentified)
    checked = 0
    for filename, names in _integer_columns(files).items():
        data = files[filename]
        if fmt == "csv":
            frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
            for name in names:
                written = [v for v in frame[name] if v != ""]
                assert all(re.fullmatch(r"-?\d+", v) for v in written), (filename, name)
                checked += len(written)
        elif fmt == "parquet":
            table = pq.read_table(io.BytesIO(data))
            for name in names:
                assert pa.types.is_integer(table.schema.field(name).type), (filename, name)
                checked += len(table) - table.column(name).null_count
        elif fmt == "rds":
            frame = _read_r_classes(data)
            for name in names:
                assert str(frame[name].dtype) == "Int32", (filename, name)
                checked += int(frame[name].notna().sum())
        else:
            frame, meta = _read_stat(filename, data)
            for name in names:
                present = frame[name].dropna().astype(float)
                assert (present % 1 == 0).all(), (filename, name)
                if fmt == "stata":
                    assert meta.readstat_variable_types[name].startswith("int"), (filename, name)
                else:
                    assert meta.original_variable_types[name].endswith(".0"), (filename, name)
                checked += len(present)
    assert checked > 1000  # the demo clinic's session numbers, codes and ratings


def test_integers_stay_integers_in_csv(export_of: ExportOf) -> None:
    files = export_of("csv", False)
    for name in ("sessions.csv", "scores.csv", "alerts.csv", "responses_wide.csv"):
        frame = pd.read_csv(io.BytesIO(files[name]), dtype=str, keep_default_na=False)
        numbers = frame["session_number"]
        assert not any(re.fullmatch(r"\d+\.0", v) for v in numbers), name
        assert any(re.fullmatch(r"\d+", v) for v in numbers), name


def test_the_wide_table_has_one_row_per_response(export_of: ExportOf) -> None:
    files = export_of("parquet", False)
    scores = pd.read_parquet(io.BytesIO(files["scores.parquet"]))
    wide = pq.read_table(io.BytesIO(files["responses_wide.parquet"]))
    assert wide.num_rows == len(scores)
    band = wide.schema.field("phq9_band").type
    assert band.ordered  # an ordered dictionary: minimal < mild < ...
    assert str(wide.schema.field("phq9_phq9_1").type) == "int64"
    answers = pd.read_parquet(io.BytesIO(files["answers.parquet"]))
    assert {"answer", "item_score"} <= set(answers.columns)
    assert answers["item_score"].notna().mean() > 0.9


@pytest.mark.parametrize("fmt", ["csv", "parquet", "spss", "stata", "rds"])
@pytest.mark.parametrize("deidentified", [False, True], ids=["full", "deidentified"])
def test_the_codebook_describes_every_column_of_every_file(
    export_of: ExportOf, fmt: str, deidentified: bool
) -> None:
    files = export_of(fmt, deidentified)
    package = json.loads(files["datapackage.json"])
    codebook = files["codebook.md"].decode()
    described = {
        r["path"]: [f["name"] for f in r["schema"]["fields"]] for r in package["resources"]
    }
    data_files = {n: d for n, d in files.items() if n not in ("codebook.md", "datapackage.json")}
    assert set(described) == set(data_files)
    for filename, data in data_files.items():
        if fmt == "csv":
            columns = list(pd.read_csv(io.BytesIO(data), nrows=0).columns)
        elif fmt == "parquet":
            columns = pq.read_schema(io.BytesIO(data)).names
        else:
            columns = list(_read_stat(filename, data)[0].columns)
        assert columns == described[filename], filename
        section = codebook.split(f"## {filename}\n", 1)[1].split("\n## ", 1)[0]
        for column in columns:
            assert f"\n| {column} |" in section, f"{filename}: {column} not in the codebook"


def test_the_csv_data_package_passes_the_frictionless_validator(
    export_of: ExportOf, tmp_path: Path
) -> None:
    frictionless = pytest.importorskip("frictionless")
    for name, data in export_of("csv", False).items():
        (tmp_path / name).write_bytes(data)
    report = frictionless.validate(str(tmp_path / "datapackage.json"))
    problems = [e.message for task in report.tasks for e in task.errors][:10]
    assert report.valid, problems
