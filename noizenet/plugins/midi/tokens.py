"""Representation ``midi``: notes as event tokens of MidiTok's TSD tokenization
(Fradet et al. 2021) with programs, every instrument in one stream: a time shift when
time moves on, then for each note its instrument (only where it changes), pitch
(``PitchDrum`` for the drum channel), velocity and duration, on a grid of
``1/resolution`` quarter notes. Notes that start together follow one another
without a shift, each instrument's lowest pitch first.

Before the events, the piece's ensemble: its instruments' program tokens, lowest
first, closed by ``Ensemble`` (as MMM and the Anticipatory Music Transformer state
the instruments up front). The events then play only those: a generation states its
ensemble first (or takes the prime's, or ``--instruments``), and keeps to it, where
a small model choosing an instrument anew at every note wanders among dozens.

Options choose what is learned: every General MIDI program (``instruments=all``),
the first program of each of the 16 families (``families``: fewer tokens, each
instrument still playable), or one piano for every pitched note (``piano``); the
drums or not (``drums``). The vocabulary follows from the options alone (no fitting),
so that the configuration in a checkpoint is all that generation needs to decode;
fitting notes which instruments the training pieces play (``--instruments`` chooses
among them).

What MidiTok does not: the grammar of generation (:class:`EventOrder`), which keeps
the order the tokenizer writes so that every generated stream decodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from noizenet.api import Categorical, ConfigError, OutputSpec, Piece, TokenRule, deferred, hookimpl
from noizenet.plugins.midi.base import NotesConfig, NotesRepresentation
from noizenet.plugins.midi.notes import (
    DRUMS, END, FAMILY, KEYS, LOUDNESS, LOWEST, PIANO, PITCH, PROGRAM, START, instrument_name, notes_array,
    programs_named, score_notes,
)
from noizenet.plugins.synthesis import renderer_check

miditok = deferred("miditok")

MAX_DURATION = 8  # quarter notes a duration or time-shift token can hold (longer gaps take several)
MIDITOK_DRUMS = -1  # MidiTok's program of the drum channel
NONE = MIDITOK_DRUMS - 1  # below every program and pitch
INSTRUMENT_MODES = ("all", "families", "piano")
FIT_PIECES = 2000  # training pieces whose tokens are counted for the output layer's start
UNSEEN = 0.5  # count added to every token's (one never seen keeps a finite log frequency)
SPECIAL = ("PAD", "BOS", "EOS", "Ensemble")  # MidiTok's special tokens, ids 0-3; Ensemble closes the header


@dataclass
class MidiConfig(NotesConfig):
    resolution: int = 4  # grid steps per quarter note: 4 = sixteenths, 12 also fits triplets
    velocities: int = 8  # velocity bins (1-127 split evenly); 1 = velocity is not learned
    # all: every General MIDI program; families: the first program of each of the 16
    # families; piano: every pitched note on one piano (the drums as --repr.drums says)
    instruments: str = "all"
    drums: bool = True  # learn and write the drum channel

    def __post_init__(self) -> None:
        if not 1 <= self.resolution <= 24:
            raise ConfigError.about("repr.resolution", f"must be 1-24 grid steps per quarter note, got {self.resolution}")
        if not 1 <= self.velocities <= 127:
            raise ConfigError.about("repr.velocities", f"must be 1-127 bins, got {self.velocities}")
        if self.instruments not in INSTRUMENT_MODES:
            raise ConfigError.about("repr.instruments", f"must be one of {', '.join(INSTRUMENT_MODES)}; "
                                    f"got '{self.instruments}'")

    def programs(self) -> list[int]:
        """The General MIDI programs learned (:data:`DRUMS` for the drum channel)."""
        return [*np.unique(self.learned_as(np.arange(128))).tolist(), *([DRUMS] if self.drums else [])]

    def learned_as(self, programs: np.ndarray) -> np.ndarray:
        """The program each of ``programs`` is learned as: itself, its family's first,
        or piano (the drums stay drums)."""
        programs = np.asarray(programs)
        mapped = {"all": programs, "families": programs // FAMILY * FAMILY, "piano": np.full_like(programs, PIANO)}
        return np.where(programs == DRUMS, DRUMS, mapped[self.instruments])

    def arranged(self, notes: np.ndarray) -> np.ndarray:
        """``notes`` as the options learn them: starts on the grid, programs as
        :meth:`learned_as` says, drums left out where not learned, and notes of one
        instrument, pitch and start kept once (the first)."""
        notes = notes.copy()
        notes[:, START] = np.round(notes[:, START] * self.resolution) / self.resolution
        notes[:, PROGRAM] = self.learned_as(notes[:, PROGRAM])
        if not self.drums:
            notes = notes[notes[:, PROGRAM] != DRUMS]
        _, first = np.unique(notes[:, [START, PITCH, PROGRAM]], axis=0, return_index=True)
        return notes_array(notes[np.sort(first)])


def tokenizer(config: MidiConfig) -> miditok.TSD:
    """The MidiTok TSD tokenizer of ``config``: pitches of the 88 piano keys, the
    instruments it learns, one token stream for all of them."""
    return miditok.TSD(miditok.TokenizerConfig(
        pitch_range=(LOWEST, LOWEST + KEYS),
        beat_res={(0, MAX_DURATION): config.resolution},
        num_velocities=config.velocities,
        use_velocities=config.velocities > 1,
        use_programs=True,
        programs=sorted(miditok_programs(config.programs())),
        one_token_stream_for_programs=True,
        program_changes=True,
        use_pitchdrum_tokens=True,
        use_time_signatures=False,
        use_tempos=False,
        special_tokens=list(SPECIAL),
    ))


def id_tables(vocab: dict[str, int]) -> dict[str, np.ndarray]:
    """Token ids by family and value, -1 where the vocabulary has none: ``Pitch`` and
    ``PitchDrum`` by MIDI pitch, ``Velocity`` by velocity, ``TimeShift`` and
    ``Duration`` by grid steps, ``Program`` by MidiTok's program + 1 (drums first)."""
    tables = {family: np.full(size, -1, dtype=np.int64) for family, size in
              (("Pitch", 128), ("PitchDrum", 128), ("Velocity", 128), ("Program", 129),
               ("TimeShift", MAX_DURATION * 24 + 1), ("Duration", MAX_DURATION * 24 + 1))}
    for name, token in vocab.items():
        family, _, value = name.partition("_")
        if family in ("TimeShift", "Duration"):
            beat, position, resolution = map(int, value.split("."))
            tables[family][beat * resolution + position] = token
        elif family in tables:
            tables[family][int(value) - (MIDITOK_DRUMS if family == "Program" else 0)] = token
    return tables


def nearest_velocity(velocities: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Each velocity as the nearest of MidiTok's ``bins`` (a tie: the higher); as
    given where there are no bins (velocity not learned)."""
    if not len(bins):
        return velocities
    above = np.minimum(np.searchsorted(bins, velocities), len(bins) - 1)
    below = np.maximum(above - 1, 0)
    return bins[np.where(np.abs(velocities - bins[below]) < np.abs(velocities - bins[above]), below, above)]


def miditok_programs(programs: Sequence[int]) -> set[int]:
    """``programs`` as MidiTok numbers them (the drums: -1)."""
    return {MIDITOK_DRUMS if p == DRUMS else p for p in programs}


class MidiRepresentation(NotesRepresentation):
    name = "midi"
    Config = MidiConfig
    suggested = {"generate": {"max_length": 1200}}  # tokens: about 300 notes

    def __init__(self, config: MidiConfig) -> None:
        super().__init__(config)
        self.tokenizer = tokenizer(config)
        self.start, self.stop, self.ensemble = (self.tokenizer.vocab[f"{name}_None"] for name in SPECIAL[1:])
        self.played: list[int] = config.programs()  # the programs the training pieces play, once fitted
        self.token_bias: tuple[float, ...] | None = None  # log frequency of each token in the training pieces
        self.ids = id_tables(self.tokenizer.vocab)

    def fit(self, pieces: Sequence[Piece]) -> None:
        """Which of the learned programs the training pieces play (the instruments
        ``--instruments`` may choose), and how often each token comes in them (up to
        :data:`FIT_PIECES`): the models' output layer starts at their log frequencies.
        Without it a model spends its first steps on the tokens a corpus never holds
        (most programs, the drums of piano music): 551 steps on the chorales ended 12%
        higher in held-out loss than with a vocabulary cut to piano."""
        played = np.unique(np.concatenate([self.config.learned_as(p.data[:, PROGRAM]) for p in pieces] or [[]]))
        self.played = [p for p in self.config.programs() if p in played]
        tokens = [self.encode(piece).numpy() for piece in pieces[:FIT_PIECES]]
        counts = np.bincount(np.concatenate(tokens or [np.zeros(0, np.int64)]), minlength=len(self.tokenizer))
        self.token_bias = tuple(np.log((counts + UNSEEN) / (counts.sum() + UNSEEN * len(counts))).tolist())

    def state_dict(self) -> dict[str, Any]:
        return {"played": self.played, "token_bias": self.token_bias}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.played = state["played"]
        self.token_bias = state.get("token_bias")

    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(Categorical(), len(self.tokenizer), start=self.start, stop=self.stop, bias=self.token_bias)

    def token_rule(self) -> TokenRule:
        """The event order; an ensemble among the instruments the training pieces play."""
        return EventOrder(self.tokenizer.vocab, self.config.velocities > 1, miditok_programs(self.played))

    def instrument_rule(self, instruments: Sequence[str]) -> TokenRule:
        """The event order with ``instruments`` as the ensemble: those of them that
        the training pieces play (as they are learned: a family's first, piano);
        after a prime, new notes only on them (its other instruments end with it)."""
        asked: set[int] = set()
        for name in instruments:
            try:
                asked.update(self.config.learned_as(np.array(programs_named(name))).tolist())
            except ValueError as error:
                raise ConfigError.about("generate.instruments", str(error)) from None
        playable = asked & set(self.played)
        if not playable:
            learned = [instrument_name(p) for p in self.played]
            raise ConfigError.about("generate.instruments", f"{', '.join(instruments)}: the training pieces play none "
                                    f"of them (they play {', '.join(learned[:8])}{', ...' if len(learned) > 8 else ''})")
        return EventOrder(self.tokenizer.vocab, self.config.velocities > 1, miditok_programs(playable), asked=True)

    def encode_notes(self, notes: np.ndarray, quarters: float, *, whole: bool,
                     programs: np.ndarray | None = None) -> torch.Tensor:
        """Int64 ``(T,)``: ``<start>``, the ensemble (of ``programs`` where given, else
        of ``notes``; none for no notes), the events, and for a whole piece ``<end>``."""
        notes = self.config.arranged(notes)
        if not len(notes):
            return torch.tensor([self.start, *([self.stop] if whole else [])], dtype=torch.long)
        programs = self.config.learned_as(notes[:, PROGRAM] if programs is None else np.asarray(programs)).astype(int)
        header = [self.tokenizer.vocab[f"Program_{p}"] for p in sorted(miditok_programs(np.unique(programs)))
                  if self.config.drums or p != MIDITOK_DRUMS]
        return torch.from_numpy(np.concatenate([[self.start, *header, self.ensemble], self.events(notes),
                                                [self.stop] if whole else []]).astype(np.int64))

    def events(self, notes: np.ndarray) -> np.ndarray:
        """The ids MidiTok's ``encode`` gives the score of ``notes`` (arranged, on the
        grid; tests hold the two equal), built with numpy: MidiTok's encoder walks
        every event in Python (and inserts each program change into a list), 40x
        slower on band songs. Notes ordered by start, instrument (drums last),
        pitch; before each, the time shifts to it (the longest first) and its
        instrument where that changes; then its pitch, velocity (the nearest of
        MidiTok's bins, a tie up) and duration (clipped to the longest token)."""
        table, grid, longest = self.ids, self.config.resolution, MAX_DURATION * self.config.resolution
        notes = notes[np.lexsort((notes[:, PITCH], notes[:, PROGRAM], notes[:, START]))]
        drums = notes[:, PROGRAM] == DRUMS
        pitch = np.where(drums, table["PitchDrum"][notes[:, PITCH].astype(int)], table["Pitch"][notes[:, PITCH].astype(int)])
        notes, drums, pitch = notes[pitch >= 0], drums[pitch >= 0], pitch[pitch >= 0]  # MidiTok leaves these out
        start = np.round(notes[:, START] * grid).astype(int)
        gap = np.diff(start, prepend=0)
        shifts = -(-gap // longest)  # time-shift tokens before each note
        program = np.where(drums, MIDITOK_DRUMS, notes[:, PROGRAM]).astype(int)
        changes = np.diff(program, prepend=NONE) != 0
        parts = [pitch]
        if self.config.velocities > 1:
            parts.append(table["Velocity"][nearest_velocity(np.clip(notes[:, LOUDNESS], 1, 127).astype(int),
                                                            self.tokenizer.velocities)])
        parts.append(table["Duration"][np.clip(np.round(notes[:, END] * grid).astype(int) - start, 1, longest)])
        sizes = shifts + changes + len(parts)
        first = np.cumsum(sizes) - sizes  # where each note's tokens begin
        ids = np.empty(int(sizes.sum()), dtype=np.int64)
        shift_at = np.repeat(first, shifts) + np.arange(shifts.sum()) - np.repeat(np.cumsum(shifts) - shifts, shifts)
        ids[shift_at] = table["TimeShift"][longest]
        last = first + shifts - 1  # a note's last shift: what remains of its gap
        ids[last[shifts > 0]] = table["TimeShift"][(gap - (shifts - 1) * longest)[shifts > 0]]
        ids[(first + shifts)[changes]] = table["Program"][program[changes] - MIDITOK_DRUMS]
        for offset, values in enumerate(parts):
            ids[first + shifts + changes + offset] = values
        return ids

    def decode_notes(self, encoded: torch.Tensor) -> tuple[np.ndarray, float]:
        """Notes of the events after the ensemble up to ``<end>``; other special tokens are skipped."""
        ids = encoded.tolist()
        if self.stop in ids:
            ids = ids[: ids.index(self.stop)]
        if self.ensemble in ids:
            ids = ids[ids.index(self.ensemble) + 1 :]
        ids = [i for i in ids if i > self.ensemble]
        notes = score_notes(self.tokenizer.decode(ids)) if ids else notes_array([])
        return notes, float(notes[:, END].max()) if len(notes) else 0.0


class EventOrder(TokenRule):
    """The order the tokenizer writes: first the ensemble (instruments lowest first,
    at least one, then ``Ensemble``); then the events: after an instrument its pitch,
    after a pitch its velocity (where learned), then its duration; between notes a
    time shift, another instrument of the ensemble, another pitch of the same
    instrument or the end; the notes of an instrument that start together lowest
    first, each pitch once.

    ``programs`` (MidiTok's numbers, -1 the drums): the instruments an ensemble may
    name (None: any). ``asked``: the ensemble is exactly ``programs``, and the events
    play only those, also after a prime's own ensemble."""

    def __init__(self, vocab: dict[str, int], velocities: bool, programs: set[int] | None = None, *,
                 asked: bool = False) -> None:
        names = sorted(vocab, key=vocab.get)
        kinds = np.array([name.split("_")[0] for name in names])
        self.time, self.instrument, self.pitch, self.drum, self.velocity, self.duration = (
            kinds == kind for kind in ("TimeShift", "Program", "Pitch", "PitchDrum", "Velocity", "Duration"))
        self.end, self.closer = kinds == "EOS", kinds == "Ensemble"
        self.value = np.array([int(name.split("_")[1]) if kind in ("Program", "Pitch", "PitchDrum") else 0
                               for name, kind in zip(names, kinds)])
        self.velocities, self.asked = velocities, asked
        self.permitted = self.instrument & (np.isin(self.value, sorted(programs)) if programs is not None else True)
        self.ensemble = np.zeros_like(self.end)  # the program tokens the ensemble named
        self.expect = "ensemble"  # or "event", "pitch" (after an instrument), "velocity", "duration"
        self.program: int | None = None  # MidiTok's program of the notes now (-1: drums)
        self.lowest = NONE  # the program the ensemble's next must be above; the pitch an instrument's next note now must

    def feed(self, token: int) -> None:
        if self.expect == "ensemble":
            if self.instrument[token]:
                self.ensemble[token], self.lowest = True, int(self.value[token])
            elif self.closer[token]:
                self.expect, self.lowest = "event", NONE
        elif self.time[token]:
            self.expect, self.lowest = "event", NONE
        elif self.instrument[token]:
            self.expect, self.program, self.lowest = "pitch", int(self.value[token]), NONE
        elif self.pitch[token] or self.drum[token]:
            self.expect, self.lowest = ("velocity" if self.velocities else "duration"), int(self.value[token])
        elif self.velocity[token]:
            self.expect = "duration"
        elif self.duration[token]:
            self.expect = "event"

    def allowed(self) -> np.ndarray:
        if self.expect == "ensemble":
            named = self.permitted & (self.value > self.lowest)
            if self.asked and named.any():
                candidates = np.flatnonzero(named)
                return np.arange(len(named)) == candidates[self.value[candidates].argmin()]  # the next asked
            return named | (self.closer & (self.ensemble.any() or self.asked))
        if self.expect == "velocity":
            return self.velocity.copy()
        if self.expect == "duration":
            return self.duration.copy()
        pitches = np.zeros_like(self.end)
        if self.program is not None:
            pitches = (self.drum if self.program == MIDITOK_DRUMS else self.pitch) & (self.value > self.lowest)
        if self.expect == "pitch":
            return pitches
        playable = self.permitted if self.asked else self.ensemble
        if not playable[self.instrument & (self.value == self.program)].any():
            pitches = np.zeros_like(self.end)  # a prime's instrument that may not play on
        others = playable & (self.value != self.program) if self.program is not None else playable
        return self.end | self.time | others | pitches


@hookimpl
def noizenet_representations():
    return [MidiRepresentation]


@hookimpl
def noizenet_checks():
    return [renderer_check()]
