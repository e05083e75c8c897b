"""Continuous outputs: one float frame ``(D,)`` per step; mean squared error, and
sampling from a Gaussian around the prediction whose per-feature spread is the
model's own RMS error on held-out frames, times the temperature."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from noizenet.plugin.kinds.base import Draw, OutputKind

CALIBRATION_STEPS = 20_000  # held-out frames the prediction spread is measured on


class Continuous(OutputKind):
    """Inputs and targets are float32 frames ``(B, T, D)``; the model outputs the next frame."""

    name = "continuous"
    unit = "MSE"
    tokens = False

    def step_losses(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((y - target) ** 2).mean(-1)

    def loss(self, y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            return F.mse_loss(y, target)
        return super().loss(y, target, mask)

    @torch.inference_mode()
    def calibrate(
        self, model: torch.nn.Module, encoded: Sequence[torch.Tensor], device: torch.device
    ) -> torch.Tensor:
        """Per-feature RMS ``(D,)`` of the model's errors on held-out frames (at most
        ``CALIBRATION_STEPS`` of them): the spread of its Gaussian predictive
        distribution, sampled from at temperature 1."""
        was_training = model.training
        model.eval()
        squares, count = None, 0
        for piece in encoded:
            piece = piece[: CALIBRATION_STEPS - count + 1]
            if len(piece) < 2:
                continue
            y, _ = model(piece[None, :-1].to(device))
            error = (y[0].float() - piece[1:].to(device)) ** 2
            squares = error.sum(0) if squares is None else squares + error.sum(0)
            count += len(error)
            if count >= CALIBRATION_STEPS:
                break
        model.train(was_training)
        if squares is None:
            raise ValueError("no held-out piece has two steps to measure prediction errors on")
        return (squares / count).sqrt().cpu()

    def sampler(
        self,
        temperatures: torch.Tensor,
        calibration: torch.Tensor | None,
        generator: torch.Generator,
        inject_noise: float = 0.0,
    ) -> Draw:
        """Temperature 0 (or no calibration) gives the bare prediction; injected
        noise is Gaussian of std ``inject_noise`` on every fed-back frame."""
        spread = None
        if calibration is not None:
            spread = temperatures[:, None] * calibration.to(temperatures.device)  # (B, D)

        def draw(y: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
            nxt = y.float()
            if spread is not None:
                nxt = nxt + spread * torch.randn(nxt.shape, generator=generator, device=nxt.device)
            if inject_noise > 0:
                noise = torch.randn(nxt.shape, generator=generator, device=nxt.device, dtype=nxt.dtype) * inject_noise
                nxt = nxt + noise * (~forced)[:, None]
            return nxt

        return draw
