"""ABC datasets: the corpus bundled with music21, and the user's own files.

Each tune (from one ``X:`` line to the next) is a piece. Tunes without a ``K:``
field or without a body are skipped and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path

from noizenet.api import DataError, Dataset, Piece, hookimpl
from noizenet.datasets.paths import AUDIO_SUFFIXES, DataFiles, data_files, music21_package
from noizenet.plugins.abc.text import normalize_tune, split_tunes

log = logging.getLogger("noizenet")

# ABC collections in music21's corpus folder. The default is the Irish, Scottish,
# English and American fiddle and fife tunes (about 4,400 tunes, 1.7 M characters),
# one idiom that a few minutes of training can learn; add "essenFolksong" (8,500
# German and Chinese folk songs) or "josquin" (Renaissance masses) for more.
MUSIC21_COLLECTIONS = ["oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "nottingham-dataset"]


def read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def tunes_in_files(data: DataFiles, *, header_only: bool = False) -> Iterator[Piece]:
    """Every usable tune of ``data``'s files as a piece with id ``relative/path.abc#N``
    (with ``header_only``, a header without notes too)."""
    skipped = 0
    for path in data.files:
        try:
            text = read_text(path)
        except OSError as error:
            log.warning("skipping %s: %s", path, error)
            continue
        for number, tune in enumerate(split_tunes(text), start=1):
            if normalize_tune(tune, header_only=header_only) is None:
                skipped += 1
                continue
            yield Piece(id=f"{data.piece_id(path)}#{number}", data=tune, meta=data.meta(path))
    if skipped:
        log.warning("skipped %d tune(s) with no K: field or no notes", skipped)


@dataclass
class AbcFilesConfig:
    pattern: str = "*.abc"  # file names looked for inside a folder (recursively)


class AbcFiles(Dataset):
    """An ``.abc`` file, or every ``.abc`` file under a folder."""

    name = "abc-files"
    Config = AbcFilesConfig
    description = "an .abc file, a folder of them, or a list of them (--data PATH; .txt or .jsonl with splits)"

    def data(self) -> DataFiles:
        return data_files(self.path, self.name, lambda p: fnmatch(p.name, self.config.pattern), "an .abc file")

    def sources(self) -> list[Path]:
        return self.data().sources()

    def pieces(self, *, header_only: bool = False) -> Iterator[Piece]:
        data = self.data()
        files, path = data.files, Path(self.path)
        audio_hint = "; for audio use --repr codebook (or waveform, fft, chroma)"
        if files == [path] and path.suffix.lower() in AUDIO_SUFFIXES:
            raise DataError(f"--data {path} is audio, and representation 'abc' reads ABC text{audio_hint}")
        if not files:
            has_audio = any(p.suffix.lower() in AUDIO_SUFFIXES for p in path.rglob("*"))
            raise DataError(f"--data {path}: no {self.config.pattern} files in this folder" + (audio_hint if has_audio else ""))
        count = 0
        for piece in tunes_in_files(data, header_only=header_only):
            count += 1
            yield piece
        if count == 0:
            raise DataError(f"{path}: no ABC tunes found (a tune starts with an X: line and has a K: field)")

    def read_file(self, path: Path) -> Piece:
        """The first tune of the file; a header alone (``X:``, ``M:``, ``K:`` ...) is
        a tune here, for the model to write its notes."""
        return next(iter(AbcFiles(self.config, path).pieces(header_only=True)))


@dataclass
class Music21AbcConfig:
    collections: list[str] = field(default_factory=lambda: list(MUSIC21_COLLECTIONS))


class Music21Abc(Dataset):
    """The ABC tunes bundled with the music21 package (nothing is downloaded)."""

    name = "music21-abc"
    Config = Music21AbcConfig
    description = "ABC corpus bundled with music21 (O'Neill's, Ryan's, Aird's, Essen, ...)"

    def sources(self) -> list[Path]:
        """The ``.abc`` files of the chosen collections, in order."""
        if self.path is not None:
            raise DataError("dataset 'music21-abc' reads the bundled corpus and takes no --data")
        root = music21_package().parent / "corpus"
        files = []
        for name in self.config.collections:
            folder = root / name
            if not folder.is_dir():
                known = sorted(p.name for p in root.iterdir() if any(p.rglob("*.abc")))
                raise DataError(f"data.collections: '{name}' is not in music21's corpus (ABC collections: {', '.join(known)})")
            files += sorted(folder.rglob("*.abc"))
        return files

    def pieces(self) -> Iterator[Piece]:
        yield from tunes_in_files(DataFiles(self.sources(), music21_package().parent / "corpus"))


@hookimpl
def noizenet_datasets():
    return [AbcFiles, Music21Abc]
