"""``alliance match``: match an intake queue to a therapist roster from one JSON file.

The file format is :class:`alliance.matching.MatchingInput` (documented in docs/matching.md,
schema in docs/matching-schema.json). Bad input exits with code 2 and one line naming the file
and the JSON path of the bad field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from pydantic import ValidationError

from alliance.cli._common import FORCE_HELP, QUIET_HELP, check_target, fail, say, write_bytes

if TYPE_CHECKING:
    from alliance.matching import MatchingInput


def json_path(loc: tuple[int | str, ...]) -> str:
    """``('therapists', 3, 'languages', 0)`` → ``therapists[3].languages[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


_INVALID_JSON = re.compile(r"Invalid JSON: (?P<what>.*) at line (?P<line>\d+) column (?P<col>\d+)$")
# pydantic's JSON parser stops at 200 levels of nesting (a real input has about 5); a deeper
# file is refused with this instead of Python's json module running out of stack.
_PLAIN_WORDS = {"recursion limit exceeded": "nested too deeply (more than 200 levels)"}


def _load(path: Path, max_bytes: int) -> MatchingInput:
    """The file parsed and validated, or exit 2 with one line saying what is wrong where.

    The JSON text is validated straight into the model by pydantic's own parser, which
    refuses nesting deeper than 200 levels and out-of-range numbers as invalid JSON (Python's
    ``json`` module raised RecursionError and ValueError on those).
    """
    from alliance.matching import MatchingInput

    if path.is_dir():
        fail(f"{path}: is a directory, not a JSON file")
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                fail(
                    f"{path}: {size:,} bytes is over the {max_bytes:,}-byte limit for a "
                    "matching file (setting ALLIANCE_MATCH_MAX_BYTES)"
                )
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    if len(data) > max_bytes:  # grew while we read it
        fail(f"{path}: over the {max_bytes:,}-byte limit for a matching file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text (byte {exc.start + 1})")
    del data
    try:
        return MatchingInput.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            fail(f"{path}: {_json_error(str(first['ctx'].get('error', first['msg'])))}")
        fail(f"{path}: {json_path(tuple(first['loc']))}: {first['msg']}")


def _json_error(message: str) -> str:
    """``recursion limit exceeded at line 1 column 202`` → ``not valid JSON at line 1,
    column 202: nested too deeply (more than 200 levels)``."""
    found = _INVALID_JSON.match("Invalid JSON: " + message)
    if found is None:
        return f"not valid JSON: {message}"
    what = _PLAIN_WORDS.get(found["what"], found["what"])
    return f"not valid JSON at line {found['line']}, column {found['col']}: {what}"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""

    @app.command("match")
    def match(
        file: Path = typer.Argument(..., help="JSON file: therapists, intakes, optional history."),
        out: Path | None = typer.Option(
            None,
            "-o",
            "--output",
            help="Write the result JSON here (default: standard output).",
        ),
        old_out: Path | None = typer.Option(
            None,
            "--out",
            hidden=True,
            help="Deprecated spelling of -o/--output, kept for scripts written before it.",
        ),
        output_format: str = typer.Option("json", "--format", "-f", help="json (the only one)."),
        force: bool = typer.Option(False, "--force", help=FORCE_HELP),
        quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    ) -> None:
        """Assign an intake queue to therapists (optimal, under capacities) with reasons."""
        from alliance.config import get_settings
        from alliance.matching import MatchingInputError
        from alliance.matching.assign import run_matching

        if old_out is not None:
            if out is not None:
                fail("give -o/--output once (--out is its old spelling)")
            out = old_out
            # A warning, so it shows with --quiet too (as QUIET_HELP promises).
            typer.echo("warning: --out is deprecated; use -o/--output", err=True)
        if output_format != "json":
            fail(f"--format {output_format!r}: match writes json")
        check_target(out, force=force)
        settings = get_settings()
        data = _load(file, settings.match_max_bytes)
        pairs = len(data.intakes) * len(data.therapists)
        if pairs > settings.match_max_pairs:
            fail(
                f"{file}: {len(data.intakes)} intakes × {len(data.therapists)} therapists = "
                f"{pairs:,} pairs is over the limit of {settings.match_max_pairs:,} pairs that "
                "one run matches (setting ALLIANCE_MATCH_MAX_PAIRS); split the queue"
            )
        try:
            result = run_matching(data)
        except MatchingInputError as exc:
            fail(f"{file}: {exc}")
        text = result.model_dump_json(indent=2)
        if out is None:
            typer.echo(text)
            return
        write_bytes(out, (text + "\n").encode("utf-8"))
        say(
            f"placed {len(result.placements)} of {len(data.intakes)} clients, "
            f"{len(result.unassigned)} waiting, total fit {result.total_fit:.2f} -> {out}",
            quiet=quiet,
        )
