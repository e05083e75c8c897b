"""What ``--data PATH`` names, for datasets that read files: the file itself, or
the matching files under a folder; and where datasets cache what they make."""

from __future__ import annotations

import os
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


def cache_folder(configured: str, name: str) -> Path:
    """``configured`` (a dataset's ``data.cache``), else ``$NOIZENET_CACHE``, else
    ``~/.cache/noizenet``; the subfolder ``name`` of it, made if missing."""
    root = configured or os.environ.get("NOIZENET_CACHE") or Path.home() / ".cache" / "noizenet"
    folder = Path(root).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
