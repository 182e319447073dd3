"""Reading and writing the CSV tables of the file commands (``alliance score``, ``alliance
change``): the instrument lookup, reading a CSV as text, turning item columns into numbers,
scoring with errors that name the file, line and column, and writing the result to stdout,
OUT.csv, OUT.json or OUT.parquet. One place, so both commands report bad files the same way.
``-`` as the file reads standard input.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Literal

import pandas as pd
import typer

from alliance._csv import to_csv
from alliance.cli._common import fail, write_bytes
from alliance.measures.instrument import Instrument
from alliance.measures.registry import InstrumentError, load_instrument
from alliance.measures.scoring import ScoringError, score_frame

TableFormat = Literal["csv", "json", "parquet"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("csv", "json", "parquet")
STDIN = "-"
FORMAT_HELP = "csv, json or parquet (default: from the output's suffix, else csv)."


def instrument(instrument_id: str) -> Instrument:
    """The instrument (bundled or from ``ALLIANCE_INSTRUMENTS_DIR``), or exit 2 naming the
    unknown id."""
    from alliance.config import get_settings

    try:
        return load_instrument(instrument_id, get_settings().instruments_dir)
    except InstrumentError as exc:
        fail(str(exc))


def table_format(output: Path | None, given: str | None) -> TableFormat:
    """The format asked for with ``--format``, else the output's suffix, else CSV; exit 2 on
    an unknown one, or on Parquet (binary) to the terminal."""
    if given is not None:
        if given not in TABLE_FORMATS:
            fail(f"--format {given!r}: choose csv, json or parquet")
        fmt = given
    elif output is None:
        fmt = "csv"
    else:
        suffix = output.suffix.lower().lstrip(".")
        if suffix not in TABLE_FORMATS:
            fail(f"{output}: output must end in .csv, .json or .parquet (or give --format)")
        fmt = suffix
    if fmt == "parquet" and output is None:
        fail("--format parquet needs -o FILE.parquet (Parquet is binary, not for the terminal)")
    return fmt


def read_csv(file: Path) -> pd.DataFrame:
    source: Path | io.BytesIO = file
    if str(file) == STDIN:
        source = io.BytesIO(sys.stdin.buffer.read())
    try:
        # Everything is read as text so that the input columns are written back unchanged
        # (leading zeros, "1" not "1.0"); item columns are converted for scoring below.
        return pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
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


def check_item_columns(file: Path, frame: pd.DataFrame, inst: Instrument, *, risk: bool) -> None:
    """Name the item columns the file lacks: a warning on stderr when the missing-item rules
    still let responses be scored (prorated), exit 2 when they let nothing be scored.

    A file without any item column is left to :func:`score_or_fail`, which says so. With
    ``risk`` (``alliance change``) an absent risk item is named too: its alert cannot fire.
    """
    absent = [i.link_id for i in inst.scored_items if i.link_id not in frame.columns]
    if not absent or len(absent) == len(inst.scored_items):
        return
    missing = set(absent)
    rule = inst.scoring
    total_ok = sum(i.link_id in missing for i in inst.total_items) <= rule.max_missing
    lost = [s.name for s in inst.subscales if len(missing & set(s.items)) > s.max_missing]
    listed = ", ".join(absent)
    if not total_ok and len(lost) == len(inst.subscales):
        fail(
            f"{file}: no column for item(s) {listed}: {inst.id} allows at most "
            f"{rule.max_missing} missing item(s) in a total, so no response could be scored"
        )
    notes = []
    if total_ok:
        notes.append(
            f"totals are prorated over the items present (at most {rule.max_missing} "
            "may be missing)"
        )
    else:
        notes.append(f"no total can be scored (at most {rule.max_missing} missing item(s))")
    if lost:
        notes.append(f"subscale(s) {', '.join(lost)} cannot be scored")
    unread = [r.link_id for r in inst.risk_items if r.link_id in missing]
    if risk and unread:
        notes.append(f"risk item(s) {', '.join(unread)} cannot be read, so risk is not flagged")
    typer.echo(f"warning: {file}: no column for item(s) {listed}; {'; '.join(notes)}", err=True)


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


def write_table(frame: pd.DataFrame, output: Path | None, fmt: TableFormat = "csv") -> None:
    """CSV or JSON on stdout without an output path; else OUT in ``fmt``, whole or not at
    all. CSV text cells that a spreadsheet would run as a formula are neutralised
    (:mod:`alliance._csv`)."""
    if fmt == "json":
        text = frame.to_json(orient="records", indent=1) + "\n"
        if output is None:
            sys.stdout.write(text)
        else:
            write_bytes(output, text.encode("utf-8"))
        return
    if fmt == "parquet" and output is not None:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        write_bytes(output, buffer.getvalue())
        return
    if output is None:
        to_csv(frame, sys.stdout, index=False, float_format="%.10g")
        return
    write_bytes(output, str(to_csv(frame, index=False, float_format="%.10g")).encode("utf-8"))
