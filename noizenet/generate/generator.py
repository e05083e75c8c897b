"""The shared generation stage: stateful sampling with temperature, batched over
every sample at once, one model step per new token or frame; the output kind
draws each step.

Generation on CPU uses the model's compiled sampler when it has one
(:meth:`SequenceModel.compiled_sampler`): the same distributions without a Python
and PyTorch dispatch per step, which is what makes sample-level audio real time.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from noizenet.plugin.interfaces import OutputSpec, SequenceModel, TokenRule
from noizenet.plugin.kinds.categorical import truncate

PROGRESS_EVERY = 256  # steps between progress reports of the step loop


@dataclass
class Generated:
    sequences: list[torch.Tensor]  # per row: prime followed by what the model added
    new_steps: int  # tokens (or frames) generated after the primes, all rows together
    seconds: float


def generate(
    model: SequenceModel,
    spec: OutputSpec,
    primes: Sequence[torch.Tensor],
    temperatures: Sequence[float],
    *,
    max_length: int,
    seed: int,
    device: torch.device,
    inject_noise: float = 0.0,
    compiled: bool = True,
    calibration: torch.Tensor | None = None,
    rules: Sequence[TokenRule | None] = (),
    top_k: int = 0,
    top_p: float = 1.0,
    conditions: torch.Tensor | None = None,
    guidance: float = 1.0,
    progress: Callable[[float], None] | None = None,
) -> Generated:
    """Continue each prime (row ``i`` at ``temperatures[i]``) by up to ``max_length`` steps.

    Rows read their own prime until it ends (teacher forcing), then feed back what
    they drew (with ``inject_noise``), as the output kind's sampler draws it
    (``calibration``: what :meth:`~noizenet.plugin.kinds.OutputKind.calibrate` measured).
    A row stops at ``spec.stop``. The state is carried step to step: the prefix is
    never re-read. Deterministic for a given ``seed``. ``compiled=False`` forces the
    eager path. ``rules`` (one per row, or none): each row draws only the tokens its
    rule allows (:meth:`Representation.token_rule`). ``top_k`` / ``top_p``: token
    kinds draw among the most likely tokens only (:func:`truncate`; 0 / 1 = all).
    ``conditions`` float32 ``(B, C)``: each row's condition, its outputs mixed as
    ``uncond + guidance * (cond - uncond)`` (1: conditioned alone, 0: unconditioned
    alone; otherwise every row runs twice). None: unconditioned.
    ``progress`` is called now and then with the fraction of steps done (0..1).
    """
    progress = progress or (lambda fraction: None)
    rules = list(rules) if any(rule is not None for rule in rules) else []
    truncation = {"top_k": top_k, "top_p": top_p} if spec.kind.tokens and (top_k > 0 or top_p < 1) else {}
    guide = Guide(conditions if guidance != 0 else None, guidance)
    extras = {**truncation, **guide.keywords()}
    sampler = model.compiled_sampler(len(primes)) if compiled and device.type == "cpu" and not rules else None
    if sampler is not None and not set(extras) <= set(inspect.signature(sampler).parameters):
        sampler = None  # a model's compiled sampler that cannot truncate or condition: the eager path can
    with torch.inference_mode():
        if sampler is not None:
            progress(0.0)  # the compiled loop runs to the end in one call
            result = _generate_compiled(
                sampler, spec, primes, temperatures, max_length=max_length, seed=seed, noise=inject_noise,
                calibration=calibration, extras=extras,
            )
        else:
            result = _generate(
                model, spec, primes, temperatures, max_length=max_length, seed=seed, device=device,
                noise=inject_noise, calibration=calibration, rules=rules, truncation=truncation,
                guide=guide.to(device), progress=progress,
            )
    progress(1.0)
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
    noise: float,
    calibration: torch.Tensor | None,
    rules: list[TokenRule | None],
    truncation: dict[str, Any],
    guide: Guide,
    progress: Callable[[float], None],
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
    draw = spec.kind.sampler(temps, calibration, generator, noise)

    tick = time.perf_counter()
    state = None
    if shortest > 1:  # the part every prime has, in one fused call
        _, state = guide.step(model, out[:, : shortest - 1], state)
    _feed(rules, out[:, :shortest])
    for t in range(shortest - 1, total - 1):
        y, state = guide.step(model, out[:, t : t + 1], state)
        forced = t + 1 < lengths
        sharpening = model.sharpening(state)
        if sharpening is not None:
            y = y * sharpening[:rows, None, None]  # guided: the conditioned rows' sharpness
        logits = _obey(rules, y[:, -1], forced)
        if truncation:
            logits = truncate(logits, temps, **truncation)
        nxt = draw(logits, forced).to(out.dtype)
        keep = forced.view(-1, *([1] * len(frame)))
        out[:, t + 1] = torch.where(keep, out[:, t + 1], nxt)
        _feed(rules, out[:, t + 1 : t + 2])
        if spec.stop is not None:
            finished |= ~forced & (out[:, t + 1] == spec.stop)
        finished |= t + 2 >= end
        if bool(finished.all()):
            break
        if (t + 1) % PROGRESS_EVERY == 0:
            progress((t + 1 - shortest) / max(1, total - shortest))
    seconds = time.perf_counter() - tick
    return _collect(out, lengths, end, spec, seconds)


@dataclass
class Guide:
    """How the rows are conditioned: each row's ``conditions`` ``(B, C)`` (None:
    unconditioned) and the ``guidance`` that mixes the conditioned and unconditioned
    outputs. Between 0 and 1 exclusive, or above 1, every row runs twice in one
    batch (conditioned rows first, then the same rows with no condition)."""

    conditions: torch.Tensor | None
    guidance: float = 1.0

    @property
    def paired(self) -> bool:
        return self.conditions is not None and self.guidance != 1

    def to(self, device: torch.device) -> Guide:
        return Guide(None if self.conditions is None else self.conditions.float().to(device), self.guidance)

    def keywords(self) -> dict[str, Any]:
        """What a compiled sampler is given (nothing when unconditioned)."""
        if self.conditions is None:
            return {}
        return {"conditions": self.conditions.float().cpu().numpy(), "guidance": float(self.guidance)}

    def step(self, model: SequenceModel, x: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """``model`` on ``x`` ``(B, T, ...)``: outputs ``(B, T, V)`` (guided: mixed)
        and the state (guided: of ``2B`` rows)."""
        if self.conditions is None:
            return model(x, state)
        condition = self.conditions[:, None].expand(-1, x.shape[1], -1)
        if not self.paired:
            return model(x, state, condition=condition)
        y, state = model(torch.cat([x, x]), state, condition=torch.cat([condition, torch.zeros_like(condition)]))
        conditioned, unconditioned = y.chunk(2)
        return unconditioned + self.guidance * (conditioned - unconditioned), state


def _feed(rules: list[TokenRule | None], tokens: torch.Tensor) -> None:
    """Each row's rule reads that row of ``tokens`` ``(B, n)``."""
    for rule, row in zip(rules, tokens.tolist()):
        if rule is not None:
            for token in row:
                rule.feed(token)


def _obey(rules: list[TokenRule | None], logits: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
    """``logits`` ``(B, V)`` with the tokens a drawing row's rule forbids at -inf."""
    if not rules:
        return logits
    logits = logits.clone()
    for i, rule in enumerate(rules):
        allowed = None if rule is None or bool(forced[i]) else rule.allowed()
        if allowed is not None:
            logits[i, torch.from_numpy(~allowed).to(logits.device)] = -torch.inf
    return logits


def _generate_compiled(
    sampler: Callable[..., None],
    spec: OutputSpec,
    primes: Sequence[torch.Tensor],
    temperatures: Sequence[float],
    *,
    max_length: int,
    seed: int,
    noise: float,
    calibration: torch.Tensor | None,
    extras: dict[str, Any],
) -> Generated:
    lengths = torch.tensor([len(p) for p in primes])
    end = lengths + max_length
    out = torch.zeros((len(primes), int(end.max()), *primes[0].shape[1:]), dtype=primes[0].dtype)
    for i, prime in enumerate(primes):
        out[i, : len(prime)] = prime
    tick = time.perf_counter()
    sampler(
        out.numpy(),
        lengths.numpy(),
        end.numpy(),
        np.asarray(temperatures, dtype=np.float32),
        stop=-1 if spec.stop is None else spec.stop,
        noise=noise,
        seed=seed,
        scale=None if calibration is None else calibration.float().numpy(),
        **extras,
    )
    return _collect(out, lengths, end, spec, time.perf_counter() - tick)


def _collect(out: torch.Tensor, lengths: torch.Tensor, end: torch.Tensor, spec: OutputSpec, seconds: float) -> Generated:
    """Each row's prime and continuation, cut after its stop token."""
    sequences = []
    for i in range(len(out)):
        row = out[i, : int(end[i])]
        if spec.stop is not None:
            after_prime = (row[int(lengths[i]) :] == spec.stop).nonzero()
            if len(after_prime):
                row = row[: int(lengths[i]) + int(after_prime[0]) + 1]
        sequences.append(row.cpu())
    new_steps = sum(len(s) for s in sequences) - int(lengths.sum())
    return Generated(sequences=sequences, new_steps=new_steps, seconds=seconds)
