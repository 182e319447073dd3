"""Reading and writing the CSV tables of the file commands (``alliance score``, ``alliance
change``): the instrument lookup, reading a CSV as text, turning item columns into numbers,
scoring with errors that name the file, line and column, and writing the result to stdout,
OUT.csv or OUT.json. One place, so both commands report bad files the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from alliance._csv import to_csv
from alliance.cli._common import fail
from alliance.measures.instrument import Instrument
from alliance.measures.registry import InstrumentError, load_instrument
from alliance.measures.scoring import ScoringError, score_frame

OUTPUT_SUFFIXES = (".csv", ".json")


def instrument(instrument_id: str) -> Instrument:
    """The instrument (bundled or from ``ALLIANCE_INSTRUMENTS_DIR``), or exit 2 naming the
    unknown id."""
    from alliance.config import get_settings

    try:
        return load_instrument(instrument_id, get_settings().instruments_dir)
    except InstrumentError as exc:
        fail(str(exc))


def check_output(output: Path | None) -> None:
    """Exit 2 unless the output path (if any) ends in .csv or .json."""
    if output is not None and output.suffix.lower() not in OUTPUT_SUFFIXES:
        fail(f"{output}: output must end in .csv or .json")


def read_csv(file: Path) -> pd.DataFrame:
    try:
        # Everything is read as text so that the input columns are written back unchanged
        # (leading zeros, "1" not "1.0"); item columns are converted for scoring below.
        return pd.read_csv(file, dtype=str, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except IsADirectoryError:
        fail(f"{file}: is a directory, not a CSV file")
    except pd.errors.EmptyDataError:
        fail(f"{file}: the file is empty (expected a header row of column names)")
    except pd.errors.ParserError as exc:
        fail(f"{file}: not a valid CSV file ({' '.join(str(exc).split())})")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text")
    except OSError as exc:
        fail(f"{file}: cannot read ({exc.strerror or exc})")


def numeric_items(frame: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    """Item columns that hold only numbers become numeric (the fast scoring path); any
    other item column stays text so that an error can quote the answer as written."""
    converted = frame.copy()
    for item in inst.scored_items:
        if item.link_id not in frame.columns:
            continue
        column = frame[item.link_id]
        numbers = pd.to_numeric(column, errors="coerce", dtype_backend="numpy_nullable")
        if bool((numbers.isna() == column.isna()).all()):
            converted[item.link_id] = numbers
    return converted


def line_label(row: int) -> str:
    # Line numbers count the header as line 1 (true unless quoted fields span lines).
    return f"line {row + 2} (data row {row + 1})"


def score_or_fail(file: Path, inst: Instrument, items: pd.DataFrame) -> pd.DataFrame:
    """:func:`score_frame` on the file's rows; a bad answer exits 2 naming file, line, column."""
    try:
        return score_frame(inst, items)
    except ScoringError as exc:
        parts = [str(file)]
        if exc.row is not None:
            parts.append(line_label(exc.row))
        if exc.item is not None:
            parts.append(f"column {exc.item}")
        fail(", ".join(parts) + f": {exc.message}")


def write_table(frame: pd.DataFrame, output: Path | None) -> None:
    """CSV on stdout without an output path; else OUT.json (records) or OUT.csv. CSV text
    cells that a spreadsheet would run as a formula are neutralised (:mod:`alliance._csv`)."""
    if output is None:
        to_csv(frame, sys.stdout, index=False, float_format="%.10g")
        return
    try:
        if output.suffix.lower() == ".json":
            output.write_text(frame.to_json(orient="records", indent=1) + "\n", encoding="utf-8")
        else:
            to_csv(frame, output, index=False, float_format="%.10g")
    except OSError as exc:
        fail(f"{output}: cannot write ({exc.strerror or exc})")
