"""Benchmark session analysis: coder throughput per backend, one ~400-turn session end to end,
and peak memory — each backend measured in its own fresh process.

    .venv/bin/python bench/bench_analysis.py             # all of it
    .venv/bin/python bench/bench_analysis.py --quick     # fewer repetitions

The session is built in memory from AnnoMI transcripts (../shared/data/annomi, turns in their
original order, consecutive transcripts joined until ~400 turns) as a WebVTT file, so parsing
is part of the end-to-end time; without the data, the project's own sample transcripts are
cycled instead. The baseline in the same run is the transparent part alone (parse, talk,
markers, summary — no trained model): the ratio says what the models cost on top. The
accurate run includes the model-based rupture markers (as ``Analyzer.load`` does) and also
times the session without them.
Aims (issue 4): accurate backend under 5 s per ~400-utterance session; fast backend over
20,000 utterances/s. Each backend runs with both coding units (issue 12): ``turns`` (each turn
coded whole) and ``segments`` (each turn split, turn and segments coded, folded back —
``alliance.analysis.pipeline.code_segments``); throughput counts *turns* coded per second,
so the two are comparable (issue 12's aim: ≥ 150/s for the accurate backend on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ANNOMI = ROOT.parent / "shared" / "data" / "annomi" / "AnnoMI-simple.csv"
SAMPLES = ROOT / "tests" / "data" / "transcripts"
TARGET_TURNS = 400


def _clock(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


def session_vtt(turns: int = TARGET_TURNS) -> tuple[str, str]:
    """A WebVTT session of about ``turns`` turns and where its text came from."""
    rows: list[tuple[str, str]] = []
    source = ""
    if ANNOMI.is_file():
        import pandas as pd

        frame = pd.read_csv(ANNOMI)
        frame = frame.sort_values(["transcript_id", "utterance_id"])
        for _, row in frame.iterrows():
            speaker = "Therapist" if row["interlocutor"] == "therapist" else "Client"
            rows.append((speaker, str(row["utterance_text"])))
            if len(rows) >= turns and rows[-1][0] != rows[-2][0]:
                break
        source = f"AnnoMI ({ANNOMI.name}), first {len(rows)} utterances in transcript order"
    else:
        from alliance.transcripts import parse_transcript

        pool = []
        for path in sorted(SAMPLES.iterdir()):
            t = parse_transcript(path.read_bytes(), filename=path.name)
            pool += [
                ("Therapist" if u.role == "therapist" else "Client", u.text) for u in t.utterances
            ]
        while len(rows) < turns:
            rows.extend(pool)
        rows = rows[:turns]
        source = "the project's sample transcripts, cycled"
    lines = ["WEBVTT", ""]
    clock = 0.0
    for i, (speaker, text) in enumerate(rows, start=1):
        duration = max(1.0, len(text.split()) / 2.6)  # ~155 words per minute
        lines += [
            str(i),
            f"{_clock(clock)} --> {_clock(clock + duration)}",
            f"<v {speaker}>{text}",
            "",
        ]
        clock += duration + 0.6
    return "\n".join(lines), source


def child(spec: str, repeats: int) -> dict[str, object]:
    """Run in a fresh process: load, measure, report peak memory of this process.

    ``spec`` is ``baseline`` or ``BACKEND:UNITS`` (``accurate:segments``)."""
    from alliance.analysis.classifiers import build_context, load_coder, load_empathy_model
    from alliance.analysis.miti import load_miti_coder
    from alliance.analysis.pipeline import Analyzer, analyze_transcript, code_segments
    from alliance.analysis.report import render_html
    from alliance.analysis.ruptures import load_rupture_model
    from alliance.transcripts import parse_transcript

    text, _ = session_vtt()
    data = text.encode("utf-8")
    backend, _, units = spec.partition(":")
    units = units or "turns"
    out: dict[str, object] = {"backend": backend, "units": units}

    if backend == "baseline":
        start = time.perf_counter()
        for _ in range(repeats):
            transcript = parse_transcript(data, filename="bench.vtt", max_bytes=10**8)
            analyze_transcript(transcript, coder=None)
        out["session_seconds"] = (time.perf_counter() - start) / repeats
        out["utterances"] = len(transcript.utterances)
        start = time.perf_counter()
        render_html(analyze_transcript(transcript, coder=None))
        out["html_first_seconds"] = time.perf_counter() - start
        start = time.perf_counter()
        render_html(analyze_transcript(transcript, coder=None))
        out["html_warm_seconds"] = time.perf_counter() - start
    else:
        start = time.perf_counter()
        coder = load_coder(backend)  # type: ignore[arg-type]
        empathy = load_empathy_model()
        # As Analyzer.load does: the model-based rupture markers and the MITI heads run with the
        # accurate backend.
        ruptures = load_rupture_model() if backend == "accurate" else None
        miti = load_miti_coder() if backend == "accurate" else None
        out["load_seconds"] = time.perf_counter() - start
        out["empathy_model"] = empathy is not None
        out["rupture_model"] = ruptures is not None
        out["miti_heads"] = miti is not None
        transcript = parse_transcript(data, filename="bench.vtt", max_bytes=10**8)
        utts = transcript.utterances
        therapist = [
            (u.text, build_context([(p.role, p.text) for p in utts[max(0, i - 4) : i]]))
            for i, u in enumerate(utts)
            if u.role == "therapist"
        ]
        client = [
            (u.text, build_context([(p.role, p.text) for p in utts[max(0, i - 4) : i]]))
            for i, u in enumerate(utts)
            if u.role == "client"
        ]
        # Throughput: the same utterances coded repeatedly (fast needs many to time well).
        scale = 25 if backend == "fast" else 1
        t_texts = [t for t, _ in therapist] * scale
        t_ctx = [c for _, c in therapist] * scale
        c_texts = [t for t, _ in client] * scale
        c_ctx = [c for _, c in client] * scale
        coder.therapist_behaviour(t_texts[:50], t_ctx[:50])  # warm-up
        best = float("inf")
        best_cpu = float("inf")
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            if units == "segments":
                code_segments(coder.therapist_behaviour, "therapist", t_texts, t_ctx)
                code_segments(coder.client_talk, "client", c_texts, c_ctx)
            else:
                coder.therapist_behaviour(t_texts, t_ctx)
                coder.client_talk(c_texts, c_ctx)
            best = min(best, time.perf_counter() - start)
            best_cpu = min(best_cpu, time.process_time() - cpu)
        out["coded_utterances"] = len(t_texts) + len(c_texts)
        out["utterances_per_second"] = (len(t_texts) + len(c_texts)) / best
        out["coding_cpu_seconds"] = best_cpu
        analyzer = Analyzer(
            coder=coder,
            empathy=empathy,
            backend=backend,  # type: ignore[arg-type]
            ruptures=ruptures,
            miti=miti,
            units=units,  # type: ignore[arg-type]
        )
        times = []
        cpu_times = []
        for _ in range(repeats):
            start, cpu = time.perf_counter(), time.process_time()
            result = analyzer.analyze(parse_transcript(data, filename="bench.vtt", max_bytes=10**8))
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu)
        out["session_seconds"] = min(times)
        out["session_cpu_seconds"] = min(cpu_times)
        out["utterances"] = len(result.utterances)
        if empathy is not None:
            plain = Analyzer(
                coder=coder,
                empathy=None,
                backend=backend,  # type: ignore[arg-type]
                units=units,  # type: ignore[arg-type]
            )
            without = []
            for _ in range(repeats):
                start = time.perf_counter()
                plain.analyze(parse_transcript(data, filename="bench.vtt", max_bytes=10**8))
                without.append(time.perf_counter() - start)
            out["session_seconds_without_empathy"] = min(without)
        if ruptures is not None:
            rules_only = Analyzer(
                coder=coder,
                empathy=empathy,
                backend=backend,  # type: ignore[arg-type]
                miti=miti,
                units=units,  # type: ignore[arg-type]
            )
            without, without_cpu = [], []
            for _ in range(repeats):
                start, cpu = time.perf_counter(), time.process_time()
                rules_only.analyze(parse_transcript(data, filename="bench.vtt", max_bytes=10**8))
                without.append(time.perf_counter() - start)
                without_cpu.append(time.process_time() - cpu)
            out["session_seconds_without_ruptures"] = min(without)
            out["session_cpu_seconds_without_ruptures"] = min(without_cpu)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition instead of three")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--units", default="turns,segments", help="coding units to time: turns, segments or both"
    )
    parser.add_argument(
        "--backends", default="fast,accurate", help="backends to time: fast, accurate or both"
    )
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    if args.child:
        print(json.dumps(child(args.child, repeats)))
        return

    _, source = session_vtt()
    load = os.getloadavg()[0]
    print(f"cores: {os.cpu_count()}, load average at start {load:.1f}  session: {source}")
    if load > (os.cpu_count() or 1):
        print("note: the machine is busy; wall times include waiting for a core (CPU s shown)")
    results = {}
    specs = ["baseline"] + [
        f"{b.strip()}:{u.strip()}"
        for b in args.backends.split(",")
        if b.strip()
        for u in args.units.split(",")
        if u.strip()
    ]
    for spec in specs:
        cmd = [sys.executable, __file__, "--child", spec] + (["--quick"] if args.quick else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{spec}: failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        results[spec] = json.loads(done.stdout.strip().splitlines()[-1])

    base = results.get("baseline")
    if base:
        print(
            f"baseline (parse + talk + markers + summary, no model): "
            f"{base['session_seconds']:.3f} s for {base['utterances']} turns; "
            f"HTML report first {base['html_first_seconds']:.2f} s (chart engine start), "
            f"warm {base['html_warm_seconds']:.2f} s; peak RSS {base['peak_rss_mb']:.0f} MB"
        )
    for spec in specs[1:]:
        r = results.get(spec)
        if not r:
            continue
        ratio = r["session_seconds"] / base["session_seconds"] if base else float("nan")
        line = (
            f"{spec:18}: {r['utterances_per_second']:,.0f} utterances/s coded "
            f"({r['coded_utterances']} utterances, both coders, "
            f"{r['coding_cpu_seconds']:.2f} CPU s); "
            f"session of {r['utterances']} turns end to end {r['session_seconds']:.2f} s "
            f"({r['session_cpu_seconds']:.2f} CPU s; {ratio:.1f}× baseline); model load "
            f"{r['load_seconds']:.2f} s; empathy model {'on' if r['empathy_model'] else 'absent'}"
        )
        if "session_seconds_without_empathy" in r:
            line += f" (without it {r['session_seconds_without_empathy']:.2f} s)"
        if "session_seconds_without_ruptures" in r:
            extra = r["session_seconds"] / r["session_seconds_without_ruptures"]
            line += (
                f"; model-based rupture markers on (rules only "
                f"{r['session_seconds_without_ruptures']:.2f} s, "
                f"{r['session_cpu_seconds_without_ruptures']:.2f} CPU s: {extra:.2f}× with them)"
            )
        print(line + f"; peak RSS {r['peak_rss_mb']:.0f} MB")
    for units in ("turns", "segments"):
        fast, accurate = results.get(f"fast:{units}"), results.get(f"accurate:{units}")
        if fast and accurate:
            speedup = fast["utterances_per_second"] / accurate["utterances_per_second"]
            print(f"fast / accurate throughput ({units}): {speedup:.0f}×")
    for backend in ("fast", "accurate"):
        turns, segments = results.get(f"{backend}:turns"), results.get(f"{backend}:segments")
        if turns and segments:
            print(
                f"{backend} segments / turns: session time "
                f"{segments['session_seconds'] / turns['session_seconds']:.2f}×, coding CPU time "
                f"{segments['coding_cpu_seconds'] / turns['coding_cpu_seconds']:.2f}×"
            )
    print(
        "aims: accurate < 5 s per ~400-turn session and >= 150 utterances/s (both units); "
        "fast > 20,000 utterances/s"
    )


if __name__ == "__main__":
    main()
