"""Held-out scoring of whole pieces, with the loss and accuracy of the output kind."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from noizenet.plugin.interfaces import OutputSpec, SequenceModel

CHUNK = 4096  # predictions per chunk of a long piece
CONTEXT = 1024  # steps each chunk reads before its first scored prediction
MAX_BATCH_STEPS = 8192  # steps of a batch: a model's activations grow with them (a 512-wide LSTM: 8 KB a step a layer)


@torch.inference_mode()
def score_pieces(
    model: SequenceModel,
    encoded: Sequence[torch.Tensor],
    spec: OutputSpec,
    device: torch.device,
    *,
    max_batch_values: int = 1 << 22,
    max_batch_steps: int = MAX_BATCH_STEPS,
    chunk: int = CHUNK,
    context: int = CONTEXT,
    conditions: torch.Tensor | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """Score each piece from its first step to its last, state carried through it.

    Pieces are padded into batches of similar length, each holding at most
    ``max_batch_steps`` steps and ``max_batch_values`` output numbers (steps x the
    spec's size: 16 MB of float32, so a piano roll's NADE output, 2,920 numbers a
    step, batches 1,436 steps), never the whole held-out set: the memory scoring takes
    does not grow with it; padding is masked out. A piece
    longer than ``chunk`` steps (seconds of audio samples) is scored in chunks of
    ``chunk`` predictions, side by side in one batch, each reading the ``context``
    steps before it unscored first, so that a recurrent model needs no serial pass
    over the whole piece. ``conditions`` float32 ``(pieces, C)``: each piece's
    condition at every step of it (None: unconditioned). Returns ``loss`` (mean per predicted step, in the kind's
    unit), ``accuracy`` (where the kind has one) and ``steps`` (predictions).
    ``progress`` is called after each batch with the fraction of segments scored.
    """
    kind = spec.kind
    max_batch_tokens = max(1, min(max_batch_steps, max_batch_values // max(1, spec.size)))  # one segment at least
    was_training = model.training
    model.eval()
    segments = [(*seg, j) for j, piece in enumerate(encoded) for seg in _segments(piece, chunk, context)]
    order = sorted(range(len(segments)), key=lambda i: len(segments[i][0]))
    total_loss = 0.0
    total_correct = 0
    total_steps = 0
    has_accuracy = False
    scored = 0  # segments
    batch: list[tuple[torch.Tensor, int, int]] = []  # (steps, unscored, piece index)

    def flush() -> None:
        nonlocal total_loss, total_correct, total_steps, scored, has_accuracy
        x, target, mask = _pad([(steps, unscored) for steps, unscored, _ in batch])
        if conditions is None:
            y, _ = model(x.to(device))
        else:
            rows = conditions[[j for *_, j in batch]].float()  # (B, C)
            y, _ = model(x.to(device), condition=rows[:, None].expand(-1, x.shape[1], -1).to(device))
        target, mask = target.to(device), mask.to(device)
        losses = kind.step_losses(y, target)  # (B, T)
        correct = kind.correct(y, target)
        if correct is not None:
            has_accuracy = True
            total_correct += int((correct & mask).sum())
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
    if has_accuracy:
        result["accuracy"] = total_correct / total_steps
    return result


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


def _pad(segments: Sequence[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, ...]:
    """Inputs ``(B, T_max[, D])``, targets like them and a bool mask ``(B, T_max)``,
    right-padded with zeros; each segment's first ``unscored`` predictions masked out."""
    pieces = [piece for piece, _ in segments]
    longest = max(len(p) for p in pieces) - 1
    shape = (len(pieces), longest, *pieces[0].shape[1:])
    x = torch.zeros(shape, dtype=pieces[0].dtype)
    target = torch.zeros_like(x)
    mask = torch.zeros(len(pieces), longest, dtype=torch.bool)
    for row, (piece, unscored) in enumerate(segments):
        n = len(piece) - 1
        x[row, :n] = piece[:-1]
        target[row, :n] = piece[1:]
        mask[row, unscored:n] = True
    return x, target, mask
