"""``noizenet serve``: the composer page (:mod:`noizenet.serve`)."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Annotated

import typer

from noizenet import config as configuration
from noizenet.cli.app import app, log
from noizenet.cli.options import Debug, PluginsDir, Quiet, say, user_errors
from noizenet.deferred import deferred
from noizenet.errors import DataError
from noizenet.serve.limits import Limits

# imported when a command first uses them: what needs no model imports no torch
runs = deferred("noizenet.runs.pipeline")
serving = deferred("noizenet.serve.server")
shipped = deferred("noizenet.runs.pretrained")
serve_composer = deferred("noizenet.serve.composer")


@app.command("serve", help="Start the composer page: pick a trained run, set prime, meter, key, temperature and seed, "
             "generate, read, play and download the results (also a JSON API; docs/serve.md). Every generation is "
             "written to the run's generations/ folder, as `noizenet generate` writes it.")


def serve_command(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Runs, or folders of runs (default: runs/).", show_default=False)] = None,
    pretrained: Annotated[list[str], typer.Option(
        "--pretrained", metavar="NAME", help="Serve a model shipped with noizenet too: folk-abc (copied to runs/NAME "
                                             "on first use).")] = [],
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Anything but 127.0.0.1 / localhost lets "
                                                     "other machines in: the page has no login (docs/serve.md, "
                                                     "Security).")] = "127.0.0.1",
    allow_host: Annotated[list[str], typer.Option(
        "--allow-host", metavar="NAME", help="A host name the page may be reached by besides localhost, the loopback "
                                             "addresses and --host (e.g. this machine's name behind a proxy); "
                                             "requests naming any other host are refused.")] = [],
    port: Annotated[int, typer.Option("--port", help="Port (0: any free one).")] = 8000,
    max_samples: Annotated[int, typer.Option("--max-samples", help="Samples one request may ask for.")] = Limits.max_samples,
    max_seconds: Annotated[float, typer.Option("--max-seconds", help="Seconds of one audio sample.")] = Limits.max_seconds,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", help="Size of an uploaded prime file.")] = Limits.max_upload_bytes / 2**20,
    max_uploads: Annotated[int, typer.Option("--max-uploads", help="Uploaded prime files kept at once, waiting to be "
                                                                   "used (each primes one generation); more are "
                                                                   "refused (429).")] = Limits.max_uploads,
    max_queued: Annotated[int, typer.Option("--max-queued", help="Jobs waiting at once; more are refused (429).")] = Limits.max_queued,
    jobs: Annotated[int, typer.Option("--jobs", help="Jobs generating at once (of one run or of several); the rest "
                                                     "queue.")] = Limits.jobs,
    loaded_runs: Annotated[int, typer.Option("--loaded-runs", help="Runs kept loaded in memory.")] = Limits.loaded_runs,
    plugins_dir: PluginsDir = [],
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        folders = list(paths or [])
        for name in pretrained:
            run, copied = shipped.pretrained_run(name)
            if copied:
                say(quiet, f"pretrained model {name} copied to {run.root}")
            folders.append(run.root)
        if not folders:
            folders = [Path("runs")]
        for folder in folders:
            if not folder.is_dir():
                raise DataError(f"{folder}: no such folder (give runs or folders of runs; runs are written to runs/, "
                                "or try --pretrained folk-abc)")
        limits = Limits(max_samples=max_samples, max_seconds=max_seconds, max_upload_bytes=int(max_upload_mb * 2**20),
                        max_uploads=max_uploads, max_queued=max_queued, jobs=jobs, loaded_runs=loaded_runs)
        for name, value in dataclasses.asdict(limits).items():
            if value <= 0:
                raise configuration.ConfigError(f"--{name.replace('_', '-')} must be above 0")
        composer = serve_composer.Composer(folders, limits, plugins_dirs=plugins_dir)
        if not composer.runs():
            composer.close()
            raise DataError(f"no trained runs in {', '.join(map(str, folders))}: train one (noizenet run), or try "
                            "noizenet serve --pretrained folk-abc")
        if host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("listening on %s: anyone who can reach this port can generate and read these runs' files "
                        "(the page has no login; docs/serve.md, Security). Requests must name this server as %s: "
                        "--allow-host adds this machine's name or address", host,
                        ", ".join(serving.host_names(host, allow_host)))
        try:
            serving.serve(composer, host, port, functools.partial(say, False), quiet=quiet, allow_hosts=allow_host)
        finally:  # also where serving never began (a busy port): the uploads folder goes with it
            composer.close()
