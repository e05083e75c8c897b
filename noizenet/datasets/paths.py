"""What ``--data PATH`` names, for datasets that read files: the file itself, the
matching files under a folder, or a manifest that lists them (and their split)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from noizenet.api import DataError, GaveUp, atomic_write_json, cache_folder, map_in_order, progress_bar

log = logging.getLogger("noizenet")
Read = TypeVar("Read")

# Audio files (librosa reads them); the audio datasets look for these, the ABC ones refuse them.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".au", ".opus")


FILE_TIMEOUT_S = 300.0  # a file whose reader runs longer is taken to hang it, and skipped
LISTINGS = "listings"  # $NOIZENET_CACHE/listings: the files under each folder that --data named
# A folder changed this close to its listing may change again within one tick of a coarse
# file-system clock without its modification time moving: such a listing is not kept.
SETTLED_NS = 2_000_000_000

MANIFEST_SUFFIXES = (".txt", ".list", ".jsonl")  # --data as a list of files rather than a folder
SPLIT_WORDS = {"train": "train", "training": "train", "validation": "validation", "valid": "validation",
               "val": "validation", "test": "test"}


@dataclass
class DataFiles:
    """What ``--data`` names: the files to read, the folder piece ids are relative
    to, and the split a manifest gives a file (where it gives one)."""

    files: list[Path]
    root: Path
    splits: dict[Path, str] = field(default_factory=dict)
    manifest: Path | None = None  # the list the files came from, if any

    def sources(self) -> list[Path]:
        """The files, and the manifest that lists them (its splits are the pieces' too)."""
        return self.files + ([self.manifest] if self.manifest else [])

    def piece_id(self, file: Path) -> str:
        return file.relative_to(self.root).as_posix() if file.is_relative_to(self.root) else file.as_posix()

    def meta(self, file: Path) -> dict[str, str]:
        """A piece's ``source``, and its ``split`` where the manifest gives one."""
        return {"source": str(file), **({"split": self.splits[file]} if file in self.splits else {})}


def data_files(path: Path | None, dataset: str, matches: Callable[[Path], bool], what: str) -> DataFiles:
    """``path`` itself, every file under the folder ``path`` for which ``matches`` is
    true (sorted, recursive), or the files a manifest lists (:func:`manifest_files`).

    ``what`` names the files in errors ("an .abc file"). An empty list means a folder
    without matching files: the caller says why in its own words.
    """
    if path is None:
        raise DataError(f"dataset '{dataset}' needs --data PATH ({what}, a folder of them, or a list of them)")
    path = Path(path)
    if not path.exists():
        raise DataError(f"--data {path}: no such file or folder")
    if path.is_dir():
        return DataFiles(files_under(path, matches), path)
    if is_manifest(path):
        return manifest_files(path, matches, what)
    return DataFiles([path], path.parent)


def files_under(folder: Path, matches: Callable[[Path], bool]) -> list[Path]:
    """Every file under ``folder`` (recursively; linked files count, linked folders
    are not entered, as with ``Path.rglob``) for which ``matches`` is true, in path
    order (:func:`listed_files`)."""
    return [file for file in listed_files(folder) if matches(file)]


def listed_files(folder: Path) -> list[Path]:
    """Every file under ``folder``, in path order. A folder listed before is not walked
    again while none of the folders under it has changed since (a file added, removed
    or renamed changes its folder's modification time): the listing kept under
    ``$NOIZENET_CACHE/listings`` is used, at the cost of a stat a folder. Else one
    ``os.scandir`` walk (40,000 files: 0.4 s), kept for the next run."""
    folder = folder.absolute()
    try:
        index = cache_folder("", LISTINGS) / f"{hashlib.sha1(str(folder).encode()).hexdigest()[:24]}.json"
    except OSError:  # no cache folder to keep listings in: walk every time
        return _walk(folder)[0]
    kept = _kept_listing(index, folder)
    if kept is not None:
        return kept
    files, folders = _walk(folder)
    if all(time.time_ns() - changed > SETTLED_NS for changed in folders.values()):
        try:
            atomic_write_json(index, {"folder": str(folder), "folders": folders,
                                      "files": [file.relative_to(folder).as_posix() for file in files]})
        except OSError:
            pass
    return files


def _walk(folder: Path) -> tuple[list[Path], dict[str, int]]:
    """The files under ``folder`` in path order, and each folder's modification time
    (ns; taken before the folder is listed, so that a change while it is listed shows
    next time)."""
    found, folders, pending = [], {}, [folder]
    while pending:
        current = pending.pop()
        folders[str(current)] = os.stat(current).st_mtime_ns
        with os.scandir(current) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(Path(entry.path))
                elif entry.is_file():
                    found.append(Path(entry.path))
    return sorted(found, key=lambda file: file.parts), folders


def _kept_listing(index: Path, folder: Path) -> list[Path] | None:
    """The files of the listing in ``index`` if no folder under ``folder`` changed since."""
    try:
        kept = json.loads(index.read_text(encoding="utf-8"))
        if kept["folder"] != str(folder):
            return None
        for path, changed in kept["folders"].items():
            if os.stat(path).st_mtime_ns != changed:
                return None
        return [folder / name for name in kept["files"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def files_with_suffixes(path: Path | None, dataset: str, suffixes: list[str], what: str, kind: str) -> DataFiles:
    """:func:`data_files` of the files whose suffix is one of ``suffixes`` (any case);
    none is one ``DataError`` naming them (``kind``: "audio", "MIDI")."""
    wanted = {s.lower() for s in suffixes}
    data = data_files(path, dataset, lambda p: p.suffix.lower() in wanted, what)
    if not data.files:
        raise DataError(f"--data {path}: no {kind} files ({', '.join(sorted(wanted))}) in this folder")
    return data


def is_manifest(path: Path) -> bool:
    """``.list`` and ``.jsonl`` files are manifests, and so is a ``.txt`` file unless
    it holds ABC tunes (a line that starts with ``X:``)."""
    suffix = path.suffix.lower()
    if suffix != ".txt":
        return suffix in MANIFEST_SUFFIXES
    with open(path, encoding="utf-8", errors="replace") as handle:
        return not any(line.startswith("X:") for line in handle)


def manifest_files(path: Path, matches: Callable[[Path], bool], what: str) -> DataFiles:
    """The files a manifest lists: ``.txt`` / ``.list``, one path a line (``#`` starts a
    comment); ``.jsonl``, one ``{"path": ..., "split": "train" | "validation" | "test"}``
    a line (``split`` optional). Relative paths are relative to the manifest's folder.
    Listed files that are missing are an error; files of another kind are skipped."""
    root, files, splits, other = path.parent, [], {}, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.split("#", 1)[0].strip() if path.suffix.lower() != ".jsonl" else line.strip()
        if not line:
            continue
        split = None
        if path.suffix.lower() == ".jsonl":
            try:
                entry = json.loads(line)
                line, split = entry["path"], entry.get("split")
            except (ValueError, KeyError, TypeError):
                raise DataError(f"{path}:{number}: expected a JSON object with a \"path\", got {line[:80]!r}") from None
            if split is not None and split not in SPLIT_WORDS:
                raise DataError(f"{path}:{number}: split {split!r} is not one of train, validation, test")
        file = (root / line).resolve() if not Path(line).is_absolute() else Path(line)
        if not file.is_file():
            raise DataError(f"{path}:{number}: {file} is not a file")
        if not matches(file):
            other += 1
            continue
        files.append(file)
        if split is not None:
            splits[file] = SPLIT_WORDS[split]
    if other:
        log.warning("%s: %d listed file(s) are not %s, skipped", path, other, what)
    return DataFiles(files, root.resolve(), splits, path)


def read_each(files: list[Path], read: Callable[[Path], Read], what: str, path: Path, *,
              timeout: float = FILE_TIMEOUT_S) -> Iterator[tuple[Path, Read]]:
    """``(file, read(file))`` for each file ``read`` can read, in order, with a progress
    bar (files a second, time left). Files are read by a pool of processes
    (:func:`noizenet.data.pool.map_in_order`: one a core, ``$NOIZENET_WORKERS``), where a
    file whose reader hangs is given up on after ``timeout`` seconds. A file ``read``
    cannot read (``DataError``), or gave up on, is skipped with a warning naming it,
    and the count skipped is said at the end. None readable: one ``DataError`` for
    ``path``, which names the first file given up on, if any (its process died or hung,
    which is not the file's fault when memory ran out)."""
    results = map_in_order(files, read, skip=(DataError,), timeout=timeout, hangs="reader hangs")
    readable, gave_up, started = 0, "", time.perf_counter()
    with progress_bar(f"read {len(files):,} files", quiet=len(files) < 50) as bar:
        for done, (file, value, problem) in enumerate(results, start=1):
            bar.update(done / len(files), f"{done / max(1e-9, time.perf_counter() - started):,.0f} files/s")
            if problem is not None:
                log.warning("skipping %s", problem)
                gave_up = gave_up or (problem if isinstance(problem, GaveUp) else "")
                continue
            readable += 1
            yield file, value
    if readable == 0:
        raise DataError(f"--data {path}: none of its {len(files)} file(s) is readable {what}"
                        + (f"; given up on: {gave_up}" if gave_up else ""))
    if readable < len(files):
        log.warning("skipped %d of %d files that are not readable %s (named above)", len(files) - readable, len(files), what)


def not_readable(path: Path | str, what: str, error: Exception) -> DataError:
    """The :class:`DataError` for a file a reading library failed on: ``PATH: WHAT (the
    error's first line)``, to raise ``from None``. Running out of memory is not a broken
    file: a ``MemoryError`` is raised again, as it came, to stop the run, and so is a
    C library's return of failure with no error set (``SystemError``), which is how
    soundfile's decoder meets a failed allocation under a memory limit."""
    if isinstance(error, MemoryError):
        raise error
    if isinstance(error, SystemError) and "without exception set" in str(error):
        raise MemoryError(f"{path}: the reading library failed without an error (out of memory?)") from error
    reason = str(error).splitlines()[0][:160] if str(error) else type(error).__name__
    return DataError(f"{path}: {what} ({reason})")


def music21_package() -> Path:
    """music21's ``__init__.py``, found without importing music21 (a third of a second
    that a run on prepared data does not need); its ``corpus`` folder lies beside it."""
    return Path(importlib.util.find_spec("music21").origin)
