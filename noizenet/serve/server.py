"""``noizenet serve``: the composer page and its JSON API over HTTP (FastAPI on uvicorn).

Routes (docs/serve.md has curl examples):

- ``GET /``: the page (``composer.html``).
- ``GET /api/runs``, ``GET /api/runs/RUN``: the runs; one run with what its form offers.
- ``GET /api/runs/RUN/generations``: its samples, newest first, each with the HTML the page shows.
- ``POST /api/runs/RUN/uploads?name=FILE``: a prime file as the raw body (with its own
  Content-Type); answers its upload id.
- ``POST /api/runs/RUN/generate[?wait=true]``: queue a generation (JSON body:
  :class:`~noizenet.serve.composer.GenerateRequest`); 202 with the job, or with ``wait`` the finished job.
- ``GET /api/jobs/ID``: a job's state, queue position, progress and, once done, its samples.
- ``GET /files/RUN/PATH``: a file of a run folder, read-only; nothing outside the folder.

Every error of a route is JSON ``{"error": "one line"}``, without the server's
folders or a traceback, with a 4xx status for the request's fault (a 5xx only for
noizenet's), and the server goes on serving.

Threat model: no login, so the server trusts whoever reaches its port; it listens on
the loopback address unless told otherwise, which leaves the web pages that the
user's own browser opens. :mod:`noizenet.serve.request_guard` refuses the requests they
can make (a foreign Host, a cross-site write, a form's Content-Type); bodies are
bounded while they are read (``Limits.max_body_bytes``, uploads
``Limits.max_upload_bytes``), connections by ``Limits.connections``, uploads on disk
by :class:`~noizenet.serve.uploads.UploadStore`; run names are looked up, never joined;
files are served only from inside a run, with a sandboxing CSP; the page itself
sends a CSP that runs only its own script and refuses to be framed.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import logging
import mimetypes
import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from noizenet.serve.composer import Composer, GenerateRequest, Job
from noizenet.evaluate.document import STYLE, sample_html
from noizenet.errors import ConfigError, NoizenetError, RequestError
from noizenet.serve.request_guard import SameOriginWrites, host_names

log = logging.getLogger("noizenet")
PAGE = Path(__file__).with_name("composer.html")
JOB_POLL_S = 0.02  # how often a waiting request looks at its job
TYPES = {".abc": "text/plain; charset=utf-8", ".jsonl": "text/plain; charset=utf-8", ".md": "text/plain; charset=utf-8",
         ".toml": "text/plain; charset=utf-8", ".mid": "audio/midi", ".wav": "audio/wav", ".svg": "image/svg+xml"}
# Files are shown, played and downloaded, never run: no script in an SVG or an HTML file of a run executes.
FILE_HEADERS = {"X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; img-src 'self'; media-src 'self'; "
                                           "style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox"}


def page_headers(page: str) -> dict[str, str]:
    """The page's own headers: a CSP that runs its one inline script (by hash) and
    nothing else, loads from this server only, and refuses to be framed."""
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; img-src 'self'; "
              "media-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer"}


def create_app(composer: Composer, allowed_hosts: list[str]) -> FastAPI:
    """The page and the API over ``composer`` (closed when the app shuts down),
    answering requests whose Host is one of ``allowed_hosts`` (:func:`host_names`)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(composer.close)

    limits = composer.limits
    # Body limits are the routes' own (max_body_size): an app-wide one would answer a
    # declared length over it in plain text, before SameOriginWrites says it as JSON.
    app = FastAPI(title="noizenet composer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    def takes_files(path: str) -> bool:
        return path.endswith("/uploads")

    def body_limit(path: str) -> tuple[int, str]:
        if takes_files(path):
            return limits.max_upload_bytes, (f"the upload is larger than the limit of "
                                             f"{limits.max_upload_bytes / 2**20:g} MB (serve --max-upload-mb)")
        return limits.max_body_bytes, f"the request body is larger than the limit of {limits.max_body_bytes // 2**10} KB"

    app.add_middleware(SameOriginWrites, takes_files=takes_files, body_limit=body_limit)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts, www_redirect=False)  # outermost check
    page = PAGE.read_text(encoding="utf-8").replace("/*STYLE*/", STYLE)
    headers = page_headers(page)

    def answer(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": composer.public(message)}, status_code=status)

    @app.exception_handler(RequestError)
    async def request_error(_: Request, error: RequestError) -> JSONResponse:
        return answer(error.status, str(error))

    @app.exception_handler(NoizenetError)
    async def noizenet_error(_: Request, error: NoizenetError) -> JSONResponse:
        return answer(400, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        return answer(422, _first_problem(error.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        reasons = {404: f"no such page: {request.url.path}", 405: f"{request.method} is not allowed on {request.url.path}",
                   413: body_limit(request.url.path)[1]}
        return answer(error.status_code, reasons.get(error.status_code, str(error.detail)))

    @app.exception_handler(Exception)
    async def bug(_: Request, error: Exception) -> JSONResponse:  # the traceback goes to the server's log
        return answer(500, f"internal error ({type(error).__name__}); the server's log says more")

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)

    @app.get("/api/runs")
    def list_runs() -> list[dict[str, Any]]:
        return [composer.summary(name, run_dir) for name, run_dir in composer.runs().items()]

    @app.get("/api/runs/{run}")
    def describe(run: str) -> dict[str, Any]:
        return composer.describe(run)

    @app.get("/api/runs/{run}/generations")
    def generations(run: str) -> list[dict[str, Any]]:
        return [{**made, "html": _samples_html(run, made["folder"], made["samples"])}
                for made in composer.generations(run)]

    @app.post("/api/runs/{run}/uploads", max_body_size=limits.max_upload_bytes)
    async def upload(run: str, request: Request, name: str = "prime") -> dict[str, str]:
        composer.run_dir(run)  # an unknown run is refused before its body is read
        with composer.uploads.receive(name) as kept:
            async for chunk in request.stream():  # to disk as it arrives; FastAPI stops it past the limit
                composer.uploads.write(kept, chunk)
        return await run_in_threadpool(composer.check_upload, run, kept)

    @app.post("/api/runs/{run}/generate", max_body_size=limits.max_body_bytes)
    async def generate(run: str, asked: GenerateRequest, wait: bool = False) -> JSONResponse:
        job = await run_in_threadpool(composer.submit, run, asked)
        if not wait:
            return JSONResponse(_job_json(composer, job), status_code=202)
        while not job.finished.is_set():
            await asyncio.sleep(JOB_POLL_S)
        if job.state != "done":
            return JSONResponse({"error": job.error, "job": _job_json(composer, job)}, status_code=job.status)
        return JSONResponse(_job_json(composer, job))

    @app.get("/api/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        return _job_json(composer, composer.job(job_id))

    @app.get("/files/{run}/{path:path}")
    def file(run: str, path: str) -> FileResponse:
        root = composer.run_dir(run).root.resolve()
        target = (root / path).resolve()  # symbolic links followed: one that leads out of the run is refused
        if not target.is_relative_to(root) or not target.is_file():
            raise RequestError(404, f"no file {path!r} in run {run!r}")
        kind = TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return FileResponse(target, media_type=kind, headers=FILE_HEADERS)

    return app


def serve(composer: Composer, host: str, port: int, announce: Callable[[str], None], *, quiet: bool,
          allow_hosts: Sequence[str] = ()) -> None:
    """Bind ``host:port`` (0: a free port), say the address, serve until Ctrl-C: then
    no new jobs start, waiting ones are cancelled, the running ones finish. Requests
    must name the server as localhost, a loopback address, ``host`` or one of
    ``allow_hosts``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({error.strerror}); pick another --port") from None
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    for name in list(composer.runs())[: composer.limits.loaded_runs]:  # loaded now: the first request is fast
        _preload(composer, name)
    config = uvicorn.Config(create_app(composer, host_names(host, allow_hosts)), log_level="warning" if quiet else "info",
                            access_log=False, timeout_graceful_shutdown=None,
                            limit_concurrency=composer.limits.connections)
    server = _Server(config, composer)
    announce(f"noizenet composer: http://{shown}:{bound_port}/  ({len(composer.runs())} runs; Ctrl-C stops)")
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn raises the Ctrl-C again once it has shut down cleanly
        pass
    announce("noizenet composer stopped")


class _Server(uvicorn.Server):
    """uvicorn's server that, on Ctrl-C, first cancels the jobs that have not started."""

    def __init__(self, config: uvicorn.Config, composer: Composer) -> None:
        super().__init__(config)
        self.composer = composer

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.composer.stop_queue()
        super().handle_exit(sig, frame)


def _preload(composer: Composer, name: str) -> None:
    try:
        composer.load(name)
    except Exception as error:  # the run's own requests will say what is wrong with it
        log.warning("run %s could not be loaded: %s", name, error)


def _job_json(composer: Composer, job: Job) -> dict[str, Any]:
    shown = {"id": job.id, "run": job.run, "state": job.state, "position": composer.position(job), "stage": job.stage,
             "progress": round(job.progress, 3), "seed": job.seed, "error": job.error, "seconds": job.seconds,
             "folder": job.folder, "samples": job.samples}
    if job.state == "done":
        shown["html"] = _samples_html(job.run, job.folder or "", job.samples)
    return shown


def _samples_html(run: str, folder: str, samples: list[dict[str, Any]]) -> str:
    """Each sample as the report shows it, its files linked under ``/files/RUN/FOLDER``."""
    return "\n".join(sample_html(row, f"/files/{quote(run)}/{quote(folder)}") for row in samples)


def _first_problem(errors: Any) -> str:
    """One line from pydantic's validation errors: where, and what is wrong."""
    first = list(errors)[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
    message = first.get("msg", "invalid")
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON ({first.get('ctx', {}).get('error', message)})"
    if first.get("type") == "unexpected_keyword_argument":
        message = f"no such field (fields: {', '.join(f.name for f in dataclasses.fields(GenerateRequest))})"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where or 'body'}: {message}{more}"
