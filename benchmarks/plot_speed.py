"""How long the PNGs of a run take to draw: the figures every run writes, on inputs
of the size a run gives them.

Median seconds of --repeats draws (after one unmeasured draw) of: `heatmap.png`
(240 steps x 8 units, each step labelled), an audio sample's PNG (2 s prime + 8 s
continuation at 16 kHz), a piano roll of 1,500 notes, the loss curves (30 epochs)
and the training-vs-generated statistics (4 panels of 8 to 25 bins, as ABC's). Printed beside the figures measured before the change that made each
faster (benchmarks/README.md, "Plots"), on the machine named in the result.

    .venv/bin/python benchmarks/plot_speed.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.evaluate.plots import plot_activations, plot_distributions, plot_losses  # noqa: E402
from noizenet.plugins.audio.plots import plot_sample  # noqa: E402
from noizenet.plugins.midi.notes import END, PITCH, START  # noqa: E402
from noizenet.plugins.midi.plots import plot_roll  # noqa: E402

RATE = 16000
# At 1f608e1, before the plots were made faster: this script in a worktree of that commit, run just
# before it ran on main, one session, 2 CPU cores (benchmarks/README.md, "Plots").
BEFORE_S = {"heatmap": 2.83, "audio_sample": 0.82, "piano_roll": 1.76, "distributions": 0.73}


def figures(folder: Path) -> dict[str, Callable[[], Path]]:
    """Each figure's draw, on fixed inputs, writing into ``folder``."""
    rng = np.random.default_rng(0)
    activations = np.tanh(rng.normal(size=(240, 8)))
    labels = list("X:1|T:tune|M:6/8|K:G|GAB c2d|" * 10)[:240]
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(10 * RATE) / RATE)).astype(np.float32)
    notes = np.zeros((1500, 5))  # start, end, pitch, velocity, program (piano)
    notes[:, START] = np.sort(rng.uniform(0, 200, len(notes)))
    notes[:, END] = notes[:, START] + rng.choice([0.5, 1.0, 2.0], len(notes))
    notes[:, PITCH] = rng.integers(40, 80, len(notes))
    records = [{"epoch": e, "train_loss": 3 / e, "val_loss": 3.2 / e} for e in range(1, 31)]
    panels = {f"panel {size}": ([str(i) for i in range(size)], {side: list(rng.dirichlet(np.ones(size)))
                                                                for side in ("training", "generated")})
              for size in (12, 25, 8, 13)}  # the ABC statistics' bins
    return {
        "heatmap": lambda: plot_activations(activations, labels, list(range(8)), folder / "heatmap.png"),
        "audio_sample": lambda: plot_sample(audio, 2 * RATE, RATE, folder / "sample.png"),
        "piano_roll": lambda: plot_roll(notes, 202.0, 16.0, folder / "roll.png"),
        "losses": lambda: plot_losses(records, folder / "loss.png", unit="nats/token"),
        "distributions": lambda: plot_distributions(panels, folder / "statistics.png"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="draws measured per figure (default: 5)")
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, draw in figures(Path(folder)).items():
            draw()  # fonts, caches, first imports
            times = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                draw()
                times.append(time.perf_counter() - started)
            rows[name] = {"seconds": round(statistics.median(times), 3), "before_seconds": BEFORE_S.get(name)}
            before = f" (before: {BEFORE_S[name]:.2f} s)" if name in BEFORE_S else ""
            print(f"{name:13s} {rows[name]['seconds']:.2f} s{before}", file=sys.stderr)
    report("plot_speed", {"repeats": args.repeats, "figures": rows})


if __name__ == "__main__":
    main()
