"""Output kind ``nade-keys``: the keys of a frame modelled jointly, one after another,
as the NADE output of RNN-NADE (Boulanger-Lewandowski et al. 2012) does.

Independent Bernoullis (:class:`~noizenet.plugins.midi.multilabel.MultiLabel`)
cannot say "C or E, but not both"; here key ``k`` of the next frame is predicted
from the model's state and from the keys below it in that frame, so chords are
learned as chords:

    h_k = sigmoid(c + sum_{j<k} x_j V_j)        (a NADE hidden layer of ``rank`` units)
    p(x_k = 1) = sigmoid(b_k + U_k . h_k)

Unlike RNN-NADE, whose ``V`` and ``U`` are fixed, the recurrent model emits all of
``b`` (keys), ``c`` (rank), ``U`` and ``V`` (keys x rank) at every step, so the
model's output layer is the only new weight and any built-in model can drive it.
The loss is the frame's exact negative log-likelihood in nats, as for the
independent kind; sampling draws the keys in order, lowest first, each at the
temperature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from noizenet.api import Draw, OutputKind
from noizenet.plugins.midi.multilabel import flip_keys


class NadeKeys(OutputKind):
    """Frames of ``keys`` 0/1 keys ``(B, T, keys)``; the model outputs
    ``keys * (1 + 2 * rank) + rank`` numbers a step: ``b``, ``c``, ``U``, ``V``."""

    name = "nade-keys"
    unit = "nats/frame"
    tokens = False

    def __init__(self, keys: int, rank: int) -> None:
        self.keys = keys
        self.rank = rank

    @property
    def size(self) -> int:
        """Outputs a step of the model."""
        return self.keys * (1 + 2 * self.rank) + self.rank

    def bias(self, key_log_odds: tuple[float, ...]) -> tuple[float, ...]:
        """An output bias that starts every key at its log-odds and the rest at zero."""
        return tuple(key_log_odds) + (0.0,) * (self.size - self.keys)

    def _parts(self, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``b`` (..., K), ``c`` (..., r), ``U`` and ``V`` (..., K, r) of outputs ``y``."""
        k, r = self.keys, self.rank
        b, c, u, v = y.float().split([k, r, k * r, k * r], dim=-1)
        return b, c, u.unflatten(-1, (k, r)), v.unflatten(-1, (k, r))

    def logits(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Each key's logit ``(..., K)`` given the keys below it in ``target``."""
        b, c, u, v = self._parts(y)
        given = target.float()[..., None] * v  # (..., K, r)
        below = given.cumsum(-2) - given  # the keys under each key only
        return b + (u * torch.sigmoid(c[..., None, :] + below)).sum(-1)

    def step_losses(self, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(self.logits(y, target), target.float(), reduction="none").sum(-1)

    def sampler(
        self,
        temperatures: torch.Tensor,
        calibration: torch.Tensor | None,
        generator: torch.Generator,
        inject_noise: float = 0.0,
    ) -> Draw:
        """Keys in order, lowest first, each from its sigmoid at the row's temperature
        (0: on when above one half); ``inject_noise`` flips each fed-back key with that chance."""
        hot = temperatures.clamp_min(1e-6)
        greedy = temperatures <= 0

        def draw(y: torch.Tensor, forced: torch.Tensor) -> torch.Tensor:
            b, c, u, v = self._parts(y)
            keys = torch.zeros_like(b)
            below = torch.zeros_like(c)
            for k in range(self.keys):
                logit = b[:, k] + (u[:, k] * torch.sigmoid(c + below)).sum(-1)
                drawn = torch.bernoulli(torch.sigmoid(logit / hot), generator=generator)
                keys[:, k] = torch.where(greedy, (logit > 0).float(), drawn)
                below = below + keys[:, k, None] * v[:, k]
            return flip_keys(keys, inject_noise, forced, generator)

        return draw
