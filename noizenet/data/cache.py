"""Where noizenet caches what it makes once (rendered audio, read chorales,
prepared corpora): ``$NOIZENET_CACHE``, else ``~/.cache/noizenet``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder(configured: str, name: str) -> Path:
    """``configured`` (a dataset's ``data.cache``), else ``$NOIZENET_CACHE``, else
    ``~/.cache/noizenet``; the subfolder ``name`` of it, made if missing."""
    root = configured or os.environ.get("NOIZENET_CACHE") or Path.home() / ".cache" / "noizenet"
    folder = Path(root).expanduser() / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
