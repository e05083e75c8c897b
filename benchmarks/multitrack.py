"""General MIDI songs as users have them: every instrument and the drums.

Fetches the songs of a Debian package of game music in General MIDI with
``apt-get download`` into ``--cache`` (by this script, never at run time):
``openttd-openmsx`` (31 songs of OpenTTD's OpenMSX set) or ``planetblupi-music-midi``
(10 songs of Planet Blupi). Trains ``noizenet run --repr midi --data FOLDER`` for each
seed and each way of ``--ways``, and prints per run what a listener of band music
notices, beside the held-out songs of the run's own split:

* instruments per sample (median) and share of samples with drums (of the
  continuations, the prime left out), for each prime: ``song`` continues a held-out
  song (its ensemble given), ``start`` states an ensemble of its own; beside the
  held-out songs';
* share of pitched notes inside the pitch range their instrument has in the
  held-out songs;
* how far the continuations' pitch classes and notes-at-once (pitched notes, the
  ``polyphony`` metric's sixteenth frames) are from the held-out songs': total
  variation distance of the two histograms (0 the same, 1 nothing shared);
* test loss per note (the loss per token times tokens per note of the test split),
  comparable between ways that write a note in different numbers of tokens.

Ways: ``all`` (every program, the drums: the default), ``families`` (16 instrument
families), ``piano`` (every pitched note on one piano, no drums: what noizenet read
before it kept instruments).

    .venv/bin/python benchmarks/multitrack.py [--package openttd-openmsx] [--ways all piano]
        [--seeds 0 1 2] [--minutes 3] [--steps N] [--cache ~/.cache/noizenet-benchmarks]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402
from packages import package_files  # noqa: E402

from noizenet.plugins.midi.metrics import distributions  # noqa: E402
from noizenet.plugins.midi.notes import DRUMS, read_midi  # noqa: E402

WAYS = {"all": [], "families": ["--set", "repr.instruments=families"],
        "piano": ["--set", "repr.instruments=piano", "--set", "repr.drums=false"]}


def total_variation(a: list[float], b: list[float]) -> float:
    return 0.5 * float(np.abs(np.asarray(a) - np.asarray(b)).sum())


def measure(run: Path, data: Path, drums: bool = True) -> dict[str, float]:
    """The figures of the module docstring for one finished run folder (``drums``:
    whether the run learned the drums, for the loss per note)."""
    metrics = json.loads((run / "metrics.json").read_text())
    held_out = [read_midi(data / name) for name in json.loads((run / "splits.json").read_text())["test"]]
    real = distributions([(notes, float(notes[:, 1].max())) for notes in held_out])
    generated = metrics["quality"]["polyphony"]["distributions"]["generated"]
    rows = json.loads((run / "samples" / "samples.json").read_text())["samples"]
    by_prime = {prime: [row for row in rows if row["prime"] == prime] for prime in sorted({row["prime"] for row in rows})}
    test_tokens = metrics["test_steps"]
    test_notes = sum(len(notes) if drums else int((notes[:, -1] != DRUMS).sum()) for notes in held_out)
    return {  # a run of noizenet before it kept instruments has no instrument figures: one piano, no drums
        **{f"instruments_{prime}": statistics.median(row.get("instruments", 1) for row in chosen)
           for prime, chosen in by_prime.items()},
        "instruments_held_out": statistics.median(len(np.unique(notes[:, -1])) for notes in held_out),
        **{f"with_drums_{prime}": statistics.mean("Drums" in row.get("programs", []) for row in chosen)
           for prime, chosen in by_prime.items()},
        "with_drums_held_out": statistics.mean(bool((notes[:, -1] == DRUMS).any()) for notes in held_out),
        "in_range_generated": metrics.get("in_range_generated", float("nan")),
        "pitch_class_tvd": total_variation(generated["pitch_class"], real["pitch_class"]),
        "polyphony_tvd": total_variation(generated["polyphony"], real["polyphony"]),
        "test_loss_per_note": metrics["test_loss"] * test_tokens / max(test_notes, 1),
        "test_loss": metrics["test_loss"], "epochs": metrics["epochs"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default="openttd-openmsx")
    parser.add_argument("--ways", nargs="+", default=["all", "piano"], choices=sorted(WAYS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--steps", type=int, default=0, help="train exactly this many steps (0: the minutes decide)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "noizenet-benchmarks")
    parser.add_argument("--keep", type=Path, help="keep the runs here")
    args = parser.parse_args()
    data = package_files(args.package, ".mid", args.cache)
    print(f"{args.package}: {len(list(data.glob('*.mid')))} songs in {data}")
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        root = args.keep or Path(scratch)
        for way in args.ways:
            for seed in args.seeds:
                out = root / f"{way}-seed{seed}"
                subprocess.run([sys.executable, "-m", "noizenet", "run", "--repr", "midi", "--data", str(data),
                                "--max-minutes", str(args.minutes), "--seed", str(seed), "--out", str(out),
                                "--overwrite", "-q", "--set", f"train.max_steps={args.steps}", "--prime", "song",
                                "--prime", "start", *WAYS[way]], check=True)
                results.append({"way": way, "seed": seed, **measure(out, data, drums=way != "piano")})
    keys = sorted({k for row in results for k in row if k not in ("way", "seed")})
    print("| way | seed | " + " | ".join(keys) + " |")
    print("| --- " * (len(keys) + 2) + "|")
    for row in results:
        print(f"| {row['way']} | {row['seed']} | " + " | ".join(f"{row.get(k, float('nan')):.3g}" for k in keys) + " |")
    report("multitrack", {"package": args.package, "minutes": args.minutes, "steps": args.steps, "runs": results})


if __name__ == "__main__":
    main()
