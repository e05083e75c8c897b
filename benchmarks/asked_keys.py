"""`--key` over every key, not only the corpus's common ones.

`audio_tonality.py` asks each run for four keys common in the bundled folk tunes (D
major, E minor, G major, A minor). A user may ask for any key. This asks trained
conditioned audio runs for 16 keys (8 tonics, major and minor), N noise-primed
continuations each, and prints per run the MIREX score of the continuations'
Krumhansl-Schmuckler keys against the asked ones: over all 16, over the four
common keys and over the other twelve; and the share found exactly. Each run is
asked twice, paired on the same model: as asked (`repr.borrow_keys=false`) and
borrowed (the default: a key that 3 probe samples show the model does not follow
is made in the nearest key of its mode that it follows, then pitch-shifted to the
asked one); then the score of each key over the runs, both ways. Runs are
given, or trained here (`noizenet train --repr codebook --model lstm`, one per
seed, `--set` passed on, e.g. `repr.augment_copies=4`).

    .venv/bin/python benchmarks/asked_keys.py RUN [RUN ...] [--samples 3] [--guidance 2.5]
    .venv/bin/python benchmarks/asked_keys.py --seeds 0 1 2 [--minutes 3] [--set repr.augment_copies=4 ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from audio_tonality import ASKED_KEYS  # noqa: E402
from machine import report  # noqa: E402

from noizenet.runs import pipeline as runs  # noqa: E402
from noizenet.plugins.audio import keys  # noqa: E402
from noizenet.plugins.audio.metrics import audio_key, continuation  # noqa: E402
from noizenet.runs.rundir import RunDir  # noqa: E402

KEYS = [f"{tonic} {mode}" for tonic in ("C", "D", "E", "F", "G", "A", "Bb", "F#") for mode in ("major", "minor")]


WAYS = {"as asked": False, "borrowed": True}  # repr.borrow_keys


def ask(run: Path, samples: int, guidance: float, borrow: bool) -> list[dict]:
    """Per continuation: the key asked, the key found and the MIREX score."""
    rows = []
    for key in KEYS:
        overrides = {"generate": {"key": key, "prime": ["noise"], "num_samples": samples, "seconds": 4.0,
                                  "guidance": guidance}, "repr": {"borrow_keys": borrow}}
        session = runs.session_from_run(RunDir(run), overrides, quiet=True)
        with tempfile.TemporaryDirectory() as scratch:
            generation = runs.generate_in_new_folder(session, runs.load_trained(session), Path(scratch) / "keys")
        for sample in generation.samples:
            found = audio_key(continuation(sample), session.representation.sample_rate)
            rows.append({"asked": key, "found": keys.key_name(found) if found else None,
                         "mirex": keys.mirex_score(found, keys.parse_key(key)) if found else 0.0})
    return rows


def summary(rows: list[dict]) -> dict[str, float]:
    def mean(chosen: list[dict], value=lambda r: r["mirex"]) -> float:
        return round(float(np.mean([value(r) for r in chosen])), 3)

    return {"all": mean(rows), "common": mean([r for r in rows if r["asked"] in ASKED_KEYS]),
            "others": mean([r for r in rows if r["asked"] not in ASKED_KEYS]),
            "exact": mean(rows, lambda r: r["found"] == keys.key_name(keys.parse_key(r["asked"])))}


def train(seed: int, args: argparse.Namespace, folder: Path) -> Path:
    out = folder / f"codebook-{seed}"
    command = [sys.executable, "-m", "noizenet", "train", "--repr", "codebook", "--model", "lstm", "--max-minutes",
               str(args.minutes), "--seed", str(seed), "--out", str(out), "-q"]
    for value in args.set:
        command += ["--set", value]
    subprocess.run(command, check=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="*", help="trained conditioned audio runs")
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="train a codebook run per seed instead")
    parser.add_argument("--minutes", type=float, default=3.0, help="training minutes of each run trained here")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="passed to every run trained here (repeatable)")
    parser.add_argument("--samples", type=int, default=3, help="continuations per asked key")
    parser.add_argument("--guidance", type=float, default=2.5)
    args = parser.parse_args()
    if bool(args.runs) == bool(args.seeds):
        parser.error("give trained runs or --seeds to train, one of them")
    with tempfile.TemporaryDirectory() as scratch:
        trained = args.runs or [train(seed, args, Path(scratch)) for seed in args.seeds]
        rows = {way: {str(run): ask(run, args.samples, args.guidance, borrow) for run in trained}
                for way, borrow in WAYS.items()}
    results = {way: {run: summary(found) for run, found in by_run.items()} for way, by_run in rows.items()}
    per_key = {way: {key: round(float(np.mean([r["mirex"] for found in by_run.values() for r in found if r["asked"] == key])), 3)
                     for key in KEYS} for way, by_run in rows.items()}
    report("asked_keys", {"samples": args.samples, "guidance": args.guidance, "set": args.set, "results": results,
                          "per_key": per_key})
    print(f"| asked key, over the runs | {' | '.join(WAYS)} |")
    print(f"| --- |{' --- |' * len(WAYS)}")
    for key in KEYS:
        print(f"| {key} | {' | '.join(str(per_key[way][key]) for way in WAYS)} |")
    print(f"| run | keys | all 16 keys (MIREX) | {', '.join(ASKED_KEYS)} | the other 12 | found exactly |")
    print("| --- | --- | --- | --- | --- | --- |")
    for way, by_run in results.items():
        mean = {k: round(float(np.mean([r[k] for r in by_run.values()])), 3) for k in ("all", "common", "others", "exact")}
        for name, figures in {**by_run, "mean": mean}.items():
            print(f"| {name} | {way} | {figures['all']} | {figures['common']} | {figures['others']} | {figures['exact']} |")


if __name__ == "__main__":
    main()
