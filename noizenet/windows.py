"""Teacher-forcing windows over the training corpus, for truncated backprop.

The encoded training pieces are laid end to end (in a new order each epoch) and cut
into ``batch_size`` parallel streams. Window ``i`` of an epoch is columns
``[i*seq_len, (i+1)*seq_len]`` of every stream, so the recurrent state at the end
of one window is the right start for the next: the trainer carries it over.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from noizenet.errors import DataError


class StreamWindows:
    """Windows ``(x, y)`` of shape ``(B, seq_len[, D])``; ``y`` is ``x`` shifted one step.

    ``rank``/``world_size`` give each distributed process its own streams.
    """

    def __init__(
        self,
        encoded: Sequence[torch.Tensor],
        *,
        batch_size: int,
        seq_len: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.encoded = list(encoded)
        self.seq_len = seq_len
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        total = sum(len(e) for e in self.encoded)
        streams = batch_size * world_size
        if total < seq_len + 1:
            raise DataError(
                f"train.seq_len={seq_len} is longer than the whole training data ({total} steps); lower --seq-len"
            )
        # Shrink the batch if the corpus cannot feed every stream one full window.
        self.batch_size = min(batch_size, max(1, (total - 1) // ((seq_len + 1) * world_size)))
        streams = self.batch_size * world_size
        self.stream_len = (total - 1) // streams
        self.windows_per_epoch = max(1, self.stream_len // seq_len)
        self.tokens_per_window = self.batch_size * seq_len

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Windows of ``epoch`` (0-based) from window ``start`` on; same seed, same order."""
        order = np.random.default_rng((self.seed, epoch)).permutation(len(self.encoded))
        corpus = torch.cat([self.encoded[i] for i in order])
        streams = self.batch_size * self.world_size
        usable = streams * self.stream_len
        x_all = corpus[:usable].view(streams, self.stream_len, *corpus.shape[1:])
        y_all = corpus[1 : usable + 1].view(streams, self.stream_len, *corpus.shape[1:])
        mine = slice(self.rank * self.batch_size, (self.rank + 1) * self.batch_size)
        x_all, y_all = x_all[mine], y_all[mine]
        for i in range(start, self.windows_per_epoch):
            cols = slice(i * self.seq_len, (i + 1) * self.seq_len)
            yield x_all[:, cols], y_all[:, cols]
