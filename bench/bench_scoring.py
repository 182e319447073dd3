"""Benchmark: score 1,000,000 PHQ-9 responses with the vectorised ``score_frame`` and compare
with a plain per-row Python loop over ``score_response`` in the same run.

The per-row loop is timed on a subsample (default 20,000 rows) and extrapolated to the full
size — timing a million single calls would take a minute and tell us nothing more. The
subsample's results are also checked against the batch results.

    .venv/bin/python bench/bench_scoring.py [--rows 1000000] [--loop-rows 20000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import pandas as pd

from alliance.measures.registry import load_instrument
from alliance.measures.scoring import score_frame, score_response


def make_responses(rows: int, seed: int = 2026, missing_rate: float = 0.01) -> pd.DataFrame:
    """Random PHQ-9 answers (0-3) with about 1 % of answers missing, plus an id column."""
    rng = np.random.default_rng(seed)
    answers = rng.integers(0, 4, size=(rows, 9)).astype(np.float64)
    answers[rng.random((rows, 9)) < missing_rate] = np.nan
    frame = pd.DataFrame(answers, columns=[f"phq9_{i}" for i in range(1, 10)])
    frame.insert(0, "client_id", np.arange(rows))
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--loop-rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    phq9 = load_instrument("phq9")
    frame = make_responses(args.rows)
    score_frame(phq9, frame.head(1000))  # warm caches and imports

    batch_times, cpu_times = [], []
    for _ in range(args.repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        scored = score_frame(phq9, frame)
        batch_times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    batch = min(batch_times)

    sample = frame.head(args.loop_rows)
    records = sample.drop(columns="client_id").to_dict("records")
    answers = [{k: (None if v != v else int(v)) for k, v in r.items()} for r in records]
    start, cpu_start = time.perf_counter(), time.process_time()
    singles = [score_response(phq9, a) for a in answers]
    loop = time.perf_counter() - start
    loop_cpu = time.process_time() - cpu_start
    loop_full = loop * args.rows / len(answers)

    # sanity: the batch agrees with the loop on the subsample
    totals = scored["total"].to_numpy()[: len(singles)]
    expected = np.array([np.nan if s.total is None else s.total for s in singles])
    assert np.array_equal(totals, expected, equal_nan=True), "batch and loop disagree"

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"responses: {args.rows:,} PHQ-9 (≈1 % answers missing); valid: "
        f"{int(scored['valid'].sum()):,}"
    )
    print(
        f"score_frame (vectorised): {batch:.3f} s best of {args.repeat} "
        f"(all: {', '.join(f'{t:.3f}' for t in batch_times)}) → "
        f"{args.rows / batch:,.0f} responses/s"
    )
    print(
        f"per-row loop (score_response): {loop:.3f} s for {len(answers):,} rows → "
        f"{len(answers) / loop:,.0f} responses/s; extrapolated to {args.rows:,}: "
        f"{loop_full:.1f} s"
    )
    print(f"speed-up of score_frame over the per-row loop: {loop_full / batch:.0f}× wall-clock")
    # On a shared machine wall time includes waiting for a core; CPU time does not.
    cpu = min(cpu_times)
    print(
        f"CPU time: score_frame {cpu:.3f} s (best of {args.repeat}); per-row loop "
        f"{loop_cpu * args.rows / len(answers):.1f} s extrapolated; "
        f"ratio {loop_cpu * args.rows / len(answers) / cpu:.0f}×"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average during the run: {load:.1f}")


if __name__ == "__main__":
    main()
