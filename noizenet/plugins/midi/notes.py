"""Notes: the piece type of polyphonic symbolic music, and its conversions.

A piece of type ``"notes"`` holds ``data``, a float64 array ``(N, 4)`` with one row
per note: start and end in quarter notes from the piece's beginning, MIDI pitch
(0-127) and velocity (1-127), sorted by start then pitch; ``meta["quarters"]`` is
the piece's length in quarter notes (trailing silence included). Every dataset of
this domain yields it, both representations encode it, and they decode to it.

A piano roll ``(T, KEYS)`` of 0/1 has a frame every ``step`` quarter notes; column
``k`` is MIDI pitch ``LOWEST + k`` (the 88 keys of a piano, as in the ``.mat``
benchmark files of Boulanger-Lewandowski et al. 2012).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pretty_midi

from noizenet.api import Piece, atomic_write_bytes, deferred
from noizenet.plugins.synthesis import quiet_music21

music21 = deferred("music21")

LOWEST = 21  # MIDI pitch of the piano roll's first column (A0)
KEYS = 88
VELOCITY = 80  # of notes that have none (piano-roll frames, music21 scores without dynamics)
TEMPO = 100  # quarter notes per minute of written MIDI files
START, END, PITCH, LOUDNESS = range(4)  # columns of a notes array


def notes_array(rows: list[tuple[float, float, float, float]]) -> np.ndarray:
    """``rows`` of (start, end, pitch, velocity) as a sorted ``(N, 4)`` notes array."""
    notes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    return notes[np.lexsort((notes[:, PITCH], notes[:, START]))]


def notes_piece(piece_id: str, notes: np.ndarray, quarters: float | None = None, **meta) -> Piece:
    """A ``"notes"`` piece; its length is the last note's end unless ``quarters`` says more."""
    end = float(notes[:, END].max()) if len(notes) else 0.0
    return Piece(piece_id, notes, {"quarters": max(end, quarters or 0.0), **meta})


# -- piano rolls ----------------------------------------------------------------------
def roll_from_notes(notes: np.ndarray, quarters: float, step: float) -> np.ndarray:
    """Float32 ``(T, KEYS)`` roll: a key is on in every frame its note covers (at least
    the frame it starts in); notes outside the piano's range are left out."""
    frames = max(1, math.ceil(quarters / step - 1e-6))
    roll = np.zeros((frames, KEYS), dtype=np.float32)
    for start, end, pitch, _ in notes:
        key = int(pitch) - LOWEST
        if not 0 <= key < KEYS:
            continue
        first = min(frames - 1, int(round(start / step)))
        last = max(first + 1, int(round(end / step)))
        roll[first:last, key] = 1.0
    return roll


def notes_from_roll(roll: np.ndarray, step: float) -> np.ndarray:
    """The notes of a 0/1 roll ``(T, KEYS)``: each run of frames a key is held is one note."""
    on = np.asarray(roll) > 0.5
    padded = np.pad(on, ((1, 1), (0, 0))).astype(np.int8)
    edges = np.diff(padded, axis=0)  # +1 where a run starts, -1 one past its end
    rows = []
    for key in range(on.shape[1]):
        starts, ends = np.flatnonzero(edges[:, key] == 1), np.flatnonzero(edges[:, key] == -1)
        rows += [(s * step, e * step, LOWEST + key, VELOCITY) for s, e in zip(starts, ends)]
    return notes_array(rows)


# -- files ----------------------------------------------------------------------------
def read_midi(path: Path) -> np.ndarray:
    """The notes of every pitched instrument of a MIDI file (drums left out), in
    quarter notes by the file's own tempo map. Raises ``ValueError``/``OSError``
    (and what mido raises) for a file that is not MIDI."""
    midi = pretty_midi.PrettyMIDI(str(path))
    ticks = float(midi.resolution)
    rows = [
        (midi.time_to_tick(note.start) / ticks, midi.time_to_tick(note.end) / ticks, note.pitch, note.velocity)
        for instrument in midi.instruments if not instrument.is_drum
        for note in instrument.notes if note.end > note.start
    ]
    return notes_array(rows)


def notes_from_score(score: music21.stream.Stream) -> np.ndarray:
    """The notes of a music21 score, every part together, tied notes joined."""
    with quiet_music21():
        flat = score.stripTies().flatten()
        rows = []
        for element in flat.notes:
            start = float(element.getOffsetInHierarchy(flat))
            end = start + float(element.duration.quarterLength)
            velocity = element.volume.velocity or VELOCITY
            rows += [(start, end, pitch.midi, velocity) for pitch in element.pitches]
    return notes_array([row for row in rows if row[1] > row[0]])


def midi_bytes(notes: np.ndarray, tempo: float = TEMPO) -> bytes:
    """A one-track piano MIDI file of ``notes`` at ``tempo`` quarter notes per minute."""
    midi = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    piano = pretty_midi.Instrument(program=0, name="noizenet")
    seconds = 60.0 / tempo
    for start, end, pitch, velocity in notes:
        piano.notes.append(pretty_midi.Note(int(np.clip(velocity, 1, 127)), int(pitch), start * seconds, end * seconds))
    midi.instruments.append(piano)
    out = io.BytesIO()
    midi.write(out)
    return out.getvalue()


def write_notes_midi(notes: np.ndarray, path: Path, tempo: float = TEMPO) -> Path:
    """Write ``notes`` as a MIDI file, atomically."""
    atomic_write_bytes(Path(path), midi_bytes(notes, tempo))
    return Path(path)
