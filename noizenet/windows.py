"""Teacher-forcing windows for truncated backprop through time.

Two layouts of the training pieces, both yielding :class:`Window` s of at most
``seq_len`` steps whose recurrent state the trainer carries to the next window:

* ``pieces``: every batch row plays pieces one after another, each from its first
  step with a zero state, exactly as evaluation and generation meet them. A piece
  fills whole windows (the last one padded and masked).
* ``stream``: the pieces are laid end to end (in a new order each epoch) and cut
  into ``batch_size`` parallel streams; the state flows from piece to piece.

Both are fixed by the seed and the epoch, so a run resumed mid-epoch sees the
same windows as one that never stopped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from noizenet.errors import DataError


@dataclass
class Window:
    x: torch.Tensor  # (B, T) int64 tokens or (B, T, D) frames
    y: torch.Tensor  # targets, shaped like x: x shifted one step
    mask: torch.Tensor | None  # (B, T) bool, False on padding; None when nothing is padded
    fresh: torch.Tensor  # (B,) bool: rows that begin a new piece (or a new epoch) from a zero state

    @property
    def steps(self) -> int:
        """Predictions that count in the loss."""
        return int(self.mask.sum()) if self.mask is not None else self.x.shape[0] * self.x.shape[1]


def make_windows(
    layout: str, encoded: Sequence[torch.Tensor], *, batch_size: int, seq_len: int, seed: int,
    rank: int = 0, world_size: int = 1,
) -> PieceWindows | StreamWindows:
    cls = PieceWindows if layout == "pieces" else StreamWindows
    return cls(encoded, batch_size=batch_size, seq_len=seq_len, seed=seed, rank=rank, world_size=world_size)


class PieceWindows:
    """Rows that each play whole pieces one after another, every piece from its start.

    A piece occupies whole windows (its last one padded and masked), so a new piece
    always begins at a window boundary, where the trainer zeroes that row's state.
    Rows start pieces at different times, so a batch mixes openings, middles and
    endings instead of marching through every tune in step.
    """

    def __init__(
        self, encoded: Sequence[torch.Tensor], *, batch_size: int, seq_len: int, seed: int,
        rank: int = 0, world_size: int = 1,
    ) -> None:
        self.encoded = [e for e in encoded if len(e) >= 2]
        if not self.encoded:
            raise DataError("no training piece is long enough to learn from (each needs at least 2 steps)")
        self.seq_len = seq_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.batch_size = max(1, min(batch_size, len(self.encoded) // world_size))
        self._layout: tuple[int, list] = (-1, [])  # (epoch, rows) of the last epoch laid out
        self.windows_per_epoch = self.count(0)

    def _rows(self, epoch: int) -> list[list[tuple[int, int]]]:
        """This rank's rows of ``epoch``: per row, (piece index, window of that piece)."""
        if self._layout[0] != epoch:
            self._layout = (epoch, self._lay_out(epoch))
        return self._layout[1]

    def _lay_out(self, epoch: int) -> list[list[tuple[int, int]]]:
        order = np.random.default_rng((self.seed, epoch)).permutation(len(self.encoded)).tolist()
        rows: list[list[tuple[int, int]]] = [[] for _ in range(self.batch_size * self.world_size)]
        for j in order:  # each piece goes to the row that is shortest so far
            row = min(rows, key=len)
            row += [(j, k) for k in range(math.ceil((len(self.encoded[j]) - 1) / self.seq_len))]
        length = min(len(row) for row in rows)  # the tails of longer rows wait for another epoch
        return [row[:length] for row in rows[self.rank :: self.world_size]]

    def count(self, epoch: int) -> int:
        """Windows in ``epoch`` (it varies a little with the order of the pieces)."""
        return len(self._rows(epoch)[0])

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Window]:
        rows = self._rows(epoch)
        for w in range(start, len(rows[0])):
            yield self._window([row[w] for row in rows])

    def _window(self, slots: list[tuple[int, int]]) -> Window:
        first = self.encoded[0]
        x = torch.zeros((len(slots), self.seq_len, *first.shape[1:]), dtype=first.dtype)
        y = torch.zeros_like(x)
        mask = torch.zeros((len(slots), self.seq_len), dtype=torch.bool)
        for row, (j, k) in enumerate(slots):
            piece = self.encoded[j]
            lo = k * self.seq_len
            n = min(self.seq_len, len(piece) - 1 - lo)
            x[row, :n] = piece[lo : lo + n]
            y[row, :n] = piece[lo + 1 : lo + 1 + n]
            mask[row, :n] = True
        fresh = torch.tensor([k == 0 for _, k in slots])
        return Window(x, y, None if bool(mask.all()) else mask, fresh=fresh)


class StreamWindows:
    """Windows over ``batch_size`` parallel streams of the pieces laid end to end."""

    def __init__(
        self, encoded: Sequence[torch.Tensor], *, batch_size: int, seq_len: int, seed: int,
        rank: int = 0, world_size: int = 1,
    ) -> None:
        self.encoded = list(encoded)
        self.seq_len = seq_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        total = sum(len(e) for e in self.encoded)
        if total < seq_len + 1:
            raise DataError(
                f"train.seq_len={seq_len} is longer than the whole training data ({total} steps); lower --seq-len"
            )
        # Shrink the batch if the corpus cannot feed every stream one full window.
        self.batch_size = min(batch_size, max(1, (total - 1) // ((seq_len + 1) * world_size)))
        self.stream_len = (total - 1) // (self.batch_size * world_size)
        self.windows_per_epoch = max(1, self.stream_len // seq_len)

    def count(self, epoch: int) -> int:
        return self.windows_per_epoch

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Window]:
        """The pieces laid end to end in this epoch's order, cut into streams; each
        window reads only its own steps (nothing of the whole corpus is copied)."""
        order = np.random.default_rng((self.seed, epoch)).permutation(len(self.encoded))
        pieces = [self.encoded[i] for i in order]
        starts = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
        mine = range(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        for i in range(start, self.windows_per_epoch):
            rows = [_steps(pieces, starts, s * self.stream_len + i * self.seq_len, self.seq_len + 1) for s in mine]
            x, y = torch.stack([r[:-1] for r in rows]), torch.stack([r[1:] for r in rows])
            yield Window(x, y, None, fresh=torch.full((self.batch_size,), i == 0))


def _steps(pieces: Sequence[torch.Tensor], starts: np.ndarray, lo: int, count: int) -> torch.Tensor:
    """``count`` steps of ``pieces`` laid end to end (piece j begins at ``starts[j]``), from ``lo``."""
    parts, hi = [], lo + count
    j = int(np.searchsorted(starts, lo, side="right")) - 1
    while lo < hi:
        offset = lo - int(starts[j])
        n = min(hi, int(starts[j + 1])) - lo
        parts.append(pieces[j][offset : offset + n])
        lo, j = lo + n, j + 1
    return torch.cat(parts)
