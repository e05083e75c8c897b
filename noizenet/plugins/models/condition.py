"""The condition input every built-in model shares: a bias-free projection of the
condition (a pitch-class profile, ...) added to a layer's input at every step, so
that no condition (None) and the all-zero condition give the same prediction, the
unconditioned one that guidance mixes with the conditioned.
"""

from __future__ import annotations

import torch
from torch import nn

from noizenet.api import OutputSpec


class ConditionInput(nn.Module):
    """``(B, T, W)`` layer input + ``(B, T, C)`` condition projected to ``W``; the input
    unchanged where the spec has no condition (``spec.condition`` 0: no weights)."""

    def __init__(self, spec: OutputSpec, width: int) -> None:
        super().__init__()
        self.project = nn.Linear(spec.condition, width, bias=False) if spec.condition else None

    def forward(self, inputs: torch.Tensor, condition: torch.Tensor | None) -> torch.Tensor:
        if condition is None or self.project is None:
            return inputs
        return inputs + self.project(condition.to(inputs.dtype))
