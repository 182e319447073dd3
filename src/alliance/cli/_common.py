"""Helpers shared by CLI commands: the one way a command reports bad input, and the one way
it writes a set of output files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one readable line to stderr and exit with ``code`` (2 = bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def write_files(folder: Path, files: Mapping[str, bytes], *, force: bool) -> None:
    """Write ``files`` (name → bytes) into ``folder``, all or nothing: refuses (exit 2) when
    one is already there unless ``force``; each file is written beside its target and renamed
    into place only once every one has been written."""
    taken = sorted(name for name in files if (folder / name).exists())
    if taken and not force:
        shown = ", ".join(taken[:3]) + (f" and {len(taken) - 3} more" if len(taken) > 3 else "")
        fail(f"{folder}: {shown} already exist(s); add --force to replace")
    staged: list[tuple[Path, Path]] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            part = folder / f".{name}.part"
            part.write_bytes(data)
            staged.append((part, folder / name))
        for part, target in staged:
            os.replace(part, target)
    except OSError as exc:
        for part, _ in staged:
            part.unlink(missing_ok=True)
        fail(f"{folder}: cannot write ({exc.strerror or exc})")


# The options every file-writing command spells the same way (score, change, analyze, match,
# export): -o/--output, --format, --force, --quiet.
FORCE_HELP = "Replace the output if it already exists."
QUIET_HELP = "No summary or progress on stderr (errors and warnings still show)."


def check_target(output: Path | None, *, force: bool) -> None:
    """Exit 2 before any work when ``output`` exists and ``--force`` was not given (or it is a
    directory where a file is wanted)."""
    if output is None:
        return
    if output.is_dir():
        fail(f"{output}: is a directory; give a file name")
    if output.exists() and not force:
        fail(f"{output}: already exists; add --force to replace it")


def say(message: str, *, quiet: bool) -> None:
    """A summary line on stderr, unless ``--quiet``."""
    if not quiet:
        typer.echo(message, err=True)


def write_bytes(output: Path, data: bytes) -> None:
    """Write ``output`` whole or not at all: beside it first, then renamed into place."""
    part = output.with_name(f".{output.name}.part")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(data)
        os.replace(part, output)
    except OSError as exc:
        part.unlink(missing_ok=True)
        fail(f"{output}: cannot write ({exc.strerror or exc})")
