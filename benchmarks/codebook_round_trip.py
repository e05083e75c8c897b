"""The codebook's floor on recorded music: encode and decode, no model.

Fits ``codebook`` on 2 minutes (from 0:20) of every 4th training file of a Debian
package's recorded soundtrack (``real_audio.py``'s split: every 8th file aside),
then encodes and decodes 8 s clips of the aside recordings (from 0:30 to 1:10 of
each, 10 clips) and prints, beside the recordings themselves: the longest
stretch of unchanged spectrum, spectral flatness, chroma entropy and onsets per
second (``measures``), for each ``repr.exemplar_frames`` asked (0: a held code
plays its centroid). What a model's continuations can reach at best.

    .venv/bin/python benchmarks/codebook_round_trip.py [--package wesnoth-1.16-music] [--exemplars 0 16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402
from real_audio import figures_of, folders  # noqa: E402

from noizenet.api import Piece  # noqa: E402
from noizenet.datasets.audio_files import load_audio  # noqa: E402
from noizenet.plugins.audio.codebook import CodebookConfig, CodebookRepresentation  # noqa: E402

RATE = 16000
CLIP = 8 * RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default="wesnoth-1.16-music")
    parser.add_argument("--exemplars", type=int, nargs="+", default=[0, 16])
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "noizenet-benchmarks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        train, aside = folders(args.package, 0, args.cache, Path(scratch))
        fitted = [Piece(f.name, load_audio(f, RATE)[20 * RATE : 140 * RATE], {"sample_rate": RATE})
                  for f in sorted(train.iterdir())[::4]]
    recordings = [load_audio(f, RATE)[30 * RATE : 70 * RATE] for f in aside]
    clips = [r[i : i + CLIP] for r in recordings for i in range(0, len(r) - CLIP + 1, CLIP)][:10]
    results = {"recordings": figures_of(clips, RATE)}
    for frames in args.exemplars:
        tick = time.perf_counter()
        codebook = CodebookRepresentation(CodebookConfig(exemplar_frames=frames))
        codebook.fit(fitted)
        fit_seconds = time.perf_counter() - tick
        decoded = [codebook.from_steps(codebook.to_steps(clip)) for clip in clips]
        results[f"exemplar_frames={frames}"] = {**figures_of(decoded, RATE), "fit_seconds": round(fit_seconds, 1)}
    report(f"codebook_round_trip-{args.package}", {"package": args.package, "fitted_files": len(fitted),
                                                  "clips": len(clips), "results": results})


if __name__ == "__main__":
    main()
