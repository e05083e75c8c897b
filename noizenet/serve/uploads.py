"""Prime files uploaded to the composer page: on disk, bounded, short-lived.

Threat model: the uploader may be any page the user's browser opens (the server
refuses cross-site requests before they get here, but a bug there must not let a
page fill the disk), so the folder is bounded on every axis. Each upload is written
while it arrives, never held whole in memory, to ``ROOT/ID/NAME`` in a private
temporary folder (mode 0700); at most ``max_count`` uploads and ``max_total_bytes``
exist at once, the ones still arriving included; an upload primes one generation and
is removed when that job ends, and an unused one is removed ``ttl_s`` after it
arrived. Names are reduced to ``[A-Za-z0-9._-]``; ids are random and looked up, never
joined as given.
"""

from __future__ import annotations

import re
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from noizenet.errors import RequestError

UPLOAD_ID = re.compile(r"[0-9a-f]{16}")


@dataclass
class Upload:
    """One uploaded file: ``path`` on disk, ``size`` in bytes so far, ``created``
    (``time.monotonic``), ``claimed`` once a job takes it."""

    id: str
    name: str
    path: Path
    size: int = 0
    created: float = field(default_factory=time.monotonic)
    claimed: bool = False


class UploadStore:
    """The uploads of one server (see the module docstring for the bounds)."""

    def __init__(self, *, max_count: int, max_total_bytes: int, ttl_s: float) -> None:
        self.max_count, self.max_total_bytes, self.ttl_s = max_count, max_total_bytes, ttl_s
        self.root = Path(tempfile.mkdtemp(prefix="noizenet-uploads-"))  # mkdtemp makes it 0700
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    @contextmanager
    def receive(self, filename: str) -> Iterator[Upload]:
        """A new upload to :meth:`write` into; removed again if the block raises."""
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "prime").name).lstrip(".") or "prime"
        with self._lock:
            self._expire()
            if len(self._uploads) >= self.max_count:
                raise RequestError(429, f"{len(self._uploads)} uploads are waiting to be used, the most this server "
                                         f"keeps (serve --max-uploads); each is removed when used or after "
                                         f"{self.ttl_s / 60:g} minutes")
            upload = Upload(secrets.token_hex(8), safe, Path())
            upload.path = self.root / upload.id / safe
            upload.path.parent.mkdir()
            upload.path.touch()
            self._uploads[upload.id] = upload
        try:
            yield upload
        except BaseException:
            self.remove(upload.id)
            raise

    def write(self, upload: Upload, chunk: bytes) -> None:
        """Append ``chunk`` to ``upload``, refused (413) where the uploads together
        would pass ``max_total_bytes``."""
        with self._lock:
            total = sum(u.size for u in self._uploads.values())
            if total + len(chunk) > self.max_total_bytes:
                raise RequestError(413, f"the uploads waiting to be used hold {total / 2**20:.1f} MB, the most this "
                                         "server keeps; try again once they are used or expired")
            upload.size += len(chunk)
        with upload.path.open("ab") as out:
            out.write(chunk)

    def claim(self, upload_id: str) -> Path:
        """The file of upload ``upload_id``, now taken by one job (400 if there is no
        such upload, or another job took it)."""
        with self._lock:
            self._expire()
            upload = self._uploads.get(upload_id) if UPLOAD_ID.fullmatch(upload_id) else None
            if upload is None or upload.claimed:
                raise RequestError(400, f"no upload {upload_id!r} (an upload primes one generation, and is removed "
                                         "after it or when unused for a while): upload the file first "
                                         "(POST /api/runs/RUN/uploads)")
            upload.claimed = True
            return upload.path

    def release(self, upload_id: str) -> None:
        """Upload ``upload_id`` is free again (the request that claimed it was refused);
        its time limit starts anew."""
        with self._lock:
            upload = self._uploads.get(upload_id)
            if upload is not None:
                upload.claimed, upload.created = False, time.monotonic()

    def remove(self, upload_id: str) -> None:
        with self._lock:
            upload = self._uploads.pop(upload_id, None)
        if upload is not None:
            shutil.rmtree(upload.path.parent, ignore_errors=True)

    def close(self) -> None:
        """Remove every upload and the folder."""
        with self._lock:
            self._uploads.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    def _expire(self) -> None:
        """Remove the unclaimed uploads older than ``ttl_s`` (the lock held)."""
        now = time.monotonic()
        for upload_id, upload in list(self._uploads.items()):
            if not upload.claimed and now - upload.created > self.ttl_s:
                del self._uploads[upload_id]
                shutil.rmtree(upload.path.parent, ignore_errors=True)
