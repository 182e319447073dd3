"""How many alerts a therapist gets per real concern, one alert per signal against one per
concern, on simulated clinics.

Each simulated clinic has ``--clients`` clients with ``--sessions`` weekly sessions each.
After every session the monitoring rules run on the client's timeline (exactly as the app
runs them: :func:`alliance.monitoring.alerts.evaluate_alerts`), and what they raise is stored
twice, in two in-memory desks:

* **before** — the rules as they were before issue 11 (:data:`BEFORE`): the fit check at every
  low, flat session from session 3 on (``fit_check_until_session=None``), a rupture once a
  client has 3 earlier scores whenever the drop passes 2 of their SDs and one S_diff
  (``rupture_floor_sdiff=1.0``), "not on track" at the first score off the expected course
  (``not_on_track_consecutive=1``), every relationship signal alerting on its own
  (``weak_signals_need_support=False``), and one alert per rule and instrument
  (:func:`alliance.monitoring.concerns.plan_alerts` with ``by="signal"``, the grouping the app
  used before concerns);
* **after** — today's defaults: the fit check once per episode inside sessions 3–5, a rupture
  floor at the RCI's 1.96 · S_diff, "not on track" at the second score in a row off the
  course, weak relationship signals (a session-rating dip or low rating, a "not sure", an
  alliance fall no larger than 2.58 · S_diff) only when another source backs them up at the
  same session, and one alert per concern (``by="concern"``).

The generative model (every parameter is printed at the start of a run):

* **Alliance** (WAI-SR, mean of 12 items, 1–5): a client's true level starts at
  N(``alliance_mean``, ``alliance_sd``) clipped to [2.0, 4.8] and grows by ``alliance_growth``
  per session. A **true rupture** starts at any session from 2 on with probability
  ``rupture_rate`` per session (at most ``max_ruptures`` per client, not during another): the
  true level drops by U(``rupture_depth``) for 1–``rupture_length`` sessions, then returns to
  its path. Each administration adds N(0, ``alliance_noise``) (the WAI-SR's standard error of
  measurement, 0.7·√0.1 ≈ 0.22), rounded to 1/12 (a mean of 12 answers).
* **Session rating** (the session-feedback form, 0–10): 10 − ``rating_slope`` × (5 − true
  alliance) (session ratings sit near the top of their scale: 8 at an alliance of 3.7), plus
  N(0, ``rating_noise``), clipped, rounded to 1/3 (a mean of 3 answers). **"Is this a good fit
  for you?"**: during a rupture "no" with probability ``fit_no_in_rupture`` and "not sure"
  with ``fit_unsure_in_rupture``; otherwise "not sure" with ``fit_unsure_otherwise``, else
  "yes".
* **Outcome** (PHQ-9, 0–27): intake U(``phq_intake``); a responder's true score falls
  towards ``responder_floor`` × intake at ``responder_rate`` per session. A share
  ``deteriorate_share`` of clients **truly deteriorate**: from a session U(3, 8) on their true
  score rises by ``deteriorate_step`` per session (up to +``deteriorate_max``); a share
  ``flat_share`` are **non-responders** whose true score stays at intake. Each administration
  adds N(0, ``phq_noise``) (PHQ-9 SEM ≈ 6.52·√0.11 ≈ 2.2), rounded, clipped.
* **Attendance**: every session is missed with probability ``miss_rate``; a share
  ``dropout_share`` of clients stop coming from a session U(5, 10) on (every later session
  missed). A missed session has no scores. The daily sweep is not simulated (no open gap).
* **Risk** answers are not simulated: a risk alert is its own alert in both groupings.

True concerns, and when each starts (its onset): each true rupture (its first session); each
true deterioration (its first worse session); each non-responder (session 4, the first at
which an expected course can tell no change from slow change); each run of two or more missed
sessions (its second miss). A true concern is **detected** when, within ``detect_within``
sessions of its onset, the desk holds an unresolved alert of its concern (alliance, outcome,
attendance; :func:`alliance.monitoring.concerns.concern_of`) with a reason from a session at
or after the onset (raised, re-opened or updated with that evidence). Sessions to detection
count from the onset (0 = on the desk right after the session where it started).

The therapist (the same in both): after each session, acknowledges every open alert and
resolves every alert the rules no longer raise (none of its reasons fires on the latest
state: the concern is over). **Alerts raised** counts every time an alert is put in
front of the therapist: a new alert, a resolved one re-opened, an acknowledged one set back to
open; **unfounded** counts those of a concern the client truly has none of (alliance alerts of a
client without a true rupture, and so on).

After the summary table, each grouping's alerts are broken down by concern, by how they were
put in front of the therapist (new, re-opened, back to open) and by the rule behind them (the
most urgent reason from that session), the most unfounded first, with detection per kind of
true concern: where the remaining burden comes from.

    .venv/bin/python eval/alert_burden.py [--clinics 10] [--clients 100] [--sessions 12]
        [--seed 11] [--after SETTING=VALUE ...]

``--after`` runs the new rules with a clinic's own alert settings (e.g.
``--after not_on_track_consecutive=2``); "before" always keeps today's defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from alliance.measures.instrument import Instrument
from alliance.measures.registry import load_instrument
from alliance.measures.trajectory import TrajectoryModel, fit_trajectories
from alliance.monitoring.alerts import Alert, AlertSettings, evaluate_alerts
from alliance.monitoring.concerns import (
    AlertChange,
    Grouping,
    Signal,
    StoredAlert,
    concern_of,
    group_signals,
    plan_alerts,
)
from alliance.monitoring.timeline import Attendance, FitAnswer, ScorePoint, Timeline

START = date(2025, 1, 6)
#: The rules as they were before issue 11: the fit check at every low, flat session from
#: session 3 on, a rupture floor of one S_diff, not on track at the first score off the course.
BEFORE = AlertSettings(
    fit_check_until_session=None,
    rupture_floor_sdiff=1.0,
    not_on_track_consecutive=1,
    weak_signals_need_support=False,
)


@dataclass(frozen=True)
class Model:
    """The generative model's parameters (see the module docstring)."""

    alliance_mean: float = 3.7
    alliance_sd: float = 0.4
    alliance_growth: float = 0.03
    alliance_noise: float = 0.22
    rupture_rate: float = 0.04
    max_ruptures: int = 2
    rupture_depth: tuple[float, float] = (0.8, 1.5)
    rupture_length: int = 3
    rating_slope: float = 1.5
    rating_noise: float = 0.8
    fit_no_in_rupture: float = 0.4
    fit_unsure_in_rupture: float = 0.3
    fit_unsure_otherwise: float = 0.03
    phq_intake: tuple[int, int] = (10, 22)
    responder_floor: float = 0.5
    responder_rate: float = 0.2
    deteriorate_share: float = 0.10
    deteriorate_step: float = 1.5
    deteriorate_max: float = 9.0
    flat_share: float = 0.15
    phq_noise: float = 2.0
    miss_rate: float = 0.06
    dropout_share: float = 0.05
    detect_within: int = 3


@dataclass(frozen=True)
class TrueConcern:
    concern: str  # alliance | outcome | attendance
    onset: int
    what: str


@dataclass
class Client:
    timeline_points: list[ScorePoint] = field(default_factory=list)
    attendance: list[Attendance] = field(default_factory=list)
    fits: list[FitAnswer] = field(default_factory=list)
    concerns: list[TrueConcern] = field(default_factory=list)


def _day(session: int) -> date:
    return START + timedelta(days=7 * (session - 1))


def simulate_client(rng: random.Random, model: Model, sessions: int) -> Client:
    """One client's course: what they answer at each session and their true concerns."""
    client = Client()
    base = min(max(rng.gauss(model.alliance_mean, model.alliance_sd), 2.0), 4.8)
    drop = [0.0] * (sessions + 1)
    in_rupture = [False] * (sessions + 1)
    ruptures = 0
    number = 2
    while number <= sessions:
        if ruptures < model.max_ruptures and rng.random() < model.rupture_rate:
            depth = rng.uniform(*model.rupture_depth)
            length = rng.randint(1, model.rupture_length)
            for s in range(number, min(sessions, number + length - 1) + 1):
                drop[s] = depth
                in_rupture[s] = True
            client.concerns.append(TrueConcern("alliance", number, "rupture"))
            ruptures += 1
            number += length + 1  # back on its path for at least one session
            continue
        number += 1
    intake = rng.randint(*model.phq_intake)
    course = rng.random()
    deteriorates = course < model.deteriorate_share
    flat = model.deteriorate_share <= course < model.deteriorate_share + model.flat_share
    worse_from = rng.randint(3, 8)
    if deteriorates:
        client.concerns.append(TrueConcern("outcome", worse_from, "deterioration"))
    if flat:
        client.concerns.append(TrueConcern("outcome", 4, "no response"))
    stop_from = rng.randint(5, 10) if rng.random() < model.dropout_share else sessions + 1
    run = 0
    for s in range(1, sessions + 1):
        missed = s > 1 and (s >= stop_from or rng.random() < model.miss_rate)
        client.attendance.append(Attendance(s, _day(s), "missed" if missed else "attended"))
        if missed:
            run += 1
            if run == 2:
                client.concerns.append(TrueConcern("attendance", s, "missed sessions"))
            continue
        run = 0
        alliance = min(base + model.alliance_growth * (s - 1), 5.0) - drop[s]
        wai = _clip(round((alliance + rng.gauss(0, model.alliance_noise)) * 12) / 12, 1, 5)
        rating = 10 - model.rating_slope * (5 - alliance) + rng.gauss(0, model.rating_noise)
        rating = _clip(round(rating * 3) / 3, 0, 10)
        if deteriorates:
            true_phq = intake + min(
                model.deteriorate_max, model.deteriorate_step * max(0, s - worse_from + 1)
            )
        elif flat:
            true_phq = float(intake)
        else:
            floor = model.responder_floor * intake
            true_phq = floor + (intake - floor) * math.exp(-model.responder_rate * (s - 1))
        phq = _clip(round(true_phq + rng.gauss(0, model.phq_noise)), 0, 27)
        for instrument_id, total in (("wai_sr", wai), ("session_feedback", rating), ("phq9", phq)):
            client.timeline_points.append(ScorePoint(s, _day(s), instrument_id, float(total)))
        draw = rng.random()
        if in_rupture[s]:
            answer = (
                "no"
                if draw < model.fit_no_in_rupture
                else "not_sure"
                if draw < model.fit_no_in_rupture + model.fit_unsure_in_rupture
                else "yes"
            )
        else:
            answer = "not_sure" if draw < model.fit_unsure_otherwise else "yes"
        client.fits.append(FitAnswer(s, _day(s), answer))  # type: ignore[arg-type]
    return client


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


@dataclass
class Desk:
    """One client's stored alerts under one grouping, with what the therapist did."""

    by: Grouping
    stored: dict[int, StoredAlert] = field(default_factory=dict)
    raised: int = 0
    raised_for: list[str] = field(default_factory=list)  # the concern of each alert raised
    #: how each alert raised came about: (concern, how, rule), in the order of ``raised_for``
    raised_how: list[tuple[str, str, str]] = field(default_factory=list)
    shown: list[tuple[int, str, int]] = field(
        default_factory=list
    )  # (after session, concern, evidence session)

    def refresh(self, alerts: Sequence[Alert], kinds: Mapping[str, str], after: int) -> None:
        """Store what the rules raised after session ``after``; then the therapist acts."""
        concerns = group_signals(alerts, kinds, by=self.by)
        for change in plan_alerts(concerns, list(self.stored.values()), by=self.by):
            before = self.stored.get(change.target) if change.target is not None else None
            alert_id = change.target if change.target is not None else len(self.stored) + 1
            self.stored[alert_id] = StoredAlert(
                alert_id, change.concern.key, change.status, change.signals
            )
            if change.op in ("raise", "reopen") or (
                before is not None and before.status == "acknowledged" and change.status == "open"
            ):
                self.raised += 1
                self.raised_for.append(change.concern.concern)
                how = "new" if change.op == "raise" else change.op
                if change.op == "update":
                    how = "back to open"
                self.raised_how.append((change.concern.concern, how, _trigger(change, after)))
        # On the desk now: every unresolved alert, with the concern and session of each reason.
        for alert in self.stored.values():
            if alert.status != "resolved":
                for signal in alert.signals:
                    self.shown.append((after, _concern(signal, kinds), signal.session_number))
        self._therapist({c.key for c in concerns})

    def _therapist(self, firing: set[str]) -> None:
        """Acknowledge what is open; resolve what the rules no longer raise."""
        for alert_id, alert in list(self.stored.items()):
            if alert.status == "resolved":
                continue
            if alert.key not in firing:
                self.stored[alert_id] = dataclasses.replace(alert, status="resolved")
            elif alert.status == "open":
                self.stored[alert_id] = dataclasses.replace(alert, status="acknowledged")


def _trigger(change: AlertChange, after: int) -> str:
    """The rule behind an alert put in front of the therapist: the most urgent of the reasons
    from this session (the new evidence), as ``kind on instrument``."""
    fresh = [s for s in change.signals if s.session_number == after] or list(change.signals)
    lead = fresh[0]
    return lead.kind + (f" on {lead.instrument_id}" if lead.instrument_id else "")


def _concern(signal: Signal, kinds: Mapping[str, str]) -> str:
    return concern_of(signal.kind, kinds.get(signal.instrument_id or ""))


@dataclass
class Tally:
    raised: int = 0
    unfounded: int = 0
    concerns: int = 0
    detected: int = 0
    delays: list[int] = field(default_factory=list)
    #: alerts raised, and those unfounded, by (concern, how raised, rule)
    raised_by: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    unfounded_by: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    #: true concerns and those detected, by what they are (rupture, deterioration …)
    concerns_by: Counter[str] = field(default_factory=Counter)
    detected_by: Counter[str] = field(default_factory=Counter)


def run_client(
    client: Client,
    sessions: int,
    instruments: Mapping[str, Instrument],
    trajectory: Mapping[str, TrajectoryModel],
    tallies: Mapping[str, Tally],
    model: Model,
    after_settings: AlertSettings | None = None,
) -> None:
    kinds = {i: inst.kind for i, inst in instruments.items()}
    setups = {
        "before": (BEFORE, Desk("signal")),
        "after": (after_settings or AlertSettings(), Desk("concern")),
    }
    for after in range(1, sessions + 1):
        timeline = Timeline(
            "sim",
            [p for p in client.timeline_points if p.session_number <= after],
            [a for a in client.attendance if a.session_number <= after],
            [f for f in client.fits if f.session_number <= after],
        )
        for settings, desk in setups.values():
            desk.refresh(evaluate_alerts(timeline, instruments, settings, trajectory), kinds, after)
    for name, (_settings, desk) in setups.items():
        tally = tallies[name]
        tally.raised += desk.raised
        true_kinds = {c.concern for c in client.concerns}
        for concern_name, how in zip(desk.raised_for, desk.raised_how, strict=True):
            tally.raised_by[how] += 1
            if concern_name not in true_kinds:
                tally.unfounded += 1
                tally.unfounded_by[how] += 1
        tally.concerns += len(client.concerns)
        for concern in client.concerns:
            hits = [
                shown_after - concern.onset
                for shown_after, kind, evidence in desk.shown
                if kind == concern.concern
                and evidence >= concern.onset
                and concern.onset <= shown_after <= concern.onset + model.detect_within
            ]
            tally.concerns_by[concern.what] += 1
            if hits:
                tally.detected += 1
                tally.detected_by[concern.what] += 1
                tally.delays.append(min(hits))


def _setting(text: str) -> tuple[str, object]:
    """``name=value`` → (name, value), the value read as JSON where it parses (numbers,
    true/false, null), else kept as text."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--after {text!r}: expected SETTING=VALUE")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clinics", type=int, default=10)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--after",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="an alert setting for the 'after' rules (a clinic's choice), e.g. "
        "not_on_track_consecutive=2; repeatable",
    )
    args = parser.parse_args(argv)
    try:
        after_settings = AlertSettings.model_validate(dict(_setting(text) for text in args.after))
    except ValueError as exc:
        parser.error(f"--after: {exc}")
    model = Model()
    print(
        f"alert burden: {args.clinics} simulated clinics × {args.clients} clients × "
        f"{args.sessions} weekly sessions, seed {args.seed}"
    )
    print(
        "generative model: "
        + ", ".join(f"{f.name}={getattr(model, f.name)}" for f in dataclasses.fields(model))
    )
    if args.after:
        print("'after' settings: " + ", ".join(args.after))
    instruments = {i: load_instrument(i) for i in ("wai_sr", "session_feedback", "phq9")}
    empty = pd.DataFrame({"client_id": [], "session": [], "score": []})
    trajectory = {"phq9": fit_trajectories(empty, instruments["phq9"])}  # the rational fallback
    tallies = {"before": Tally(), "after": Tally()}
    rng = random.Random(args.seed)
    for _clinic in range(args.clinics):
        for _client in range(args.clients):
            client = simulate_client(rng, model, args.sessions)
            run_client(
                client, args.sessions, instruments, trajectory, tallies, model, after_settings
            )
    per = 100 / (args.clinics * args.clients)
    print(f"\nper 100 clients × {args.sessions} sessions (mean of {args.clinics} clinics):")
    print(
        f"{'':8}{'alerts raised':>14}{'of them unfounded':>19}{'true concerns':>15}"
        f"{'alerts/concern':>16}{'detection':>11}{'median sessions to detection':>30}"
    )
    for name, t in tallies.items():
        median = statistics.median(t.delays) if t.delays else float("nan")
        print(
            f"{name:8}{t.raised * per:>14.1f}{t.unfounded * per:>19.1f}{t.concerns * per:>15.1f}"
            f"{t.raised / t.concerns:>16.2f}{t.detected / t.concerns:>11.1%}{median:>30.1f}"
        )
    print(
        "(unfounded: an alert of a concern the client truly has none of: measurement noise, or "
        "a 'not sure'\n outside a rupture)"
    )
    for name, t in tallies.items():
        print(
            f"\n{name}: alerts raised per 100 clients by concern, how raised (new, a resolved "
            "one re-opened, an acknowledged one\nback to open) and the rule behind it (the most "
            "urgent reason from that session), the most unfounded first:"
        )
        print(f"{'raised':>8}{'unfounded':>11}  {'concern':<11}{'how':<14}rule")
        rows = sorted(t.raised_by, key=lambda k: (-t.unfounded_by[k], -t.raised_by[k], k))
        for key in rows[:10]:
            concern_name, how, rule = key
            print(
                f"{t.raised_by[key] * per:>8.1f}{t.unfounded_by[key] * per:>11.1f}  "
                f"{concern_name:<11}{how:<14}{rule}"
            )
        if rows[10:]:
            rest = rows[10:]
            print(
                f"{sum(t.raised_by[k] for k in rest) * per:>8.1f}"
                f"{sum(t.unfounded_by[k] for k in rest) * per:>11.1f}  (the other {len(rest)})"
            )
        print(
            "detected: "
            + ", ".join(
                f"{what} {t.detected_by[what]}/{n} ({t.detected_by[what] / n:.1%})"
                for what, n in sorted(t.concerns_by.items())
            )
        )
    before, now = tallies["before"], tallies["after"]
    ratio = now.detected / before.detected if before.detected else float("nan")
    # The last line rounds to whole per cent; the counts say on which side of an aim it falls.
    print(
        f"\ndetected {now.detected} of {now.concerns} true concerns (before {before.detected}): "
        f"{ratio:.1%} of before"
    )
    print(
        f"alert burden: {now.raised / now.concerns:.2f} alerts per true concern "
        f"(before {before.raised / before.concerns:.2f}); detection {ratio:.0%} of before"
    )


if __name__ == "__main__":
    main()
