"""Output kind ``multi-label`` (the ``pianoroll`` representation's with
``repr.output = "independent"``, and a base for kinds of keys): a frame of on/off
keys per step (a piano roll); one Bernoulli per key. The loss of a step is the sum
over keys of the binary log-loss, in nats per frame: the measure of the
polyphonic-music literature (Boulanger-Lewandowski et al. 2012). Each key is sampled
on its own, from the sigmoid of its logit at a temperature."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from noizenet.api import Draw, OutputKind


class MultiLabel(OutputKind):
    """Inputs and targets are float32 frames of 0/1 ``(B, T, K)``; the model outputs
    one logit per key ``(B, T, K)``."""

    name = "multi-label"
    unit = "nats/frame"
    tokens = False

    def step_losses(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(y.float(), target.float(), reduction="none").sum(-1)

    def sampler(
        self,
        temperatures: torch.Tensor,
        calibration: torch.Tensor | None,
        generator: torch.Generator,
        inject_noise: float = 0.0,
    ) -> Draw:
        """Temperature 0 gives every key whose probability is above one half;
        ``inject_noise`` is the chance that each fed-back key is flipped."""
        hot = temperatures[:, None].clamp_min(1e-6)

        def draw(y: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
            probabilities = torch.sigmoid(y.float() / hot)
            keys = torch.bernoulli(probabilities, generator=generator)
            keys = torch.where(temperatures[:, None] > 0, keys, (y > 0).float())
            return flip_keys(keys, inject_noise, forced, generator)

        return draw


def flip_keys(keys: torch.Tensor, chance: float, forced: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``keys`` ``(B, K)`` of 0/1 with each key of the rows not ``forced`` ``(B,)``
    flipped with probability ``chance`` (noise injected into what is fed back)."""
    if chance <= 0:
        return keys
    flip = torch.rand(keys.shape, generator=generator, device=keys.device) < chance
    return torch.where(flip & ~forced[:, None], 1.0 - keys, keys)
