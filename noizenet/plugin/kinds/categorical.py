"""Categorical outputs: one token per step out of ``spec.size``; cross-entropy in
nats per token, next-token accuracy, sampling from the softmax at a temperature."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from noizenet.plugin.figures import Figure
from noizenet.plugin.kinds.base import Draw, OutputKind

IGNORE = -100  # target of masked steps
ACCURACY_FIGURES = (  # of every kind that predicts a token a step
    Figure("val_accuracy", "validation next-token accuracy", "", "higher", headline=True, format="{:.4f}"),
    Figure("test_accuracy", "test next-token accuracy", "", "higher", headline=True, format="{:.4f}"),
)


class Categorical(OutputKind):
    """Inputs and targets are int64 token ids; the model outputs logits ``(B, T, V)``."""

    name = "categorical"
    unit = "nats/token"
    tokens = True

    def step_losses(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # flat (B*T, V) rows: 4x faster than classes on dim 1 of (B, V, T)
        flat = F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1), reduction="none")
        return flat.view(target.shape)

    def loss(self, y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            target = target.masked_fill(~mask, IGNORE)
        return F.cross_entropy(y.reshape(-1, y.shape[-1]), target.reshape(-1), ignore_index=IGNORE)

    def correct(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return y.argmax(-1) == target

    def figures(self) -> list[Figure]:
        return [
            *super().figures(),
            *ACCURACY_FIGURES,
            Figure("bits_per_token", "test bits per token", "bits/token", "lower", format="{:.4f}"),
        ]

    def held_out_figures(self, val: dict[str, float], test: dict[str, float]) -> dict[str, float | None]:
        return {
            **super().held_out_figures(val, test),
            "val_accuracy": val.get("accuracy"),
            "test_accuracy": test.get("accuracy"),
            "bits_per_token": test["loss"] / math.log(2),
        }

    def sampler(
        self,
        temperatures: torch.Tensor,
        calibration: torch.Tensor | None,
        generator: torch.Generator,
        inject_noise: float = 0.0,
    ) -> Draw:
        def draw(y: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
            nxt = softmax_draw(y, temperatures, generator)
            return swap_tokens(nxt, inject_noise, y.shape[-1], forced, generator)

        return draw


def swap_tokens(tokens: torch.Tensor, share: float, vocabulary: int, forced: torch.Tensor,
                generator: torch.Generator) -> torch.Tensor:
    """``tokens`` ``(B,)`` with about ``share`` of the rows not ``forced`` replaced by
    random tokens (injected noise on what is fed back)."""
    if share <= 0:
        return tokens
    swap = torch.rand(tokens.shape, generator=generator, device=tokens.device) < share
    random = torch.randint(vocabulary, tokens.shape, generator=generator, device=tokens.device)
    return torch.where(swap & ~forced, random, tokens)


def softmax_draw(logits: torch.Tensor, temperature: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row from ``logits`` (B, V) at per-row ``temperature`` (B,); 0 = argmax."""
    scaled = logits.float() / temperature.clamp_min(1e-6)[:, None]
    drawn = torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=generator).squeeze(1)
    return torch.where(temperature > 0, drawn, logits.argmax(-1))


def truncate(logits: torch.Tensor, temperature: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``logits`` ``(B, V)`` with every token outside each row's top ``top_k`` (0 = no
    limit), then outside its nucleus, at -inf: the nucleus is the most likely tokens
    of softmax(logits / temperature) whose probabilities, taken in order, reach
    ``top_p`` (a token is kept while the tokens ranked above it hold less than
    ``top_p``; the most likely is always kept). Temperature, then top-k, then top-p,
    as Hugging Face's samplers apply them."""
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if top_p < 1:
        probabilities = torch.softmax(logits.float() / temperature.clamp_min(1e-6)[:, None], dim=-1)
        ranked, order = probabilities.sort(dim=-1, descending=True)
        outside = (ranked.cumsum(-1) - ranked) >= top_p  # the mass ranked above reached top_p
        logits = logits.masked_fill(outside.scatter(-1, order, outside), -torch.inf)
    return logits
