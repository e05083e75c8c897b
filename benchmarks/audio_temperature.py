"""How the sampling temperature changes the audio of a trained audio run.

Generates the run's primes again at each temperature (into a copy of the run, the
run itself is left alone) and prints, per temperature, the measures that
the audio metrics use, over the continuations only: Fréchet distance of
MFCC + chroma statistics to the held-out audio (white noise's beside it), median
spectral flatness (real audio's beside it), the smallest and median RMS of the last
second over the prime's (below 0.1 = collapsed), and median frame-to-frame
spectral change (real audio's beside it).

    .venv/bin/python benchmarks/audio_temperature.py RUN_DIR [--temperatures 0.3 0.5 0.7 1.0]

RUN_DIR: a finished `noizenet run --repr waveform` (or fft) directory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.runs import pipeline as runs  # noqa: E402
from noizenet.plugins.audio import measures  # noqa: E402
from noizenet.runs.rundir import RunDir  # noqa: E402


def measure(run: Path, temperatures: list[float]) -> dict:
    session = runs.session_from_run(RunDir(run), {"generate": {"temperature": temperatures}}, quiet=True)
    samples = runs.generate(session, runs.load_trained(session)).samples
    rate = int(session.representation.signal_rate())
    held_out = [piece.data for piece in session.splits.test]
    reference = np.concatenate([measures.features(audio, rate) for audio in held_out])
    noise = np.random.default_rng(0).normal(0, 0.1, 8 * rate).astype(np.float32)
    result = {
        "run": str(run),
        "frechet_white_noise": round(measures.frechet(measures.features(noise, rate), reference)),
        "flatness_real": round(float(np.median([measures.flatness(a) for a in held_out])), 4),
        "spectral_change_real": round(float(np.median([measures.spectral_change(a) for a in held_out])), 3),
    }
    per_temperature: dict[float, list[tuple]] = {}
    for sample in samples:
        audio, _ = soundfile.read(session.run_dir.samples / f"{sample.name}.wav", dtype="float32")
        prime = int(session.config.generate.prime_seconds * rate)
        continuation = audio[prime:]
        level = measures.rms(continuation[-rate:]) / max(measures.rms(audio[:prime]), measures.SILENT)
        per_temperature.setdefault(sample.temperature, []).append(
            (measures.features(continuation, rate), measures.flatness(continuation), level,
             measures.spectral_change(continuation))
        )
    for temperature, clips in sorted(per_temperature.items()):
        levels = [clip[2] for clip in clips]
        result[f"temperature_{temperature:g}"] = {
            "frechet": round(measures.frechet(np.concatenate([clip[0] for clip in clips]), reference)),
            "flatness": round(float(np.median([clip[1] for clip in clips])), 4),
            "rms_ratio_min": round(min(levels), 2),
            "rms_ratio_median": round(float(np.median(levels)), 2),
            "spectral_change": round(float(np.median([clip[3] for clip in clips])), 3),
            "clips": len(clips),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.3, 0.5, 0.7, 1.0])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "run"
        shutil.copytree(args.run_dir, copy)
        result = measure(copy, args.temperatures)
    result["run"] = str(args.run_dir)
    report("audio_temperature", result)
    best = min((k for k in result if k.startswith("temperature_")), key=lambda k: result[k]["frechet"])
    print(json.dumps({"lowest_frechet": best, **result[best]}))


if __name__ == "__main__":
    main()
