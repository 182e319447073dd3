"""alliance._csv: formula-leading text cells are neutralised in every CSV; numbers are not."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance._csv import FORMULA_LEADS, neutralise_formulas, neutralise_text, to_csv


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-3", "-3"),
        ("+44", "+44"),
        ("-0.5e-3", "-0.5e-3"),
        ("plain", "plain"),
        (" =not a formula", " =not a formula"),
        ("", ""),
    ],
)
def test_it_prefixes_only_text_that_would_run_as_a_formula(text: str, written: str) -> None:
    assert neutralise_text(text) == written


def test_it_handles_text_object_categorical_and_string_columns_and_leaves_numbers() -> None:
    frame = pd.DataFrame(
        {
            "text": ["=1+1", "-3", None],
            "numbers": [-1.5, 2.0, np.nan],
            "mixed": pd.Series([-2, "=x", None], dtype=object),
            "band": pd.Categorical(["@a", "b", "@a"]),
            "string": pd.array(["-", "ok", None], dtype="string"),
        }
    )
    before = frame.copy()
    safe = neutralise_formulas(frame)
    pd.testing.assert_frame_equal(frame, before)  # the caller's frame is not changed
    assert safe["text"].tolist()[:2] == ["'=1+1", "-3"]
    assert safe["numbers"].tolist()[:2] == [-1.5, 2.0]
    assert safe["mixed"].tolist()[:2] == [-2, "'=x"]
    assert safe["band"].tolist() == ["'@a", "b", "'@a"]
    assert safe["string"].tolist()[:2] == ["'-", "ok"]
    assert isinstance(safe["band"].dtype, pd.CategoricalDtype)
    for column in ("text", "numbers", "mixed", "string"):
        assert safe[column].dtype == frame[column].dtype


def test_two_labels_that_become_one_stay_distinct_cells() -> None:
    frame = pd.DataFrame({"band": pd.Categorical(["=a", "'=a"])})
    assert neutralise_formulas(frame)["band"].tolist() == ["'=a", "'=a"]


@given(st.lists(st.text(max_size=8), min_size=1, max_size=20))
def test_no_written_text_cell_starts_a_formula(values: list[str]) -> None:
    frame = pd.DataFrame({"i": range(len(values)), "v": pd.Series(values, dtype=object)})
    text = to_csv(frame, index=False)
    assert text is not None
    back = [row[1] for row in list(csv.reader(io.StringIO(text, newline="")))[1:]]
    for original, cell in zip(values, back, strict=True):
        if original.startswith(FORMULA_LEADS) and neutralise_text(original) != original:
            assert cell.startswith("'")


def test_a_cell_with_a_carriage_return_is_quoted_so_it_cannot_start_a_row() -> None:
    frame = pd.DataFrame({"i": [0, 1], "v": ["\r=cmd|' /C calc'!A0", "ok\rthen"]})
    text = to_csv(frame, index=False)
    assert text is not None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["i", "v"], ["0", "'\r=cmd|' /C calc'!A0"], ["1", "ok\rthen"]]
    assert to_csv(pd.DataFrame({"v": ["plain"]}), index=False) == "v\nplain\n"
