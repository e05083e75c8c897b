"""Pitch-class conditioning shared by the audio representations that take it
(codebook, harmonic, waveform): with ``repr.pitch_condition`` (default true; false
for waveform) the model is conditioned on 12 standardized values, each piece's
pitch-class profile (the representation's own :meth:`condition`), and ``--key "E
minor"`` asks for that key's Krumhansl-Kessler profile. The checkpoint records
whether the model was conditioned, so a run trained before conditions generates as
it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from noizenet.plugins.audio.augment import AugmentConfig
from noizenet.plugins.audio.keys import PITCH_CLASSES, key_profile, parse_key, standardized


@dataclass
class PitchConditionConfig(AugmentConfig):
    """The ``[repr]`` key of a pitch-conditioned representation's config."""

    pitch_condition: bool = True  # condition the model on each piece's pitch-class profile (keeps the key; --key)


class PitchConditioned:
    """Mixin, before the representation's base class: ``asked_condition``,
    ``steered_by`` and the checkpointed flag. The representation passes
    :attr:`condition_width` to its ``OutputSpec`` and implements ``condition``."""

    config: Any

    @property
    def condition_width(self) -> int:
        return len(PITCH_CLASSES) if self.config.pitch_condition else 0

    def asked_condition(self, steering: dict[str, str]) -> np.ndarray | None:
        """``--key``'s Krumhansl-Kessler profile, standardized; None for other steering."""
        if set(steering) != {"key"}:
            return None
        return standardized(key_profile(parse_key(steering["key"])))

    def steered_by(self) -> tuple[str, ...]:
        return ("key",) if self.config.pitch_condition else ()  # a model trained without conditions takes no --key

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "pitch_condition": self.config.pitch_condition}  # type: ignore[misc]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # type: ignore[misc]
        self.config.pitch_condition = bool(state.get("pitch_condition", False))  # before conditions: none
