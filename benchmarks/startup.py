"""How long a `noizenet` command takes to answer, beside the floor under it.

Times, in fresh processes, interleaved round by round (the median of --rounds
each): the commands that need no model (`--version`, `--help`, `runs`, `show RUN`,
`cache list`; goal: well under a second, no torch imported), the ones that load
the plugins and so torch (`plugins`, `train --help` is not one: help needs no
plugin), and the floors: a bare `python -c "import torch"` and a bare
`python -c "pass"`. Commands that need torch should answer within 0.5 s of the torch
floor. Each light command is also run under ``-X importtime`` to prove that no
torch module was imported.

    .venv/bin/python benchmarks/startup.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import report  # noqa: E402

from noizenet.runs import pretrained  # noqa: E402

LIGHT_GOAL_S = 1.0
TORCH_MARGIN_GOAL_S = 0.5


def seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def imports_torch(args: list[str], cwd: Path) -> bool:
    """Whether ``python -X importtime -m noizenet ARGS`` imports any torch module."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "noizenet", *args], cwd=cwd,
                          capture_output=True, text=True, check=True)
    return any(line.split("|")[-1].strip().split(".")[0] == "torch" for line in done.stderr.splitlines()
               if line.startswith("import time:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        cwd = Path(scratch)
        run, _ = pretrained.pretrained_run("folk-abc", cwd / "runs")
        shutil.copy(run.root / "figures.json", run.root / "metrics.json")  # `show` reads its figures
        noizenet = [sys.executable, "-m", "noizenet"]
        light = {"--version": ["--version"], "--help": ["--help"], "runs": ["runs"], "show RUN": ["show", str(run.root)],
                 "cache list": ["cache", "list"]}
        heavy = {"plugins": ["plugins"]}
        floors = {"python -c 'pass'": [sys.executable, "-c", "pass"],
                  "python -c 'import torch'": [sys.executable, "-c", "import torch"]}
        commands = {**{name: noizenet + a for name, a in {**light, **heavy}.items()}, **floors}
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(seconds(command, cwd))
        medians = {name: round(statistics.median(values), 3) for name, values in times.items()}
        torch_floor = medians["python -c 'import torch'"]
        result = {
            "rounds": args.rounds, "median_s": medians,
            "light_goal_s": LIGHT_GOAL_S,
            "light_import_torch": {name: imports_torch(a, cwd) for name, a in light.items()},
            "light_within_goal": all(medians[name] < LIGHT_GOAL_S for name in light),
            "torch_floor_s": torch_floor,
            "plugins_over_torch_floor_s": round(medians["plugins"] - torch_floor, 3),
            "torch_margin_goal_s": TORCH_MARGIN_GOAL_S,
        }
    report("startup", result)
    print("| command | median s | goal |")
    print("| --- | --- | --- |")
    for name, value in medians.items():
        goal = (f"< {LIGHT_GOAL_S} s, no torch ({'none' if not result['light_import_torch'][name] else 'IMPORTS TORCH'})"
                if name in light else f"torch floor + {TORCH_MARGIN_GOAL_S} s" if name in heavy else "floor")
        print(f"| {name} | {value} | {goal} |")


if __name__ == "__main__":
    main()
