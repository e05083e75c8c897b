"""Where noizenet caches what it makes once (rendered audio, read chorales,
prepared corpora, measures of recurring inputs): ``$NOIZENET_CACHE``, else
``~/.cache/noizenet``."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from noizenet.runs.rundir import atomic_write_bytes


def cache_folder(configured: str, name: str) -> Path:
    """``configured`` (a dataset's ``data.cache``), else ``$NOIZENET_CACHE``, else
    ``~/.cache/noizenet``; the subfolder ``name`` of it, made if missing."""
    root = configured or os.environ.get("NOIZENET_CACHE") or Path.home() / ".cache" / "noizenet"
    folder = Path(root).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cached_arrays(name: str, key: bytes, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """``compute()``, a dict of arrays, kept in ``$NOIZENET_CACHE/NAME/HASH.npz``
    under a hash of ``key``, which must hold all that the arrays depend on (the
    input, the version of the code and libraries that made them). Read back while
    the file is there and whole; made again, and kept, when it is missing or
    damaged."""
    path = cache_folder("", name) / f"{hashlib.sha1(key).hexdigest()[:24]}.npz"
    try:
        with np.load(path, allow_pickle=False) as saved:
            return {array: saved[array] for array in saved.files}
    except (OSError, ValueError, zipfile.BadZipFile):  # missing, or not a whole .npz
        pass
    arrays = compute()
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return arrays
