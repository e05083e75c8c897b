"""Where and in what precision a run computes: device choice, threads, autocast."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path

import torch

from noizenet.errors import ConfigError


def pick_device(wanted: str) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` -> a device; ``cuda`` without one is an error."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: no CUDA device is available here")
    return torch.device("cuda" if wanted == "cuda" or (wanted == "auto" and torch.cuda.is_available()) else "cpu")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 in hardware (AVX512-BF16 or AMX), where
    autocast makes recurrent training about 1.5-2x faster; elsewhere it is emulated."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (auto | fp32 | bf16) on ``device``, or None."""
    if precision == "fp32":
        return None
    if precision == "fp16":
        if device.type != "cuda":
            raise ConfigError("run.precision=fp16 needs a CUDA GPU (oneDNN has no fp16 RNNs); on CPU use bf16 or fp32")
        return torch.float16
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ConfigError("run.precision=bf16: this GPU has no bfloat16 support")
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_native_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for the forward pass (weights and optimizer stay fp32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def set_threads(threads: int) -> int:
    """Intra-op CPU threads: ``threads``, or every core this process may use when 0."""
    count = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(count)
    return count
