"""Primes ``start`` (nothing: a new piece from its start marker) and ``song`` (the
opening of a held-out piece, as the representation defines it)."""

from __future__ import annotations

import torch

from noizenet import hookimpl
from noizenet.errors import DataError
from noizenet.interfaces import Prime, PrimeContext, Representation


class StartPrime(Prime):
    name = "start"
    description = "nothing but the start of a piece: new music from scratch"

    def make(self, representation: Representation, context: PrimeContext, count: int) -> list[torch.Tensor]:
        return [representation.opening(None) for _ in range(count)]


class SongPrime(Prime):
    name = "song"
    description = "the opening of a held-out piece (test split), a different one per sample"

    def make(self, representation: Representation, context: PrimeContext, count: int) -> list[torch.Tensor]:
        if not context.held_out:
            raise DataError("prime 'song' needs held-out pieces, and the test split is empty")
        picks = context.rng.choice(len(context.held_out), size=count, replace=count > len(context.held_out))
        return [representation.opening(context.held_out[int(i)]) for i in picks]


@hookimpl
def noizenet_primes():
    return [StartPrime, SongPrime]
