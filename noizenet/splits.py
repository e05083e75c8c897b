"""Split pieces into train / validation / test by piece, fixed by the seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noizenet.errors import DataError
from noizenet.interfaces import Piece


def split_pieces(
    pieces: Sequence[Piece], fractions: Sequence[float], seed: int
) -> tuple[list[Piece], list[Piece], list[Piece]]:
    """Shuffle pieces with ``seed`` and cut them by ``fractions`` (train, val, test).

    No piece lands in two splits. Validation and test get at least one piece each
    when their fraction is above zero, so a tiny corpus still evaluates.
    """
    ids = [piece.id for piece in pieces]
    if len(set(ids)) != len(ids):
        raise DataError("the dataset yielded two pieces with one id")
    need = 1 + sum(1 for f in fractions[1:] if f > 0)
    if len(pieces) < need:
        raise DataError(f"need at least {need} pieces to split into train/validation/test, got {len(pieces)}")
    ordered = sorted(pieces, key=lambda piece: piece.id)
    order = np.random.default_rng(seed).permutation(len(ordered))
    shuffled = [ordered[i] for i in order]
    total = sum(fractions)
    n = len(shuffled)
    n_val = max(1, round(n * fractions[1] / total)) if fractions[1] > 0 else 0
    n_test = max(1, round(n * fractions[2] / total)) if fractions[2] > 0 else 0
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val = 1, n_val - 1
    return shuffled[:n_train], shuffled[n_train : n_train + n_val], shuffled[n_train + n_val :]
