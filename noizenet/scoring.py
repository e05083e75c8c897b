"""Losses chosen by the output spec, and held-out scoring of whole pieces."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from noizenet.interfaces import OutputSpec, SequenceModel

IGNORE = -100  # target value of padding for categorical outputs


def sequence_loss(
    y: torch.Tensor, target: torch.Tensor, spec: OutputSpec, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean loss of outputs ``y`` (B, T, size) against ``target`` (B, T[, size]) over
    the steps where ``mask`` (B, T) is True (all when None).

    Categorical: cross-entropy in nats per token. Continuous: mean squared error.
    """
    if spec.kind == "categorical":
        if mask is not None:
            target = target.masked_fill(~mask, IGNORE)
        return F.cross_entropy(y.reshape(-1, spec.size), target.reshape(-1), ignore_index=IGNORE)
    if mask is None:
        return F.mse_loss(y, target)
    per_step = ((y - target) ** 2).mean(-1)
    return (per_step * mask).sum() / mask.sum().clamp_min(1)


@torch.inference_mode()
def score_pieces(
    model: SequenceModel,
    encoded: Sequence[torch.Tensor],
    spec: OutputSpec,
    device: torch.device,
    *,
    max_batch_tokens: int = 1 << 16,
) -> dict[str, float]:
    """Score each piece from its first step to its last, state carried through it.

    Pieces are padded into batches of similar length; padding is masked out.
    Returns ``loss`` (mean per predicted step: nats/token or MSE), ``accuracy``
    (next-token, categorical only) and ``steps`` (how many predictions).
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    total_loss = 0.0
    total_correct = 0
    total_steps = 0
    batch: list[torch.Tensor] = []

    def flush() -> None:
        nonlocal total_loss, total_correct, total_steps
        x, target, mask = _pad(batch, spec)
        y, _ = model(x.to(device))
        target, mask = target.to(device), mask.to(device)
        if spec.kind == "categorical":
            losses = F.cross_entropy(y.transpose(1, 2), target, ignore_index=IGNORE, reduction="none")
            total_correct += int(((y.argmax(-1) == target) & mask).sum())
        else:
            losses = ((y - target) ** 2).mean(-1)
        total_loss += float((losses * mask).sum())
        total_steps += int(mask.sum())

    for i in order:
        piece = encoded[i]
        if len(piece) < 2:
            continue
        if batch and len(piece) * (len(batch) + 1) > max_batch_tokens:
            flush()
            batch = []
        batch.append(piece)
    if batch:
        flush()
    model.train(was_training)
    if total_steps == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "steps": 0}
    result = {"loss": total_loss / total_steps, "steps": total_steps}
    if spec.kind == "categorical":
        result["accuracy"] = total_correct / total_steps
    return result


def _pad(pieces: Sequence[torch.Tensor], spec: OutputSpec) -> tuple[torch.Tensor, ...]:
    """Inputs ``(B, T_max)``, targets and a bool mask ``(B, T_max)``, right-padded."""
    longest = max(len(p) for p in pieces) - 1
    shape = (len(pieces), longest, *pieces[0].shape[1:])
    x = torch.zeros(shape, dtype=pieces[0].dtype)
    target = torch.full(shape, IGNORE, dtype=pieces[0].dtype) if spec.kind == "categorical" else torch.zeros(shape)
    mask = torch.zeros(len(pieces), longest, dtype=torch.bool)
    for row, piece in enumerate(pieces):
        n = len(piece) - 1
        x[row, :n] = piece[:-1]
        target[row, :n] = piece[1:]
        mask[row, :n] = True
    return x, target, mask
