"""What every benchmark prints first: the machine, torch version and thread count."""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import torch


def describe_machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


def report(name: str, result: dict[str, Any], out: Path = Path("benchmarks/results")) -> None:
    """Print ``result`` with the machine and write it to ``out/NAME.json``."""
    result = {"benchmark": name, **describe_machine(), **result}
    print(json.dumps(result, indent=2))
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
