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

from pathlib import Path
from typing import Any

import pandas as pd
import typer

from alliance.cli._common import fail
from alliance.cli._tables import (
    check_item_columns,
    check_output,
    instrument,
    line_label,
    numeric_items,
    read_csv,
    score_or_fail,
    write_table,
)
from alliance.measures.change import classify_instrument_change
from alliance.measures.instrument import Instrument
from alliance.measures.scoring import risk_flags
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories
from alliance.monitoring.alerts import evaluate_alerts
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
        metavar="FILE.csv",
        help="Long format: client_id, session, date (YYYY-MM-DD) and a column per item linkId.",
    ),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Write OUT.csv or OUT.json instead of CSV on stdout."
    ),
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
    check_output(output)
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
    subscales = [f"subscale_{s.name}" for s in inst.subscales]
    trajectory = _trajectory(long, inst)
    rows = [
        _client_row(
            client,
            group,
            scored.loc[group.index, subscales],
            items.loc[group.index, risk_columns],
            inst,
            trajectory,
        )
        for client, group in long.groupby("client_id", sort=False)
    ]
    result = pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))
    write_table(result, output)
    if output is None:
        return
    typer.echo(f"{len(result)} clients -> {output}", err=True)


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
