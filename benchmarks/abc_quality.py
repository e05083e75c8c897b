"""Quality of `noizenet run --repr abc` on a held-out set of folk tunes.

Builds a file of N tunes drawn (seeded) from Irish and Scottish collections of the
music21 corpus, runs the CLI on it with a time budget, and prints the figures the
ABC acceptance check looks at, beside the reference figures.

    python benchmarks/abc_quality.py --minutes 4 [-- EXTRA NOIZENET OPTIONS]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import music21
import torch

from noizenet.datasets.abc_files import read_text
from noizenet.plugins.abc.text import split_tunes

REFERENCES = {"reports we replace": 0.40, "public char-RNNs": 0.64, "bare fused 2x256 LSTM": 0.665}


def build_tunes(collections: list[str], count: int, seed: int, path: Path) -> int:
    root = Path(music21.__file__).parent / "corpus"
    tunes = [t for c in collections for f in sorted((root / c).rglob("*.abc")) for t in split_tunes(read_text(f))]
    random.Random(seed).shuffle(tunes)
    path.write_text("\n".join(tunes[:count]), encoding="utf-8")
    return min(count, len(tunes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tunes", type=int, default=800)
    parser.add_argument("--collections", default="oneills1850,airdsAirs,ryansMammoth")
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/abc_quality"))
    parser.add_argument("extra", nargs="*", help="more noizenet run options (after --)")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "tunes.abc"
    n = build_tunes(args.collections.split(","), args.tunes, args.seed, data)
    run_dir = args.out / "run"
    command = [
        sys.executable, "-m", "noizenet", "run", "--repr", "abc", "--model", "lstm", "--data", str(data),
        "--max-minutes", str(args.minutes), "--num-samples", "10", "--seed", str(args.seed),
        "--out", str(run_dir), "--overwrite", "-q", *args.extra,
    ]
    print("$", " ".join(command), flush=True)
    tick = time.time()
    subprocess.run(command, check=True)
    wall = time.time() - tick
    m = json.loads((run_dir / "metrics.json").read_text())
    result = {
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "tunes": n,
        "minutes": args.minutes,
        "wall_seconds": round(wall, 1),
        **{k: m.get(k) for k in ("val_loss", "val_accuracy", "test_loss", "test_accuracy", "bits_per_token",
                                 "abc_valid_rate", "train_tokens_per_s", "generate_tokens_per_s")},
        "epochs": m["train"].get("epochs"),
        "extra": args.extra,
    }
    print(json.dumps(result, indent=2))
    for name, accuracy in REFERENCES.items():
        print(f"val_accuracy / {name} ({accuracy}): {result['val_accuracy'] / accuracy:.3f}")
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
