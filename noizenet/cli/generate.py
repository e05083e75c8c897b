"""``noizenet generate``: new samples from a trained run, into a new folder of it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from noizenet import config as configuration
from noizenet.cli.app import app
from noizenet.cli.options import (
    NO_GENERATION_FLAGS,
    GenerationOptions,
    Debug,
    Device,
    PluginsDir,
    Quiet,
    Seed,
    apply_sets,
    say,
    user_errors,
    warn_inapplicable,
    with_generation_options,
)
from noizenet.deferred import deferred
from noizenet.runs.rundir import RunDir

# imported when a command first uses them: what needs no model imports no torch
runs = deferred("noizenet.runs.pipeline")
shipped = deferred("noizenet.runs.pretrained")


@app.command("generate", help="Generate new samples from a trained run into a new folder RUN_DIR/generations/DATE-TIME "
             "(or --out); earlier samples are never overwritten.")
@with_generation_options
def generate_command(
    run_dir: Annotated[Path | None, typer.Argument(help="A run directory written by `noizenet run` (or --pretrained).",
                                                   show_default=False)] = None,
    pretrained: Annotated[str | None, typer.Option(
        "--pretrained", help="Generate from a model shipped with noizenet instead of a run of yours: folk-abc (copied "
                             "to runs/NAME on first use; no training, no data).")] = None,
    generation: GenerationOptions = NO_GENERATION_FLAGS,  # in --help: --temperature, --prime, ... (GENERATION_FLAGS)
    seed: Seed = None,
    max_length: Annotated[int | None, typer.Option("--max-length", help="Steps generated after the prime.")] = None,
    set_values: Annotated[list[str], typer.Option("--set", metavar="SECTION.KEY=VALUE", help="Override a generate or repr key: SECTION.KEY=VALUE "
                                                  "(repeatable; e.g. repr.whole_bars=false).")] = [],
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the samples (new or empty); default: a new "
                                             "RUN_DIR/generations/DATE-TIME, listed in the run's report.")] = None,
    device: Device = None,
    plugins_dir: PluginsDir = [],
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        generate = generation.overrides()
        if max_length is not None:
            generate["max_length"] = max_length
        run = {k: v for k, v in {"seed": seed, "device": device}.items() if v is not None}
        overrides = apply_sets({"generate": generate, "run": run}, set_values, sections=("generate", "repr"))
        if (run_dir is None) == (pretrained is None):
            raise configuration.ConfigError("generate needs a run directory or --pretrained NAME (one of them)")
        if pretrained is not None:
            run, copied = shipped.pretrained_run(pretrained)
            if copied:
                say(quiet, f"pretrained model {pretrained} copied to {run.root} (its held-out figures: "
                            f"{run.root / 'figures.json'})")
            run_dir = run.root
        session = runs.session_from_run(RunDir(run_dir), overrides, plugins_dirs=plugins_dir, quiet=quiet)
        warn_inapplicable(session.representation, seconds=generation.seconds, max_length=max_length)
        generation = runs.generate_in_new_folder(session, runs.load_trained(session), out)
        figures = runs.sample_figures(session, generation.samples)
        shown = "".join(f"; {figure.label}: {figure.show(value)}" for figure, value in figures.values())
        say(quiet, f"wrote {len(generation.samples)} samples to {generation.folder}{shown}")
