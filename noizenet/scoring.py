"""Losses chosen by the output spec, and held-out scoring of whole pieces."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from noizenet.interfaces import OutputSpec, SequenceModel

IGNORE = -100  # target value of padding for categorical outputs
CHUNK = 4096  # predictions per chunk of a long piece
CONTEXT = 1024  # steps each chunk reads before its first scored prediction


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
    max_batch_tokens: int = 1 << 18,
    chunk: int = CHUNK,
    context: int = CONTEXT,
    progress: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """Score each piece from its first step to its last, state carried through it.

    Pieces are padded into batches of similar length; padding is masked out. A piece
    longer than ``chunk`` steps (seconds of audio samples) is scored in chunks of
    ``chunk`` predictions, side by side in one batch, each reading the ``context``
    steps before it unscored first, so that a recurrent model needs no serial pass
    over the whole piece. Returns ``loss`` (mean per predicted step: nats/token or
    MSE), ``accuracy`` (next-token, categorical only) and ``steps`` (predictions).
    ``progress`` is called after each batch with the fraction of segments scored.
    """
    was_training = model.training
    model.eval()
    segments = [seg for piece in encoded for seg in _segments(piece, chunk, context)]
    order = sorted(range(len(segments)), key=lambda i: len(segments[i][0]))
    total_loss = 0.0
    total_correct = 0
    total_steps = 0
    scored = 0  # segments
    batch: list[tuple[torch.Tensor, int]] = []

    def flush() -> None:
        nonlocal total_loss, total_correct, total_steps, scored
        x, target, mask = _pad(batch, spec)
        y, _ = model(x.to(device))
        target, mask = target.to(device), mask.to(device)
        if spec.kind == "categorical":
            flat = F.cross_entropy(y.reshape(-1, spec.size), target.reshape(-1), ignore_index=IGNORE, reduction="none")
            losses = flat.view(target.shape)  # (B, T); 4x faster than classes on dim 1 of (B, V, T)
            total_correct += int(((y.argmax(-1) == target) & mask).sum())
        else:
            losses = ((y - target) ** 2).mean(-1)
        total_loss += float((losses * mask).sum())
        total_steps += int(mask.sum())
        scored += len(batch)
        if progress is not None:
            progress(scored / len(segments))

    for i in order:
        piece = segments[i][0]
        if batch and len(piece) * (len(batch) + 1) > max_batch_tokens:
            flush()
            batch = []
        batch.append(segments[i])
    if batch:
        flush()
    model.train(was_training)
    if total_steps == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "steps": 0}
    result = {"loss": total_loss / total_steps, "steps": total_steps}
    if spec.kind == "categorical":
        result["accuracy"] = total_correct / total_steps
    return result


@torch.inference_mode()
def residual_scale(
    model: SequenceModel, encoded: Sequence[torch.Tensor], device: torch.device, *, max_steps: int = 20_000
) -> torch.Tensor:
    """Per-feature RMS ``(D,)`` of the model's errors on held-out frames (at most
    ``max_steps`` of them): the spread of its Gaussian predictive distribution, which
    generation samples from at temperature 1 for continuous outputs."""
    was_training = model.training
    model.eval()
    squares, count = None, 0
    for piece in encoded:
        piece = piece[: max_steps - count + 1]
        if len(piece) < 2:
            continue
        y, _ = model(piece[None, :-1].to(device))
        error = (y[0].float() - piece[1:].to(device)) ** 2
        squares = error.sum(0) if squares is None else squares + error.sum(0)
        count += len(error)
        if count >= max_steps:
            break
    model.train(was_training)
    if squares is None:
        raise ValueError("no held-out piece has two steps to measure prediction errors on")
    return (squares / count).sqrt().cpu()


def _segments(piece: torch.Tensor, chunk: int, context: int) -> list[tuple[torch.Tensor, int]]:
    """``(steps, unscored)`` pairs covering every prediction of ``piece`` once: the
    first ``unscored`` predictions of a segment only warm up the state."""
    predictions = len(piece) - 1
    if predictions < 1:
        return []
    if predictions <= chunk + context:
        return [(piece, 0)]
    segments = []
    for start in range(0, predictions, chunk):
        first = max(0, start - context)
        segments.append((piece[first : min(start + chunk, predictions) + 1], start - first))
    return segments


def _pad(segments: Sequence[tuple[torch.Tensor, int]], spec: OutputSpec) -> tuple[torch.Tensor, ...]:
    """Inputs ``(B, T_max)``, targets and a bool mask ``(B, T_max)``, right-padded;
    each segment's first ``unscored`` predictions masked out."""
    pieces = [piece for piece, _ in segments]
    longest = max(len(p) for p in pieces) - 1
    shape = (len(pieces), longest, *pieces[0].shape[1:])
    x = torch.zeros(shape, dtype=pieces[0].dtype)
    target = torch.full(shape, IGNORE, dtype=pieces[0].dtype) if spec.kind == "categorical" else torch.zeros(shape)
    mask = torch.zeros(len(pieces), longest, dtype=torch.bool)
    for row, (piece, unscored) in enumerate(segments):
        n = len(piece) - 1
        x[row, :n] = piece[:-1]
        target[row, :n] = piece[1:]
        mask[row, unscored:n] = True
    return x, target, mask
