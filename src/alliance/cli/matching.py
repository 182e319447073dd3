"""``alliance match``: match an intake queue to a therapist roster from one JSON file.

The file format is :class:`alliance.matching.MatchingInput` (documented in docs/matching.md,
schema in docs/matching-schema.json). Bad input exits with code 2 and one line naming the file
and the JSON path of the bad field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError

from alliance.cli._common import fail


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('therapists', 3, 'languages', 0)`` → ``therapists[3].languages[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _load(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"{path}: cannot read: {exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("match")
    def match(
        file: Path = typer.Argument(..., help="JSON file: therapists, intakes, optional history."),
        out: Path | None = typer.Option(
            None, "-o", "--out", help="Write the result JSON here (default: standard output)."
        ),
    ) -> None:
        """Assign an intake queue to therapists (optimal, under capacities) with reasons."""
        from alliance.matching import MatchingInput, MatchingInputError
        from alliance.matching.assign import run_matching

        raw = _load(file)
        try:
            data = MatchingInput.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            fail(f"{file}: {json_path(tuple(first['loc']))}: {first['msg']}")
        try:
            result = run_matching(data)
        except MatchingInputError as exc:
            fail(f"{file}: {exc}")
        text = result.model_dump_json(indent=2)
        if out is None:
            typer.echo(text)
            return
        try:
            out.write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            fail(f"{out}: cannot write: {exc}")
        typer.echo(
            f"placed {len(result.placements)} of {len(data.intakes)} clients, "
            f"{len(result.unassigned)} waiting, total fit {result.total_fit:.2f} -> {out}",
            err=True,
        )
