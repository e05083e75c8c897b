"""Pitch-class conditioning shared by the audio representations that take it
(codebook, harmonic, waveform): with ``repr.pitch_condition`` (default true; false
for waveform) the model is conditioned on 12 standardized values, each piece's
pitch-class profile (the representation's own :meth:`condition`), and ``--key "E
minor"`` asks for that key's Krumhansl-Kessler profile. The checkpoint records
whether the model was conditioned, so a run trained before conditions generates as
it was trained.

With ``repr.borrow_keys`` (default), ``--key`` offers stand-ins (noizenet.generate.stand_ins): the
asked key, then the other keys of its mode, nearest first, each pitch-shifted to
the asked one afterwards; generation takes the first one the model follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from noizenet.api import Piece
from noizenet.plugins.audio.augment import AugmentConfig, pitch_shifted
from noizenet.plugins.audio.keys import (PITCH_CLASSES, key_name, key_profile, mirex_score, nearest, parse_key,
                                         standardized)
from noizenet.plugins.audio.metrics import audio_key


@dataclass
class PitchConditionConfig(AugmentConfig):
    """The ``[repr]`` key of a pitch-conditioned representation's config."""

    pitch_condition: bool = True  # condition the model on each piece's pitch-class profile (keeps the key; --key)
    # --key the model does not follow: made in the nearest key of its mode it follows (3 probe samples a key),
    # then pitch-shifted to the asked one. Over 16 keys: 0.95 against 0.48 on the bundled tunes, 0.50 against
    # 0.35 on two other collections (benchmarks/README.md, "Borrowed keys"); a --key generation takes ~2 s more.
    borrow_keys: bool = True


class PitchConditioned:
    """Mixin, before the representation's audio base class: ``asked_condition``,
    ``steered_by``, stand-in keys and the checkpointed flag. The representation
    passes :attr:`condition_width` to its ``OutputSpec`` and implements ``condition``."""

    config: Any
    sample_rate: int

    @property
    def condition_width(self) -> int:
        return len(PITCH_CLASSES) if self.config.pitch_condition else 0

    def asked_condition(self, steering: dict[str, str]) -> np.ndarray | None:
        """``--key``'s Krumhansl-Kessler profile, standardized; None for other steering."""
        if set(steering) != {"key"}:
            return None
        return standardized(key_profile(parse_key(steering["key"])))

    def stand_ins(self, steering: dict[str, str]) -> list[tuple[dict[str, str], int]]:
        """With ``repr.borrow_keys``: the asked key, then every other key of its mode,
        nearest first, each with the semitones from it to the asked one."""
        if not self.config.borrow_keys or set(steering) != {"key"}:
            return []
        tonic, mode = parse_key(steering["key"])
        shifts = sorted(range(12), key=lambda s: (abs(nearest(s)), -nearest(s)))  # 0, 1, -1, 2, -2, ...
        return [({"key": key_name(((tonic - nearest(s)) % 12, mode))}, nearest(s)) for s in shifts]

    def follows(self, steering: dict[str, str], piece: Piece) -> float:
        """The MIREX score of the key heard after the prime of ``piece`` against the
        asked one (0 where none is heard)."""
        found = audio_key(piece.data[piece.meta.get("prime_samples", 0) :], self.sample_rate)
        return mirex_score(found, parse_key(steering["key"])) if found else 0.0

    def transpose(self, piece: Piece, semitones: int) -> Piece:
        """``piece`` with its audio pitch-shifted by ``semitones``."""
        return Piece(piece.id, pitch_shifted(piece.data, self.sample_rate, semitones), piece.meta)

    def steered_by(self) -> tuple[str, ...]:
        return ("key",) if self.config.pitch_condition else ()  # a model trained without conditions takes no --key

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pitch_condition": self.config.pitch_condition}  # type: ignore[misc]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # type: ignore[misc]
        self.config.pitch_condition = bool(state.get("pitch_condition", False))  # before conditions: none
