"""A user's own small folder: does a run on 3, 6 or 12 pieces spend its budget and
make music?

For each kind of folder (rendered audio at 22.05 kHz with a stereo file among them,
ABC files, MIDI files; made by corpora.py from music21's miscFolk tunes, which the
audio defaults never render, or from `--collections`), each size and each seed
(another seed: other tunes and another split), runs `noizenet run --repr R --data FOLDER --max-minutes MIN
--seed S` with the representation's defaults (audio: codebook, with song, noise and
Perlin primes of 3 s; abc; midi) and prints the share of the time budget trained,
why training stopped, the held-out loss and the sample figures: the tonal checks
for audio (voiced share >= 0.8 x real's, chroma entropy <= real's + 0.4 bits,
pitch changes between 0.5x and 2x real's, no collapsed clip), the share of tunes
that parse for ABC, polyphony for MIDI. ``--reference`` adds one run on the full
bundled corpus of each kind's representation, for the same figures there.

    .venv/bin/python benchmarks/small_data.py [--kinds audio abc midi] [--sizes 3 6 12]
        [--seeds 0 1 2] [--minutes 1.5] [--set repr.augment_copies=0] [--audio-repr harmonic]
        [--collections essenFolksong] [--reference]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpora import KINDS, make_folder  # noqa: E402
from machine import report  # noqa: E402

REPRESENTATION = {"audio": "codebook", "abc": "abc", "midi": "midi"}
EXTRA = {"audio": ["--prime", "song,noise,perlin", "--seconds", "3"], "abc": [], "midi": []}


def run(kind: str, data: Path | None, seed: int, args: argparse.Namespace, out: Path) -> dict:
    representation = args.audio_repr if kind == "audio" else REPRESENTATION[kind]
    command = [sys.executable, "-m", "noizenet", "run", "--repr", representation, "--max-minutes", str(args.minutes),
               "--seed", str(seed), "--out", str(out), "-q", *EXTRA[kind]]
    if data is not None:
        command += ["--data", str(data)]
    for value in args.set:
        command += ["--set", value]
    subprocess.run(command, check=True)
    return json.loads((out / "metrics.json").read_text())


def tonal_checks(m: dict) -> dict[str, bool]:
    real_changes = m["pitch_changes_per_s_real"]
    return {
        "voiced": m["voiced_share_generated"] >= 0.8 * m["voiced_share_real"],
        "entropy": m["chroma_entropy_generated"] <= m["chroma_entropy_real"] + 0.4,
        "changes": 0.5 * real_changes <= m["pitch_changes_per_s_generated"] <= 2 * real_changes,
        "no collapse": m["collapsed_samples"] == 0,
    }


def figures(kind: str, m: dict, minutes: float) -> dict:
    """The row of one run: budget used, stop, loss, and the kind's sample figures."""
    train = m["train"]
    row = {"budget used": train["seconds"] / (60 * minutes), "stopped": train["stopped"],
           "stop reason": train.get("stop_reason", ""), "test loss": m["test_loss"]}
    if kind == "audio":
        checks = tonal_checks(m)
        row.update({"voiced (real)": f"{m['voiced_share_generated']:.2f} ({m['voiced_share_real']:.2f})",
                    "chroma entropy (real)": f"{m['chroma_entropy_generated']:.2f} ({m['chroma_entropy_real']:.2f})",
                    "changes/s (real)": f"{m['pitch_changes_per_s_generated']:.2f} ({m['pitch_changes_per_s_real']:.2f})",
                    "collapsed": m["collapsed_samples"], "tonal checks": all(checks.values()),
                    "failed": [name for name, ok in checks.items() if not ok]})
    elif kind == "abc":
        row["tunes that parse"] = m.get("abc_valid_rate")
    else:
        row["polyphony (training)"] = f"{m.get('polyphony_generated') or 0:.2f} ({m.get('polyphony_training') or 0:.2f})"
    return row


def table(rows: list[dict]) -> str:
    keys = [k for k in rows[0] if k != "stop reason"]
    lines = ["| " + " | ".join(keys) + " |", "|" + " --- |" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[k]:.3f}" if isinstance(row[k], float) else str(row[k]) for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--sizes", type=int, nargs="+", default=[3, 6, 12], help="pieces per folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=1.5, help="--max-minutes of every run")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="passed to every run")
    parser.add_argument("--audio-repr", default="codebook", help="representation of the audio runs")
    parser.add_argument("--collections", nargs="+", default=["miscFolk"],
                        help="music21 ABC collections the folders' tunes come from")
    parser.add_argument("--reference", action="store_true", help="also one run per kind on the full bundled corpus")
    args = parser.parse_args()
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.kinds:
            rows = []
            for size in args.sizes:
                for seed in args.seeds:
                    folder = make_folder(kind, size, Path(scratch) / f"{kind}-{size}-{seed}", seed=seed,
                                         collections=tuple(args.collections))
                    m = run(kind, folder, seed, args, Path(scratch) / f"run-{kind}-{size}-{seed}")
                    rows.append({"pieces": size, "seed": seed, **figures(kind, m, args.minutes)})
            if args.reference:
                m = run(kind, None, 0, args, Path(scratch) / f"run-{kind}-full")
                rows.append({"pieces": "bundled corpus", "seed": 0, **figures(kind, m, args.minutes)})
            results[kind] = rows
    report("small_data", {"minutes": args.minutes, "set": args.set, "audio_repr": args.audio_repr,
                          "collections": args.collections, "results": results})
    for kind, rows in results.items():
        print(f"\n{kind} ({args.audio_repr if kind == 'audio' else REPRESENTATION[kind]}), "
              f"{args.minutes:g} training minutes per run")
        print(table(rows))
        for row in rows:
            if row["stopped"] != "time":
                print(f"  {row['pieces']} pieces, seed {row['seed']}: {row['stop reason']}")


if __name__ == "__main__":
    main()
