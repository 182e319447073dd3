"""The batch driver behind ``alliance analyze DIR_OR_GLOB``: find, read, run, resume, write.

Files are read here and their bytes sent to workers (:func:`alliance.analysis.batch.
analyse_bytes`), so a Dask cluster needs no shared file system. At most ``2 × jobs`` files are
in flight at once, which bounds memory on big batches. Results are checkpointed to the
Parquet file every few files (written to a temporary file, then renamed), so an interrupted
batch resumes where it stopped: files with an ``ok`` row are skipped, failed ones retried.

Dask is the optional ``scale`` extra: it is imported only when a batch names a cluster, and
:func:`require_dask` turns its absence into one line that says what to install.
"""

from __future__ import annotations

import concurrent.futures as cf
import glob
import importlib
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alliance.analysis.batch import COLUMNS, BatchOptions, analyse_bytes, failure_row, pending

EXTENSIONS = (".vtt", ".srt", ".txt", ".json", ".csv", ".tsv")
CHECKPOINT_FILES = 20
CHECKPOINT_SECONDS = 15.0
DASK_MISSING = (
    "--dask-scheduler needs Dask, which is not installed; "
    "install it with: pip install 'alliance[scale]'"
)


class BatchInputError(ValueError):
    """Bad batch arguments (nothing found, unreadable output file)."""


@dataclass
class BatchReport:
    found: int = 0
    skipped: int = 0
    analysed: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    output: Path | None = None


def find_files(target: str) -> list[str]:
    """A directory (searched recursively for transcript extensions) or a glob pattern.

    Finding nothing is bad input, not an empty batch: an empty result file would look like a
    finished run.
    """
    path = Path(target)
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS]
        if not files:
            kinds = ", ".join(EXTENSIONS[:-1]) + f" and {EXTENSIONS[-1]}"
            raise BatchInputError(f"no transcripts found in {target} (looked for {kinds} files)")
        return sorted(str(p) for p in files)
    if path.is_file():
        return [str(path)]
    matches = [m for m in glob.glob(target, recursive=True) if Path(m).is_file()]
    if not matches:
        raise BatchInputError(f"{target}: no such file or directory, and no file matches it")
    return sorted(matches)


def require_dask() -> None:
    """Refuse a cluster batch up front, before any file is read, when Dask is not installed."""
    try:
        for name in ("dask", "distributed"):  # the scale extra installs both
            importlib.import_module(name)
    except ImportError:
        raise BatchInputError(DASK_MISSING) from None


def read_limited(path: str, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes: enough for the parser to report the size limit."""
    with open(path, "rb") as f:
        return f.read(max_bytes + 1)


def load_previous(output: Path) -> list[dict[str, object]]:
    """Rows of an earlier run that succeeded (failed ones are retried)."""
    if not output.exists():
        return []
    import pandas as pd

    try:
        frame = pd.read_parquet(output)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise BatchInputError(f"{output}: cannot resume from it: {exc}") from None
    if "file" not in frame.columns or "status" not in frame.columns:
        raise BatchInputError(f"{output}: not an alliance batch result (no file/status columns)")
    frame = frame[frame["status"] == "ok"]
    return [
        {str(k): (None if _is_missing(v) else v) for k, v in row.items()}
        for row in frame.to_dict(orient="records")
    ]


def _is_missing(value: object) -> bool:
    try:
        return bool(value != value)  # NaN
    except (TypeError, ValueError):
        return False


def write_rows(output: Path, rows: list[dict[str, object]]) -> None:
    """Write all rows atomically (temporary file, then rename)."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for column in ("error", "backend", "format", "roles_method", "relationship_style"):
        frame[column] = frame[column].astype("string")
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    frame.to_parquet(temporary, index=False)
    os.replace(temporary, output)


def _local_results(
    files: list[str], options: BatchOptions, jobs: int, max_bytes: int
) -> Iterator[dict[str, object]]:
    if jobs <= 1:
        for name in files:
            yield _run_one(name, options, max_bytes)
        return
    context = multiprocessing.get_context("spawn")  # no fork after threads/ONNX sessions
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        yield from _windowed(
            files,
            lambda name: pool.submit(analyse_bytes, name, read_limited(name, max_bytes), options),
            lambda futures: cf.wait(futures, return_when=cf.FIRST_COMPLETED)[0],
            2 * jobs,
        )


def _dask_results(
    files: list[str], options: BatchOptions, address: str, max_bytes: int
) -> Iterator[dict[str, object]]:
    from distributed import Client, wait

    # distributed ships py.typed but leaves Client() and wait() unannotated.
    with Client(address, timeout="20s") as client:  # type: ignore[no-untyped-call]
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        yield from _windowed(
            files,
            lambda name: client.submit(
                analyse_bytes, name, read_limited(name, max_bytes), options, pure=False
            ),
            lambda futures: set(
                wait(list(futures), return_when="FIRST_COMPLETED").done  # type: ignore[no-untyped-call]
            ),
            4 * workers,
        )


def _windowed(
    files: list[str],
    submit: Callable[[str], Any],
    wait_some: Callable[[set[Any]], set[Any]],
    window: int,
) -> Iterator[dict[str, object]]:
    """Keep at most ``window`` files in flight; yield each row as its future completes."""
    queue = list(reversed(files))
    in_flight: dict[Any, str] = {}
    while queue or in_flight:
        while queue and len(in_flight) < window:
            name = queue.pop()
            try:
                in_flight[submit(name)] = name
            except OSError as exc:
                yield failure_row(name, f"{name}: cannot read: {exc.strerror or exc}")
        if not in_flight:
            continue
        for future in wait_some(set(in_flight)):
            name = in_flight.pop(future)
            try:
                yield future.result()
            except Exception as exc:  # a worker crash must not end the batch
                yield failure_row(name, f"{name}: worker failed: {type(exc).__name__}: {exc}")


def _run_one(name: str, options: BatchOptions, max_bytes: int) -> dict[str, object]:
    try:
        data = read_limited(name, max_bytes)
    except OSError as exc:
        return failure_row(name, f"{name}: cannot read: {exc.strerror or exc}")
    return analyse_bytes(name, data, options)


def run_batch(
    target: str,
    output: Path,
    options: BatchOptions,
    *,
    jobs: int,
    scheduler: str | None,
    max_bytes: int,
    on_start: Callable[[int], None] = lambda total: None,
    on_row: Callable[[dict[str, object]], None] = lambda row: None,
    files: list[str] | None = None,
    fresh: bool = False,
) -> BatchReport:
    """Analyse every transcript under ``target`` into ``output`` (Parquet), resuming from
    the rows already there unless ``fresh`` (``--force``: start over).

    ``files`` is :func:`find_files` of ``target`` when the caller has already looked.
    """
    if scheduler:
        require_dask()
    if files is None:
        files = find_files(target)
    previous = [] if fresh else load_previous(output)
    todo = pending(files, [str(r["file"]) for r in previous])
    report = BatchReport(found=len(files), skipped=len(files) - len(todo), output=output)
    rows = list(previous)
    on_start(len(todo))
    results = (
        _dask_results(todo, options, scheduler, max_bytes)
        if scheduler
        else _local_results(todo, options, jobs, max_bytes)
    )
    last_write = time.monotonic()
    unsaved = 0
    for row in results:
        rows.append(row)
        unsaved += 1
        if row["status"] == "ok":
            report.analysed += 1
        else:
            report.failures.append((str(row["file"]), str(row["error"])))
        on_row(row)
        if unsaved >= CHECKPOINT_FILES or time.monotonic() - last_write > CHECKPOINT_SECONDS:
            write_rows(output, rows)
            unsaved = 0
            last_write = time.monotonic()
    write_rows(output, rows)
    return report
