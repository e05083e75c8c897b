"""``--key`` in a key the training audio is seldom in: the model is asked for the
nearest key it knows and its samples are pitch-shifted to the asked one.

A conditioned model follows the keys its corpus is in and drifts toward them from
the others (benchmarks/README.md, "--key over every key": asked F major, a model of
folk tunes in G and D played G major). What it knows is a key's scale: a corpus
in G major plays E minor, the same notes, as well (0.92 against 0.72 for G major
itself, where the audio's key finder named no tune E minor). :func:`key_counts`
counts the Krumhansl-Schmuckler keys of (a bounded sample of) the training audio
at ``fit``; :func:`borrowed` counts them by key signature (a major key with its
relative minor), and gives an asked key whose signature holds fewer than
``KNOWN_SHARE`` of the pieces the nearest key of its mode whose signature holds
that many, and the shift from it to the asked one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from noizenet.plugins.audio.keys import Key, detect_key
from noizenet.plugins.audio.measures import pitch_class_profile

MODES = ("major", "minor")
KNOWN_SHARE = 0.15  # of the training pieces: a key signature the model knows holds this share at least
KNOWN_PIECES = 2  # ... and this many pieces
COUNTED_PIECES = 256  # training pieces whose keys are counted at most (evenly spread)
COUNTED_SECONDS = 30.0  # of each piece, from its start


def nearest(semitones: int) -> int:
    """``semitones`` as the smallest shift to the same pitch class, in [-5, 6]."""
    return (semitones + 5) % 12 - 5


def key_counts(audio: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """int64 ``(2, 12)``: how many of the clips ``audio`` (each ``(n,)``) are in each
    major (row 0) and minor (row 1) key, C first; at most ``COUNTED_PIECES`` clips,
    evenly spread, their first ``COUNTED_SECONDS`` each."""
    counts = np.zeros((len(MODES), 12), np.int64)
    stride = max(1, -(-len(audio) // COUNTED_PIECES))
    for clip in audio[::stride]:
        key = detect_key(pitch_class_profile(clip[: round(COUNTED_SECONDS * sample_rate)], sample_rate))
        if key is not None:
            counts[MODES.index(key[1]), key[0]] += 1
    return counts


def signature(key: Key) -> int:
    """The key signature of ``key`` as the tonic of its major key (A minor: 0, C)."""
    return key[0] if key[1] == "major" else (key[0] + 3) % 12


def borrowed(asked: Key, counts: np.ndarray) -> tuple[Key, int]:
    """The key to ask the model for in place of ``asked``, and the semitones (in
    [-5, 6]) that move it to ``asked``: ``asked`` itself and 0 where its signature
    is known (``counts`` ``(2, 12)`` from :func:`key_counts`) or none is; else the
    nearest key of its mode with a known signature (ties: the more common)."""
    per_signature = counts[0] + np.roll(counts[1], 3)  # minor tonic m has the signature of major m + 3
    known = per_signature >= max(KNOWN_PIECES, KNOWN_SHARE * counts.sum())
    if not known.any() or known[signature(asked)]:
        return asked, 0
    candidates = [(t, asked[1]) for t in range(12) if known[signature((t, asked[1]))]]
    best = min(candidates, key=lambda k: (abs(nearest(asked[0] - k[0])), -per_signature[signature(k)]))
    return best, nearest(asked[0] - best[0])
