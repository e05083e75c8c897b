"""Pitch-class conditioning shared by the audio representations that take it
(codebook, harmonic, waveform): with ``repr.pitch_condition`` (default true; false
for waveform) the model is conditioned on 12 standardized values, each piece's
pitch-class profile (the representation's own :meth:`condition`), and ``--key "E
minor"`` asks for that key's Krumhansl-Kessler profile. The checkpoint records
whether the model was conditioned, so a run trained before conditions generates as
it was trained.

With ``repr.borrow_keys``, ``--key`` in a key the training audio is seldom in
borrows the nearest one it is often in (known_keys.py): the model is asked for
that key and the samples are pitch-shifted to the asked one.
"""

from __future__ import annotations

from dataclasses import dataclass
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from noizenet.interfaces import Piece
from noizenet.plugins.audio.augment import AugmentConfig, pitch_shifted
from noizenet.plugins.audio.keys import PITCH_CLASSES, Key, key_name, key_profile, parse_key, standardized
from noizenet.plugins.audio.known_keys import MODES, borrowed, key_counts

log = logging.getLogger("noizenet")


@dataclass
class PitchConditionConfig(AugmentConfig):
    """The ``[repr]`` key of a pitch-conditioned representation's config."""

    pitch_condition: bool = True  # condition the model on each piece's pitch-class profile (keeps the key; --key)
    # --key in a key the training audio is seldom in: made in the nearest common one, then pitch-shifted to it.
    # Off by default: over 16 keys it raised the bundled tunes' MIREX score from 0.48 to 0.70 and left two
    # other collections' at 0.35 (benchmarks/README.md, "Borrowed keys").
    borrow_keys: bool = False


class PitchConditioned:
    """Mixin, before the representation's audio base class: ``asked_condition``,
    ``steered_by``, borrowed keys and the checkpointed flag and key counts. The
    representation passes :attr:`condition_width` to its ``OutputSpec`` and
    implements ``condition``."""

    config: Any
    sample_rate: int
    name: str

    def __init__(self, config: Any) -> None:
        super().__init__(config)  # type: ignore[call-arg]
        self.key_counts = np.zeros((len(MODES), len(PITCH_CLASSES)), np.int64)  # training pieces per key

    @property
    def condition_width(self) -> int:
        return len(PITCH_CLASSES) if self.config.pitch_condition else 0

    def fit(self, pieces: Sequence[Piece]) -> None:
        """The audio base class's fit, then the keys of the training pieces counted."""
        super().fit(pieces)  # type: ignore[misc]
        self.key_counts = key_counts([self.audio_of(p) for p in pieces], self.sample_rate)  # type: ignore[attr-defined]

    def made_in(self, asked: Key) -> tuple[Key, int]:
        """The key a sample asked to be in ``asked`` is made in, and the semitones it
        is then moved by (:func:`known_keys.borrowed`; 0 without ``repr.borrow_keys``)."""
        return borrowed(asked, self.key_counts) if self.config.borrow_keys else (asked, 0)

    def asked_condition(self, steering: dict[str, str]) -> np.ndarray | None:
        """``--key``'s Krumhansl-Kessler profile, standardized (of the key it borrows,
        if any); None for other steering."""
        if set(steering) != {"key"}:
            return None
        asked = parse_key(steering["key"])
        made, semitones = self.made_in(asked)
        if semitones:
            log.info("--key %s: the training audio is seldom in it, so the samples are made in %s, the nearest key "
                     "it is often in, and moved %+d semitones (repr.borrow_keys)", key_name(asked), key_name(made),
                     semitones)
        return standardized(key_profile(made))

    def transposition(self, steering: dict[str, str]) -> int:
        """The semitones from a borrowed key to the asked one; 0 for no ``--key``."""
        return self.made_in(parse_key(steering["key"]))[1] if "key" in steering else 0

    def transpose(self, piece: Piece, semitones: int) -> Piece:
        """``piece`` with its audio pitch-shifted by ``semitones``."""
        return Piece(piece.id, pitch_shifted(piece.data, self.sample_rate, semitones), piece.meta)

    def steered_by(self) -> tuple[str, ...]:
        return ("key",) if self.config.pitch_condition else ()  # a model trained without conditions takes no --key

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pitch_condition": self.config.pitch_condition,  # type: ignore[misc]
                "key_counts": torch.from_numpy(self.key_counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # type: ignore[misc]
        self.config.pitch_condition = bool(state.get("pitch_condition", False))  # before conditions: none
        counts = state.get("key_counts")  # before borrowed keys: none counted, none borrowed
        self.key_counts = counts.numpy().astype(np.int64) if counts is not None else np.zeros_like(self.key_counts)
