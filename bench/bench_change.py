"""Benchmark ``alliance change`` on a 50 MB PHQ-9 file (about 1.3 million rows).

Usage: ``.venv/bin/python bench/bench_change.py [--clients 100000] [--subsample 1000] [--seed 5]``

Writes a long CSV to a temporary folder: ``--clients`` simulated clients with 1–25 sessions
each (about 13 on average), a PHQ-9 response per session drifting down from an intake score,
about 1 % of answers missing and item 9 endorsed now and then. Then:

* ``alliance change phq9 FILE -o OUT.csv`` end to end, in a fresh process (wall-clock);
* in this process, on the same file: reading and scoring it and fitting the trajectory model
  (shared by both paths), then the whole-table :func:`change_table`;
* the old per-client path (:func:`change_table_per_client`, a Timeline and the alert rules per
  client, each client's rows picked out of the whole table) on the first ``--subsample``
  clients only, with the same trajectory model, checked equal to :func:`change_table` on
  those clients, and **extrapolated** to every client.

Aim (issue 9): the 50 MB file in under 20 s (it did not finish in 300 s before).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from alliance.cli.monitoring import change_table, change_table_per_client, read_change_input
from alliance.measures.registry import load_instrument

CLI = "import sys; from alliance.cli import app; sys.argv = ['alliance', *sys.argv[1:]]; app()"


def make_file(path: Path, clients: int, seed: int) -> int:
    """Write the simulated clinic; return its number of rows."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 26, clients)
    client = np.repeat(np.arange(clients), counts)
    session = np.concatenate([np.arange(1, n + 1) for n in counts])
    intake = rng.uniform(5, 27, clients)[client]
    slope = rng.normal(-3, 2, clients)[client]
    level = np.clip(intake + slope * np.log(session) + rng.normal(0, 2, len(client)), 0, 27)
    # Nine answers 0–3 that add up to about the level.
    answers = np.clip(np.round(level[:, None] / 9 + rng.normal(0, 0.6, (len(client), 9))), 0, 3)
    frame = pd.DataFrame(
        {
            "client_id": pd.Series(client).map(lambda c: f"c{c:06d}"),
            "session": session,
            "date": (
                np.datetime64("2023-01-02") + (session * 7 + rng.integers(0, 3, len(client)))
            ).astype("datetime64[D]"),
        }
    )
    for i in range(9):
        column = pd.array(answers[:, i].astype(int), dtype="Int64")
        column[rng.random(len(client)) < 0.01] = pd.NA
        frame[f"phq9_{i + 1}"] = column
    frame = frame.sample(frac=1.0, random_state=seed).sort_values("date", kind="stable")
    frame.to_csv(path, index=False)
    return len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--subsample", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")
    inst = load_instrument("phq9")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "phq9.csv"
        rows = make_file(source, args.clients, args.seed)
        print(
            f"input: {source.stat().st_size / 1e6:.1f} MB, {rows:,} rows, {args.clients:,} clients"
        )

        env = dict(os.environ)
        src = str(Path(__file__).resolve().parents[1] / "src")
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        out = Path(folder) / "out.csv"
        start = time.perf_counter()
        command = [sys.executable, "-c", CLI, "change", "phq9", str(source), "-o", str(out)]
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        end_to_end = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(done.stderr[-2000:])
        print(f"alliance change end to end: {end_to_end:.1f} s ({done.stderr.strip()})")

        start = time.perf_counter()
        inputs = read_change_input(source, inst)
        shared = time.perf_counter() - start
        print(f"  of which read, check, score, fit trajectories: {shared:.1f} s (in this process)")
        start = time.perf_counter()
        table = change_table(inputs.long, inputs.risk_answers, inst, inputs.trajectory)
        whole = time.perf_counter() - start
        print(f"  change_table (whole table): {whole:.2f} s for {len(table):,} clients")

        # The old path on the first clients of the whole file (its per-client cost includes
        # picking each client's rows out of the whole table, as it did in the command).
        start = time.perf_counter()
        slow = change_table_per_client(
            inputs.long,
            inputs.subscales,
            inputs.risk_answers,
            inst,
            inputs.trajectory,
            limit=args.subsample,
        )
        per_client = (time.perf_counter() - start) / len(slow)
        # (the whole table may hold clients without a valid score, so compare values only)
        pd.testing.assert_frame_equal(
            table.iloc[: len(slow)], slow, check_exact=True, check_dtype=False
        )
        old = per_client * len(table)
        print(
            f"old per-client path: {per_client * 1e3:.2f} ms a client on {len(slow):,} clients "
            f"(equal to change_table on them); extrapolated to {len(table):,}: {old:.0f} s"
        )
        print(
            f"speed-up of change_table over the per-client path: {old / whole:.0f}x; "
            f"end to end, old extrapolated {shared + old:.0f} s vs {end_to_end:.1f} s now"
        )
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
