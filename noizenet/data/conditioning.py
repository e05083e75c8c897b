"""Conditions the core gives a conditioned model (``OutputSpec.condition`` > 0): each
training and held-out piece's own, and each generated sample's (what the user asked
for, else what its prime states, else the neutral all-zero condition).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from noizenet.errors import ConfigError
from noizenet.plugin.interfaces import Representation
from noizenet.data.prepared import PreparedCorpus


def piece_conditions(representation: Representation, encoded: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """float32 ``(pieces, C)``: :meth:`Representation.condition` of each encoded piece
    (a mapped piece is read once); None for a representation that declares none."""
    width = representation.spec.condition
    if not width:
        return None
    rows = np.zeros((len(encoded), width), np.float32)
    for i, piece in enumerate(encoded):
        rows[i] = representation.condition(piece[:])
    return torch.from_numpy(rows)


def corpus_conditions(representation: Representation, corpus: PreparedCorpus, split: str) -> torch.Tensor | None:
    """:func:`piece_conditions` of ``corpus``'s ``split``, made once and kept with the
    prepared corpus: a later run on it reads ``(pieces, C)`` floats instead of every
    piece (a waveform corpus's chroma, hours of it)."""
    if not representation.spec.condition:
        return None
    pieces = getattr(corpus, split)
    name = f"conditions-{split}"
    kept = corpus.kept(name)
    if isinstance(kept, torch.Tensor) and kept.shape == (len(pieces), representation.spec.condition):
        return kept
    conditions = piece_conditions(representation, pieces)
    corpus.keep(name, conditions)
    return conditions


def asked_condition(representation: Representation, steering: dict[str, str]) -> np.ndarray | None:
    """The condition the user asked for (``--key``), None when none was asked; a
    ConfigError naming the options where the representation cannot take them."""
    if not steering or not representation.spec.condition:
        return None
    condition = representation.asked_condition(steering)
    if condition is None:
        raise ConfigError(f"representation '{representation.name}' cannot be steered by "
                          f"{', '.join('--' + k for k in steering)}")
    return condition


def sample_conditions(
    representation: Representation, sources: Sequence[torch.Tensor | None], asked: np.ndarray | None,
) -> torch.Tensor | None:
    """float32 ``(samples, C)``: ``asked`` for every sample when given, else the
    condition of each sample's source (:meth:`Prime.condition_sources`: its own
    prime for songs and files, another piece for a prime that feeds one), else
    neutral zeros where it has none; None for a representation without conditions."""
    width = representation.spec.condition
    if not width:
        return None
    rows = np.zeros((len(sources), width), np.float32)
    for i, source in enumerate(sources):
        if asked is not None:
            rows[i] = asked
        elif source is not None:
            rows[i] = representation.condition(source)
    return torch.from_numpy(rows)


def correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Pearson correlation of two vectors (conditions, pitch-class histograms); None
    where either is flat."""
    if np.std(a) < 1e-12 or np.std(b) < 1e-12:
        return None
    return float(np.corrcoef(a, b)[0, 1])
