"""``noizenet run`` and ``noizenet train``: train, generate and evaluate into one run folder."""

from __future__ import annotations

import copy
import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from noizenet import config as configuration
from noizenet.cli.app import app
from noizenet.cli.options import (
    NO_GENERATION_FLAGS,
    GenerationOptions,
    DATA,
    DEFAULTS_NOTE,
    GENERATION,
    MODEL,
    OUTPUT,
    TRAIN_DEFAULTS,
    TRAINING,
    ConfigFile,
    DataOpt,
    Debug,
    Device,
    PluginsDir,
    Quiet,
    ReprOpt,
    Seed,
    SetValues,
    apply_sets,
    resolve_naming_flags,
    run_paths,
    say,
    summary,
    user_errors,
    warn_inapplicable,
    with_generation_options,
)
from noizenet.deferred import deferred
from noizenet.runs.rundir import RunDir

# imported when a command first uses them: what needs no model imports no torch
plugin_registry = deferred("noizenet.plugin.registry")
runs = deferred("noizenet.runs.pipeline")


@app.command("run", help="Train, generate and evaluate into one run directory." + DEFAULTS_NOTE)
@with_generation_options
def run_command(
    ctx: typer.Context,
    repr: ReprOpt = None,
    model: Annotated[str | None, typer.Option("--model", rich_help_panel=MODEL, help="Model plugin (default: lstm): lstm, gru, rnn, crnn, samplernn (audio); `noizenet plugins` lists all.")] = None,
    data: DataOpt = None,
    epochs: Annotated[int | None, typer.Option("--epochs", rich_help_panel=TRAINING, help="Maximum epochs (default: 0, no limit, the minutes decide).")] = None,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", rich_help_panel=TRAINING, help=f"Training minutes (default: {TRAIN_DEFAULTS.max_minutes:g}; fractions ok).")] = None,
    hidden: Annotated[int | None, typer.Option("--hidden", rich_help_panel=MODEL, help="Units per recurrent layer (default: 384).")] = None,
    layers: Annotated[int | None, typer.Option("--layers", rich_help_panel=MODEL, help="Recurrent layers (default: 2).")] = None,
    dropout: Annotated[float | None, typer.Option("--dropout", rich_help_panel=MODEL, help="Dropout between layers (default: 0.2).")] = None,
    lr: Annotated[float | None, typer.Option("--lr", rich_help_panel=TRAINING, help=f"Peak learning rate (default: {TRAIN_DEFAULTS.lr:g}).")] = None,
    optimizer: Annotated[str | None, typer.Option("--optimizer", rich_help_panel=TRAINING, help=f"adam | adamw | sgd | adagrad | rmsprop (default: {TRAIN_DEFAULTS.optimizer}).")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", rich_help_panel=TRAINING, help=f"Rows per batch: pieces trained side by side (default: {TRAIN_DEFAULTS.batch_size}).")] = None,
    seq_len: Annotated[int | None, typer.Option("--seq-len", rich_help_panel=TRAINING, help=f"Steps per backprop window (default: {TRAIN_DEFAULTS.seq_len}).")] = None,
    clip: Annotated[float | None, typer.Option("--clip", rich_help_panel=TRAINING, help=f"Max gradient norm (default: {TRAIN_DEFAULTS.clip:g}; 0 = off).")] = None,
    generation: GenerationOptions = NO_GENERATION_FLAGS,  # in --help: --temperature, --prime, ... (GENERATION_FLAGS)
    config_file: ConfigFile = None,
    set_values: SetValues = [],
    out: Annotated[Path | None, typer.Option("--out", rich_help_panel=OUTPUT, metavar="DIR", help="Run directory (default: runs/<time>-<repr>-<model>).")] = None,
    resume: Annotated[Path | None, typer.Option("--resume", rich_help_panel=OUTPUT, metavar="DIR", help="Continue the run in this directory from last.pt.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", metavar="", rich_help_panel=OUTPUT, help="Replace an existing run directory at --out.")] = False,
    seed: Seed = None,
    device: Device = None,
    precision: Annotated[
        str | None, typer.Option("--precision", rich_help_panel=TRAINING, help="Training autocast: auto (default) | fp32 | bf16 | fp16 (GPU).")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", rich_help_panel=OUTPUT, help="CPU threads (default: all available).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", metavar="", rich_help_panel=DATA, help="Encode the corpus in memory instead of preparing it "
                                           "once and memory-mapping it (see `noizenet cache list`).")] = False,
    print_config: Annotated[bool, typer.Option("--print-config", metavar="", rich_help_panel=OUTPUT, help="Print the resolved config (TOML: defaults, "
                                               "the representation's suggestions, --config, options, --set) and "
                                               "exit without running.")] = False,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", metavar="", rich_help_panel=OUTPUT, help="Write TensorBoard event "
                                              "files to RUN_DIR/tensorboard: losses, learning rate, sample audio and "
                                              "images (needs: pip install 'noizenet[tensorboard]').")] = False,
    plugins_dir: PluginsDir = [],
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        registry = plugin_registry.load_registry(plugins_dir)
        named = {
            "run": {"repr": repr, "model": model, "seed": seed, "device": device, "threads": threads,
                    "precision": precision, "cache": False if no_cache else None,
                    "tensorboard": True if tensorboard else None, **run_paths(data, plugins_dir)},
            "train": {
                "epochs": epochs, "max_minutes": max_minutes, "lr": lr, "optimizer": optimizer,
                "batch_size": batch_size, "seq_len": seq_len, "clip": clip,
            },
            "model": {"hidden": hidden, "layers": layers, "dropout": dropout},
            "generate": generation.overrides(),
        }
        named = {section: {k: v for k, v in values.items() if v is not None} for section, values in named.items()}
        if resume is not None:
            if out is not None or overwrite:
                raise configuration.ConfigError("--resume continues a run in its own folder: --out and --overwrite "
                                                "do not apply (copy the folder first to branch off)")
            run_dir = RunDir(resume).require_run()
            raw = configuration.read_toml(run_dir.config)
            registry = plugin_registry.load_registry(runs.recorded_plugins_dirs(raw, run_dir) + list(plugins_dir))
        else:
            raw = configuration.read_toml(config_file) if config_file else {}
        raw = apply_sets(configuration.merge(raw, named, "command line"), set_values)
        config = resolve_naming_flags(raw, registry, named, set_values)
        if print_config:
            typer.echo(config.to_toml(), nl=False)
            return
        warn_inapplicable(registry.get("representation", config.run.repr)(config.repr), seconds=generation.seconds)
        tell = functools.partial(say, quiet)
        run_dir, metrics = runs.execute(config, registry, out=out, resume=resume, overwrite=overwrite,
                                        train_only=ctx.info_name == "train", quiet=quiet, say=tell)
        if run_dir is not None:
            tell(summary(run_dir, metrics) if metrics else f"run directory: {run_dir.root}")


def _hiding_panel(command: Callable[..., None], panel: str) -> Callable[..., None]:
    """``command`` with the options of help ``panel`` left out of its ``--help`` (still
    accepted: ``train -n 20`` sets the run's default for a later ``generate``)."""
    signature = inspect.signature(command, eval_str=True)

    def hidden(parameter: inspect.Parameter) -> inspect.Parameter:
        kind, *infos = get_args(parameter.annotation) or (None,)
        if not any(getattr(info, "rich_help_panel", None) == panel for info in infos):
            return parameter
        copies = [copy.copy(info) for info in infos]
        for info in copies:
            info.hidden = True
        return parameter.replace(annotation=Annotated[(kind, *copies)])

    @functools.wraps(command)
    def narrowed(**options: Any) -> None:
        command(**options)

    narrowed.__signature__ = signature.replace(parameters=[hidden(p) for p in signature.parameters.values()])
    return narrowed


app.command("train", help="Train only (then use `generate` and `evaluate` on the run directory)." + DEFAULTS_NOTE)(
    _hiding_panel(run_command, GENERATION))
