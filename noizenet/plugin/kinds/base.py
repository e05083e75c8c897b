"""The output-kind interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import ClassVar

import torch

from noizenet.plugin.figures import Figure

# Draw(y, forced) -> next step: y (B, size) outputs of the last step, forced (B,) bool
# rows still reading their prime (left alone by injected noise).
Draw = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class OutputKind(ABC):
    """How one model step's output is read.

    ``tokens``: encoded steps are int64 ids ``(T,)`` and model inputs ``(B, T)``;
    otherwise float32 frames ``(T, D)`` and inputs ``(B, T, D)``. The model outputs
    ``(B, T, spec.size)`` either way; what those numbers mean (logits, a frame,
    per-key logits, ...) is the kind's business.
    """

    name: ClassVar[str]
    unit: ClassVar[str]  # of the loss, e.g. "nats/token"
    tokens: ClassVar[bool]

    def __eq__(self, other: object) -> bool:  # kinds of one class with equal settings are one kind
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(type(self))

    @abstractmethod
    def step_losses(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Loss of each step ``(B, T)`` for outputs ``y`` ``(B, T, size)`` against the
        encoded next steps ``target`` (``(B, T)`` or ``(B, T, D)``), in :attr:`unit`."""

    def loss(self, y: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Training loss: the mean of :meth:`step_losses` over the steps where ``mask``
        ``(B, T)`` is True (all when None)."""
        losses = self.step_losses(y, target)
        if mask is None:
            return losses.mean()
        return (losses * mask).sum() / mask.sum().clamp_min(1)

    def correct(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """``(B, T)`` bool: steps predicted exactly (next-token accuracy), or None
        where accuracy means nothing for this kind."""
        return None

    def figures(self) -> list[Figure]:
        """The held-out figures of :meth:`held_out_figures`, declared."""
        return [
            Figure("val_loss", "validation loss", self.unit, "lower", headline=True, format="{:.4f}"),
            Figure("test_loss", "test loss", self.unit, "lower", headline=True, format="{:.4f}"),
        ]

    def held_out_figures(self, val: dict[str, float], test: dict[str, float]) -> dict[str, float | None]:
        """Figures from the validation and test scores of
        :func:`noizenet.train.scoring.score_pieces` (``loss``, ``steps``, ``accuracy``)."""
        return {"val_loss": val["loss"], "test_loss": test["loss"]}

    def calibrate(
        self, model: torch.nn.Module, encoded: Sequence[torch.Tensor], device: torch.device
    ) -> torch.Tensor | None:
        """What sampling needs to learn from the model's held-out predictions (run
        once after training, saved in ``best.pt``); None when nothing."""
        return None

    @abstractmethod
    def sampler(
        self,
        temperatures: torch.Tensor,
        calibration: torch.Tensor | None,
        generator: torch.Generator,
        inject_noise: float = 0.0,
    ) -> Draw:
        """A :data:`Draw` for rows sampled at ``temperatures`` ``(B,)`` (0 = the most
        likely step), with ``inject_noise`` added to what is fed back."""
