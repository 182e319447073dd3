"""Tables as research files: typed columns, a codebook, and the writers for CSV, Parquet,
SPSS (``.sav``), Stata (``.dta``) and R (``.rds``).

A :class:`Table` is rows plus a :class:`Column` for every field: its type, what it means, the
labels of its codes and, for an ordered category (a severity band), its levels in order. The
writers turn that into each format's own way of saying it — variable and value labels in SPSS
and Stata, ordered factors in R (written by :mod:`alliance._rds`), ordered dictionary columns
in Parquet — and :func:`codebook` writes the same
facts once as Markdown and once as a Frictionless Data Package (``datapackage.json``), so a
researcher can read any file without asking what a column is.

Pure: bytes in memory out, no database. Integer columns stay integers in every format (a
session number is ``3``, not ``3.0``), missing values stay missing.
"""

from __future__ import annotations

import io
import json
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from alliance._csv import to_csv
from alliance._rds import data_frame_rds

Kind = Literal["integer", "number", "string", "boolean", "datetime", "category"]
FileFormat = Literal["csv", "parquet", "spss", "stata", "rds"]
FILE_FORMATS: tuple[FileFormat, ...] = ("csv", "parquet", "spss", "stata", "rds")
SUFFIX: dict[FileFormat, str] = {
    "csv": ".csv",
    "parquet": ".parquet",
    "spss": ".sav",
    "stata": ".dta",
    "rds": ".rds",
}
# Stata's limits: names of at most 32 characters, variable labels of at most 80.
MAX_NAME = 32
_STATA_LABEL = 80
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    """One field of a table. ``labels`` name the codes of an integer column (value labels);
    ``levels`` are the categories of a ``category`` column, lowest first."""

    name: str
    kind: Kind
    description: str
    labels: Mapping[int, str] = field(default_factory=dict)
    levels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or len(self.name) > MAX_NAME:
            raise ValueError(
                f"column {self.name!r}: names are lower-case letters, digits and _, "
                f"at most {MAX_NAME} characters (Stata's limit)"
            )


@dataclass(frozen=True)
class Table:
    """Rows (dicts keyed by column name) with a column for every key."""

    name: str
    description: str
    columns: tuple[Column, ...]
    rows: Sequence[Mapping[str, Any]]

    def __post_init__(self) -> None:
        known = {c.name for c in self.columns}
        for index, row in enumerate(self.rows):
            unknown = set(row) - known
            if unknown:
                raise ValueError(
                    f"{self.name} row {index}: no column described for {sorted(unknown)}"
                )

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame with each column's own dtype."""
        data = {c.name: _series(c, [row.get(c.name) for row in self.rows]) for c in self.columns}
        return pd.DataFrame(data, index=pd.RangeIndex(len(self.rows)))


def safe_name(*parts: str) -> str:
    """A column name from ``parts`` that every format accepts: lower case, ``_`` for anything
    else, and shortened with a stable tail when it would pass Stata's 32 characters."""
    import hashlib

    raw = "_".join(parts)
    name = re.sub(r"[^a-z0-9_]+", "_", raw.lower()).strip("_") or "x"
    if not name[0].isalpha():
        name = f"v_{name}"
    if len(name) > MAX_NAME:
        tail = hashlib.sha256(raw.encode()).hexdigest()[:5]
        name = f"{name[: MAX_NAME - 6].rstrip('_')}_{tail}"
    return name


def _series(column: Column, values: list[Any]) -> pd.Series:
    if column.kind == "integer":
        return pd.Series(pd.array(values, dtype="Int64"))
    if column.kind == "number":
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype=float)
    if column.kind == "boolean":
        return pd.Series(pd.array(values, dtype="boolean"))
    if column.kind == "datetime":
        return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]")
    if column.kind == "category":
        return pd.Series(pd.Categorical(values, categories=list(column.levels), ordered=True))
    return pd.Series([None if v is None else str(v) for v in values], dtype=object)


# --- writers ---------------------------------------------------------------------------------


def write(table: Table, fmt: FileFormat) -> bytes:
    """``table`` as one file in ``fmt``."""
    if fmt == "csv":
        frame = table.frame()
        for c in table.columns:
            if c.kind == "datetime":  # ISO 8601 with its offset, as Table Schema reads it
                frame[c.name] = frame[c.name].map(lambda v: None if pd.isna(v) else v.isoformat())
        return str(to_csv(frame, index=False)).encode("utf-8")
    if fmt == "parquet":
        buffer = io.BytesIO()
        table.frame().to_parquet(buffer, index=False)
        return buffer.getvalue()
    if fmt == "rds":
        return _rds(table)
    return _readstat(table, fmt)


def _coded(table: Table) -> tuple[pd.DataFrame, dict[str, dict[int | float, str]]]:
    """The frame as SPSS and Stata hold it: categories and booleans become integer codes with
    value labels, integers stay integers (32-bit, missing as missing), times become naive UTC."""
    frame = table.frame()
    labels: dict[str, dict[int | float, str]] = {}
    for c in table.columns:
        series = frame[c.name]
        if c.kind == "category":
            codes = series.cat.codes.astype("Int32") + 1  # 1 = lowest level; -1 (missing) → 0
            frame[c.name] = codes.where(codes > 0)
            labels[c.name] = {i + 1: level for i, level in enumerate(c.levels)}
        elif c.kind == "boolean":
            frame[c.name] = series.astype("Int32")
            labels[c.name] = {0: "no", 1: "yes"}
        elif c.kind == "integer":
            frame[c.name] = _stat_integers(series)
            if c.labels:
                labels[c.name] = dict(c.labels.items())
        elif c.kind == "datetime":
            frame[c.name] = series.dt.tz_convert("UTC").dt.tz_localize(None)
        elif c.kind == "string":
            frame[c.name] = series.fillna("").astype(str)
    return frame, labels


# Stata's long holds -2,147,483,647 … 2,147,483,620; the values above are its missing codes.
_STATA_LONG = (-2_147_483_647, 2_147_483_620)


def _stat_integers(series: pd.Series) -> pd.Series:
    """An integer column as pyreadstat stores integers: nullable 32-bit (a Stata ``long``
    with ``.`` for missing; SPSS keeps every number as a double whatever it is given), or
    doubles when a value would not fit."""
    present = series.dropna()
    low, high = _STATA_LONG
    if present.empty or (present.min() >= low and present.max() <= high):
        return series.astype("Int32")
    return series.astype(float)


def _readstat(table: Table, fmt: Literal["spss", "stata"]) -> bytes:
    import pyreadstat

    frame, value_labels = _coded(table)
    integers = [c.name for c in table.columns if c.kind in ("integer", "category", "boolean")]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{table.name}{SUFFIX[fmt]}"
        if fmt == "spss":
            pyreadstat.write_sav(
                frame,
                path,
                file_label=table.description[:64],
                column_labels={c.name: c.description for c in table.columns},
                variable_value_labels=value_labels,
                # Whole numbers shown as whole numbers: F8.0 rather than SPSS's F8.2.
                variable_format=dict.fromkeys(integers, "F8.0"),
                variable_measure={
                    c.name: "ordinal" if c.kind == "category" else "nominal"
                    for c in table.columns
                    if c.kind in ("category", "boolean")
                },
            )
        else:
            pyreadstat.write_dta(
                frame,
                path,
                file_label=table.description[:_STATA_LABEL],
                column_labels={c.name: c.description[:_STATA_LABEL] for c in table.columns},
                variable_value_labels=value_labels,
                variable_format=dict.fromkeys(integers, "%9.0g"),
            )
        return path.read_bytes()


def _rds(table: Table) -> bytes:
    # Our own writer (alliance._rds): integers stay R integers with NA, bands become ordered
    # factors and times POSIXct, none of which pyreadr's writer does.
    return data_frame_rds(table.frame())


# --- the codebook ----------------------------------------------------------------------------

_FRICTIONLESS_TYPE: dict[Kind, str] = {
    "integer": "integer",
    "number": "number",
    "string": "string",
    "boolean": "boolean",
    "datetime": "datetime",
    "category": "string",
}
_MEDIA_TYPE: dict[FileFormat, str] = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "spss": "application/x-spss-sav",
    "stata": "application/x-stata-dta",
    "rds": "application/x-r-data",
}


def _values(column: Column) -> str:
    if column.levels:
        return " < ".join(column.levels)
    if column.labels:
        return "; ".join(f"{code} = {label}" for code, label in sorted(column.labels.items()))
    return ""


def codebook_markdown(tables: Sequence[Table], fmt: FileFormat, title: str) -> str:
    """Every column of every table: name, type, meaning and values, as Markdown."""
    lines = [f"# {title}", "", f"Files: one `{SUFFIX[fmt]}` file per table below.", ""]
    for table in tables:
        lines += [f"## {table.name}{SUFFIX[fmt]}", "", table.description, ""]
        lines += [f"{len(table.rows)} rows.", ""]
        lines += ["| column | type | meaning | values |", "|---|---|---|---|"]
        for c in table.columns:
            cells = (c.name, c.kind, c.description, _values(c))
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def datapackage(tables: Sequence[Table], fmt: FileFormat, name: str) -> dict[str, Any]:
    """A Frictionless Data Package describing the files (Table Schema for every column)."""
    resources = []
    for table in tables:
        fields = []
        for c in table.columns:
            spec: dict[str, Any] = {
                "name": c.name,
                "type": _FRICTIONLESS_TYPE[c.kind],
                "description": c.description,
            }
            if c.levels:
                spec["constraints"] = {"enum": list(c.levels)}
                spec["categories"] = list(c.levels)
                spec["categoriesOrdered"] = True
            elif c.labels:
                spec["categories"] = [
                    {"value": code, "label": label} for code, label in sorted(c.labels.items())
                ]
            fields.append(spec)
        resource: dict[str, Any] = {
            "name": table.name,
            "path": f"{table.name}{SUFFIX[fmt]}",
            "description": table.description,
            "format": SUFFIX[fmt].lstrip("."),
            "mediatype": _MEDIA_TYPE[fmt],
            "schema": {"fields": fields},
        }
        if fmt == "csv":
            resource |= {"profile": "tabular-data-resource", "encoding": "utf-8"}
        resources.append(resource)
    return {"name": name, "resources": resources}


def files(tables: Sequence[Table], fmt: FileFormat, *, title: str, name: str) -> dict[str, bytes]:
    """Every table in ``fmt`` plus ``codebook.md`` and ``datapackage.json``."""
    out = {f"{t.name}{SUFFIX[fmt]}": write(t, fmt) for t in tables}
    out["codebook.md"] = codebook_markdown(tables, fmt, title).encode("utf-8")
    package = datapackage(tables, fmt, name)
    out["datapackage.json"] = json.dumps(package, indent=1, ensure_ascii=False).encode("utf-8")
    return out
