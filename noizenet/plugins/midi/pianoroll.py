"""Representation ``pianoroll``: a frame of the 88 piano keys every ``step``
quarter notes (a quarter note by default, the grid of the JSB chorales benchmark),
each key on or off; trained with the multi-label output kind (one Bernoulli per key,
loss in nats per frame, the polyphonic-music literature's measure).

A piece is encoded as its frames and nothing else, so that the held-out loss is the
published one: the loss of frame t+1 given frames up to t, averaged over every
predicted frame. Decoding joins a key held over consecutive frames into one note.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from noizenet.api import ConfigError, OutputSpec, Piece, hookimpl
from noizenet.plugins.midi.base import NotesConfig, NotesRepresentation
from noizenet.plugins.midi.multilabel import MultiLabel
from noizenet.plugins.midi.nade import NadeKeys
from noizenet.plugins.midi.notes import KEYS, notes_from_roll, roll_from_notes

RATE_FLOOR = 1e-4  # of a key's rate, so that keys never heard keep a finite log-odds


OUTPUTS = ("nade", "independent")


@dataclass
class PianorollConfig(NotesConfig):
    step: float = 1.0  # quarter notes per frame: 1 = quarter notes, 0.25 = sixteenths
    # nade: the keys of a frame predicted one after another (jointly, as RNN-NADE);
    # independent: one Bernoulli per key (the RNN/LSTM/GRU baselines of the literature)
    output: str = "nade"
    rank: int = 16  # nade: hidden units of the per-frame NADE

    def __post_init__(self) -> None:
        if not self.step > 0:
            raise ConfigError(f"repr.step must be > 0 quarter notes, got {self.step}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"repr.output must be one of {', '.join(OUTPUTS)}; got '{self.output}'")
        if self.rank < 1:
            raise ConfigError(f"repr.rank must be >= 1, got {self.rank}")


class PianorollRepresentation(NotesRepresentation):
    name = "pianoroll"
    Config = PianorollConfig
    suggested = {
        "generate": {"max_length": 64},  # frames: 16 bars of 4/4 at the default step
        "train": {"seq_len": 100, "batch_size": 16, "lr": 3e-3},
        "model": {"hidden": 256, "embedding": 128, "dropout": 0.5},
    }

    def __init__(self, config: PianorollConfig) -> None:
        super().__init__(config)
        self.key_log_odds: tuple[float, ...] | None = None
        self.first_keys: tuple[int, ...] = ()  # the commonest first frame of the training pieces

    @property
    def spec(self) -> OutputSpec:
        if self.config.output == "independent":
            return OutputSpec(MultiLabel(), KEYS, bias=self.key_log_odds)
        kind = NadeKeys(KEYS, self.config.rank)
        return OutputSpec(kind, kind.size, bias=kind.bias(self.key_log_odds) if self.key_log_odds else None, frame=KEYS)

    def fit(self, pieces: Sequence[Piece]) -> None:
        """How often each key sounds in the training frames: the models' output layer
        starts from those log-odds (without them an LSTM sits for dozens of epochs
        at the base rates on JSB chorales before it learns anything more)."""
        rolls = [self.encode(piece) for piece in pieces]
        rate = torch.cat(rolls).mean(0).clamp(RATE_FLOOR, 1 - RATE_FLOOR)
        self.key_log_odds = tuple(torch.log(rate / (1 - rate)).tolist())
        firsts = Counter(tuple(roll[0].nonzero().flatten().tolist()) for roll in rolls if len(roll))
        self.first_keys = max(firsts, key=lambda keys: (firsts[keys], len(keys))) if firsts else ()

    def opening(self, piece: Piece | None, *, seconds: float = 1.0) -> torch.Tensor:
        """None (the ``start`` prime): the commonest first frame of the training
        pieces, a chord the model has learned to continue (a silent frame, which no
        piece begins with, led it into sparse textures: 3.4 notes at once where the
        pieces hold 7)."""
        if piece is None and self.first_keys:
            frame = torch.zeros(1, KEYS)
            frame[0, list(self.first_keys)] = 1.0
            return frame
        return super().opening(piece, seconds=seconds)

    def state_dict(self) -> dict[str, Any]:
        return {"key_log_odds": self.key_log_odds, "first_keys": list(self.first_keys)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.key_log_odds = state["key_log_odds"]
        self.first_keys = tuple(state.get("first_keys", ()))  # runs made before it start from silence

    def encode_notes(self, notes: np.ndarray, quarters: float, *, whole: bool,
                     programs: np.ndarray | None = None) -> torch.Tensor:
        """Float32 ``(T, 88)``, every instrument on the same keys; an empty opening is one silent frame."""
        return torch.from_numpy(roll_from_notes(notes, quarters, self.config.step))

    def decode_notes(self, encoded: torch.Tensor) -> tuple[np.ndarray, float]:
        roll = encoded.float().numpy()
        return notes_from_roll(roll, self.config.step), len(roll) * self.config.step


@hookimpl
def noizenet_representations():
    return [PianorollRepresentation]


def frequency_baseline(train: Sequence[torch.Tensor], test: Sequence[torch.Tensor]) -> float:
    """Nats per frame of predicting every key of the ``test`` rolls' frames (after
    their first, as the models are scored) from how often it sounds in ``train``:
    what a model has to beat to have learned anything beyond the base rates."""
    rate = torch.cat(list(train)).mean(0).clamp(RATE_FLOOR, 1 - RATE_FLOOR)
    targets = torch.cat([roll[1:] for roll in test])
    return float(MultiLabel().step_losses(torch.log(rate / (1 - rate)).expand_as(targets), targets).mean())
