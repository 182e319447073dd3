"""CLI command ``alliance change``: per-client reliable change, clinical significance and alerts.

Input is a long CSV (one row per administration): ``client_id``, ``session`` (1, 2, …),
``date`` (YYYY-MM-DD) and one column per item linkId. Every row is scored with
:func:`alliance.measures.scoring.score_frame`; then, per client, the first and the last valid
totals are compared with :func:`alliance.measures.change.classify_instrument_change` and the
client's timeline is run through :func:`alliance.monitoring.alerts.evaluate_alerts` (for an
outcome instrument with expected trajectories fitted from the whole file; each point carries
the risk items its row endorses, so PHQ-9 item 9 at the latest row raises ``risk_reported``).
Bad input exits 2 with one line naming the file, the line, the column and what is wrong.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer

from alliance.cli._common import FORCE_HELP, QUIET_HELP, check_target, fail, say
from alliance.cli._tables import (
    FORMAT_HELP,
    check_item_columns,
    instrument,
    line_label,
    numeric_items,
    read_csv,
    score_or_fail,
    table_format,
    write_table,
)
from alliance.measures.change import classify_instrument_change, classify_instrument_changes
from alliance.measures.instrument import Instrument
from alliance.measures.scoring import risk_flags
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories
from alliance.monitoring.alerts import evaluate_alerts
from alliance.monitoring.cohort import latest_alert_kinds
from alliance.monitoring.timeline import ScorePoint, Timeline

REQUIRED = ("client_id", "session", "date")
OUTPUT_COLUMNS = (
    "client_id",
    "n_scores",
    "baseline_session",
    "baseline",
    "latest_session",
    "latest",
    "change",
    "rci",
    "reliable_change",
    "clinically_significant",
    "status",
    "alerts",
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("change")(change)


def change(
    instrument_id: str = typer.Argument(..., metavar="ID", help="Instrument id, e.g. phq9."),
    file: Path = typer.Argument(
        ...,
        metavar="FILE.csv|-",
        help="Long format: client_id, session, date (YYYY-MM-DD) and a column per item linkId; "
        "- reads standard input.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write OUT.csv, OUT.json or OUT.parquet (default: stdout)."
    ),
    output_format: str | None = typer.Option(None, "--format", "-f", help=FORMAT_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Per client: baseline, latest, change, RCI, reliable change, clinical significance,
    status (recovered / improved / unchanged / deteriorated) and the alerts at the latest
    session."""
    inst = instrument(instrument_id)
    if inst.reliable_change is None:
        fail(
            f"instrument {inst.id} defines no reliable-change SD and reliability, so change "
            "cannot be classified"
        )
    fmt = table_format(output, output_format)
    check_target(output, force=force)
    inputs = read_change_input(file, inst)
    result = change_table(inputs.long, inputs.risk_answers, inst, inputs.trajectory)
    write_table(result, output, fmt)
    if output is None:
        return
    say(f"{len(result)} clients -> {output}", quiet=quiet)


@dataclass(frozen=True)
class ChangeInput:
    """A change file read, checked and scored: ``long`` (``client_id``, ``session``, ``date``,
    ``total`` — NaN when invalid), the rows' ``subscale_<name>`` and risk-item answers, and the
    trajectory model fitted from the whole file (outcome instruments; None otherwise)."""

    long: pd.DataFrame
    subscales: pd.DataFrame
    risk_answers: pd.DataFrame
    trajectory: TrajectoryModel | None


def read_change_input(file: Path, inst: Instrument) -> ChangeInput:
    """Read, check and score ``file`` for ``alliance change``; bad input exits 2."""
    frame = read_csv(file)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        fail(f"{file}: missing column {missing[0]!r} (needs {', '.join(REQUIRED)})")
    sessions, dates = _check_rows(file, frame)
    items = numeric_items(frame, inst)
    scored = score_or_fail(file, inst, items)
    check_item_columns(file, frame, inst, risk=True)
    # Risk items (PHQ-9 item 9) are read from the answers themselves: score_frame has already
    # checked every answer, so risk_flags cannot fail here.
    risk_columns = [r.link_id for r in inst.risk_items if r.link_id in items.columns]
    long = pd.DataFrame(
        {
            "client_id": frame["client_id"].to_numpy(),
            "session": sessions,
            "date": dates,
            "total": scored["total"].where(scored["valid"].astype(bool)).to_numpy(dtype=float),
        }
    )
    subscales = scored[[f"subscale_{s.name}" for s in inst.subscales]]
    return ChangeInput(long, subscales, items[risk_columns], _trajectory(long, inst))


def _check_rows(file: Path, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Validate client_id, session and date; return sessions (int) and dates (date)."""
    blank = frame["client_id"].isna()
    if blank.any():
        row = int(blank.to_numpy().nonzero()[0][0])
        fail(f"{file}, {line_label(row)}, column client_id: empty client id")
    sessions = pd.to_numeric(frame["session"], errors="coerce")
    bad = sessions.isna() | (sessions < 1) | (sessions % 1 != 0)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        fail(
            f"{file}, {line_label(row)}, column session: {_show(frame['session'].iloc[row])} "
            "is not a session number (1, 2, 3, …)"
        )
    dates = pd.to_datetime(frame["date"], errors="coerce", format="%Y-%m-%d")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().nonzero()[0][0])
        fail(
            f"{file}, {line_label(row)}, column date: {_show(frame['date'].iloc[row])} is not a "
            "date in YYYY-MM-DD form"
        )
    keys = pd.DataFrame({"client_id": frame["client_id"], "session": sessions})
    duplicated = keys.duplicated(keep="first")
    if duplicated.any():
        row = int(duplicated.to_numpy().nonzero()[0][0])
        client, session = frame["client_id"].iloc[row], int(sessions.iloc[row])
        first = int(
            ((keys["client_id"] == client) & (keys["session"] == session))
            .to_numpy()
            .nonzero()[0][0]
        )
        fail(
            f"{file}, {line_label(row)}, column session: client {client} has session {session} "
            f"twice (also line {first + 2})"
        )
    return sessions.astype(int), dates.dt.date


def _show(value: object) -> str:
    # pandas-stubs types isna() for its own scalar and array types only, not for object.
    return "an empty value" if pd.isna(value) else repr(value)  # type: ignore[call-overload]


def _float_or_none(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def _trajectory(long: pd.DataFrame, inst: Instrument) -> TrajectoryModel | None:
    if inst.kind != "outcome":
        return None
    valid = long[long["total"].notna()].rename(columns={"total": "score"})
    return fit_trajectories(valid[["client_id", "session", "score"]], inst)


def change_table(
    long: pd.DataFrame,
    risk_answers: pd.DataFrame,
    inst: Instrument,
    trajectory: TrajectoryModel | None,
) -> pd.DataFrame:
    """One row per client (in order of first appearance): baseline, latest, change and alerts.

    ``long`` has ``client_id``, ``session``, ``date`` and ``total`` (NaN when invalid), one row
    per administration; ``risk_answers`` the risk-item answers of the same rows. Whole-table
    array work: the change classification and the alert rules run once per distinct input
    (:func:`~alliance.measures.change.classify_instrument_changes`,
    :func:`~alliance.monitoring.cohort.latest_alert_kinds`), so the result is the
    one-client-at-a-time result (:func:`change_table_per_client`, kept as the reference the
    tests and ``bench/bench_change.py`` hold this to), in seconds for a million rows.
    """
    codes, clients = pd.factorize(long["client_id"], sort=False)
    sessions = long["session"].to_numpy(dtype=np.int64)
    totals = long["total"].to_numpy(dtype=float)
    kinds = latest_alert_kinds(
        inst,
        codes,
        sessions,
        totals,
        {c: risk_answers[c].tolist() for c in risk_answers.columns},
        trajectory=trajectory,
    )
    order = np.lexsort((sessions, codes))
    kept = order[~np.isnan(totals[order])]
    numbers = np.arange(len(clients))
    starts = np.searchsorted(codes[kept], numbers, side="left")
    ends = np.searchsorted(codes[kept], numbers, side="right")
    counts = (ends - starts).tolist()
    first = kept[np.minimum(starts, len(kept) - 1)].tolist() if len(kept) else [0] * len(clients)
    last = kept[np.maximum(ends - 1, 0)].tolist() if len(kept) else [0] * len(clients)
    session_list = sessions.tolist()
    total_list = totals.tolist()
    pairs = [i for i, n in enumerate(counts) if n >= 2]
    changes = dict(
        zip(
            pairs,
            classify_instrument_changes(
                inst, [total_list[first[i]] for i in pairs], [total_list[last[i]] for i in pairs]
            ),
            strict=True,
        )
    )
    rows = []
    for number, client in enumerate(clients.tolist()):
        out: dict[str, Any] = dict.fromkeys(OUTPUT_COLUMNS)
        out["client_id"] = client
        out["n_scores"] = counts[number]
        if counts[number]:
            out.update(
                baseline_session=session_list[first[number]],
                baseline=total_list[first[number]],
                latest_session=session_list[last[number]],
                latest=total_list[last[number]],
            )
        change = changes.get(number)
        if change is not None:
            out.update(
                change=change.change,
                rci=round(change.rci, 4),
                reliable_change=change.reliable_change,
                clinically_significant=change.clinically_significant,
                status=change.status,
            )
        out["alerts"] = ";".join(kinds[number])
        rows.append(out)
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def change_table_per_client(
    long: pd.DataFrame,
    subscales: pd.DataFrame,
    risk_answers: pd.DataFrame,
    inst: Instrument,
    trajectory: TrajectoryModel | None,
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """:func:`change_table` one client at a time: a :class:`Timeline` per client through
    :func:`classify_instrument_change` and :func:`evaluate_alerts`, as the command first did.

    Too slow for big files (about 2 ms a client); kept as the plain statement of what
    :func:`change_table` computes. ``subscales`` are the rows' ``subscale_<name>`` columns;
    ``limit`` stops after that many clients (to time it on a big file).
    """
    rows = [
        _client_row(
            client,
            group,
            subscales.loc[group.index],
            risk_answers.loc[group.index],
            inst,
            trajectory,
        )
        for client, group in itertools.islice(long.groupby("client_id", sort=False), limit)
    ]
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def _client_row(
    client: object,
    group: pd.DataFrame,
    subscales: pd.DataFrame,
    risk_answers: pd.DataFrame,
    inst: Instrument,
    trajectory: TrajectoryModel | None,
) -> dict[str, Any]:
    group = group.sort_values("session")
    points = []
    for index, session, when, total in zip(
        group.index, group["session"], group["date"], group["total"], strict=True
    ):
        values = {
            name.removeprefix("subscale_"): _float_or_none(subscales.at[index, name])
            for name in subscales.columns
        }
        points.append(
            ScorePoint(
                session_number=int(session),
                date=when,
                instrument_id=inst.id,
                total=_float_or_none(total),
                subscales=values,
                risk=risk_flags(inst, {c: risk_answers.at[index, c] for c in risk_answers.columns}),
            )
        )
    timeline = Timeline(str(client), points)
    valid = timeline.series(inst.id)
    out: dict[str, Any] = dict.fromkeys(OUTPUT_COLUMNS)
    out["client_id"] = client
    out["n_scores"] = len(valid)
    if valid:
        first, last = valid[0], valid[-1]
        out.update(
            baseline_session=first.session_number,
            baseline=first.total,
            latest_session=last.session_number,
            latest=last.total,
        )
    if len(valid) >= 2:
        assert valid[0].total is not None
        assert valid[-1].total is not None
        result = classify_instrument_change(inst, valid[0].total, valid[-1].total)
        out.update(
            change=result.change,
            rci=round(result.rci, 4),
            reliable_change=result.reliable_change,
            clinically_significant=result.clinically_significant,
            status=result.status,
        )
    alerts = evaluate_alerts(timeline, {inst.id: inst}, trajectory=trajectory)
    out["alerts"] = ";".join(dict.fromkeys(a.kind for a in alerts))
    return out
