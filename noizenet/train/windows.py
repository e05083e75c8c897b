"""Teacher-forcing windows for truncated backprop through time.

Two layouts of the training pieces, both yielding :class:`Window` s of at most
``seq_len`` steps whose recurrent state the trainer carries to the next window:

* ``pieces``: every batch row plays pieces one after another, each from its first
  step with a zero state, exactly as evaluation and generation meet them. A piece
  fills whole windows (the last one padded and masked). When the pieces are too few
  to give every row several (a folder of long recordings), each is cut into parts
  of a few windows, each part from a zero state, cut elsewhere every epoch: every
  window of every piece is trained on, not only the openings of as many pieces as
  there are rows.
* ``stream``: the pieces are laid end to end (in a new order each epoch) and cut
  into ``batch_size`` parallel streams; the state flows from piece to piece.

Both are fixed by the seed and the epoch, so a run resumed mid-epoch sees the
same windows as one that never stopped.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from noizenet.errors import DataError
from noizenet.data.prepared import MappedSplit

TRAINED_AT_LEAST = 0.9  # share of the pieces' windows an epoch trains on, else pieces are cut into parts
PARTS_PER_ROW = 8  # parts of pieces a batch row plays in an epoch when they are cut


@dataclass
class Window:
    x: torch.Tensor  # (B, T) int64 tokens or (B, T, D) frames
    y: torch.Tensor  # targets, shaped like x: x shifted one step
    mask: torch.Tensor | None  # (B, T) bool, False on padding; None when nothing is padded
    fresh: torch.Tensor  # (B,) bool: rows that begin a new piece (or a new epoch) from a zero state
    condition: torch.Tensor | None = None  # (B, T, C) float32: each step's piece's condition; None: none declared

    @property
    def steps(self) -> int:
        """Predictions that count in the loss."""
        return int(self.mask.sum()) if self.mask is not None else self.x.shape[0] * self.x.shape[1]


def make_windows(
    layout: str, encoded: Sequence[torch.Tensor], *, batch_size: int, seq_len: int, seed: int,
    rank: int = 0, world_size: int = 1, conditions: torch.Tensor | None = None,
) -> PieceWindows | StreamWindows:
    """``conditions`` float32 ``(pieces, C)``: each piece's condition, given with every step of it."""
    cls = PieceWindows if layout == "pieces" else StreamWindows
    return cls(encoded, batch_size=batch_size, seq_len=seq_len, seed=seed, rank=rank, world_size=world_size,
               conditions=conditions)


def piece_lengths(encoded: Sequence[torch.Tensor]) -> np.ndarray:
    """Steps of each piece, int64 ``(pieces,)``: from a mapped split's offsets (no
    piece is touched), else by ``len``."""
    if isinstance(encoded, MappedSplit):
        return np.diff(encoded.offsets)
    return np.array([len(e) for e in encoded], dtype=np.int64)


class PieceWindows:
    """Rows that each play pieces one after another, every piece from its start.

    A piece occupies whole windows (its last one padded and masked), so a new piece
    always begins at a window boundary, where the trainer zeroes that row's state.
    Rows start pieces at different times, so a batch mixes openings, middles and
    endings instead of marching through every tune in step. When the pieces are
    fewer than the rows, or the rows' unequal lengths would leave more than a tenth of
    the windows untrained in an epoch, each piece is cut into parts of at most
    ``part_windows`` windows (the first part's length drawn per epoch, so the cuts
    move), each played from a zero state like a piece. The layout is held as arrays
    of part starts and lengths (memory in pieces, not windows); pieces are read
    window by window.
    """

    def __init__(
        self, encoded: Sequence[torch.Tensor], *, batch_size: int, seq_len: int, seed: int,
        rank: int = 0, world_size: int = 1, conditions: torch.Tensor | None = None,
    ) -> None:
        self.encoded = encoded
        self.conditions = conditions
        lengths = piece_lengths(encoded)
        self.usable = np.flatnonzero(lengths >= 2)  # pieces long enough to learn from
        if not len(self.usable):
            raise DataError("no training piece is long enough to learn from (each needs at least 2 steps)")
        self.lengths = lengths[self.usable]
        self.windows = -(-(self.lengths - 1) // seq_len)  # ceil: each piece's windows
        self.seq_len = seq_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.part_windows = int(self.windows.max())  # a piece is one part, unless...
        self.batch_size = max(1, min(batch_size, len(self.usable) // world_size))
        self._layout: tuple[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]], int] = (-1, [], 0)
        trained = self.count(0) * self.batch_size * world_size / int(self.windows.sum())
        if self.batch_size < batch_size or trained < TRAINED_AT_LEAST:  # ...the rows would wait or lose too much
            self.part_windows = max(1, -(-int(self.windows.sum()) // (batch_size * world_size * PARTS_PER_ROW)))
            parts = int((-(-self.windows // self.part_windows)).sum())
            self.batch_size = max(1, min(batch_size, parts // world_size))
            self._layout = (-1, [], 0)
        self.windows_per_epoch = self.count(0)

    def _rows(self, epoch: int) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
        """This rank's rows of ``epoch`` (per row: the usable index and first window of
        each part it plays, in order, and the row's window each part begins at) and
        the windows every row plays."""
        if self._layout[0] != epoch:
            self._layout = (epoch, *self._lay_out(epoch))
        return self._layout[1], self._layout[2]

    def _parts(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every part of this epoch: its piece (usable index), first window and windows."""
        size = self.part_windows
        first = np.minimum(self.windows, rng.integers(1, size + 1, len(self.windows)))  # the first part's windows
        pieces, starts, counts = [], [], []
        for j, (total, head) in enumerate(zip(self.windows.tolist(), first.tolist())):
            cuts = [0, *range(head, total, size), total]
            pieces += [j] * (len(cuts) - 1)
            starts += cuts[:-1]
            counts += np.diff(cuts).tolist()
        return np.array(pieces, np.int64), np.array(starts, np.int64), np.array(counts, np.int64)

    def _lay_out(self, epoch: int) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
        rng = np.random.default_rng((self.seed, epoch))
        if self.part_windows < int(self.windows.max()):
            pieces, firsts, counts = self._parts(rng)
        else:
            pieces, firsts, counts = np.arange(len(self.windows)), np.zeros(len(self.windows), np.int64), self.windows
        order = rng.permutation(len(pieces))
        rows = self.batch_size * self.world_size
        queue = [(0, row) for row in range(rows)]  # (windows so far, row): the shortest row, then the first
        taken: list[list[int]] = [[] for _ in range(rows)]
        for p in order.tolist():  # each part goes to the row that is shortest so far
            filled, row = heapq.heappop(queue)
            taken[row].append(p)
            heapq.heappush(queue, (filled + int(counts[p]), row))
        laid = []
        for chosen in taken:
            chosen_parts = np.array(chosen, dtype=np.int64)
            laid.append((pieces[chosen_parts], firsts[chosen_parts],
                         np.concatenate([[0], np.cumsum(counts[chosen_parts])])))
        length = min(int(starts[-1]) for *_, starts in laid)  # the tails of longer rows wait for another epoch
        return laid[self.rank :: self.world_size], length

    def count(self, epoch: int) -> int:
        """Windows in ``epoch`` (it varies a little with the order of the pieces)."""
        return self._rows(epoch)[1]

    def epoch(self, epoch: int, start: int = 0) -> Iterator[Window]:
        rows, length = self._rows(epoch)
        for w in range(start, length):
            slots = []
            for pieces, firsts, starts in rows:
                at = int(np.searchsorted(starts, w, side="right")) - 1
                slots.append((int(pieces[at]), int(firsts[at]) + w - int(starts[at]), w == int(starts[at])))
            yield self._window(slots)

    def _window(self, slots: list[tuple[int, int, bool]]) -> Window:
        """The window of each row: (usable piece index, window of that piece, whether
        it begins a part: a zero state)."""
        first = self.encoded[int(self.usable[slots[0][0]])]
        x = torch.zeros((len(slots), self.seq_len, *first.shape[1:]), dtype=first.dtype)
        y = torch.zeros_like(x)
        mask = torch.zeros((len(slots), self.seq_len), dtype=torch.bool)
        for row, (j, k, _) in enumerate(slots):
            piece = self.encoded[int(self.usable[j])]
            lo = k * self.seq_len
            n = min(self.seq_len, int(self.lengths[j]) - 1 - lo)
            x[row, :n] = piece[lo : lo + n]
            y[row, :n] = piece[lo + 1 : lo + 1 + n]
            mask[row, :n] = True
        fresh = torch.tensor([begins for *_, begins in slots])
        condition = None
        if self.conditions is not None:
            pieces = torch.from_numpy(self.usable[[j for j, *_ in slots]])
            condition = self.conditions[pieces][:, None].expand(-1, self.seq_len, -1)
        return Window(x, y, None if bool(mask.all()) else mask, fresh=fresh, condition=condition)


class StreamWindows:
    """Windows over ``batch_size`` parallel streams of the pieces laid end to end."""

    def __init__(
        self, encoded: Sequence[torch.Tensor], *, batch_size: int, seq_len: int, seed: int,
        rank: int = 0, world_size: int = 1, conditions: torch.Tensor | None = None,
    ) -> None:
        self.encoded = encoded
        self.conditions = conditions
        self.lengths = piece_lengths(encoded)
        self.seq_len = seq_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        total = int(self.lengths.sum())
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
        order = np.random.default_rng((self.seed, epoch)).permutation(len(self.lengths))
        starts = np.concatenate([[0], np.cumsum(self.lengths[order])])
        mine = range(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        for i in range(start, self.windows_per_epoch):
            rows = [_steps(self.encoded, order, starts, s * self.stream_len + i * self.seq_len, self.seq_len + 1)
                    for s in mine]
            x, y = torch.stack([r[:-1] for r, _ in rows]), torch.stack([r[1:] for r, _ in rows])
            condition = None
            if self.conditions is not None:  # each input step's piece's
                condition = self.conditions[torch.stack([torch.from_numpy(p[:-1]) for _, p in rows])]
            yield Window(x, y, None, fresh=torch.full((self.batch_size,), i == 0), condition=condition)


def _steps(
    pieces: Sequence[torch.Tensor], order: np.ndarray, starts: np.ndarray, lo: int, count: int,
) -> tuple[torch.Tensor, np.ndarray]:
    """``count`` steps, from ``lo``, of ``pieces`` laid end to end in ``order`` (the
    j-th of them begins at ``starts[j]``), and the index of each step's piece."""
    parts, owners, hi = [], [], lo + count
    j = int(np.searchsorted(starts, lo, side="right")) - 1
    while lo < hi:
        offset = lo - int(starts[j])
        n = min(hi, int(starts[j + 1])) - lo
        parts.append(pieces[int(order[j])][offset : offset + n])
        owners.append(np.full(n, order[j], dtype=np.int64))
        lo, j = lo + n, j + 1
    return torch.cat(parts), np.concatenate(owners)
