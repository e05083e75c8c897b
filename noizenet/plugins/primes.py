"""Primes: ``start`` (nothing but a piece's start), ``song`` (the opening of a
held-out piece), ``crossed`` (a song continued on another piece's condition: the
control that a conditioned model follows its condition), ``noise`` (white noise)
and ``perlin`` (1-D Perlin noise).

``noise`` and ``perlin`` are made as signals in the sample domain and handed to the
representation's :meth:`~noizenet.plugin.interfaces.Representation.prime_from_signal`:
audio takes them as samples, ABC maps them to characters or to notes of a key.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from noizenet.api import DataError, Prime, PrimeContext, Representation, correlation, hookimpl

PERLIN_LOWEST_HZ = 110.0  # the coarsest octave's lattice rate for audio (an A2)
PERLIN_OCTAVES = 6


class StartPrime(Prime):
    name = "start"
    description = "nothing but the start of a piece (with --meter, --key, --unit: a header stating them)"

    def make(self, representation: Representation, context: PrimeContext, count: int) -> list[torch.Tensor]:
        if context.steering:
            return [representation.steered_opening(context.steering)] * count
        return [representation.opening(None, seconds=context.seconds) for _ in range(count)]


class SongPrime(Prime):
    name = "song"
    keeps_condition = True  # a continuation keeps what its tune states (a conditioned representation's key)
    description = "the opening of a held-out piece (test split), a different one per sample"

    def make(self, representation: Representation, context: PrimeContext, count: int) -> list[torch.Tensor]:
        if not context.openings:
            raise DataError("prime 'song' needs held-out pieces, and the test split is empty")
        picks = context.rng.choice(len(context.openings), size=count, replace=count > len(context.openings))
        return [context.openings[int(i)] for i in picks]


class CrossedPrime(SongPrime):
    name = "crossed"
    description = ("the opening of a held-out piece, continued on the condition of another one (of the quarter least "
                   "like it): whether a model follows its condition or its prime (representations with conditions)")

    def applies_to(self, representation: Representation) -> bool:
        return bool(representation.spec.condition)

    def condition_sources(
        self, representation: Representation, context: PrimeContext, primes: Sequence[torch.Tensor]
    ) -> list[torch.Tensor | None]:
        if len(context.openings) < 2:
            raise DataError("prime 'crossed' needs two held-out pieces or more")
        conditions = np.stack([representation.condition(o) for o in context.openings])  # (openings, C)
        sources: list[torch.Tensor | None] = []
        for prime in primes:
            own = representation.condition(prime)
            others = [i for i, opening in enumerate(context.openings) if opening is not prime]
            alike = sorted(others, key=lambda i: correlation(own, conditions[i]) or 0.0)  # least alike first
            least_alike = alike[: max(1, len(others) // 4)]
            sources.append(context.openings[int(context.rng.choice(least_alike))])
        return sources


class NoisePrime(Prime):
    name = "noise"
    description = "white noise (RMS generate.noise_level); random characters for ABC"

    def make(self, representation: Representation, context: PrimeContext, count: int) -> list[torch.Tensor]:
        n = max(1, round(context.seconds * representation.signal_rate()))
        return [
            representation.prime_from_signal(
                np.clip(context.rng.normal(0.0, context.noise_level, n), -1, 1).astype(np.float32),
                smooth=False,
                context=context,
            )
            for _ in range(count)
        ]


class PerlinPrime(Prime):
    name = "perlin"
    description = "1-D Perlin noise (6 octaves, peak generate.noise_level); a melodic contour for ABC"

    def make(self, representation: Representation, context: PrimeContext, count: int) -> list[torch.Tensor]:
        rate = representation.signal_rate()
        n = max(1, round(context.seconds * rate))
        spacing = max(8.0, rate / PERLIN_LOWEST_HZ)
        return [
            representation.prime_from_signal(
                context.noise_level * perlin(n, spacing, PERLIN_OCTAVES, context.rng), smooth=True, context=context
            )
            for _ in range(count)
        ]


def perlin(n: int, spacing: float, octaves: int, rng: np.random.Generator, persistence: float = 0.5) -> np.ndarray:
    """Float32 ``(n,)`` 1-D gradient (Perlin) noise with peak 1.

    The first octave has a random gradient every ``spacing`` values; each further
    octave halves the spacing and scales the amplitude by ``persistence``.
    """
    total = np.zeros(n)
    position = np.arange(n, dtype=np.float64)
    for octave in range(octaves):
        step = spacing / 2**octave
        if step < 1:
            break
        x = position / step
        cell = np.floor(x).astype(np.int64)
        t = x - cell
        gradients = rng.uniform(-1.0, 1.0, cell[-1] + 2)
        fade = t * t * t * (t * (t * 6 - 15) + 10)
        left, right = gradients[cell] * t, gradients[cell + 1] * (t - 1)
        total += persistence**octave * (left + fade * (right - left))
    peak = np.abs(total).max()
    return (total / peak if peak > 0 else total).astype(np.float32)


@hookimpl
def noizenet_primes():
    return [StartPrime, SongPrime, CrossedPrime, NoisePrime, PerlinPrime]

