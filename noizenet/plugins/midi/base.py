"""What the polyphonic symbolic representations share: they encode and decode
``"notes"`` pieces (:mod:`noizenet.plugins.midi.notes`), read MIDI folders, the
bundled Bach chorales and ``.mat`` piano rolls, transpose the training pieces (drums
stay), and write every sample as ``.mid`` (a track per instrument), ``.wav`` and a
piano-roll ``.png``."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from noizenet.api import DataError, Piece, PrimeContext, Representation
from noizenet.plugins.midi.notes import (
    COLUMNS, DRUMS, END, KEYS, LOWEST, PITCH, PROGRAM, START, notes_array, notes_piece, write_notes_midi,
)
from noizenet.plugins.midi.plots import plot_roll
from noizenet.plugins.synthesis import render_midi

SIGNAL_PITCHES = (48, 84)  # MIDI pitches that noise and Perlin primes span (C3 to C6)
QUARTERS_PER_BAR = 4.0  # --prime-bars counts bars of 4/4 in MIDI files


@dataclass
class NotesConfig:
    # Semitone shifts: each training piece is also learned transposed by these.
    transpose: list[int] = field(default_factory=lambda: [-5, -2, 2, 5])
    opening: float = 8.0  # quarter notes of a held-out piece that prime a song-primed sample


class NotesRepresentation(Representation):
    """Base of representations of ``"notes"`` pieces; subclasses encode notes."""

    piece_type = "notes"
    default_dataset = "bach-chorales"
    path_dataset = "midi-files"

    @classmethod
    def dataset_for(cls, path: Path) -> str:
        """``.mat`` piano-roll files, else MIDI files."""
        return "pianoroll-mat" if path.suffix.lower() == ".mat" else cls.path_dataset

    @abstractmethod
    def encode_notes(self, notes: np.ndarray, quarters: float, *, whole: bool,
                     programs: np.ndarray | None = None) -> torch.Tensor:
        """``notes`` ``(N, 5)`` lasting ``quarters`` quarter notes, encoded; ``whole``:
        a complete piece (with its end marker where the encoding has one), not an
        opening; ``programs``: the instruments of the piece the notes open, where an
        encoding names them (None: those of ``notes``)."""

    @abstractmethod
    def decode_notes(self, encoded: torch.Tensor) -> tuple[np.ndarray, float]:
        """(notes ``(N, 5)``, length in quarter notes) of encoded steps."""

    def fit(self, pieces: Sequence[Piece]) -> None:
        """Nothing to learn: the vocabulary or keys are fixed."""

    def encode(self, piece: Piece) -> torch.Tensor:
        if not isinstance(piece.data, np.ndarray) or piece.data.ndim != 2 or piece.data.shape[1] != COLUMNS:
            raise DataError(f"representation '{self.name}' reads notes (MIDI, .mat piano rolls, the chorales); "
                            f"piece '{piece.id}' is {type(piece.data).__name__} {getattr(piece.data, 'shape', '')}")
        return self.encode_notes(piece.data, piece.meta["quarters"], whole=True)

    def decode(self, encoded: torch.Tensor, *, prime_steps: int = 0) -> Piece:
        notes, quarters = self.decode_notes(encoded)
        _, prime_quarters = self.decode_notes(encoded[:prime_steps]) if prime_steps else (None, 0.0)
        return notes_piece("generated", notes, quarters, prime_quarters=prime_quarters)

    def opening(self, piece: Piece | None, *, seconds: float = 1.0) -> torch.Tensor:
        """The notes that begin in the first ``config.opening`` quarter notes of
        ``piece``, cut at its end; None: an empty opening."""
        if piece is None:
            return self.encode_notes(notes_array([]), 0.0, whole=False)
        return self._first_quarters(piece, self.config.opening)

    def prime(self, piece: Piece, *, bars: int = 0, seconds: float = 0.0) -> torch.Tensor:
        """Every note of ``piece`` (the model continues after its end), or those that
        begin in its first ``bars`` bars, counted as bars of 4 quarter notes."""
        if not bars:
            return self.encode_notes(piece.data, piece.meta["quarters"], whole=False)
        return self._first_quarters(piece, bars * QUARTERS_PER_BAR)

    def _first_quarters(self, piece: Piece, cut: float) -> torch.Tensor:
        """The notes that begin in the first ``cut`` quarter notes of ``piece``, cut there, as a prime."""
        notes = piece.data[piece.data[:, START] < cut].copy()
        notes[:, END] = np.minimum(notes[:, END], cut)
        return self.encode_notes(notes, min(cut, piece.meta["quarters"]), whole=False,
                                 programs=np.unique(piece.data[:, PROGRAM]))

    def prime_from_signal(self, signal: np.ndarray, *, smooth: bool, context: PrimeContext) -> torch.Tensor:
        """One note per value, a quarter note each, its pitch the value's place
        between C3 and C6: Perlin noise becomes a melodic contour, white noise
        random leaps (both scaled to their own peak)."""
        low, high = SIGNAL_PITCHES
        peak = max(float(np.abs(signal).max()), 1e-9)
        pitches = np.round(low + (signal / peak + 1) / 2 * (high - low))
        notes = notes_array([(i, i + 1, p, 80) for i, p in enumerate(pitches)])
        return self.encode_notes(notes, float(len(pitches)), whole=False)

    def augment(self, pieces: Sequence[Piece]) -> list[Piece]:
        """Each piece moved by every shift of ``config.transpose`` that keeps it on the
        piano; its drums stay as they are."""
        extra = []
        for piece in pieces:
            tuned = piece.data[:, PROGRAM] != DRUMS
            pitches = piece.data[tuned, PITCH]
            for semitones in self.config.transpose:
                if semitones and len(pitches) and LOWEST <= pitches.min() + semitones and pitches.max() + semitones < LOWEST + KEYS:
                    moved = piece.data.copy()
                    moved[tuned, PITCH] += semitones
                    extra.append(Piece(f"{piece.id}~{semitones:+d}", moved, piece.meta))
        return extra

    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """``.mid`` (a track per instrument), ``.wav`` rendered from it, and a piano-roll ``.png``."""
        midi = write_notes_midi(piece.data, Path(f"{path_stem}.mid"))
        wav = render_midi(midi, Path(f"{path_stem}.wav"))
        png = plot_roll(piece.data, piece.meta["quarters"], piece.meta.get("prime_quarters", 0.0), Path(f"{path_stem}.png"))
        return [midi, wav, png]
