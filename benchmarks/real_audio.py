"""Recorded music as users have it: does an audio run learn from it and move like it?

Fetches the recorded soundtrack of a Debian package (``benchmarks/packages.py``:
``wesnoth-1.16-music``, 41 orchestral OGG pieces, 128 minutes, stereo 44.1 kHz;
``ufoai-music``, 64 OGG pieces, 240 minutes), keeps every 8th file aside (never
trained, validated or tested on), and for each seed trains

    noizenet run --repr REPR --data TRAIN --max-minutes M --seed S --prime song noise -n N --seconds 8

on the rest (``--files K``: only the first K of them, a small folder). It prints,
per run, beside the same figures of the aside recordings (cut into clips as long as
the continuations) and of white noise:

* validation loss at the kept model against uniform (``ln`` of the vocabulary, for
  token representations), the epoch it was kept at and the epochs trained, the
  share of the training audio's windows an epoch trains on;
* of the continuations (the primes cut off): chroma entropy per frame (bits),
  spectral flatness, onsets per second, the longest stretch of unchanged spectrum
  (s), the spread of the loudness (dB), and the Fréchet distance of MFCC + chroma
  statistics to the aside recordings as a multiple of the distance between two
  halves of them (``audio-quality``'s reference);
* the acceptance checks of issue #43: loss clearly below uniform, chroma entropy
  within 0.2 bits of real, flatness at most 2x real, no held stretch longer than
  real's longest, Fréchet ratio at most 3.

    .venv/bin/python benchmarks/real_audio.py [--package wesnoth-1.16-music] [--files 8]
        [--minutes 10] [--seeds 0 1 2] [--repr codebook] [--set section.key=value ...]
    .venv/bin/python benchmarks/real_audio.py --package wesnoth-1.16-music --runs RUN ...   # measure finished runs
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402
from packages import package_files  # noqa: E402

from noizenet.datasets.audio_files import load_audio  # noqa: E402
from noizenet.plugins.audio import measures  # noqa: E402
from noizenet.plugins.audio.metrics import real_halves_frechet  # noqa: E402
from noizenet.plugins.audio.motion import real_clips  # noqa: E402

ASIDE_EVERY = 8  # every 8th file (from the 4th) is kept aside
SECONDS = 8.0  # of each continuation
MEASURED = {  # figure: its measure of one clip (the clips' values are averaged)
    "chroma_entropy": lambda a, r: measures.chroma_entropy(measures.chroma(a, r)),
    "flatness": lambda a, r: measures.flatness(a),
    "onsets_per_s": measures.onsets_per_second,
    "longest_held_s": measures.longest_held,
    "loudness_spread_db": lambda a, r: measures.loudness_spread(a),
}


def folders(package: str, files: int, cache: Path, scratch: Path) -> tuple[Path, list[Path]]:
    """A folder of links to the training files (the first ``files``; 0 = all) and the aside files."""
    every = sorted(package_files(package, ".ogg", cache).glob("*.ogg"))
    aside = every[ASIDE_EVERY // 2 :: ASIDE_EVERY]
    train = [f for f in every if f not in aside][: files or None]
    folder = scratch / "train"
    folder.mkdir()
    for f in train:
        (folder / f.name).symlink_to(f)
    return folder, aside


def figures_of(clips: list[np.ndarray], rate: int) -> dict[str, float]:
    found = {}
    for name, measure in MEASURED.items():
        values = [v for v in (measure(c, rate) for c in clips) if v is not None and np.isfinite(v)]
        found[name] = float(np.mean(values)) if values else float("nan")
    found["longest_held_max_s"] = max(measures.longest_held(c, rate) for c in clips)
    return found


def continuations(run: Path) -> tuple[list[np.ndarray], int]:
    """The continuations of the run's samples (each prime cut off with its last frame) and the rate."""
    config = tomllib.loads((run / "config.toml").read_text())
    rate, repr_cfg = config["data"].get("sample_rate", 16000), config["repr"]
    hop, frame = repr_cfg.get("hop", 1), repr_cfg.get("frame_size", 0)
    rows = json.loads((run / "samples" / "samples.json").read_text())["samples"]
    clips = []
    for row in rows:
        wav = next(f for f in row["files"] if f.endswith(".wav"))
        audio = load_audio(run / "samples" / wav, rate)
        clips.append(audio[row["prime_steps"] * hop + frame :])
    return clips, rate


def measure(run: Path, aside: list[np.ndarray], rate: int) -> dict[str, float]:
    metrics = json.loads((run / "metrics.json").read_text())
    trained = json.loads((run / "status.json").read_text())["train"]
    logged = (run / "metrics.jsonl").read_text().splitlines()
    validations = [json.loads(line) for line in logged if '"val_loss"' in line]
    best = min(validations, key=lambda v: v["val_loss"])
    codes = tomllib.loads((run / "config.toml").read_text())["repr"].get("codes")
    clips, _ = continuations(run)
    length = int(np.mean([len(c) for c in clips]))
    real = real_clips(aside, length)
    generated = np.concatenate([measures.features(c, rate) for c in clips])
    per_clip = [measures.features(a, rate) for a in aside]
    distance = measures.frechet(generated, np.concatenate(per_clip))
    return {
        "val_loss": best["val_loss"], "uniform": math.log(codes) if codes else None,
        "best_epoch": best["epoch"], "epochs": trained["epochs"], "batch_size": trained["batch_size"],
        "stopped": trained["stopped"], "train_loss_last": validations[-1].get("train_loss"),
        **{f"{k}_generated": v for k, v in figures_of(clips, rate).items()},
        **{f"{k}_real": v for k, v in figures_of(real, rate).items()},
        "frechet_ratio": distance / real_halves_frechet(per_clip, len(generated)),
    }


def checks(found: dict[str, float]) -> dict[str, bool]:
    return {
        "loss below uniform by 10%": bool(found["uniform"] and found["val_loss"] < 0.9 * found["uniform"]),
        "chroma entropy within 0.2 bits": abs(found["chroma_entropy_generated"] - found["chroma_entropy_real"]) <= 0.2,
        "flatness at most 2x real": found["flatness_generated"] <= 2 * found["flatness_real"],
        "no held stretch longer than real's": found["longest_held_max_s_generated"] <= found["longest_held_max_s_real"],
        "Fréchet at most 3x real-vs-real": found["frechet_ratio"] <= 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default="wesnoth-1.16-music")
    parser.add_argument("--files", type=int, default=0, help="training files (the first K; 0 = every one not aside)")
    parser.add_argument("--repr", default="codebook")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=4, help="continuations of each prime")
    parser.add_argument("--set", action="append", default=[], help="section.key=value, passed to every run")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "noizenet-benchmarks")
    parser.add_argument("--keep", type=Path, help="leave the run folders here")
    parser.add_argument("--runs", type=Path, nargs="+", help="measure these finished runs (of this package) instead")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        train, aside_files = folders(args.package, args.files, args.cache, Path(scratch))
        training_files = len(list(train.iterdir()))
        rate = 16000
        aside = [load_audio(f, rate) for f in aside_files]
        for run in args.runs or []:
            found = measure(run, aside, rate)
            results[str(run)] = {**found, "checks": checks(found)}
            print(json.dumps({str(run): results[str(run)]}, indent=1), flush=True)
        for seed in [] if args.runs else args.seeds:
            out = (args.keep or Path(scratch)) / f"{args.package}-{args.repr}-{args.files or 'all'}-seed{seed}"
            command = [sys.executable, "-m", "noizenet", "run", "--repr", args.repr, "--data", str(train),
                       "--max-minutes", str(args.minutes), "--seed", str(seed), "--out", str(out), "--prime", "song",
                       "noise", "-n", str(args.samples), "--seconds", str(SECONDS), "--quiet",
                       *(f for s in args.set for f in ("--set", s))]
            tick = time.perf_counter()
            subprocess.run(command, check=True)
            found = {"run_seconds": round(time.perf_counter() - tick, 1), **measure(out, aside, rate)}
            found["checks"] = checks(found)
            results[f"seed{seed}"] = found
            print(json.dumps({f"seed{seed}": found}, indent=1), flush=True)
    report(f"real_audio-{args.package}-{'runs' if args.runs else args.repr}-{args.files or 'all'}",
           {"package": args.package, "training_files": training_files, "aside_files": len(aside_files),
            "minutes": args.minutes, "set": args.set, "results": results})


if __name__ == "__main__":
    main()
