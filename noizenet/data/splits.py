"""Split pieces into train / validation / test by piece: as the dataset gives it
(``piece.meta["split"]``), else shuffled and cut, fixed by the seed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noizenet.errors import DataError
from noizenet.plugin.interfaces import Piece


SPLIT_NAMES = ("train", "validation", "test")  # values of piece.meta["split"]


def split_pieces(
    pieces: Sequence[Piece], fractions: Sequence[float], seed: int
) -> tuple[list[Piece], list[Piece], list[Piece]]:
    """(train, val, test): the dataset's own split where its pieces carry one, else
    the pieces shuffled with ``seed`` and cut by ``fractions``.

    No piece lands in two splits. Validation and test get at least one piece each
    when their fraction is above zero, so a tiny corpus still evaluates.
    """
    ids = [piece.id for piece in pieces]
    if len(set(ids)) != len(ids):
        raise DataError("the dataset yielded two pieces with one id")
    if is_given_split(pieces):
        return given_split(pieces)
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


def is_given_split(pieces: Sequence[Piece]) -> bool:
    """Whether the dataset says which split each piece belongs to."""
    return any("split" in piece.meta for piece in pieces)


def given_split(pieces: Sequence[Piece]) -> tuple[list[Piece], list[Piece], list[Piece]]:
    """The pieces grouped by ``meta["split"]`` (one of :data:`SPLIT_NAMES` each), in order."""
    wrong = [piece.id for piece in pieces if piece.meta.get("split") not in SPLIT_NAMES]
    if wrong:
        raise DataError(f"piece {wrong[0]} has no split of {'/'.join(SPLIT_NAMES)}, while others have one: "
                        "a dataset that supplies the split gives one to every piece")
    parts = tuple([piece for piece in pieces if piece.meta["split"] == name] for name in SPLIT_NAMES)
    empty = [name for name, part in zip(SPLIT_NAMES, parts) if not part]
    if empty:
        raise DataError(f"the dataset's own split has no {' and no '.join(empty)} pieces")
    return parts
