"""Output kind ``token-and-frame``: one token drawn from a softmax and a frame of
continuous features regressed, in every step (the ``harmonic`` representation's
pitch and timbre).

A step is a float32 frame ``(vocabulary + features,)``: the token one-hot, then the
features. The model outputs the token's logits and its prediction of the features.
The loss is the token's cross-entropy in nats plus the features' mean squared
error; sampling draws the token at the temperature and takes the features as
predicted (timbre is regressed, not sampled: Gaussian noise on it, scaled to the
model's held-out error as the continuous kind does, made a 3-minute LSTM's tones
flutter and lowered their voiced share from 0.90 to 0.62).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from noizenet.api import ACCURACY_FIGURES, Draw, Figure, OutputKind, softmax_draw, swap_tokens


class TokenAndFrame(OutputKind):
    """Frames ``(B, T, vocabulary + features)``, the first ``vocabulary`` columns one-hot."""

    name = "token-and-frame"
    unit = "nats + MSE"
    tokens = False

    def __init__(self, vocabulary: int) -> None:
        self.vocabulary = vocabulary

    def step_losses(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        split = self.vocabulary
        token = F.cross_entropy(y[..., :split].reshape(-1, split), target[..., :split].argmax(-1).reshape(-1),
                                reduction="none").view(target.shape[:-1])
        return token + ((y[..., split:] - target[..., split:]) ** 2).mean(-1)

    def correct(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return y[..., : self.vocabulary].argmax(-1) == target[..., : self.vocabulary].argmax(-1)

    def figures(self) -> list[Figure]:
        return [*super().figures(), *ACCURACY_FIGURES]

    def held_out_figures(self, val: dict[str, float], test: dict[str, float]) -> dict[str, float | None]:
        return {**super().held_out_figures(val, test), "val_accuracy": val.get("accuracy"),
                "test_accuracy": test.get("accuracy")}

    def sampler(
        self,
        temperatures: torch.Tensor,
        calibration: torch.Tensor | None,
        generator: torch.Generator,
        inject_noise: float = 0.0,
    ) -> Draw:
        """Injected noise: that share of the tokens fed back is random, and Gaussian
        noise of that std is added to the fed-back features."""

        def draw(y: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
            logits, features = y[:, : self.vocabulary].float(), y[:, self.vocabulary :].float()
            token = swap_tokens(softmax_draw(logits, temperatures, generator), inject_noise, self.vocabulary, forced,
                                generator)
            if inject_noise > 0:
                noise = torch.randn(features.shape, generator=generator, device=y.device) * inject_noise
                features = features + noise * (~forced)[:, None]
            return torch.cat([F.one_hot(token, self.vocabulary).float(), features], dim=1)

        return draw
