"""What one request to ``noizenet serve``, and the server at once, may ask for
(the ``serve`` command's options; no web stack or torch imported, so that the
command line can show them as defaults)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one request, and the server at once, may ask for."""

    max_samples: int = 20  # samples per request
    max_seconds: float = 30.0  # seconds per audio sample
    max_upload_bytes: int = 20 * 2**20  # a prime file
    max_uploads: int = 16  # uploads kept at once, waiting to be used; more are refused with 429
    max_upload_total_bytes: int = 200 * 2**20  # all of them together; more is refused with 413
    upload_ttl_s: float = 600.0  # an upload not used within this is removed
    max_body_bytes: int = 64 * 2**10  # any other request's body (JSON)
    max_queued: int = 32  # jobs waiting; more are refused with 429
    jobs: int = 2  # jobs generating at once (a model in eval mode serves several)
    loaded_runs: int = 3  # runs kept in memory
    connections: int = 64  # open connections and requests at once; more are answered 503
