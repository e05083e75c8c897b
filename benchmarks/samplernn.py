"""The two-tier SampleRNN model beside the waveform's GRU at equal training time.

Trains `noizenet run --repr waveform --model M --max-minutes MIN --seed S --prime
song noise perlin --seconds 3` for M = gru (the waveform's suggested 1x128) and M =
samplernn (its defaults) on the same data (`--data DIR`, or the default rendered
corpus), and prints each run's held-out (test) loss in nats per sample, how much
training each got, and the tonality measures of its continuations beside held-out
audio and white noise (as `audio_tonality.py`); then each model's sampling speed at
batch 1 on this CPU as a real-time factor at 16 kHz (goal: at least 1).

    .venv/bin/python benchmarks/samplernn.py [--data DIR] [--minutes 5] [--seed 0] [--speed-seconds 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from audio_speed import waveform_rtf  # noqa: E402
from audio_tonality import run, table  # noqa: E402
from machine import report  # noqa: E402

MODELS = ("gru", "samplernn")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="a folder of audio (default: the rendered corpus)")
    parser.add_argument("--minutes", type=float, default=5.0, help="training minutes per model (the waveform's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-seconds", type=float, default=4.0, help="audio generated to time each model's sampling")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for model in MODELS:
            results[f"waveform ({model})"] = run("waveform", model, args, Path(scratch) / model)
    speed = {model: round(waveform_rtf(model, 1, args.speed_seconds, True), 2) for model in MODELS}
    report("samplernn", {
        "minutes": args.minutes, "data": str(args.data or "rendered corpus"), "seed": args.seed,
        "runs": {name: {k: m.get(k) for k in ("test_loss", "val_loss", "epochs", "train_seconds", "parameters",
                                               "voiced_share_generated", "pitch_changes_per_s_generated",
                                               "flatness_generated", "frechet_generated", "collapsed_samples")}
                 for name, m in results.items()},
        "batch1_realtime_factor_16khz": speed,
    })
    print("| | " + " | ".join(results) + " |\n| --- |" + " --- |" * len(results))
    for label, key, unit in (("test loss", "test_loss", " nats/sample"), ("epochs trained", "epochs", ""),
                             ("parameters", "parameters", "")):
        print(f"| {label} | " + " | ".join(f"{m[key]:.4g}{unit}" for m in results.values()) + " |")
    print(f"| sampling speed, batch 1, CPU | " + " | ".join(f"{speed[m]}x real time" for m in MODELS) + " |")
    print()
    print(table(results))


if __name__ == "__main__":
    main()
