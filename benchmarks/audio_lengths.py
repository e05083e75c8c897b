"""Half an hour of audio in a few long files trains as fast as two hours in many.

Issue 22 measured 2 optimizer steps in 92 s of training on 6 files of 5 minutes
(`--repr codebook`), against a normal speed on 24 such files. This builds both
folders from rendered O'Neill tunes (each file: 20 tunes end to end, each in a gain
of its own so no two files are alike), runs `noizenet train --repr codebook
--max-minutes MIN` on each in a fresh cache, and prints optimizer steps, training
tokens a second and the wall time, with the ratio of the short corpus's speed to
the long one's (goal: at least 0.8; the two differ in validation pieces only).

    .venv/bin/python benchmarks/audio_lengths.py [--minutes 0.25]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).parent))
from corpora import make_folder  # noqa: E402
from machine import report  # noqa: E402

TUNES_A_FILE = 20  # 20 tunes of 15 s: 5 minutes a file
CORPORA = {"30 min (6 files)": 6, "2 h (24 files)": 24}


def long_files(tunes: Path, count: int, out: Path) -> Path:
    """``count`` files of :data:`TUNES_A_FILE` rendered tunes each, drawn in a seeded order."""
    out.mkdir()
    files = sorted(tunes.glob("*.wav"))
    rng = np.random.default_rng(count)
    for index in range(count):
        parts = []
        for file in rng.choice(files, TUNES_A_FILE):
            audio, rate = sf.read(file, dtype="float32", always_2d=True)
            parts.append(audio.mean(axis=1) * 10 ** (rng.uniform(-6, 0) / 20))
        sf.write(out / f"{index:02d}.wav", np.concatenate(parts), rate, subtype="PCM_16")
    return out


def train(data: Path, out: Path, cache: Path, minutes: float) -> dict:
    command = [sys.executable, "-m", "noizenet", "train", "--repr", "codebook", "--data", str(data), "--out", str(out),
               "--max-minutes", str(minutes), "--seed", "0", "-q"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "NOIZENET_CACHE": str(cache)})
    summary = json.loads((out / "status.json").read_text())["train"]
    return {"wall_s": round(time.perf_counter() - started, 1), "steps": summary["steps"],
            "train_seconds": summary["seconds"], "tokens_per_s": summary["tokens_per_s"],
            "train_pieces": summary["train_pieces"], "val_pieces": summary["val_pieces"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=0.25, help="--max-minutes of each run")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tunes = make_folder("audio", 40, root / "tunes", collections=("oneills1850",))
        for name, count in CORPORA.items():
            data = long_files(tunes, count, root / f"files-{count}")
            results[name] = train(data, root / f"run-{count}", root / f"cache-{count}", args.minutes)
    report("audio_lengths", {"minutes": args.minutes, "results": results})
    print("| corpus | train / val pieces | optimizer steps | training s | tokens/s | wall s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, row in results.items():
        print(f"| {name} | {row['train_pieces']} / {row['val_pieces']} | {row['steps']} | {row['train_seconds']} | "
              f"{row['tokens_per_s']:,.0f} | {row['wall_s']} |")
    short, long = (results[name]["tokens_per_s"] for name in CORPORA)
    print(f"speed 30 min / 2 h = {short / long:.2f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
