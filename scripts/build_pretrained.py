"""Build the pretrained models that ship inside the package (``noizenet generate
--pretrained NAME``): train each with the settings below on the bundled data, then
keep what generation needs of its best checkpoint (weights as float16, the
representation's state, the held-out openings, the calibration), its config and
its held-out figures in ``noizenet/runs/pretrained-runs/NAME/``. Anyone can rerun it:

    .venv/bin/python scripts/build_pretrained.py [--names folk-abc] [--minutes 4]

On 2 CPU cores, folk-abc takes about 6 minutes (4 of training).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from noizenet.runs.pretrained import FOLDER, slim_checkpoint
from noizenet.runs.rundir import RunDir

# name -> `noizenet run` options (the rest are the defaults of this noizenet version)
MODELS = {
    "folk-abc": ["--repr", "abc", "--model", "lstm", "--seed", "0", "--num-samples", "20"],
}


def build(name: str, minutes: float) -> dict:
    """Train ``name``, slim its run into the package; return its figures."""
    with tempfile.TemporaryDirectory() as scratch:
        run = RunDir(Path(scratch) / name)
        command = [sys.executable, "-m", "noizenet", "run", "--out", str(run.root), "--max-minutes", str(minutes),
                   "-q", *MODELS[name]]
        subprocess.run(command, check=True)
        metrics = json.loads(run.metrics.read_text())
        target = FOLDER / name
        if target.exists():
            shutil.rmtree(target)
        (target / "checkpoints").mkdir(parents=True)
        shutil.copy(run.config, target / "config.toml")
        slim_checkpoint(run.best, target / "checkpoints" / "best.pt")
        headline = {f["key"]: metrics.get(f["key"]) for f in metrics["figures"] if f["headline"]}
        figures = {"command": " ".join(["noizenet", "run", *MODELS[name], "--max-minutes", str(minutes)]),
                   "train": metrics.get("train"), "test_loss": metrics.get("test_loss"),
                   "test_accuracy": metrics.get("test_accuracy"), "headline": headline,
                   "figures": [f for f in metrics["figures"] if f["headline"]]}  # how to show them
        (target / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--names", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--minutes", type=float, default=4.0, help="--max-minutes of each training run")
    args = parser.parse_args()
    for name in args.names:
        figures = build(name, args.minutes)
        print(name, json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
