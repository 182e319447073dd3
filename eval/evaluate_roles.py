"""How often speaker-role inference finds the therapist when names give nothing away.

Each AnnoMI transcript (../shared/data/annomi) is rewritten with neutral speaker names
("Speaker 1" for whoever talks first, "Speaker 2" for the other), parsed, and the inferred
therapist compared with AnnoMI's own interlocutor label. Prints accuracy, how accuracy
depends on the stated confidence, and the same when the *client* speaks first (the opening
turn dropped). The weights were tuned on even-numbered transcripts ("dev"); odd-numbered ones
("test") were only measured. Run:

    .venv/bin/python eval/evaluate_roles.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alliance.transcripts import parse_transcript

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "annomi" / "AnnoMI-simple.csv"


def trial(rows: pd.DataFrame) -> tuple[bool, float]:
    order = list(dict.fromkeys(rows["interlocutor"]))
    names = {role: f"Speaker {i}" for i, role in enumerate(order, start=1)}
    text = "\n".join(
        f"{names[r]}: {' '.join(str(t).split())}"
        for r, t in zip(rows["interlocutor"], rows["utterance_text"], strict=True)
    )
    transcript = parse_transcript(text)
    found = transcript.speakers_with_role("therapist")
    return found == (names["therapist"],), transcript.roles.confidence


def main() -> None:
    if not DATA.is_file():
        print(f"AnnoMI not found at {DATA}")
        return
    frame = pd.read_csv(DATA).sort_values(["transcript_id", "utterance_id"])
    for title, skip in (("as recorded", 0), ("opening turn dropped", 1)):
        print(title)
        for split, keep in (("dev", 0), ("test", 1)):
            results = []
            for transcript_id, rows in frame.groupby("transcript_id"):
                rows = rows.iloc[skip:]
                if int(transcript_id) % 2 != keep or rows["interlocutor"].nunique() < 2:
                    continue
                results.append(trial(rows))
            correct = sum(ok for ok, _ in results)
            lowest = min(conf for _, conf in results)
            print(
                f"  {split:4}: therapist found in {correct}/{len(results)} transcripts "
                f"({correct / len(results):.1%}); lowest confidence {lowest:.2f}"
            )
            for low, high in ((0.0, 0.7), (0.7, 0.9), (0.9, 1.01)):
                band = [ok for ok, conf in results if low <= conf < high]
                if band:
                    print(
                        f"        confidence {low:.1f}–{min(high, 1.0):.1f}: "
                        f"{sum(band)}/{len(band)} correct"
                    )


if __name__ == "__main__":
    main()
