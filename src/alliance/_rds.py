"""R's ``.rds`` format written from a pandas DataFrame: a data.frame whose columns keep what R
would call them — integer vectors with ``NA`` (not doubles), **ordered factors** for ordered
categories, logical vectors, character vectors and ``POSIXct`` times in UTC.

Why our own writer: pyreadr (librdata) writes every factor unordered and times as text, and a
severity band that R does not know is ordered is the first thing a researcher would have to
repair. The format is R's serialization format version 2 (XDR, big-endian) as R Internals
describes it, gzip-compressed as ``saveRDS`` does by default; ``readRDS`` reads it, and so do
pyreadr and rdata (the tests read every file back with both).

Pure: a DataFrame in, bytes out.
"""

from __future__ import annotations

import gzip
import math
import struct
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["data_frame_rds"]

# SEXP types (R Internals, "Serialization formats").
_SYMSXP, _LISTSXP, _CHARSXP, _LGLSXP, _INTSXP, _REALSXP, _STRSXP, _VECSXP = (
    1,
    2,
    9,
    10,
    13,
    14,
    16,
    19,
)
_NILVALUE = 254
_IS_OBJECT, _HAS_ATTR, _HAS_TAG = 1 << 8, 1 << 9, 1 << 10
# CHARSXP encoding flags, in the "levels" bits (from bit 12).
_UTF8, _ASCII = 1 << 3, 1 << 6
_NA_INTEGER = -(2**31)
# R's NA_real_ is a NaN whose low word is 1954 (a plain NaN is NaN, not NA).
_NA_REAL = struct.pack(">Q", 0x7FF00000000007A2)
# Written by R 4.2.2, readable from R 2.3.0 (both packed as R_Version does).
_WRITER, _READER = (4 << 16) | (2 << 8) | 2, (2 << 16) | (3 << 8)


def _int(value: int) -> bytes:
    return struct.pack(">i", value)


def _flags(kind: int, *, obj: bool = False, attr: bool = False, tag: bool = False) -> bytes:
    return _int(
        kind | (_IS_OBJECT if obj else 0) | (_HAS_ATTR if attr else 0) | (_HAS_TAG if tag else 0)
    )


def _charsxp(text: str | None) -> bytes:
    if text is None:
        return _int(_CHARSXP) + _int(-1)  # NA_character_
    raw = text.encode("utf-8")
    encoding = _ASCII if text.isascii() else _UTF8
    return _int(_CHARSXP | (encoding << 12)) + _int(len(raw)) + raw


def _strings(values: Iterable[str | None], attributes: bytes = b"") -> bytes:
    items = list(values)
    head = _flags(_STRSXP, attr=bool(attributes)) + _int(len(items))
    return head + b"".join(_charsxp(v) for v in items) + attributes


def _attributes(pairs: Sequence[tuple[str, bytes]]) -> bytes:
    """A tagged pairlist (name → serialized value), as R writes an object's attributes."""
    out = b""
    for name, value in pairs:
        out += _flags(_LISTSXP, tag=True) + _int(_SYMSXP) + _charsxp(name) + value
    return out + _int(_NILVALUE)


def _integers(values: Sequence[int | None], attributes: bytes = b"", *, obj: bool = False) -> bytes:
    head = _flags(_INTSXP, obj=obj, attr=bool(attributes)) + _int(len(values))
    return head + b"".join(_int(_NA_INTEGER if v is None else v) for v in values) + attributes


def _doubles(
    values: Sequence[float | None], attributes: bytes = b"", *, obj: bool = False
) -> bytes:
    head = _flags(_REALSXP, obj=obj, attr=bool(attributes)) + _int(len(values))
    body = b"".join(_NA_REAL if v is None else struct.pack(">d", v) for v in values)
    return head + body + attributes


def _missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def _fits_r_integer(values: Sequence[int | None]) -> bool:
    return all(v is None or _NA_INTEGER < v < 2**31 for v in values)


def _column(series: pd.Series) -> bytes:
    dtype = series.dtype
    values = [None if _missing(v) else v for v in series.tolist()]
    if isinstance(dtype, pd.CategoricalDtype):
        levels = [str(c) for c in dtype.categories]
        codes = [None if c < 0 else int(c) + 1 for c in series.cat.codes.tolist()]  # 1-based
        kind = ["ordered", "factor"] if dtype.ordered else ["factor"]
        attributes = _attributes([("levels", _strings(levels)), ("class", _strings(kind))])
        return _integers(codes, attributes, obj=True)
    if pd.api.types.is_bool_dtype(dtype):
        return (
            _flags(_LGLSXP)
            + _int(len(values))
            + b"".join(_int(_NA_INTEGER if v is None else int(bool(v))) for v in values)
        )
    if pd.api.types.is_integer_dtype(dtype):
        whole = [None if v is None else int(v) for v in values]
        if _fits_r_integer(whole):
            return _integers(whole)
        return _doubles([None if v is None else float(v) for v in whole])
    if pd.api.types.is_float_dtype(dtype):
        return _doubles([None if v is None else float(v) for v in values])
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        seconds = [None if v is None else _epoch_seconds(v) for v in values]
        attributes = _attributes(
            [("class", _strings(["POSIXct", "POSIXt"])), ("tzone", _strings(["UTC"]))]
        )
        return _doubles(seconds, attributes, obj=True)
    return _strings(None if v is None else str(v) for v in values)


def _epoch_seconds(value: datetime) -> float:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")  # naive times in a frame are UTC here
    return float(stamp.timestamp())


def data_frame_rds(frame: pd.DataFrame) -> bytes:
    """``frame`` as an R data.frame in an ``.rds`` file (gzip-compressed R serialization).

    Column types: pandas integers (nullable or not) → integer with ``NA`` (double if a value
    does not fit R's 32-bit integers); floats → double; booleans → logical; categoricals →
    factors, ordered when the dtype is ordered; datetimes → POSIXct (UTC); anything else →
    character. Missing values become R's ``NA`` of the column's type."""
    names = [str(c) for c in frame.columns]
    columns = b"".join(_column(frame[c]) for c in frame.columns)
    attributes = _attributes(
        [
            ("names", _strings(names)),
            ("class", _strings(["data.frame"])),
            # The compact form R uses for row names 1..n: c(NA_integer_, -n).
            ("row.names", _integers([None, -len(frame)])),
        ]
    )
    body = _flags(_VECSXP, obj=True, attr=True) + _int(len(names)) + columns + attributes
    stream = b"X\n" + _int(2) + _int(_WRITER) + _int(_READER) + body
    return gzip.compress(stream, compresslevel=6, mtime=0)
