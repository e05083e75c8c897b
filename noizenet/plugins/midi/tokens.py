"""Representation ``midi``: notes as event tokens in the TSD style of MidiTok
(Fradet et al. 2021): a time shift when time moves on, then pitch, velocity and
duration of each note, on a grid of ``1/resolution`` quarter notes. Polyphonic:
notes that start together follow one another without a shift (lowest pitch first).

Vocabulary: ``<start>``, ``<end>``, ``shift`` 1..``4*resolution`` grid steps (longer
gaps take several), ``pitch`` 21..108, ``velocity`` in ``velocities`` bins,
``duration`` 1..``8*resolution`` grid steps (longer notes are clipped to two whole
notes). Generation keeps that order (:class:`EventOrder`); decoding still takes any
stream (a pitch without velocity or duration gets 80 and one grid step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from noizenet.api import Categorical, ConfigError, OutputSpec, TokenRule, hookimpl
from noizenet.plugins.midi.base import NotesConfig, NotesRepresentation
from noizenet.plugins.midi.notes import END, KEYS, LOWEST, LOUDNESS, PITCH, START, VELOCITY, notes_array
from noizenet.plugins.synthesis import renderer_check

MAX_SHIFT = 4  # quarter notes one shift token can move
MAX_DURATION = 8  # quarter notes a duration token can hold


@dataclass
class MidiConfig(NotesConfig):
    resolution: int = 4  # grid steps per quarter note: 4 = sixteenths, 12 also fits triplets
    velocities: int = 8  # velocity bins (1-127 split evenly); 1 = velocity is not learned

    def __post_init__(self) -> None:
        if not 1 <= self.resolution <= 24:
            raise ConfigError(f"repr.resolution must be 1-24 grid steps per quarter note, got {self.resolution}")
        if not 1 <= self.velocities <= 127:
            raise ConfigError(f"repr.velocities must be 1-127 bins, got {self.velocities}")


class Vocabulary:
    """Token ids of each event family, laid out one after another."""

    def __init__(self, resolution: int, velocities: int) -> None:
        self.shifts = MAX_SHIFT * resolution
        self.durations = MAX_DURATION * resolution
        self.velocities = velocities
        self.shift = 2  # id of "shift 1"
        self.pitch = self.shift + self.shifts  # id of pitch LOWEST
        self.velocity = self.pitch + KEYS  # id of the lowest velocity bin
        self.duration = self.velocity + velocities  # id of "duration 1"
        self.size = self.duration + self.durations

    def velocity_bin(self, velocity: float) -> int:
        return min(self.velocities - 1, int((velocity - 1) * self.velocities / 127))

    def bin_velocity(self, index: int) -> int:
        """The middle velocity of bin ``index``."""
        return VELOCITY if self.velocities == 1 else int(1 + (index + 0.5) * 127 / self.velocities)


class MidiRepresentation(NotesRepresentation):
    name = "midi"
    Config = MidiConfig
    suggested = {"generate": {"max_length": 1200}}  # tokens: about 300 notes

    def __init__(self, config: MidiConfig) -> None:
        super().__init__(config)
        self.vocabulary = Vocabulary(config.resolution, config.velocities)

    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(Categorical(), self.vocabulary.size, start=0, stop=1)

    def token_rule(self) -> TokenRule:
        return EventOrder(self.vocabulary)

    def encode_notes(self, notes: np.ndarray, quarters: float, *, whole: bool) -> torch.Tensor:
        """Int64 ``(T,)``: ``<start>``, the events, and for a whole piece the shifts to
        its end and ``<end>``."""
        v, grid = self.vocabulary, self.config.resolution
        tokens, now = [0], 0
        for start, end, pitch, velocity in notes[:, [START, END, PITCH, LOUDNESS]]:
            key = int(pitch) - LOWEST
            if not 0 <= key < KEYS:
                continue
            onset = int(round(start * grid))
            tokens += self._shifts(onset - now)
            now = max(now, onset)
            length = min(v.durations, max(1, int(round(end * grid)) - onset))
            tokens += [v.pitch + key, v.velocity + v.velocity_bin(velocity), v.duration + length - 1]
        if whole:
            tokens += [*self._shifts(int(round(quarters * grid)) - now), 1]
        return torch.tensor(tokens, dtype=torch.long)

    def _shifts(self, steps: int) -> list[int]:
        """Shift tokens that move time on by ``steps`` grid steps (none if not ahead)."""
        v, tokens = self.vocabulary, []
        while steps > 0:
            move = min(steps, v.shifts)
            tokens.append(v.shift + move - 1)
            steps -= move
        return tokens

    def decode_notes(self, encoded: torch.Tensor) -> tuple[np.ndarray, float]:
        v, grid = self.vocabulary, self.config.resolution
        rows: list[list[float]] = []
        now, end = 0, 0
        for token in encoded.tolist():
            if token == 1:
                break
            if v.shift <= token < v.pitch:
                now += token - v.shift + 1
            elif v.pitch <= token < v.velocity:
                rows.append([now, now + 1, LOWEST + token - v.pitch, VELOCITY])
            elif v.velocity <= token < v.duration and rows and rows[-1][START] == now:
                rows[-1][LOUDNESS] = v.bin_velocity(token - v.velocity)
            elif token >= v.duration and rows and rows[-1][START] == now:
                rows[-1][END] = now + token - v.duration + 1
            end = max([now, end] + [row[END] for row in rows[-1:]])
        notes = notes_array([tuple(row) for row in rows])
        notes[:, [START, END]] /= grid
        return notes, end / grid


class EventOrder(TokenRule):
    """The order ``encode`` writes: each pitch followed by its velocity and its
    duration; between notes a shift, another pitch or the end; notes that start
    together lowest first, each pitch once."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.v = vocabulary
        self.expect = "event"  # or "velocity", "duration"
        self.lowest = vocabulary.pitch  # the lowest pitch token that may start a note now

    def feed(self, token: int) -> None:
        v = self.v
        if v.shift <= token < v.pitch:
            self.expect, self.lowest = "event", v.pitch
        elif v.pitch <= token < v.velocity:
            self.expect, self.lowest = "velocity", token + 1
        elif v.velocity <= token < v.duration:
            self.expect = "duration"
        elif token >= v.duration:
            self.expect = "event"

    def allowed(self) -> np.ndarray:
        v = self.v
        mask = np.zeros(v.size, dtype=bool)
        if self.expect == "velocity":
            mask[v.velocity : v.duration] = True
        elif self.expect == "duration":
            mask[v.duration :] = True
        else:
            mask[1] = True  # the end
            mask[v.shift : v.pitch] = True
            mask[self.lowest : v.velocity] = True
        return mask


@hookimpl
def noizenet_representations():
    return [MidiRepresentation]


@hookimpl
def noizenet_checks():
    return [renderer_check()]
