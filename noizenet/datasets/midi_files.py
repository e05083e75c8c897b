"""Datasets of notes (polyphonic symbolic music): the user's MIDI files, the Bach
chorales bundled with music21, and piano-roll ``.mat`` files with their own split.

Each yields ``"notes"`` pieces (:mod:`noizenet.plugins.midi.notes`): a float
array ``(N, 5)`` of start and end in quarter notes, MIDI pitch, velocity and
instrument (General MIDI program, or drums).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noizenet.api import ConfigError, DataError, Dataset, Piece, cache_folder, deferred, hookimpl, progress_bar
from noizenet.datasets.paths import DataFiles, files_with_suffixes, music21_package, not_readable, read_each
from noizenet.plugins.midi.notes import (
    KEYS, PIANO, notes_from_roll, notes_from_score, notes_piece, played_on, read_midi,
)
from noizenet.plugins.synthesis import quiet_music21

music21 = deferred("music21")
scipy_io = deferred("scipy.io")

MIDI_SUFFIXES = (".mid", ".midi")
CHORALES_VERSION = 2  # bump when reading the chorales changes, so that an old cache is not reused
MAT_SPLITS = {"traindata": "train", "validdata": "validation", "testdata": "test"}


def midi_piece(path: Path, piece_id: str, **meta: str) -> Piece:
    """The notes of one MIDI file; raises DataError, naming it, when it is not readable MIDI."""
    try:
        notes = read_midi(path)
    except Exception as error:  # symusic raises RuntimeError for a broken file, the OS others
        raise not_readable(path, "not readable MIDI", error) from None
    if len(notes) == 0:
        raise DataError(f"{path}: no notes")
    return notes_piece(piece_id, notes, **{"source": str(path), **meta})


@dataclass
class MidiFilesConfig:
    suffixes: list[str] = field(default_factory=lambda: list(MIDI_SUFFIXES))  # files looked for in a folder


class MidiFiles(Dataset):
    """A MIDI file, or every MIDI file under a folder (recursively); all tracks of a
    file, drums included, make one piece, each note keeping its instrument.
    Unreadable files and files without notes are skipped with a warning."""

    name = "midi-files"
    Config = MidiFilesConfig
    description = "a .mid/.midi file, a folder of them, or a list of them (--data PATH; .txt or .jsonl with splits)"

    def data(self) -> DataFiles:
        return files_with_suffixes(self.path, self.name, self.config.suffixes, "a MIDI file", "MIDI")

    def sources(self) -> list[Path]:
        return self.data().sources()

    def pieces(self) -> Iterator[Piece]:
        data = self.data()
        files = data.files
        pieces = read_each(files, lambda file: midi_piece(file, data.piece_id(file), **data.meta(file)),
                           "MIDI with notes", Path(self.path))
        for _, piece in pieces:
            yield piece

    def read_file(self, path: Path) -> Piece:
        if not Path(path).is_file():
            raise DataError(f"{path}: no such file")
        return midi_piece(Path(path), Path(path).name)


@dataclass
class BachChoralesConfig:
    chorales: int = 0  # how many (in the corpus's order); 0 = all 350
    cache: str = ""  # folder of the read chorales; "" = $NOIZENET_CACHE or ~/.cache/noizenet


class BachChorales(Dataset):
    """The four-part chorales of J. S. Bach bundled with music21 (nothing is
    downloaded), all voices together on one piano; read once (about a minute), then
    cached."""

    name = "bach-chorales"
    Config = BachChoralesConfig
    description = "the four-part Bach chorales bundled with music21 (350), cached after the first run"

    def sources(self) -> list[Path]:
        """music21 itself (its corpus changes with its version only)."""
        if self.path is not None:
            raise DataError("dataset 'bach-chorales' reads the bundled corpus and takes no --data")
        return [music21_package()]

    def pieces(self) -> Iterator[Piece]:
        self.sources()
        # the Riemenschneider numbering lists 21 chorales twice (one file each): each once here
        names = list(dict.fromkeys(music21.corpus.chorales.Iterator(returnType="filename")))
        if self.config.chorales:
            names = names[: self.config.chorales]
        cached = cache_folder(self.config.cache, "bach-chorales") / f"v{CHORALES_VERSION}-music21-{music21.__version__}.npz"
        stored = dict(np.load(cached)) if cached.exists() else {}
        missing = [name for name in names if name not in stored]
        if missing:
            with progress_bar("reading the Bach chorales", quiet=False) as bar:
                for done, name in enumerate(missing, start=1):
                    with quiet_music21():
                        stored[name] = notes_from_score(music21.corpus.parse(name))
                    bar.update(done / len(missing), f"{done}/{len(missing)} chorales")
            with open(cached.with_suffix(".tmp"), "wb") as file:
                np.savez(file, **stored)
            cached.with_suffix(".tmp").replace(cached)
        for name in names:  # voices, sung: on a piano as every chorale (the one that names instruments too)
            yield notes_piece(name, played_on(stored[name], PIANO), source=f"music21 corpus {name}")


@dataclass
class PianorollMatConfig:
    frame: float = 1.0  # quarter notes per frame of the file (the published files: a quarter note)

    def __post_init__(self) -> None:
        if not self.frame > 0:
            raise ConfigError(f"data.frame must be > 0 quarter notes, got {self.frame}")


class PianorollMat(Dataset):
    """A piano-roll ``.mat`` file in the format of Boulanger-Lewandowski et al.
    (2012): keys ``traindata``, ``validdata``, ``testdata``, each piece a
    ``(frames, 88)`` 0/1 array, column k = MIDI pitch 21 + k. Its own split is used
    as given (``piece.meta["split"]``)."""

    name = "pianoroll-mat"
    Config = PianorollMatConfig
    description = "a piano-roll .mat file (JSB Chorales, Nottingham, MuseData, Piano-midi.de) with its own split"

    def sources(self) -> list[Path]:
        if self.path is None:
            raise DataError("dataset 'pianoroll-mat' needs --data FILE.mat")
        if not Path(self.path).is_file():
            raise DataError(f"--data {self.path}: no such file")
        return [Path(self.path)]

    def pieces(self) -> Iterator[Piece]:
        (path,) = self.sources()
        try:
            content = scipy_io.loadmat(path)
        except Exception as error:  # scipy raises several kinds for a file that is not MATLAB
            raise not_readable(f"--data {path}", "not a readable .mat file", error) from None
        absent = [key for key in MAT_SPLITS if key not in content]
        if absent:
            raise DataError(f"--data {path}: no {', '.join(absent)} in it (a piano-roll .mat file has "
                            f"{', '.join(MAT_SPLITS)})")
        for key, split in MAT_SPLITS.items():
            for number, roll in enumerate(np.asarray(content[key]).ravel()):
                roll = np.asarray(roll)
                if roll.ndim != 2 or roll.shape[1] != KEYS:
                    raise DataError(f"--data {path}: {key} piece {number} has shape {roll.shape}, not (frames, {KEYS})")
                notes = notes_from_roll(roll, self.config.frame)
                yield notes_piece(f"{split}/{number}", notes, len(roll) * self.config.frame, split=split)


@hookimpl
def noizenet_datasets():
    return [MidiFiles, BachChorales, PianorollMat]
