"""Benchmark ``alliance match`` on a 50 MB input: peak memory (RSS) and time, new and old parse.

Usage: ``.venv/bin/python bench/bench_cli_inputs.py [--mb 49.9] [--intakes 10000] [--seed 7]``

Writes a matching file of about ``--mb`` MB (just under the default 50 MB limit,
``match_max_bytes``) to a temporary folder: 500 therapists, a queue of
``--intakes`` clients (the default 10,000 × 500 = 5,000,000 pairs is the default
``match_max_pairs`` limit, so this is the largest run the CLI accepts at default settings)
and past-client history rows filling the rest. Then, each in a fresh process so peak RSS is
that run's own:

* ``alliance match FILE -o OUT`` as shipped: the JSON text validated straight into the model;
* the old parse, in the same run: ``json.loads`` into dicts, then ``model_validate``, then
  the same ``run_matching`` and output;
* a queue-heavy file (``--queue-intakes`` clients, 500 therapists, no history), which
  the old CLI tried to match (about 50 bytes per intake × therapist pair in score matrices
  alone) and the CLI now refuses with the ``match_max_pairs`` message.

Peak RSS is the process's ``ru_maxrss``. Aim (issue 9): under 1 GB for a 50 MB input.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_matching import make_therapists  # a sibling bench script

NEW = """
import resource, sys
from alliance.cli import app
sys.argv = ["alliance", "match", sys.argv[1], "-o", sys.argv[2]]
try:
    app()
except SystemExit as exc:
    code = exc.code
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, code, file=sys.stderr)
"""

OLD = """
import json, resource, sys
from pathlib import Path
from alliance.matching import MatchingInput
from alliance.matching.assign import run_matching
raw = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8-sig"))
data = MatchingInput.model_validate(raw)
result = run_matching(data)
Path(sys.argv[2]).write_text(result.model_dump_json(indent=2) + "\\n", encoding="utf-8")
print("PEAK", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 0, file=sys.stderr)
"""


def _intake(rng: np.random.Generator, i: int) -> dict[str, object]:
    # Light intakes (what the queue of a big clinic mostly looks like); the generator in
    # bench_matching builds pydantic objects, too slow for 10,000 here.
    concerns = ["anxiety", "depression", "trauma", "stress", "grief", "sleep"]
    return {
        "id": f"c{i:06d}",
        "concerns": [concerns[int(rng.integers(len(concerns)))]],
        "languages": ["spanish"] if rng.random() < 0.08 else ["english"],
        "consent": True,
    }


def make_file(path: Path, megabytes: float, n_intakes: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    therapists = make_therapists(rng, 500)
    doc: dict[str, object] = {
        "version": 1,
        "alternatives": 3,
        "therapists": [t.model_dump(mode="json", exclude_none=True) for t in therapists],
        "intakes": [_intake(rng, i) for i in range(n_intakes)],
    }
    head = json.dumps(doc)
    row_bytes = 98  # one history row, compact JSON, with its separator
    n_history = max(0, int((megabytes * 1e6 - len(head)) / row_bytes))
    history = []
    for k in range(n_history):
        t = therapists[k % len(therapists)]
        history.append(
            {
                "therapist_id": t.id,
                "concern": t.specialties[k % len(t.specialties)],
                "intake_severity": round(float(rng.normal(14, 4)), 3),
                "improvement": round(float(rng.normal(5, 4)), 3),
            }
        )
    doc["history"] = history
    path.write_text(json.dumps(doc), encoding="utf-8")
    return {"therapists": 500, "intakes": n_intakes, "history": n_history}


def run(code: str, source: Path, out: Path, *, expect: int = 0) -> tuple[float, float, int, str]:
    """Peak RSS (MB), wall seconds, exit code and last stderr line of one fresh process."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, str(source), str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    line = next((x for x in done.stderr.splitlines() if x.startswith("PEAK ")), None)
    if line is None or not line.endswith(f" {expect}"):
        raise SystemExit(f"run failed:\n{done.stderr[-2000:]}")
    _, kib, exit_code = line.split()
    said = [x for x in done.stderr.splitlines() if not x.startswith("PEAK ")]
    return int(kib) / 1024, wall, int(exit_code), said[-1] if said else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=49.9)  # the 50 MB limit
    parser.add_argument("--intakes", type=int, default=10_000)
    parser.add_argument("--queue-intakes", type=int, default=140_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "clinic.json"
        counts = make_file(source, args.mb, args.intakes, args.seed)
        size = source.stat().st_size
        print(
            f"input: {size / 1e6:.1f} MB — {counts['therapists']} therapists, "
            f"{counts['intakes']:,} intakes ({counts['therapists'] * counts['intakes']:,} pairs), "
            f"{counts['history']:,} history rows"
        )
        new_mb, new_s, code, _ = run(NEW, source, Path(folder) / "new.json")
        print(
            f"alliance match (validate_json):   peak RSS {new_mb:7.0f} MB, {new_s:6.1f} s,"
            f" exit {code}"
        )
        old_mb, old_s, _, _ = run(OLD, source, Path(folder) / "old.json")
        print(f"old parse (json.loads + validate): peak RSS {old_mb:7.0f} MB, {old_s:6.1f} s")
        same = (Path(folder) / "new.json").read_bytes() == (Path(folder) / "old.json").read_bytes()
        print(f"ratio peak old / new: {old_mb / new_mb:.2f}x; same output: {same}")
        heavy = Path(folder) / "queue.json"
        rng = np.random.default_rng(args.seed)
        doc = json.loads(source.read_text("utf-8"))
        doc["history"] = []
        doc["intakes"] = [_intake(rng, i) for i in range(args.queue_intakes)]
        heavy.write_text(json.dumps(doc), encoding="utf-8")
        mb, seconds, code, said = run(NEW, heavy, Path(folder) / "q.json", expect=2)
        print(
            f"queue-heavy {heavy.stat().st_size / 1e6:.1f} MB ({args.queue_intakes:,} intakes): "
            f"refused, exit {code}, peak RSS {mb:.0f} MB, {seconds:.1f} s"
        )
        print(f"  {said}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
