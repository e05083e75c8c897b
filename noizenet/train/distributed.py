"""Data-parallel training with torch.distributed, as started by ``torchrun``.

``torchrun --nproc_per_node N -m noizenet run ...`` sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; :func:`setup` then joins the process group (NCCL on GPUs, gloo
on CPUs). Each rank trains on its own rows of every batch (``--batch-size`` is per
process: the global batch is ``batch_size * WORLD_SIZE``), DistributedDataParallel
averages the gradients, and every decision that ends a loop (time budget, early
stopping, divergence) is taken on numbers all ranks agree on, so that no rank waits
forever for another. Rank 0 alone writes the run directory and generates samples.
Without those variables everything here is a no-op.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_distributed() -> bool:
    return world_size() > 1


def is_main() -> bool:
    return rank() == 0


def local_processes() -> int:
    """Processes of this run on this machine (they share its CPU cores)."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def setup(device: torch.device) -> torch.device:
    """Join the process group; on CUDA each process takes GPU ``LOCAL_RANK``."""
    if not is_distributed():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` inside DistributedDataParallel when distributed, else itself."""
    if not is_distributed():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def agree(loss: float, seconds: float, stop: bool, device: torch.device) -> tuple[float, float, bool]:
    """(mean of every rank's ``loss``, rank 0's ``seconds``, whether any rank was
    asked to stop): one all-reduce per step, so that divergence checks, the time
    budget and Ctrl-C decide the same on every rank."""
    if not is_distributed():
        return loss, seconds, stop
    values = torch.tensor([loss, seconds if is_main() else 0.0, float(stop)], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    return float(values[0]) / world_size(), float(values[1]), bool(values[2] > 0)


def shard(items: list[Any]) -> list[Any]:
    """This rank's share of ``items`` (every ``world_size``-th, from ``rank``)."""
    return items[rank() :: world_size()]


def reduce_score(score: dict[str, float], device: torch.device) -> dict[str, float]:
    """Combine per-rank :func:`~noizenet.train.scoring.score_pieces` results into the score
    of all ranks' pieces together (means weighted by each rank's steps)."""
    if not is_distributed():
        return score
    steps = score["steps"]
    totals = torch.tensor(
        [score["loss"] * steps if steps else 0.0, score.get("accuracy", 0.0) * steps if steps else 0.0, steps],
        dtype=torch.float64,
        device=device,
    )
    dist.all_reduce(totals)
    loss_sum, correct, steps = totals.tolist()
    combined = {"loss": loss_sum / steps if steps else float("nan"), "steps": int(steps)}
    if "accuracy" in score:
        combined["accuracy"] = correct / steps if steps else float("nan")
    return combined
