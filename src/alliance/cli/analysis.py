"""``alliance analyze``: analyse one transcript (JSON, text or HTML) or a batch into Parquet.

One file (or ``-``: standard input) → one analysis printed or written with ``-o``. A
directory, a glob pattern, or any of ``--jobs`` / ``--dask-scheduler`` / ``-o *.parquet`` → a
resumable batch with a progress bar; failures are listed at the end and the batch carries on
past them (exit code 1 when some files failed, 0 when none did, 2 for bad arguments or an
unreadable single file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Literal, cast

import typer

from alliance.cli._common import QUIET_HELP, check_target, fail, say, write_bytes

OutputFormat = Literal["json", "text", "html"]
Backend = Literal["accurate", "fast"]
Speakers = Literal["labels", "alternate"]
Units = Literal["turns", "segments"]
_ROLES = ("therapist", "client", "other")
STDIN = "-"


def _name_map(values: list[str]) -> dict[str, Literal["therapist", "client", "other"]]:
    mapping: dict[str, Literal["therapist", "client", "other"]] = {}
    for value in values:
        name, sep, role = value.rpartition("=")
        role = role.strip().lower()
        if not sep or not name.strip() or role not in _ROLES:
            fail(f"--role {value!r}: expected NAME=therapist|client|other")
        mapping[name.strip()] = cast(Literal["therapist", "client", "other"], role)
    return mapping


def _is_batch(target: str, jobs: int | None, scheduler: str | None, output: Path | None) -> bool:
    if target == STDIN:
        return False
    if jobs is not None or scheduler or (output is not None and output.suffix == ".parquet"):
        return True
    path = Path(target)
    if path.is_dir():
        return True
    return not path.exists() and any(ch in target for ch in "*?[")


def _format_for(output: Path | None, given: str | None) -> OutputFormat:
    if given is not None:
        if given not in ("json", "text", "html"):
            fail(f"--format {given!r}: choose json, text or html")
        return cast(OutputFormat, given)
    suffix = output.suffix.lower() if output else ""
    by_suffix: dict[str, OutputFormat] = {".html": "html", ".htm": "html", ".txt": "text"}
    return by_suffix.get(suffix, "json")


def _read_input(target: str, max_bytes: int) -> tuple[bytes, str]:
    """The transcript's bytes (at most ``max_bytes + 1``) and the name errors give it."""
    from alliance.cli._analysis_batch import read_limited

    if target == STDIN:
        # Binary, so that the parser decodes it (BOMs, UTF-16, cp1252) as it does a file.
        return sys.stdin.buffer.read(max_bytes + 1), "<stdin>"
    path = Path(target)
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        return read_limited(str(path), max_bytes), str(path)
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")


def analyze_one(
    target: str,
    *,
    therapist: list[str],
    roles: dict[str, Literal["therapist", "client", "other"]],
    output_format: OutputFormat,
    output: Path | None,
    backend: Backend,
    empathy: bool | None,
    speakers: Speakers = "labels",
    units: Units = "turns",
    force: bool = False,
    quiet: bool = False,
) -> None:
    from alliance.analysis.classifiers import ModelNotInstalledError
    from alliance.analysis.pipeline import Analyzer
    from alliance.analysis.report import render_html, render_text
    from alliance.config import get_settings
    from alliance.transcripts import TranscriptError, parse_transcript

    check_target(output, force=force)
    max_bytes = get_settings().transcript_max_bytes
    data, name = _read_input(target, max_bytes)
    try:
        transcript = parse_transcript(
            data,
            filename=name,
            therapist=therapist or None,
            name_map=roles or None,
            max_bytes=max_bytes,
            speakers=speakers,
        )
    except TranscriptError as exc:
        fail(str(exc))
    try:
        analyzer = Analyzer.load(backend, empathy=empathy, units=units)
    except ModelNotInstalledError as exc:
        fail(" ".join(str(exc).split()))
    result = analyzer.analyze(transcript)
    if output_format == "json":
        text = json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    elif output_format == "text":
        text = render_text(result)
    else:
        text = render_html(result)
    if not text.endswith("\n"):
        text += "\n"  # a terminal prompt or a concatenated file must start on its own line
    for warning in transcript.warnings:
        typer.echo(f"warning: {warning}", err=True)
    if output is None:
        typer.echo(text, nl=False)
        return
    write_bytes(output, text.encode("utf-8"))
    say(f"wrote {output}", quiet=quiet)


def analyze_batch(
    target: str,
    *,
    therapist: list[str],
    roles: dict[str, Literal["therapist", "client", "other"]],
    output: Path | None,
    backend: Backend,
    empathy: bool | None,
    jobs: int,
    scheduler: str | None,
    speakers: Speakers = "labels",
    units: Units = "turns",
    force: bool = False,
    quiet: bool = False,
) -> None:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from alliance.analysis.batch import BatchOptions
    from alliance.cli._analysis_batch import (
        BatchInputError,
        find_files,
        require_dask,
        run_batch,
    )
    from alliance.config import get_settings

    output = output or Path("results.parquet")
    if output.suffix != ".parquet":
        fail(f"-o {output}: a batch writes Parquet; give a .parquet file")
    if jobs < 1:
        fail("--jobs must be at least 1")
    if scheduler:
        try:
            require_dask()  # before the progress bar starts, so the line stands alone
        except BatchInputError as exc:
            fail(str(exc))
    max_bytes = get_settings().transcript_max_bytes
    options = BatchOptions(
        backend=backend,
        therapist=tuple(therapist),
        name_map=tuple(roles.items()),
        empathy=empathy,
        max_bytes=max_bytes,
        speakers=speakers,
        units=units,
    )
    try:
        # Looked up before the progress bar starts, so that bad input is one line on its own.
        files = find_files(target)
    except BatchInputError as exc:
        fail(str(exc))
    console = Console(stderr=True)
    failures_seen = 0
    with Progress(
        TextColumn("[bold]analysing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=quiet,
    ) as progress:
        task = progress.add_task("analyse", total=None, failed=0)

        def started(total: int) -> None:
            progress.update(task, total=total)

        def advanced(row: dict[str, object]) -> None:
            nonlocal failures_seen
            if row["status"] != "ok":
                failures_seen += 1
            progress.update(task, advance=1, failed=failures_seen)

        try:
            report = run_batch(
                target,
                output,
                options,
                jobs=jobs,
                scheduler=scheduler,
                max_bytes=max_bytes,
                on_start=started,
                on_row=advanced,
                files=files,
                fresh=force,
            )
        except BatchInputError as exc:
            progress.stop()
            fail(str(exc))
        except OSError as exc:
            progress.stop()
            fail(f"{output}: {exc.strerror or exc}")
    say(
        f"{report.found} files: {report.analysed} analysed, {report.skipped} already done, "
        f"{len(report.failures)} failed → {report.output}",
        quiet=quiet,
    )
    if report.failures:
        typer.echo("failures:", err=True)
        for _, error in report.failures:
            typer.echo(f"  {error}", err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``analyze`` and ``analyze-schema`` to the root app."""

    @app.command("analyze")
    def analyze(
        target: str = typer.Argument(
            ...,
            metavar="FILE|DIR|GLOB|-",
            help="A transcript (WebVTT, SRT, text, JSON or CSV), a directory, a glob pattern, "
            "or - for standard input. A cue webvtt-py or pysrt cannot read is skipped with a "
            "warning naming its line; sound cues (\\[laughs], (music), ♪ … ♪) are left out.",
        ),
        therapist: list[str] = typer.Option(
            [], "--therapist", "-t", help="The therapist's name (repeat for co-therapists)."
        ),
        role: list[str] = typer.Option(
            [], "--role", help="Fix a speaker's role: NAME=therapist|client|other (repeatable)."
        ),
        output_format: str | None = typer.Option(
            None, "--format", "-f", help="json (default), text or html (single file only)."
        ),
        output: Path | None = typer.Option(
            None, "--output", "-o", help="Write here (single file) or to this .parquet (batch)."
        ),
        backend: str = typer.Option(
            "", "--backend", help="accurate or fast (default: setting analysis_backend)."
        ),
        units: str = typer.Option(
            "",
            "--units",
            help="turns: code each turn whole; segments: code the sentences and clauses "
            "MISC/MITI coders code, fold them back to the turn, and show them (default: "
            "setting analysis_units).",
        ),
        no_empathy: bool = typer.Option(
            False, "--no-empathy", help="Skip the optional empathy model."
        ),
        jobs: int | None = typer.Option(
            None, "--jobs", "-j", help="Batch: worker processes (default 1)."
        ),
        dask_scheduler: str | None = typer.Option(
            None, "--dask-scheduler", help="Batch: run on this Dask cluster (tcp://host:8786)."
        ),
        speakers: str = typer.Option(
            "labels",
            "--speakers",
            help="labels (default): speaker labels are required; alternate: a transcript "
            "with no labels at all (Whisper output, plain subtitles), or only a few stray "
            "'Words:' that are no names, is read as two speakers taking turns, with a warning.",
        ),
        force: bool = typer.Option(
            False,
            "--force",
            help="Replace the output file; for a batch, start over instead of resuming.",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
    ) -> None:
        """Analyse a session transcript, or a batch of them, with evidence for every figure."""
        from alliance.config import get_settings

        chosen = backend or get_settings().analysis_backend
        if chosen not in ("accurate", "fast"):
            fail(f"--backend {backend!r}: choose accurate or fast")
        chosen_units = units or get_settings().analysis_units
        if chosen_units not in ("turns", "segments"):
            fail(f"--units {units!r}: choose turns or segments")
        roles = _name_map(role)
        empathy = False if no_empathy else None
        if speakers not in ("labels", "alternate"):
            fail(f"--speakers {speakers!r}: choose labels or alternate")
        parquet = output is not None and output.suffix == ".parquet"
        if target == STDIN and (jobs is not None or dask_scheduler or parquet):
            fail(
                "- (standard input) is one transcript; --jobs and --dask-scheduler are for batches"
            )
        if _is_batch(target, jobs, dask_scheduler, output):
            if output_format not in (None, "json"):
                fail("--format applies to a single file; a batch writes Parquet")
            analyze_batch(
                target,
                therapist=therapist,
                roles=roles,
                output=output,
                backend=cast(Backend, chosen),
                empathy=empathy,
                jobs=jobs if jobs is not None else 1,
                scheduler=dask_scheduler,
                speakers=cast(Speakers, speakers),
                units=cast(Units, chosen_units),
                force=force,
                quiet=quiet,
            )
            return
        analyze_one(
            target,
            therapist=therapist,
            roles=roles,
            output_format=_format_for(output, output_format),
            output=output,
            backend=cast(Backend, chosen),
            empathy=empathy,
            speakers=cast(Speakers, speakers),
            units=cast(Units, chosen_units),
            force=force,
            quiet=quiet,
        )

    @app.command("analyze-schema")
    def analyze_schema(
        output: Path | None = typer.Option(None, "--output", "-o", help="Write here."),
    ) -> None:
        """Print the JSON schema of `alliance analyze --format json` output."""
        from alliance.analysis.schema import analysis_json_schema

        text = json.dumps(analysis_json_schema(), indent=2) + "\n"
        if output is None:
            typer.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
