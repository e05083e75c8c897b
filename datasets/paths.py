"""What ``--data PATH`` names, for datasets that read files: the file itself, or
the matching files under a folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from noizenet.errors import DataError

# Audio files (librosa reads them); the audio datasets look for these, the ABC ones refuse them.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".au", ".opus")


def data_files(path: Path | None, dataset: str, matches: Callable[[Path], bool], what: str) -> tuple[list[Path], Path]:
    """(files, root): ``path`` itself, or every file under the folder ``path`` for
    which ``matches`` is true (sorted, recursive); piece ids are relative to ``root``.

    ``what`` names the files in errors ("an .abc file"). An empty list means a folder
    without matching files: the caller says why in its own words.
    """
    if path is None:
        raise DataError(f"dataset '{dataset}' needs --data PATH ({what} or a folder of them)")
    path = Path(path)
    if not path.exists():
        raise DataError(f"--data {path}: no such file or folder")
    if not path.is_dir():
        return [path], path.parent
    return sorted(p for p in path.rglob("*") if p.is_file() and matches(p)), path
