"""How many real subtitle files nobody here wrote Alliance can read for analysis.

Walks a directory (default /work/fetched/subtitles: e.g. the test files of webvtt-py and
pysrt, a collection of WebVTT variants, Microsoft Teams transcripts) and reads every
``*.vtt`` and ``*.srt`` file with :func:`alliance.transcripts.parse_transcript` exactly as
``alliance analyze FILE`` does (bytes in, the file name as the format hint), then runs the
analysis on what parsed (the ``fast`` backend unless ``--backend accurate``). Per file it
prints ``parsed`` (turns, speakers, timing, warnings) or ``refused`` (the one-line reason,
with its line number); a file counts as analysed when it parsed and the analysis ran. Where
the models are not installed it says so and counts the parsed files. Many public subtitle
files are films and test fixtures without speaker names, which the default refuses; run
with ``--speakers alternate`` to count what the CLI option of that name reads. The last
line is ``transcripts: N of M subtitle files analysed``. Run:

    PYTHONPATH=src .venv/bin/python eval/transcripts_corpus.py [DIR] [--speakers alternate]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from alliance.analysis.classifiers import ModelNotInstalledError
from alliance.analysis.pipeline import Analyzer
from alliance.transcripts import TranscriptError, parse_transcript

DEFAULT = Path("/work/fetched/subtitles")
EXTENSIONS = (".vtt", ".srt")


def _kind(message: str) -> str:
    """The reason without its file, line and quoted details, to count kinds of refusal."""
    reason = message.split(": line ", 1)[-1].split(": ", 1)[-1]
    return reason.split(" (")[0].split(";")[0].split("'")[0][:70]


def _option(args: list[str], name: str, default: str, choices: tuple[str, ...]) -> str | None:
    """``--name VALUE`` taken out of ``args``; ``None`` (after a message) for a bad value."""
    if name not in args:
        return default
    at = args.index(name)
    value = args[at + 1] if at + 1 < len(args) else ""
    del args[at : at + 2]
    if value not in choices:
        print(f"{name}: choose {' or '.join(choices)}")
        return None
    return value


def _analyzer(backend: str) -> Analyzer | None:
    try:
        return Analyzer.load(backend)  # type: ignore[arg-type]
    except ModelNotInstalledError as exc:
        print(f"models not installed ({' '.join(str(exc).split())}): counting parsed files")
        return None


def main(argv: list[str]) -> int:
    args = list(argv[1:])
    speakers = _option(args, "--speakers", "labels", ("labels", "alternate"))
    backend = _option(args, "--backend", "fast", ("fast", "accurate"))
    if speakers is None or backend is None:
        return 2
    folder = Path(args[0]) if args else DEFAULT
    if not folder.is_dir():
        print(f"no subtitle files at {folder}: nothing to read (give a directory)")
        return 0
    analyzer = _analyzer(backend)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
    analysed = 0
    reasons: Counter[str] = Counter()
    for path in files:
        name = str(path.relative_to(folder))
        try:
            transcript = parse_transcript(
                path.read_bytes(),
                filename=name,
                speakers="alternate" if speakers == "alternate" else "labels",
                max_bytes=50_000_000,
            )
        except TranscriptError as exc:
            reasons[_kind(str(exc))] += 1
            print(f"refused  {exc}")
            continue
        if analyzer is not None:
            result = analyzer.analyze(transcript)
            assert len(result.utterances) == len(transcript.utterances)
        analysed += 1
        notes = "; ".join(transcript.warnings)
        print(
            f"parsed   {name}: {len(transcript.utterances)} turns, "
            f"{len(transcript.speakers)} speakers, timing {transcript.timing}"
            + (f" ({notes})" if notes else "")
        )
    if reasons:
        print("refusals by kind:")
        for reason, count in reasons.most_common():
            print(f"  {count:3d}  {reason}")
    print(f"transcripts: {analysed} of {len(files)} subtitle files analysed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
