"""The one way Alliance writes a CSV file: :func:`to_csv`, with formula-leading text neutralised.

A spreadsheet opening a CSV file runs any cell that starts with ``=``, ``+``, ``-`` or ``@``
as a formula (tab and carriage return are read as such a lead as well), so a client id or a
free-text answer such as ``=HYPERLINK("http://…","click")`` becomes a live link or worse.
Following the OWASP guidance on CSV injection, such a *text* cell is written with a single
quote in front (``'=HYPERLINK(…)``), which spreadsheets show as text. Numbers are never
touched, whether they sit in a numeric column (``-1.5``) or, as plain numerals, in a text
column read from the user's file (``-3``, ``+44``, ``1e-5``): those are data, not formulas.

Every CSV the project writes (``alliance score`` / ``alliance change`` output and the clinic
export) goes through :func:`to_csv`, so the rule lives in one place.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMULA_LEADS", "neutralise_formulas", "neutralise_text", "to_csv"]

#: First characters that make a spreadsheet read a cell as a formula (OWASP).
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_text(value: str) -> str:
    """``value`` with a leading ``'`` when a spreadsheet would run it as a formula."""
    if value.startswith(FORMULA_LEADS) and _NUMBER.fullmatch(value) is None:
        return "'" + value
    return value


_LEAD_PATTERN = "[" + re.escape("".join(FORMULA_LEADS)) + "]"


def _candidates(column: pd.Series) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Positions whose text starts with a formula lead (a vectorised pre-filter: a big table
    has few or none)."""
    text = column if isinstance(column.dtype, pd.StringDtype) else column.astype("string")
    return np.flatnonzero(text.str.match(_LEAD_PATTERN).fillna(False).to_numpy(dtype=bool))


def _neutralise_values(values: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], bool]:
    """An object array with its formula-leading strings neutralised (a copy, or the array
    itself when nothing changes), and whether anything changed."""
    out = values
    changed = False
    for index in _candidates(pd.Series(values, dtype=object)):
        value = values[index]
        if not isinstance(value, str):
            continue  # a number in an object column (-2) is written as a number
        safe = neutralise_text(value)
        if safe != value:
            if not changed:
                out = values.copy()
                changed = True
            out[index] = safe
    return out, changed


def _neutralise_column(column: pd.Series) -> pd.Series | None:
    """A neutralised copy of a text or categorical column, or None when nothing changes."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        new, changed = _neutralise_values(column.cat.categories.to_numpy(dtype=object))
        if not changed:
            return None
        if len(set(new)) == len(new):
            return column.cat.rename_categories(list(new))
        return _neutralise_column(column.astype(object))  # two labels became one
    if not (pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype)):
        return None  # numbers, booleans, dates: nothing a spreadsheet would run
    if not len(_candidates(column)):
        return None
    new, changed = _neutralise_values(column.to_numpy(dtype=object))
    if not changed:
        return None
    return pd.Series(new, index=column.index, name=column.name, dtype=dtype)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every formula-leading text cell prefixed by ``'`` (a copy when needed;
    the caller's frame is never changed)."""
    out = frame
    for position in range(frame.shape[1]):
        safe = _neutralise_column(frame.iloc[:, position])
        if safe is None:
            continue
        if out is frame:
            out = frame.copy(deep=False)
        out.isetitem(position, safe.array)
    return out


def _has_carriage_return(frame: pd.DataFrame) -> bool:
    for position in range(frame.shape[1]):
        column = frame.iloc[:, position]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = pd.Series(column.cat.categories, dtype=object)
        elif not (
            pd.api.types.is_object_dtype(column.dtype) or isinstance(column.dtype, pd.StringDtype)
        ):
            continue
        text = column if isinstance(column.dtype, pd.StringDtype) else column.astype("string")
        if bool(text.str.contains("\r", regex=False).fillna(False).any()):
            return True
    return False


def to_csv(frame: pd.DataFrame, target: Any = None, **options: Any) -> str | None:
    """:meth:`pandas.DataFrame.to_csv` of :func:`neutralise_formulas` of ``frame``.

    Python 3.11's CSV writer leaves a field holding a bare carriage return unquoted when lines
    end in ``\n``, and a spreadsheet starts a new row at it — so a cell ``"'\r=cmd"`` would
    put ``=cmd`` at the start of a row after all. When a text cell holds one, lines end in
    ``\r\n`` instead (RFC 4180), which makes the writer quote every such field.
    """
    safe = neutralise_formulas(frame)
    if "lineterminator" not in options and _has_carriage_return(safe):
        options["lineterminator"] = "\r\n"
    result: str | None = safe.to_csv(target, **options)
    return result
