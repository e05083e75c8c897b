"""The composer behind ``noizenet serve``: runs, uploads and generation jobs, with no HTTP in it.

It finds the finished runs among the folders it was given (scanned again on every
listing, so a run that finishes later shows up), keeps at most
``Limits.loaded_runs`` of them loaded (model, representation state, calibration:
the first request of a run pays for loading it, later ones do not, and loading one
run keeps no other run's requests waiting; the libraries that plugins defer are
imported before the server answers, not by the first request, which they would slow
by a second), and runs generation jobs from one FIFO queue on ``Limits.jobs`` worker
threads (two jobs of one run may run at once: the model is only read). A job writes a
new ``generations/DATE-TIME`` folder exactly as ``noizenet generate`` does
(:func:`noizenet.runs.pipeline.generate_in_new_folder`), so a failed one leaves nothing
behind. Every request is checked before it is queued: what it asks for that the run
cannot do, or that goes past a limit, is a :class:`RequestError` with a one-line
reason and an HTTP status. Uploaded prime files live in an
:class:`~noizenet.serve.uploads.UploadStore`, bounded in count, bytes and time.
"""

from __future__ import annotations

import collections
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen

from noizenet import config as configuration
from noizenet import deferred
from noizenet.runs import pipeline as runs
from noizenet.data.conditioning import asked_condition
from noizenet.errors import NoizenetError, RequestError
from noizenet.plugin.registry import load_registry
from noizenet.evaluate.report import declared_figures
from noizenet.runs.rundir import SAMPLES_MANIFEST, RunDir
from noizenet.serve.limits import Limits
from noizenet.serve.uploads import Upload, UploadStore

KEPT_JOBS = 500  # finished jobs remembered for GET /api/jobs/ID (oldest forgotten first)


@dataclass
class GenerateRequest:
    """What a user asks of one generation (the page's form, the JSON body of
    ``POST /api/runs/RUN/generate``, validated against these bounds by the server);
    what the run cannot do is refused at :meth:`Composer.submit`."""

    __pydantic_config__ = {"extra": "forbid"}  # an unknown field is a mistake, said so (422)

    prime: str = "start"  # a prime plugin's name, or "file" (with ``upload``)
    upload: str | None = None  # an upload's id (POST /api/runs/RUN/uploads) when prime is "file"
    temperature: Annotated[float, Gt(0), Le(10)] | None = None  # default: the run's first generate.temperature
    num_samples: Annotated[int, Ge(1)] = 1  # at most Limits.max_samples
    seed: Annotated[int, Ge(0), Lt(2**32)] | None = None  # default: a fresh random seed, reported with the job
    seconds: Annotated[float, Gt(0)] | None = None  # audio: after the prime (default: the run's, at most Limits.max_seconds)
    guidance: Annotated[float, Ge(0), Le(20)] | None = None  # conditioned representations (default: the run's)
    meter: Annotated[str, MaxLen(20)] | None = None
    key: Annotated[str, MaxLen(20)] | None = None
    unit: Annotated[str, MaxLen(20)] | None = None


@dataclass
class Job:
    """One generation request and how it stands: ``state`` queued, running, done, failed or cancelled."""

    id: str
    run: str
    overrides: dict[str, dict[str, Any]]  # generate and run keys laid over the run's config
    seed: int
    upload: str | None = None  # the upload it primes from, removed when the job ends
    state: str = "queued"
    stage: str = ""  # what is being done now, e.g. "generate 5 samples"
    progress: float = 0.0  # of that stage, 0..1
    error: str | None = None
    status: int = 200  # HTTP status of a failure (400: the request; 500: noizenet)
    folder: str | None = None  # the generation's folder, relative to the run
    samples: list[dict[str, Any]] = field(default_factory=list)  # its samples.json rows
    created: float = field(default_factory=time.time)
    seconds: float | None = None  # from the start of generating to the samples written
    finished: threading.Event = field(default_factory=threading.Event)

    def hear(self, stage: str, fraction: float) -> None:
        self.stage, self.progress = stage, fraction


@dataclass
class LoadedRun:
    """A run ready to generate: its session (representation state restored) and model."""

    session: runs.Session
    trained: runs.Trained
    raw: dict[str, dict[str, Any]]  # its config.toml


def find_runs(paths: Iterable[Path]) -> dict[str, RunDir]:
    """Every run among ``paths`` (a run folder, or a folder of runs), by a name unique
    among them (the folder's name; ``-2``, ``-3`` ... where two are alike).
    A run is a folder with config.toml and checkpoints/best.pt that is not training."""
    found: dict[str, RunDir] = {}
    for path in paths:
        candidates = [path] if (path / "config.toml").exists() else sorted(p for p in path.iterdir() if p.is_dir())
        for folder in candidates:
            run_dir = RunDir(folder)
            if not (run_dir.config.exists() and run_dir.best.exists()) or run_dir.read_status().get("state") == "training":
                continue
            name = folder.name
            for number in itertools.count(2):
                if name not in found:
                    break
                name = f"{folder.name}-{number}"
            found[name] = run_dir
    return found


def offered_primes(session: runs.Session) -> list[str]:
    """The primes the run's representation takes (:meth:`Prime.applies_to`), by name."""
    return [name for name in session.registry.names("prime")
            if session.registry.get("prime", name)().applies_to(session.representation)]


class Composer:
    """Runs, uploads and the job queue of one server (see the module docstring)."""

    def __init__(self, paths: Sequence[Path], limits: Limits = Limits(), plugins_dirs: Sequence[Path] = ()) -> None:
        self.paths = [Path(p).absolute() for p in paths]
        self.limits = limits
        self.plugins_dirs = list(plugins_dirs)
        self.uploads = UploadStore(max_count=limits.max_uploads, max_total_bytes=limits.max_upload_total_bytes,
                                   ttl_s=limits.upload_ttl_s)
        self._loaded: collections.OrderedDict[str, LoadedRun] = collections.OrderedDict()
        self._loaded_lock = threading.Lock()  # guards _loaded and _loading
        self._loading: dict[str, threading.Lock] = {}  # one per run: none is loaded twice, others go on
        self._jobs: dict[str, Job] = {}
        self._queue: collections.deque[Job] = collections.deque()
        self._wake = threading.Condition()
        self._closing = False
        self._workers = [threading.Thread(target=self._work, name=f"noizenet-job-{i}", daemon=True)
                         for i in range(limits.jobs)]
        for worker in self._workers:
            worker.start()
        self._import_plugins()

    # -- runs ---------------------------------------------------------------------------
    def runs(self) -> dict[str, RunDir]:
        return find_runs(self.paths)

    def run_dir(self, name: str) -> RunDir:
        found = self.runs().get(name)
        if found is None:
            raise RequestError(404, f"no run named {name!r} (runs: {', '.join(self.runs()) or 'none'})")
        return found

    def summary(self, name: str, run_dir: RunDir) -> dict[str, Any]:
        """What the page lists of a run: its plugins, data, state and held-out figures,
        as the report shows them (label, value, unit); ``error`` says which of its
        files cannot be read (the run is listed all the same)."""
        facts = run_dir.facts()
        shipped = run_dir.root / "figures.json"  # a pretrained model's figures (it has no metrics.json)
        source = run_dir.metrics if run_dir.metrics.exists() else shipped
        try:
            metrics = json.loads(source.read_text()) if source.exists() else {}
        except (OSError, ValueError) as error:
            metrics, facts["error"] = {}, facts["error"] or f"{source.name} cannot be read ({error})"
        if source == shipped:  # its values under "headline", declared as metrics.json declares them
            metrics = {**metrics.get("headline", {}), "figures": metrics.get("figures", [])}
        figures = [{"label": figure.label, "value": figure.show(metrics.get(figure.key)), "unit": figure.unit}
                   for _, figure in declared_figures(metrics) if figure.headline and metrics.get(figure.key) is not None]
        status = "pretrained" if facts["status"] == "unknown" and shipped.exists() else facts["status"]
        return {"name": name, "representation": facts["representation"], "model": facts["model"],
                "data": facts["data"], "status": status, "date": facts["date"], "generations": facts["generations"],
                "figures": figures, "report": run_dir.report_html.exists(), "error": facts["error"]}

    def describe(self, name: str) -> dict[str, Any]:
        """:meth:`summary` and what the run's form offers (loads the run)."""
        loaded = self.load(name)
        session, representation = loaded.session, loaded.session.representation
        gen = session.config.generate
        return {
            **self.summary(name, session.run_dir),
            "primes": offered_primes(session), "steering": list(representation.steered_by()),
            "counts_time": representation.steps_per_second() is not None,
            "conditioned": bool(representation.spec.condition),
            "defaults": {"temperature": gen.temperature[0], "seconds": min(gen.seconds, self.limits.max_seconds),
                         "guidance": gen.guidance, "prime": gen.prime[0] if gen.prime else "start"},
            "limits": {"max_samples": self.limits.max_samples, "max_seconds": self.limits.max_seconds,
                       "max_upload_bytes": self.limits.max_upload_bytes},
        }

    def generations(self, name: str) -> list[dict[str, Any]]:
        """The run's generations, newest first, then the samples written at training:
        each ``{"folder": path relative to the run, "samples": samples.json rows}``."""
        run_dir = self.run_dir(name)
        manifests = sorted(run_dir.generations.glob(f"*/{SAMPLES_MANIFEST}"), reverse=True)
        if run_dir.samples_manifest.exists():
            manifests.append(run_dir.samples_manifest)
        listed = []
        for manifest in manifests:
            made: dict[str, Any] = {"folder": manifest.parent.relative_to(run_dir.root).as_posix(), "samples": []}
            try:
                made["samples"] = list(json.loads(manifest.read_text())["samples"])
            except (OSError, ValueError, KeyError, TypeError) as error:  # a damaged file does not hide the others
                made["error"] = f"{SAMPLES_MANIFEST} cannot be read ({type(error).__name__}: {error})"
            listed.append(made)
        return listed

    def load(self, name: str) -> LoadedRun:
        """Run ``name`` loaded (kept; the least recently used beyond ``Limits.loaded_runs`` is let go)."""
        run_dir = self.run_dir(name)
        with self._loaded_lock:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # a second request for this run waits for the first's load; other runs do not
            with self._loaded_lock:
                loaded = self._loaded.get(name)
            if loaded is None or loaded.session.run_dir.root != run_dir.root:
                session = runs.session_from_run(run_dir, plugins_dirs=self.plugins_dirs, quiet=True)
                loaded = LoadedRun(session, runs.load_trained(session), configuration.read_toml(run_dir.config))
            with self._loaded_lock:
                self._loaded[name] = loaded
                self._loaded.move_to_end(name)
                while len(self._loaded) > self.limits.loaded_runs:
                    self._loaded.popitem(last=False)
            return loaded

    # -- uploads ------------------------------------------------------------------------
    def check_upload(self, name: str, upload: Upload) -> dict[str, str]:
        """Keep ``upload`` (already written to the store) once run ``name``'s
        representation has read a piece from it; else remove it and say why (400)."""
        try:
            if upload.size == 0:
                raise RequestError(400, "the upload is empty: send the file as the request's body")
            try:
                runs.file_piece(self.load(name).session, upload.path)
            except NoizenetError as error:
                raise RequestError(400, str(error).replace("--prime-file ", "upload ")) from None
        except BaseException:
            self.uploads.remove(upload.id)
            raise
        return {"upload": upload.id, "name": upload.name}

    def public(self, message: str) -> str:
        """``message`` with this server's folders left out: the runs' and the
        uploads' absolute paths are the user's business, not the page's."""
        for folder in sorted({str(self.uploads.root), *map(str, self.paths)}, key=len, reverse=True):
            message = message.replace(folder + "/", "").replace(folder, ".")
        return message

    # -- jobs ---------------------------------------------------------------------------
    def submit(self, name: str, request: GenerateRequest) -> Job:
        """Check ``request`` against run ``name`` and the limits, then queue it."""
        loaded = self.load(name)
        overrides, seed = self._overrides(loaded, request)
        upload = request.upload if request.prime == "file" else None
        if upload:  # one job per upload: a second request naming it is refused
            overrides["generate"]["prime_files"] = [str(self.uploads.claim(upload))]
        try:
            configuration.resolve(configuration.merge(loaded.raw, overrides, "request"), loaded.session.registry)
            with self._wake:
                if self._closing:
                    raise RequestError(503, "the server is stopping")
                if len(self._queue) >= self.limits.max_queued:
                    raise RequestError(429, f"busy: {len(self._queue)} jobs are waiting (serve --max-queued); "
                                            "try again later")
                job = Job(secrets.token_hex(8), name, overrides, seed, upload)
                self._jobs[job.id] = job
                self._queue.append(job)
                self._forget_old_jobs()
                self._wake.notify()
        except BaseException:
            if upload:  # refused: the upload may prime a later request
                self.uploads.release(upload)
            raise
        return job

    def job(self, job_id: str) -> Job:
        found = self._jobs.get(job_id)
        if found is None:
            raise RequestError(404, f"no job {job_id!r} (finished jobs are kept for a while, then forgotten)")
        return found

    def position(self, job: Job) -> int:
        """1 for the next job to start, 2 after it ...; 0 once it is no longer waiting."""
        with self._wake:
            for place, waiting in enumerate(self._queue, 1):
                if waiting is job:
                    return place
        return 0

    def stop_queue(self) -> None:
        """Take no more jobs and cancel the waiting ones; running jobs go on."""
        with self._wake:
            self._closing = True
            while self._queue:
                job = self._queue.popleft()
                job.state, job.status, job.error = "cancelled", 503, "the server stopped before this job started"
                self._end(job)
            self._wake.notify_all()

    def close(self) -> None:
        """Stop the queue, wait for the running jobs, delete the uploads."""
        self.stop_queue()
        for worker in self._workers:
            worker.join()
        self.uploads.close()

    def _import_plugins(self) -> None:
        """The installed plugins' modules and what they defer (music21, numba, pyplot ...).
        A plugin that fails to load is left for the request that needs it to report."""
        try:
            load_registry()
        except NoizenetError:
            return
        deferred.import_all()

    def _overrides(self, loaded: LoadedRun, request: GenerateRequest) -> tuple[dict[str, dict[str, Any]], int]:
        representation = loaded.session.representation
        limits = self.limits
        if not 1 <= request.num_samples <= limits.max_samples:
            raise RequestError(400, f"num_samples {request.num_samples}: give 1 to {limits.max_samples} "
                                    "(serve --max-samples)")
        steering = {k: getattr(request, k) for k in configuration.STEERING if getattr(request, k)}
        refused = sorted(set(steering) - set(representation.steered_by()))
        if refused:
            raise RequestError(400, f"representation '{representation.name}' cannot be steered by {', '.join(refused)}"
                                    f" (it takes: {', '.join(representation.steered_by()) or 'none'})")
        if steering and asked_condition(representation, steering) is None:  # as generation will: refused now, not later
            representation.steered_opening(steering)
        generate: dict[str, Any] = {"num_samples": request.num_samples, **steering}
        if request.prime == "file":
            if not request.upload:
                raise RequestError(400, "prime 'file' needs an upload: upload the file first (POST /api/runs/RUN/uploads)")
            generate.update(prime=[])  # prime_files: the upload's path, once :meth:`submit` claims it
        elif request.prime in offered_primes(loaded.session):
            generate.update(prime=[request.prime], prime_files=[])
        else:
            raise RequestError(400, f"prime {request.prime!r}: give one of "
                                    f"{', '.join(offered_primes(loaded.session))} or file (with an upload)")
        if request.temperature is not None:
            generate["temperature"] = [request.temperature]
        else:
            generate["temperature"] = loaded.session.config.generate.temperature[:1]
        if request.guidance is not None:
            if not representation.spec.condition:
                raise RequestError(400, f"guidance: representation '{representation.name}' is not conditioned")
            generate["guidance"] = request.guidance
        if representation.steps_per_second() is not None:
            seconds = request.seconds if request.seconds is not None else loaded.session.config.generate.seconds
            if seconds > limits.max_seconds and request.seconds is not None:
                raise RequestError(400, f"seconds {seconds:g}: at most {limits.max_seconds:g} (serve --max-seconds)")
            generate["seconds"] = min(seconds, limits.max_seconds)
        elif request.seconds is not None:
            raise RequestError(400, f"seconds: representation '{representation.name}' does not count time")
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        return {"generate": generate, "run": {"seed": seed}}, seed

    def _forget_old_jobs(self) -> None:
        ended = [job_id for job_id, job in self._jobs.items() if job.finished.is_set()]
        for job_id in ended[: max(0, len(ended) - KEPT_JOBS)]:
            del self._jobs[job_id]

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if not self._queue:
                    return
                job = self._queue.popleft()
                job.state = "running"
            self._run(job)

    def _run(self, job: Job) -> None:
        started = time.perf_counter()
        try:
            loaded = self.load(job.run)
            base = loaded.session
            config = configuration.resolve(configuration.merge(loaded.raw, job.overrides, "request"), base.registry)
            session = runs.Session(config, base.registry, base.run_dir, base.representation, base.device,
                                   quiet=True, listener=job.hear)
            generation = runs.generate_in_new_folder(session, loaded.trained)
            job.folder = generation.folder.relative_to(base.run_dir.root).as_posix()
            job.samples = [sample.row() for sample in generation.samples]
            job.state = "done"
        except NoizenetError as error:
            job.state, job.error = "failed", self.public(str(error))
            job.status = error.status if isinstance(error, RequestError) else 400
        except Exception as error:  # a bug: the job says so in one line, the server goes on
            job.state, job.status = "failed", 500
            job.error = self.public(f"generation failed: {type(error).__name__}: {error}")
        finally:
            job.seconds = round(time.perf_counter() - started, 3)
            self._end(job)

    def _end(self, job: Job) -> None:
        """``job`` is over (done, failed or cancelled): its upload goes, its waiters wake."""
        if job.upload:
            self.uploads.remove(job.upload)
        job.finished.set()
