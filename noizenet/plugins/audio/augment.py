"""Augmentation of small audio corpora: extra training copies of each piece, each
pitch-shifted, tempo-changed and scaled by a seeded random draw.

A musician's folder holds a few minutes of audio; the bundled corpus gets its many
keys from 64 tunes and ABC runs learn from transposed copies. Audio gets the same:
copies shifted by a few semitones (a phase vocoder and a resampling, librosa), played
a few percent slower, and louder or softer. Each copy keeps the piece's length (the
slower copy is cut: a faster one padded with silence taught the codebook that
silence follows music, and 3 of 6 continuations went silent) and sample rate. The
draw depends on ``augment_seed`` and the piece's id only, so the same data gives the
same copies, the same windows and the same run.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import librosa
import numpy as np

from noizenet.api import ConfigError

PEAK = 0.99  # a louder copy is scaled down to this peak rather than clipped


@dataclass
class AugmentConfig:
    """Options every audio representation shares (``[repr]`` keys)."""

    # Extra copies of each training piece; 0 = none. Off by default: on 3- and 6-piece
    # folders (benchmarks/small_data.py, 3 seeds) 4 copies passed the tonal checks in
    # 2-4 of 6 runs per round against 5 of 6 without, and raised the 6-piece test loss.
    augment_copies: int = 0
    augment_below_minutes: float = 10.0  # only when the training audio is shorter than this (minutes); 0 = always
    augment_semitones: int = 3  # each copy is shifted by a whole number of semitones in [-N, N], never 0
    augment_tempo: float = 0.05  # ... played at a tempo factor in [1 - this, 1] (slower, then cut to length)
    augment_gain_db: float = 6.0  # ... and scaled by a gain in [-this, +this] dB
    augment_seed: int = 0

    def __post_init__(self) -> None:
        if self.augment_copies < 0 or self.augment_below_minutes < 0 or self.augment_gain_db < 0:
            raise ConfigError("repr.augment_copies, repr.augment_below_minutes and repr.augment_gain_db must be >= 0")
        if not 0 <= self.augment_semitones <= 12:
            raise ConfigError(f"repr.augment_semitones must be in [0, 12], got {self.augment_semitones}")
        if not 0 <= self.augment_tempo < 0.5:
            raise ConfigError(f"repr.augment_tempo must be in [0, 0.5), got {self.augment_tempo}")


def wanted(config: AugmentConfig, seconds: float) -> bool:
    """Whether ``seconds`` of training audio are few enough to augment."""
    limit = config.augment_below_minutes
    return config.augment_copies > 0 and (limit == 0 or seconds < 60 * limit)


def augmented_copies(audio: np.ndarray, sample_rate: int, config: AugmentConfig, piece_id: str) -> list[np.ndarray]:
    """``config.augment_copies`` float32 copies of ``audio`` ``(n,)``, each ``(n,)``;
    seeded by ``config.augment_seed`` and ``piece_id``."""
    rng = np.random.default_rng([config.augment_seed, zlib.crc32(piece_id.encode())])
    shifts = [s for s in range(-config.augment_semitones, config.augment_semitones + 1) if s]
    copies = []
    for _ in range(config.augment_copies):
        semitones = int(rng.choice(shifts)) if shifts else 0
        tempo = float(rng.uniform(1 - config.augment_tempo, 1))
        gain = 10 ** (float(rng.uniform(-config.augment_gain_db, config.augment_gain_db)) / 20)
        copy = audio
        if tempo != 1.0:
            copy = librosa.effects.time_stretch(copy, rate=tempo)
        copy = librosa.util.fix_length(pitch_shifted(copy, sample_rate, semitones), size=len(audio))
        peak = float(np.abs(copy).max()) or 1.0
        copies.append((copy * min(gain, PEAK / peak)).astype(np.float32))
    return copies


def pitch_shifted(audio: np.ndarray, sample_rate: int, semitones: int) -> np.ndarray:
    """float32 ``(n,)``: ``audio`` ``(n,)`` pitch-shifted by ``semitones`` (a phase
    vocoder and a resampling), the same length; ``audio`` itself for 0."""
    if not semitones:
        return audio
    moved = librosa.effects.pitch_shift(audio.astype(np.float32), sr=sample_rate, n_steps=semitones)
    return librosa.util.fix_length(moved, size=len(audio)).astype(np.float32)
