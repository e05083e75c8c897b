"""Notes: the piece type of polyphonic symbolic music, and its conversions.

A piece of type ``"notes"`` holds ``data``, a float64 array ``(N, 5)`` with one row
per note: start and end in quarter notes from the piece's beginning, MIDI pitch
(0-127), velocity (1-127) and instrument: its General MIDI program (0-127) or
:data:`DRUMS` (a note of the drum channel, whose pitch names a drum), sorted by
start, then pitch, then instrument; ``meta["quarters"]`` is the piece's length in
quarter notes (trailing silence included). Every dataset of this domain yields it,
every representation of it encodes it and decodes to it.

A piano roll ``(T, KEYS)`` of 0/1 has a frame every ``step`` quarter notes; column
``k`` is MIDI pitch ``LOWEST + k`` (the 88 keys of a piano, as in the ``.mat``
benchmark files of Boulanger-Lewandowski et al. 2012).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pretty_midi

from noizenet.api import Piece, atomic_write_bytes, deferred
from noizenet.plugins.synthesis import quiet_music21

music21 = deferred("music21")
symusic = deferred("symusic")

LOWEST = 21  # MIDI pitch of the piano roll's first column (A0)
KEYS = 88
VELOCITY = 80  # of notes that have none (piano-roll frames, music21 scores without dynamics)
TEMPO = 100  # quarter notes per minute of written MIDI files
TICKS = 480  # ticks per quarter note of written MIDI files
START, END, PITCH, LOUDNESS, PROGRAM = range(5)  # columns of a notes array
COLUMNS = 5
DRUMS = 128  # PROGRAM of a drum-channel note
PIANO = 0  # PROGRAM of notes that name no instrument (piano rolls, scores without one)


def notes_array(rows: list[tuple[float, ...]] | np.ndarray) -> np.ndarray:
    """``rows`` of (start, end, pitch, velocity[, program]) as a sorted ``(N, 5)``
    notes array; rows without a program are piano."""
    if isinstance(rows, np.ndarray) and rows.ndim == 2 and rows.shape[1] == COLUMNS:
        notes = rows.astype(np.float64)
    else:
        notes = np.array([(*row, PIANO)[:COLUMNS] for row in rows], dtype=np.float64).reshape(-1, COLUMNS)
    return notes[np.lexsort((notes[:, PROGRAM], notes[:, PITCH], notes[:, START]))]


def played_on(notes: np.ndarray, program: int) -> np.ndarray:
    """``notes`` with every pitched note on ``program`` (the drums stay)."""
    notes = notes.copy()
    notes[notes[:, PROGRAM] != DRUMS, PROGRAM] = program
    return notes


def pitched(notes: np.ndarray) -> np.ndarray:
    """The notes that are not drums."""
    return notes[notes[:, PROGRAM] != DRUMS]


FAMILY = 8  # General MIDI programs per instrument family
FAMILIES = [name.lower() for name in pretty_midi.constants.INSTRUMENT_CLASSES]  # the 16, in program order


def instrument_name(program: int) -> str:
    """The General MIDI name of ``program``, or "Drums"."""
    return "Drums" if program == DRUMS else pretty_midi.program_to_instrument_name(int(program))


def programs_named(name: str) -> list[int]:
    """The programs ``name`` means, in any case: a General MIDI family ("strings":
    its 8), an instrument ("violin"), a program number (0-127), or "drums"
    ([:data:`DRUMS`]). Raises ValueError saying what a name may be."""
    word = " ".join(name.lower().split())
    instruments = [n.lower() for n in pretty_midi.constants.INSTRUMENT_MAP]
    if word in ("drums", "drum kit"):
        return [DRUMS]
    if word.isdigit() and int(word) < 128:
        return [int(word)]
    if word in FAMILIES:
        return list(range(FAMILIES.index(word) * FAMILY, (FAMILIES.index(word) + 1) * FAMILY))
    if word in instruments:
        return [instruments.index(word)]
    raise ValueError(f"'{name}' is not a General MIDI family ({', '.join(FAMILIES)}), instrument name "
                     "(e.g. violin) or program number (0-127), nor drums")


def notes_piece(piece_id: str, notes: np.ndarray, quarters: float | None = None, **meta) -> Piece:
    """A ``"notes"`` piece; its length is the last note's end unless ``quarters`` says more."""
    end = float(notes[:, END].max()) if len(notes) else 0.0
    return Piece(piece_id, notes, {"quarters": max(end, quarters or 0.0), **meta})


# -- piano rolls ----------------------------------------------------------------------
def roll_from_notes(notes: np.ndarray, quarters: float, step: float) -> np.ndarray:
    """Float32 ``(T, KEYS)`` roll of the pitched notes, every instrument together: a
    key is on in every frame its note covers (at least the frame it starts in);
    drums and notes outside the piano's range are left out."""
    frames = max(1, math.ceil(quarters / step - 1e-6))
    roll = np.zeros((frames, KEYS), dtype=np.float32)
    for start, end, pitch in pitched(notes)[:, [START, END, PITCH]]:
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
    """The notes of every track of a MIDI file (format 0 files: of every channel),
    drums included, read with symusic. Raises ``RuntimeError`` (symusic) or
    ``OSError`` for a file that is not MIDI."""
    return score_notes(symusic.Score.from_file(str(path)))


def score_notes(score: symusic.Score) -> np.ndarray:
    """The notes of every track of a symusic score in ticks, in quarter notes (its
    ticks over its ticks per quarter, whatever its tempo). Notes of no length are
    left out, but for drums, which are struck: they last a tick."""
    tick = 1.0 / score.ticks_per_quarter
    parts = []
    for track in score.tracks:
        arrays = track.notes.numpy()
        durations = arrays["duration"].astype(np.float64)
        if track.is_drum:
            durations = np.maximum(durations, 1.0)
        start = arrays["time"] * tick
        part = np.column_stack([start, start + durations * tick, arrays["pitch"], arrays["velocity"],
                                np.full(len(start), DRUMS if track.is_drum else track.program)])
        parts.append(part[durations > 0])
    return notes_array(np.concatenate(parts) if parts else [])


def notes_from_score(score: music21.stream.Stream) -> np.ndarray:
    """The notes of a music21 score, every part together, tied notes joined; each
    note's instrument is its part's MIDI program where the score names one (else piano)."""
    rows = []
    with quiet_music21():
        score = score.stripTies()
        for part in score.parts if score.hasPartLikeStreams() else [score]:
            instrument = part.getInstrument(returnDefault=False)
            program = instrument.midiProgram if instrument is not None and instrument.midiProgram is not None else PIANO
            flat = part.flatten()
            for element in flat.notes:
                start = float(element.getOffsetInHierarchy(flat))
                end = start + float(element.duration.quarterLength)
                velocity = element.volume.velocity or VELOCITY
                rows += [(start, end, pitch.midi, velocity, program) for pitch in element.pitches]
    return notes_array([row for row in rows if row[1] > row[0]])


def notes_score(notes: np.ndarray, tempo: float = TEMPO, ticks: int = TICKS) -> symusic.Score:
    """A symusic score of ``notes`` at ``tempo`` quarter notes per minute, ``ticks``
    ticks per quarter (times rounded to them, a note at least a tick long): a track
    per instrument in the order of ``notes``, named by its General MIDI name, drums
    on the drum channel."""
    score = symusic.Score(ticks)
    score.tempos.append(symusic.Tempo(0, float(tempo)))
    for program in np.unique(notes[:, PROGRAM]).astype(int):
        part = notes[notes[:, PROGRAM] == program]
        start = np.round(part[:, START] * ticks).astype(np.int32)
        track = symusic.Track(name=instrument_name(program), program=0 if program == DRUMS else int(program),
                              is_drum=bool(program == DRUMS))
        track.notes = symusic.Note.from_numpy(
            time=start, duration=np.maximum(1, np.round(part[:, END] * ticks).astype(np.int32) - start),
            pitch=part[:, PITCH].astype(np.int8), velocity=np.clip(part[:, LOUDNESS], 1, 127).astype(np.int8))
        score.tracks.append(track)
    return score


def midi_bytes(notes: np.ndarray, tempo: float = TEMPO) -> bytes:
    """A MIDI file of ``notes`` (:func:`notes_score`)."""
    return notes_score(notes, tempo).dumps_midi()


def write_notes_midi(notes: np.ndarray, path: Path, tempo: float = TEMPO) -> Path:
    """Write ``notes`` as a MIDI file, atomically."""
    atomic_write_bytes(Path(path), midi_bytes(notes, tempo))
    return Path(path)
