"""The shared generation stage: stateful sampling with temperature, batched over
every sample at once, one model step per new token or frame."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from noizenet.interfaces import OutputSpec, SequenceModel


@dataclass
class Generated:
    sequences: list[torch.Tensor]  # per row: prime followed by what the model added
    new_steps: int  # tokens (or frames) generated after the primes, all rows together
    seconds: float


def draw(logits: torch.Tensor, temperature: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row from ``logits`` (B, V) at per-row ``temperature`` (B,); 0 = argmax."""
    scaled = logits.float() / temperature.clamp_min(1e-6)[:, None]
    drawn = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator).squeeze(1)
    return torch.where(temperature > 0, drawn, logits.argmax(-1))


def generate(
    model: SequenceModel,
    spec: OutputSpec,
    primes: Sequence[torch.Tensor],
    temperatures: Sequence[float],
    *,
    max_length: int,
    seed: int,
    device: torch.device,
) -> Generated:
    """Continue each prime (row ``i`` at ``temperatures[i]``) by up to ``max_length`` steps.

    Rows read their own prime until it ends (teacher forcing), then feed back what
    they drew. A row stops at ``spec.stop``. The state is carried step to step: the
    prefix is never re-read. Deterministic for a given ``seed``.
    """
    with torch.inference_mode():
        result = _generate(model, spec, primes, temperatures, max_length=max_length, seed=seed, device=device)
    result.sequences = [s.clone() for s in result.sequences]  # ordinary tensors, not inference ones
    return result


def _generate(
    model: SequenceModel,
    spec: OutputSpec,
    primes: Sequence[torch.Tensor],
    temperatures: Sequence[float],
    *,
    max_length: int,
    seed: int,
    device: torch.device,
) -> Generated:
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    rows = len(primes)
    lengths = torch.tensor([len(p) for p in primes], device=device)
    shortest, longest = int(lengths.min()), int(lengths.max())
    total = longest + max_length
    frame = primes[0].shape[1:]
    out = torch.zeros((rows, total, *frame), dtype=primes[0].dtype, device=device)
    for i, prime in enumerate(primes):
        out[i, : len(prime)] = prime.to(device)
    temps = torch.tensor(list(temperatures), dtype=torch.float32, device=device)
    end = lengths + max_length  # exclusive end of each row
    finished = torch.zeros(rows, dtype=torch.bool, device=device)

    tick = time.perf_counter()
    state = None
    if shortest > 1:  # the part every prime has, in one fused call
        _, state = model(out[:, : shortest - 1], state)
    for t in range(shortest - 1, total - 1):
        y, state = model(out[:, t : t + 1], state)
        y = y[:, -1]
        nxt = draw(y, temps, generator) if spec.kind == "categorical" else y.to(out.dtype)
        forced = t + 1 < lengths
        keep = forced.view(-1, *([1] * len(frame)))
        out[:, t + 1] = torch.where(keep, out[:, t + 1], nxt)
        if spec.stop is not None:
            finished |= ~forced & (out[:, t + 1] == spec.stop)
        finished |= t + 2 >= end
        if bool(finished.all()):
            break
    seconds = time.perf_counter() - tick

    sequences = []
    for i in range(rows):
        row = out[i, : int(end[i])]
        if spec.stop is not None:
            after_prime = (row[int(lengths[i]) :] == spec.stop).nonzero()
            if len(after_prime):
                row = row[: int(lengths[i]) + int(after_prime[0]) + 1]
        sequences.append(row.cpu())
    new_steps = sum(len(s) for s in sequences) - int(lengths.sum())
    return Generated(sequences=sequences, new_steps=new_steps, seconds=seconds)
