"""R data files written by alliance._rds, read back by two independent readers (pyreadr, built
on librdata, and rdata), and by R itself where ``Rscript`` is installed."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pyreadr
import pytest
import rdata

from alliance._rds import data_frame_rds


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "session": pd.array([1, None, 12], dtype="Int64"),
            "count": [3, 4, 5],
            "big": pd.array([1, 2**40, None], dtype="Int64"),
            "total": [1.5, None, 20.0],
            "valid": pd.array([True, None, False], dtype="boolean"),
            "band": pd.Categorical(
                ["mild", None, "severe"], categories=["minimal", "mild", "severe"], ordered=True
            ),
            "kind": pd.Categorical(["a", "b", None], categories=["a", "b"]),
            "name": ["Zoë", None, "x"],
            "at": pd.to_datetime(["2026-01-02T03:04:05Z", None, "2026-03-01T00:00:00Z"], utc=True),
        }
    )


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "frame.rds"
    path.write_bytes(data_frame_rds(_frame()))
    return path


def _rdata(path: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        # rdata has no converter for POSIXct and says so; pyreadr reads the times below.
        warnings.filterwarnings("ignore", "Missing constructor for R class", UserWarning)
        frame: pd.DataFrame = rdata.read_rds(path)
    return frame


def test_integers_stay_r_integers_with_na(tmp_path: Path) -> None:
    frame = _rdata(_write(tmp_path))
    assert str(frame["session"].dtype) == "Int32"
    assert frame["session"].tolist()[0] == 1
    assert frame["session"].isna().tolist() == [False, True, False]
    assert str(frame["count"].dtype) == "Int32"
    # Past R's 32-bit integers the column is a double rather than a wrong number.
    assert frame["big"].dtype == float
    assert frame["big"].tolist()[1] == 2**40


def test_ordered_categories_become_ordered_factors_and_others_plain_ones(tmp_path: Path) -> None:
    frame = _rdata(_write(tmp_path))
    band = frame["band"]
    assert band.cat.ordered
    assert list(band.cat.categories) == ["minimal", "mild", "severe"]
    assert band.tolist()[0] == "mild"
    assert pd.isna(band.tolist()[1])
    assert not frame["kind"].cat.ordered


def test_values_times_text_and_logicals_read_back_with_pyreadr(tmp_path: Path) -> None:
    frame = pyreadr.read_r(str(_write(tmp_path)))[None]
    assert list(frame.columns) == list(_frame().columns)
    assert frame["total"].tolist()[0] == 1.5
    assert pd.isna(frame["total"].tolist()[1])
    assert frame["name"].tolist()[0] == "Zoë"
    assert pd.isna(frame["name"].tolist()[1])
    assert frame["valid"].tolist()[0] is True
    assert frame["at"].tolist()[0] == pd.Timestamp("2026-01-02 03:04:05")
    assert pd.isna(frame["at"].tolist()[1])


def test_the_file_is_a_gzipped_version_2_serialization(tmp_path: Path) -> None:
    raw = gzip.decompress(_write(tmp_path).read_bytes())
    assert raw[:2] == b"X\n"
    assert int.from_bytes(raw[2:6], "big") == 2
    assert data_frame_rds(_frame()) == data_frame_rds(_frame())  # byte for byte


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="R is not installed")
def test_r_itself_reads_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path)
    script = (
        f'x <- readRDS("{path}"); '
        "stopifnot(is.data.frame(x), nrow(x) == 3, is.integer(x$session), is.na(x$session[2]), "
        'is.ordered(x$band), x$band[1] < "severe", !is.ordered(x$kind), is.logical(x$valid), '
        'inherits(x$at, "POSIXct"), format(x$at[1], tz = "UTC") == "2026-01-02 03:04:05", '
        'x$name[1] == "Zo\\u00eb"); cat("ok")'
    )
    done = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=False)
    assert done.stdout == "ok", done.stderr
