"""What every benchmark prints first: the machine, torch version and thread count."""

from __future__ import annotations

import json
import platform
import time
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


def matmul_flops(dtype: torch.dtype | None = None, size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a square matrix product on this machine (fp32 unless ``dtype``)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    if dtype is not None:
        a, b = a.to(dtype), b.to(dtype)
    a @ b
    tick = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - tick)


def model_macs_per_token(cfg: Any, vocabulary: int, gates: int = 4) -> int:
    """Multiply-adds of one forward step of a recurrent net (LSTM: 4 gates) with a
    ``cfg.embedding``-wide input, ``cfg.layers`` x ``cfg.hidden`` units and a head."""
    macs, width = 0, cfg.embedding
    for _ in range(cfg.layers):
        macs += gates * cfg.hidden * (width + cfg.hidden)
        width = cfg.hidden
    return macs + cfg.hidden * vocabulary
