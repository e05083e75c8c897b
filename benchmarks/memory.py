"""Peak memory (RSS) of training the default ABC model and of generating from it.

Each stage runs as its own process (the CLI, as a user runs it), and its peak
resident set size is read from the kernel when it exits.

    .venv/bin/python benchmarks/memory.py [--minutes 0.5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402


def peak_rss_mib(command: list[str]) -> float:
    """Run ``command`` in a child that reports its own child's peak RSS (MiB)."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], check=True, capture_output=True, text=True)
    return int(done.stdout.split()[-1]) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=0.5, help="training time")
    args = parser.parse_args()
    noizenet = [sys.executable, "-m", "noizenet"]
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        train = peak_rss_mib([*noizenet, "train", "--max-minutes", str(args.minutes), "--out", str(run), "-q"])
        generate = peak_rss_mib([*noizenet, "generate", str(run), "-n", "64", "-q"])
    result = {"minutes": args.minutes, "train_peak_rss_mib": round(train), "generate_64_peak_rss_mib": round(generate)}
    report("memory", result)


if __name__ == "__main__":
    main()
