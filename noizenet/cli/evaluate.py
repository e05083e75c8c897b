"""``noizenet evaluate`` and ``noizenet compare``: figures of one run, and of runs side by side."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from noizenet.cli.app import app
from noizenet.cli.options import (
    Debug,
    Device,
    Json,
    PluginsDir,
    Quiet,
    RunDirArg,
    say,
    split_values,
    summary,
    user_errors,
)
from noizenet.deferred import deferred
from noizenet.errors import DataError
from noizenet.runs.rundir import RunDir

# imported when a command first uses them: what needs no model imports no torch
compare = deferred("noizenet.evaluate.compare")
runs = deferred("noizenet.runs.pipeline")


@app.command("evaluate", help="Score a trained run on its held-out pieces (needs its data); write metrics.json, plots and report.md.")


def evaluate_command(
    run_dir: RunDirArg,
    generations: Annotated[list[str], typer.Option(
        "--generations", metavar="NAME", help="Also run every metric on these later generations (folder names under "
                              "RUN_DIR/generations, repeatable, or `all`); each gets a metrics.json and the report shows "
                              "their figures.")] = [],
    device: Device = None,
    plugins_dir: PluginsDir = [],
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        run = {"device": device} if device else {}
        session = runs.session_from_run(RunDir(run_dir), {"run": run}, plugins_dirs=plugins_dir, quiet=quiet)
        try:
            session.splits
        except DataError as error:
            raise DataError(f"evaluate scores the model on the run's validation and test pieces and compares its samples "
                            f"with the training pieces, so it needs the run's data: {error}") from None
        train = session.run_dir.read_status().get("train", {})
        trained = runs.load_trained(session)  # the representation's state too: samples decode with it
        for name, figures in runs.evaluate_generations(session, split_values(generations)).items():
            headline = [f for f in figures["figures"] if f["headline"] and isinstance(figures.get(f["key"]), (int, float))]
            say(quiet, f"generations/{name}: " + "  ".join(f"{f['key']}={figures[f['key']]:.4g}" for f in headline))
        metrics = runs.evaluate(session, trained, runs.saved_generation(session), train)
        say(quiet, summary(session.run_dir, metrics))


@app.command("compare", help="Compare runs: one table of settings and figures, one plot of validation loss.")


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Two or more run directories.")],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the table and plot (default: runs/compare-<time>).")] = None,
    as_json: Json = False,
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        out = out or Path("runs") / f"compare-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        paths = compare.compare_runs(run_dirs, out)
        if as_json:
            typer.echo(paths["json"].read_text())
            return
        say(quiet, paths["table"].read_text().split("\n\nRuns:")[0])
        say(quiet, f"\nwrote {paths['table']}, {paths['json'].name} and {paths['plot'].name}")
