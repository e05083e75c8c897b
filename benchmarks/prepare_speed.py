"""How fast `noizenet prepare` reads, fits and encodes a folder: files per second.

Runs `noizenet prepare --repr REPR --data FOLDER` `--repeats` times, each in a fresh
cache folder, and prints the preparation seconds the prepared corpus's manifest
records (reading, fitting, transposing and encoding, on every core) and the wall
seconds of the command (Python and torch start-up included), with their medians
and files per second. It drives the command only, so that any version of noizenet
on PYTHONPATH can be timed on the same folder (make the folder once, e.g.
`benchmarks/multitrack.py` fetches band songs and `corpus_scale.py` copies them).

    .venv/bin/python benchmarks/prepare_speed.py --data FOLDER [--repr midi] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402


def prepare_once(data: Path, representation: str) -> tuple[float, float]:
    """(manifest seconds, wall seconds) of one preparation in a fresh cache."""
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "noizenet", "prepare", "--repr", representation, "--data", str(data), "-q"],
                       env={**os.environ, "NOIZENET_CACHE": cache}, check=True)
        wall = time.perf_counter() - started
        (manifest,) = Path(cache).glob("prepared/*/manifest.json")
        return json.loads(manifest.read_text())["seconds"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repr", default="midi")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    files = sum(1 for path in args.data.rglob("*") if path.is_file())
    runs = [prepare_once(args.data, args.repr) for _ in range(args.repeats)]
    prepared, wall = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    for number, (seconds, total) in enumerate(runs, 1):
        print(f"run {number}: prepared in {seconds:.1f} s ({files / seconds:.1f} files/s), command {total:.1f} s")
    print(f"median: {prepared:.1f} s, {files / prepared:.1f} files/s ({files} files); command {wall:.1f} s")
    report("prepare_speed", {"data": str(args.data), "repr": args.repr, "files": files, "runs": runs,
                             "prepare_s": prepared, "files_per_s": round(files / prepared, 1), "command_s": wall})


if __name__ == "__main__":
    main()
