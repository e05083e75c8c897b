"""``noizenet runs`` and ``noizenet show``: the run folders, read without torch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from noizenet.cli.app import app
from noizenet.cli.options import Debug, Json, RunDirArg, user_errors
from noizenet.deferred import deferred
from noizenet.errors import DataError
from noizenet.runs.rundir import RunDir

# imported when a command first uses them: what needs no model imports no torch
runs = deferred("noizenet.runs.pipeline")


@app.command("runs", help="List the runs under a folder (default: runs/): name, representation, model, status, "
             "test loss, samples, date.")


def runs_command(
    folder: Annotated[Path, typer.Argument(help="A folder of run directories.")] = Path("runs"),
    as_json: Json = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug):
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder (runs are written to runs/ unless --out says otherwise)")
        found = [RunDir(p).facts() for p in sorted(folder.iterdir()) if RunDir(p).config.exists()]
        if as_json:
            typer.echo(json.dumps(found, indent=2))
            return
        typer.echo(f"{'name':<34} {'repr':<10} {'model':<9} {'status':<11} {'test loss':>9} {'samples':>7}  date")
        for run in found:
            loss = f"{run['test_loss']:.4f}" if isinstance(run["test_loss"], float) else "-"
            typer.echo(f"{run['name'][:34]:<34} {run['representation'] or '?':<10} {run['model'] or '?':<9} "
                       f"{run['status']:<11} {loss:>9} {run['samples']:>7}  {run['date']}")
            if run["error"]:
                typer.echo(f"  {run['error']}")
        typer.echo(f"{len(found)} runs in {folder}")


@app.command("show", help="Show one run: status, why training stopped, figures, samples, where its report is.")


def show_command(run_dir: RunDirArg, as_json: Json = False, debug: Debug = False) -> None:
    with user_errors(debug):
        facts = RunDir(run_dir).require_run().facts()
        if as_json:
            typer.echo(json.dumps(facts, indent=2))
            return
        for key, value in facts.items():
            if key == "figures":
                value = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in value.items()) or "-"
            typer.echo(f"{key + ':':<16}{value if value is not None else '-'}")
