"""CLI commands for measures: ``alliance instruments list|show|import`` and ``alliance score``.

Thin wrappers over :mod:`alliance.measures`: they read files, call the domain functions and
print. Bad input exits 2 with one line (``alliance.cli._common.fail``) naming the file, the
line in the file (1-based, the header is line 1), the column and what is wrong.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import typer
from rich.console import Console
from rich.table import Table

from alliance.cli._common import FORCE_HELP, QUIET_HELP, check_target, fail, say, write_bytes
from alliance.cli._tables import (
    FORMAT_HELP,
    check_item_columns,
    instrument,
    numeric_items,
    read_csv,
    score_or_fail,
    table_format,
    write_table,
)
from alliance.measures.fhir import instrument_to_questionnaire
from alliance.measures.fhir_import import import_questionnaire
from alliance.measures.instrument import Direction, Kind
from alliance.measures.registry import (
    InstrumentError,
    bundled_ids,
    dump_instrument,
    list_instruments,
)

instruments_app = typer.Typer(
    help="List and show the questionnaires Alliance can score.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(instruments_app, name="instruments")
    app.command("score")(score)


@instruments_app.command("list")
def list_command() -> None:
    """List bundled and user-supplied instruments (ALLIANCE_INSTRUMENTS_DIR)."""
    from alliance.config import get_settings

    try:
        instruments = list_instruments(get_settings().instruments_dir)
    except InstrumentError as exc:
        fail(str(exc))
    bundled = set(bundled_ids())
    table = Table(title="Instruments")
    # ids are what people type next: never truncate them, let the title wrap instead.
    widest = max((len(i.id) for i in instruments), default=2)
    table.add_column("id", no_wrap=True, min_width=widest)
    for column in ("title", "kind", "items", "total", "direction", "source"):
        table.add_column(column)
    for inst in instruments:
        low, high = inst.score_range
        table.add_row(
            inst.id,
            inst.title,
            inst.kind,
            str(len(inst.scored_items)),
            f"{low:g}–{high:g} ({inst.scoring.method})",
            inst.direction.replace("_", " "),
            "bundled" if inst.id in bundled else "user",
        )
    _console().print(table)


def _console() -> Console:
    """The terminal's width on a terminal; elsewhere no width limit, so nothing wraps.

    Rich lays a table out for 80 columns when stdout is not a terminal (a pipe, a file, a
    test), which cuts titles and sources. There nothing limits the width: a table (which
    does not expand) then takes its natural width and every line stays whole.
    """
    if sys.stdout.isatty():
        return Console()
    return Console(width=_UNLIMITED)


# Wider than any line we print, so a console this wide never wraps.
_UNLIMITED = 10_000


@instruments_app.command("show")
def show_command(
    instrument_id: str = typer.Argument(..., metavar="ID", help="Instrument id, e.g. phq9."),
    as_json: bool = typer.Option(False, "--json", help="Print the parsed definition as JSON."),
    as_fhir: bool = typer.Option(False, "--fhir", help="Print a FHIR R4 Questionnaire."),
) -> None:
    """Show one instrument: its items, scoring, bands and sources."""
    if as_json and as_fhir:
        fail("choose one of --json and --fhir")
    inst = instrument(instrument_id)
    if as_json:
        typer.echo(json.dumps(inst.model_dump(mode="json", by_alias=True), indent=2))
        return
    if as_fhir:
        typer.echo(json.dumps(instrument_to_questionnaire(inst), indent=2))
        return
    console = _console()
    console.print(f"[bold]{inst.title}[/bold] ({inst.id}, version {inst.version}, {inst.kind})")
    console.print(f"Citation: {inst.citation}")
    console.print(f"Licence: {inst.licence}")
    rule = inst.scoring
    low, high = inst.score_range
    console.print(
        f"Scoring: {rule.method} of {len(inst.total_items)} items, total {low:g}–{high:g}, "
        f"{inst.direction.replace('_', ' ')}; up to {rule.max_missing} missing item(s) prorated"
    )
    if inst.bands:
        bands = ", ".join(f"{b.label} {b.min:g}–{b.max:g}" for b in inst.bands)
        console.print(f"Bands: {bands}")
    table = Table()
    widest = max(len(i.link_id) for i in inst.items)
    table.add_column("linkId", no_wrap=True, min_width=widest)
    for column in ("type", "text", "answers"):
        table.add_column(column)
    for item in inst.items:
        if item.type == "choice":
            answers = ", ".join(
                f"{o.code}={o.score:g}" if o.score is not None else o.code for o in item.options
            )
        elif item.type == "integer":
            answers = f"{item.min_value}–{item.max_value}"
        else:
            answers = item.type
        flags = " (reverse)" if item.reverse else ""
        table.add_row(item.link_id, item.type, item.text + flags, answers)
    console.print(table)


_SAME_LOINC = " With a bundled instrument's LOINC code, the default is that instrument's."


@instruments_app.command("import")
def import_command(
    file: Path = typer.Argument(..., metavar="FILE.json", help="A FHIR Questionnaire (JSON)."),
    output: Path | None = typer.Option(
        None,
        "-o",
        "--output",
        metavar="DIR",
        help="Write <id>.yaml into DIR (default: ALLIANCE_INSTRUMENTS_DIR).",
    ),
    instrument_id: str | None = typer.Option(
        None, "--id", help="The instrument's id (default: from the Questionnaire)."
    ),
    kind: str | None = typer.Option(
        None, "--kind", help=f"One of {', '.join(get_args(Kind))} (default: other)." + _SAME_LOINC
    ),
    direction: str | None = typer.Option(
        None,
        "--direction",
        help="higher_is_worse (default) or higher_is_better." + _SAME_LOINC,
    ),
    method: str | None = typer.Option(
        None, "--method", help="sum (default) or mean." + _SAME_LOINC
    ),
    max_missing: int | None = typer.Option(
        None, "--max-missing", min=0, help="Missing items prorated (default 0)." + _SAME_LOINC
    ),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
) -> None:
    """Import a FHIR Questionnaire as an instrument file; prints what it understood and skipped."""
    # FHIR does not say how a total is read: the options do; left out, they come from a
    # bundled instrument with the same LOINC code, else other / higher is worse / sum / 0.
    from alliance.config import get_settings

    for name, value, allowed in (
        ("--kind", kind, get_args(Kind)),
        ("--direction", direction, get_args(Direction)),
        ("--method", method, ("sum", "mean")),
    ):
        if value is not None and value not in allowed:
            fail(f"{name} {value!r}: must be one of {', '.join(allowed)}")
    folder = output if output is not None else get_settings().instruments_dir
    if folder is None:
        fail("no output directory: give -o DIR or set ALLIANCE_INSTRUMENTS_DIR")
    if folder.exists() and not folder.is_dir():
        fail(f"{folder}: is not a directory")
    resource = _read_json(file)
    options: dict[str, Any] = {"kind": kind, "direction": direction, "method": method}
    try:
        report = import_questionnaire(
            resource, instrument_id=instrument_id, max_missing=max_missing, **options
        )
    except InstrumentError as exc:
        fail(f"{file}: {exc}")
    inst = report.instrument
    if inst.id in bundled_ids():
        fail(f"{file}: id {inst.id!r} is a bundled instrument; give another with --id")
    target = folder / f"{inst.id}.yaml"
    check_target(target, force=force)
    comment = (
        f"Imported from the FHIR Questionnaire {file.name} by `alliance instruments import` "
        f"on {datetime.now(UTC).date().isoformat()}.\n"
        "Check kind, direction, scoring and add bands/cut-offs with their sources before use."
    )
    for line in report.lines():
        typer.echo(line)
    write_bytes(target, dump_instrument(inst, comment).encode("utf-8"))
    typer.echo(f"wrote {target} (instrument {inst.id})")


def _read_json(file: Path) -> object:
    """The parsed JSON of ``file``, or exit 2 with one line saying why not."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except IsADirectoryError:
        fail(f"{file}: is a directory; give a Questionnaire JSON file")
    except OSError as exc:
        fail(f"{file}: cannot be read ({exc.strerror or exc})")
    except UnicodeDecodeError:
        fail(f"{file}: not UTF-8 text")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{file}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})")


def score(
    instrument_id: str = typer.Argument(..., metavar="ID", help="Instrument id, e.g. phq9."),
    file: Path = typer.Argument(
        ...,
        metavar="FILE.csv|-",
        help="One row per response; a column per item linkId. - reads standard input.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write OUT.csv, OUT.json or OUT.parquet (default: stdout)."
    ),
    output_format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Score every response in a CSV file; adds total, band, valid and subscale_<name>."""
    inst = instrument(instrument_id)
    fmt = table_format(output, output_format)
    check_target(output, force=force)
    frame = read_csv(file)
    typed = numeric_items(frame, inst)
    added = score_or_fail(file, inst, typed)
    check_item_columns(file, frame, inst, risk=False)
    # CSV: the input columns go out exactly as they came in (text). JSON and Parquet: answers
    # that are numbers are written as numbers. Either way only the score columns are new.
    scored = (typed if fmt != "csv" else frame).copy()
    for column in ("total", "band", "valid", *(f"subscale_{s.name}" for s in inst.subscales)):
        scored[column] = added[column]
    write_table(scored, output, fmt)
    if output is None:
        return
    valid = int(scored["valid"].sum())
    say(f"scored {len(scored)} responses ({valid} valid) -> {output}", quiet=quiet)
