"""The ``noizenet`` command line (typer): run, train, generate, evaluate, compare,
plugins, cache. It parses options and prints; :mod:`noizenet.runs.pipeline` does the work."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from noizenet import __version__
from noizenet import config as configuration
from noizenet.deferred import deferred
from noizenet.errors import DataError, NoizenetError
from noizenet.plugin.hookspecs import API_VERSION
from noizenet.runs.rundir import RunDir
from noizenet.serve.limits import Limits

# What imports torch (or the web stack) is imported when a command first uses it:
# `--version`, `--help`, `runs`, `show` and `cache list` answer without it.
compare = deferred("noizenet.evaluate.compare")
compat = deferred("noizenet.plugin.compat")
doctor = deferred("noizenet.doctor")
plugin_registry = deferred("noizenet.plugin.registry")
prepared = deferred("noizenet.data.prepared")
runs = deferred("noizenet.runs.pipeline")
serving = deferred("noizenet.serve.server")
shipped = deferred("noizenet.runs.pretrained")
serve_composer = deferred("noizenet.serve.composer")

app = typer.Typer(
    help="Learn music with recurrent networks and generate new music (ABC, MIDI, WAV).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("noizenet")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"noizenet {__version__} (plugin API {API_VERSION})")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", metavar="", callback=_print_version, is_eager=True,
                                          help="Print noizenet's version and plugin API version, then exit.")] = False,
) -> None:
    """Options that come before the command; --version acts through its callback."""

# -- options shared by several commands -------------------------------------------------
TRAIN_DEFAULTS, GENERATE_DEFAULTS = configuration.TrainConfig(), configuration.GenerateConfig()
# help panels
GENERATION, DATA, MODEL, TRAINING, OUTPUT = "Generation", "Data", "Model", "Training", "Run folder, device and config"
PluginsDir = Annotated[list[Path], typer.Option("--plugins-dir", metavar="DIR", help="Load every plugin module in DIR (repeatable).")]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", metavar="", help="No progress bars or summaries; errors only.")]
Debug = Annotated[bool, typer.Option("--debug", metavar="", help="Show a traceback on errors.")]
Json = Annotated[bool, typer.Option("--json", metavar="", help="Print JSON, for scripts.")]
Seed = Annotated[int | None, typer.Option("--seed", rich_help_panel=OUTPUT, help="Seed of every RNG (splits, init, batches, sampling).")]
Device = Annotated[str | None, typer.Option("--device", rich_help_panel=OUTPUT, help="auto (default: a GPU where there is one) | cpu | cuda.")]
Temperature = Annotated[list[str], typer.Option(
    "--temperature", "-t", rich_help_panel=GENERATION, metavar="T[,T...]",
    help=f"Sampling temperature(s), e.g. 0.8 or 0.5,1.0 (0 = argmax; default {GENERATE_DEFAULTS.temperature[0]:g}).")]
NumSamples = Annotated[int | None, typer.Option(
    "--num-samples", "-n", rich_help_panel=GENERATION,
    help=f"Samples per prime and temperature (default: {GENERATE_DEFAULTS.num_samples}).")]
PrimeOpt = Annotated[list[str], typer.Option(
    "--prime", rich_help_panel=GENERATION, metavar="NAME[,NAME...]",
    help="Prime(s) that start generation: start (default), song, noise, perlin (e.g. --prime song noise).")]
Seconds = Annotated[float | None, typer.Option(
    "--seconds", rich_help_panel=GENERATION,
    help=f"Audio: seconds generated after the prime (default: {GENERATE_DEFAULTS.seconds:g}).")]
PrimeFile = Annotated[
    list[Path],
    typer.Option("--prime-file", rich_help_panel=GENERATION, metavar="FILE", help="Continue this file (repeatable): an .abc tune for abc, audio for audio "
                                      "representations; only these primes unless --prime names others too."),
]
PrimeBars = Annotated[
    int | None, typer.Option("--prime-bars", rich_help_panel=GENERATION, help="Cut each --prime-file to its first N bars (ABC, MIDI; default: all of it).")
]
PrimeSeconds = Annotated[
    float | None,
    typer.Option("--prime-seconds", rich_help_panel=GENERATION, help="Cut each --prime-file to its first S seconds (audio; default: all of it, "
                                         "up to 30 s, a longer file its last 30 s)."),
]
InjectNoise = Annotated[
    float | None,
    typer.Option("--inject-noise", rich_help_panel=GENERATION, help="Noise fed back while generating: std on frames, or share of random tokens."),
]
TopK = Annotated[int | None, typer.Option(
    "--top-k", rich_help_panel=GENERATION, metavar="K",
    help="Tokens: draw among the K most likely only (default: 0, all).")]
TopP = Annotated[float | None, typer.Option(
    "--top-p", rich_help_panel=GENERATION, metavar="P",
    help="Tokens: draw among the most likely tokens whose probabilities add up to P, after --top-k (nucleus "
         "sampling; default: 1, all).")]
Guidance = Annotated[float | None, typer.Option(
    "--guidance", rich_help_panel=GENERATION, metavar="G",
    help="Conditioned representations (codebook audio: the key): outputs uncond + G * (cond - uncond); 1 = "
         "conditioned (default), 0 = unconditioned, above 1 follows the condition (key) more closely.")]
LIST_OPTIONS = ("--prime", "--temperature", "-t")
Meter = Annotated[str | None, typer.Option("--meter", rich_help_panel=GENERATION, help="ABC: the meter the start prime states, e.g. 6/8.")]
Key = Annotated[str | None, typer.Option("--key", rich_help_panel=GENERATION, help="ABC: the key the start prime states, e.g. D, Em, Ador; "
                                         "codebook audio: the key every sample is conditioned on, e.g. \"E minor\".")]
Unit = Annotated[str | None, typer.Option("--unit", rich_help_panel=GENERATION, help="ABC: the unit note length the start prime states, e.g. 1/8.")]
RunDirArg = Annotated[Path, typer.Argument(help="A run directory written by `noizenet run`.")]
ReprOpt = Annotated[str | None, typer.Option("--repr", rich_help_panel=DATA, help="Representation plugin (default: abc): abc, midi, pianoroll, codebook (audio), harmonic, waveform, fft, chroma; `noizenet plugins` lists all.")]
DataOpt = Annotated[str | None, typer.Option("--data", rich_help_panel=DATA, metavar="PATH", help="A file, a folder or a list (.txt, .jsonl) of files: .abc for abc, .mid for midi, a .mat for pianoroll, audio for the audio representations (default: the corpus bundled with music21).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", rich_help_panel=OUTPUT, metavar="FILE", help="A TOML config (e.g. configs/abc-lstm.toml).")]
SetValues = Annotated[list[str], typer.Option("--set", rich_help_panel=OUTPUT, metavar="SECTION.KEY=VALUE", help="Override any key (repeatable); docs/reference.md lists them.")]


def _split_values(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _floats(values: list[str], option: str) -> list[float]:
    try:
        return [float(v) for v in _split_values(values)]
    except ValueError:
        raise configuration.ConfigError(f"{option} expects numbers, got {' '.join(values)}") from None


@contextmanager
def user_errors(debug: bool, quiet: bool = False) -> Iterator[None]:
    """One line on stderr and exit code 2 for bad input; a traceback only with --debug.
    The ``noizenet`` logger's level holds for the command and is put back after it."""
    logging.basicConfig(format="noizenet: %(levelname)s: %(message)s", level=logging.ERROR if quiet else logging.INFO)
    previous = log.level
    log.setLevel(logging.ERROR if quiet else logging.INFO)
    try:
        yield
    except NoizenetError as error:
        if debug:
            raise
        typer.echo(f"noizenet: error: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        if debug:
            raise
        typer.echo("noizenet: interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as error:  # a bug: in a plugin's own code one line names it, in noizenet's a traceback
        culprit = plugin_registry.plugin_at_fault(error)
        if debug or culprit is None:
            raise
        typer.echo(f"noizenet: error: {culprit}: {type(error).__name__}: {error} (--debug shows the traceback)", err=True)
        raise typer.Exit(2) from None
    finally:
        log.setLevel(previous)


def _generate_overrides(
    temperature: list[str], num_samples: int | None, prime: list[str], seconds: float | None, inject_noise: float | None,
    prime_files: list[Path], named: dict[str, Any],
) -> dict[str, Any]:
    """The ``[generate]`` keys the options give; ``named``: more keys by name (steering, prime cuts)."""
    given = {"seconds": seconds, "inject_noise": inject_noise, **named}
    values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if temperature:
        values["temperature"] = _floats(temperature, "--temperature")
    if num_samples is not None:
        values["num_samples"] = num_samples
    if prime_files:  # your own files: only them, unless --prime names others too
        values["prime_files"] = [str(p.expanduser().absolute()) for p in prime_files]
        values["prime"] = []
    if prime:
        values["prime"] = _split_values(prime)
    return values


def _run_paths(data: str | None, plugins_dir: list[Path]) -> dict[str, Any]:
    """``run.data`` and ``run.plugins_dirs`` as absolute paths (None where not given)."""
    return {"data": str(Path(data).expanduser().absolute()) if data else None,
            "plugins_dirs": [str(p.expanduser().absolute()) for p in plugins_dir] or None}


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text)


def _summary(run_dir: RunDir, metrics: dict[str, Any]) -> str:
    """The headline figures that the run declared, and where its files are."""
    headline = [f for f in metrics.get("figures", []) if f["headline"] and metrics.get(f["key"]) is not None]
    figures = "  ".join(f"{f['key']}={metrics[f['key']]:.4g}" for f in headline if isinstance(metrics[f["key"]], (int, float)))
    return f"{figures}\nrun directory: {run_dir.root}  (report: {run_dir.report_html})"


# -- commands ---------------------------------------------------------------------------
DEFAULTS_NOTE = (" The defaults shown are the core's: a representation may suggest others, and --print-config "
                 "shows what a run will use.")


@app.command("run", help="Train, generate and evaluate into one run directory." + DEFAULTS_NOTE)
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
    temperature: Temperature = [],
    top_k: TopK = None,
    top_p: TopP = None,
    guidance: Guidance = None,
    num_samples: NumSamples = None,
    prime: PrimeOpt = [],
    prime_file: PrimeFile = [],
    prime_bars: PrimeBars = None,
    prime_seconds: PrimeSeconds = None,
    seconds: Seconds = None,
    inject_noise: InjectNoise = None,
    meter: Meter = None,
    key: Key = None,
    unit: Unit = None,
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
                    "tensorboard": True if tensorboard else None, **_run_paths(data, plugins_dir)},
            "train": {
                "epochs": epochs, "max_minutes": max_minutes, "lr": lr, "optimizer": optimizer,
                "batch_size": batch_size, "seq_len": seq_len, "clip": clip,
            },
            "model": {"hidden": hidden, "layers": layers, "dropout": dropout},
            "generate": _generate_overrides(temperature, num_samples, prime, seconds, inject_noise, prime_file,
                                            {"meter": meter, "key": key, "unit": unit, "top_k": top_k, "top_p": top_p,
                                             "guidance": guidance, "prime_bars": prime_bars, "prime_file_seconds": prime_seconds}),
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
        raw = _apply_sets(configuration.merge(raw, named, "command line"), set_values)
        config = _resolve_naming_flags(raw, registry, named, set_values)
        if print_config:
            typer.echo(config.to_toml(), nl=False)
            return
        _warn_inapplicable(registry.get("representation", config.run.repr)(config.repr), seconds=seconds)
        say = functools.partial(_say, quiet)
        run_dir, metrics = runs.execute(config, registry, out=out, resume=resume, overwrite=overwrite,
                                        train_only=ctx.info_name == "train", quiet=quiet, say=say)
        if run_dir is not None:
            say(_summary(run_dir, metrics) if metrics else f"run directory: {run_dir.root}")


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

FLAGS = {("generate", "prime_files"): "--prime-file", ("generate", "prime_file_seconds"): "--prime-seconds",
         ("run", "cache"): "--no-cache", ("run", "plugins_dirs"): "--plugins-dir"}  # where not --KEY-WITH-DASHES


def _resolve_naming_flags(raw: dict, registry: Any, named: dict[str, dict], set_values: list[str]) -> Any:
    """The resolved config; an error about a key the user gave as a flag (and not
    with --set) names the flag and the value typed: "--optimizer lamb: train.optimizer ..."."""
    try:
        return configuration.resolve(raw, registry)
    except configuration.ConfigError as error:
        match = re.match(r"(\w+)\.(\w+)\b", str(error))
        if match is None or match.group(2) not in named.get(match.group(1), {}):
            raise
        if any(text.startswith(f"{match.group(1)}.{match.group(2)}=") for text in set_values):
            raise
        section, key = match.groups()
        flag = FLAGS.get((section, key), "--" + key.replace("_", "-"))
        value = named[section][key]
        shown = ",".join(map(str, value)) if isinstance(value, list) else value
        raise configuration.ConfigError(f"{flag} {shown}: {error}") from None


def _warn_inapplicable(representation: Any, *, seconds: float | None, max_length: int | None = None) -> None:
    """Say so when a length option does not apply to the run's representation."""
    counts_time = representation.steps_per_second() is not None
    if not counts_time and seconds is not None:
        log.warning(f"--seconds does not apply to '{representation.name}' (it does not count time): samples run to "
                    f"their end or to --max-length / generate.max_length steps")
    elif counts_time and max_length is not None:
        log.warning(f"--max-length does not apply to '{representation.name}', which counts time: use --seconds")


@app.command("generate", help="Generate new samples from a trained run into a new folder RUN_DIR/generations/DATE-TIME "
             "(or --out); earlier samples are never overwritten.")
def generate_command(
    run_dir: Annotated[Path | None, typer.Argument(help="A run directory written by `noizenet run` (or --pretrained).",
                                                   show_default=False)] = None,
    pretrained: Annotated[str | None, typer.Option(
        "--pretrained", help="Generate from a model shipped with noizenet instead of a run of yours: folk-abc (copied "
                             "to runs/NAME on first use; no training, no data).")] = None,
    temperature: Temperature = [],
    top_k: TopK = None,
    top_p: TopP = None,
    guidance: Guidance = None,
    num_samples: NumSamples = None,
    prime: PrimeOpt = [],
    prime_file: PrimeFile = [],
    prime_bars: PrimeBars = None,
    prime_seconds: PrimeSeconds = None,
    seconds: Seconds = None,
    inject_noise: InjectNoise = None,
    meter: Meter = None,
    key: Key = None,
    unit: Unit = None,
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
        generate = _generate_overrides(temperature, num_samples, prime, seconds, inject_noise, prime_file,
                                       {"meter": meter, "key": key, "unit": unit, "top_k": top_k, "top_p": top_p,
                                        "guidance": guidance, "prime_bars": prime_bars, "prime_file_seconds": prime_seconds})
        if max_length is not None:
            generate["max_length"] = max_length
        run = {k: v for k, v in {"seed": seed, "device": device}.items() if v is not None}
        overrides = _apply_sets({"generate": generate, "run": run}, set_values, sections=("generate", "repr"))
        if (run_dir is None) == (pretrained is None):
            raise configuration.ConfigError("generate needs a run directory or --pretrained NAME (one of them)")
        if pretrained is not None:
            run, copied = shipped.pretrained_run(pretrained)
            if copied:
                _say(quiet, f"pretrained model {pretrained} copied to {run.root} (its held-out figures: "
                            f"{run.root / 'figures.json'})")
            run_dir = run.root
        session = runs.session_from_run(RunDir(run_dir), overrides, plugins_dirs=plugins_dir, quiet=quiet)
        _warn_inapplicable(session.representation, seconds=seconds, max_length=max_length)
        generation = runs.generate_in_new_folder(session, runs.load_trained(session), out)
        figures = runs.sample_figures(session, generation.samples)
        shown = "".join(f"; {figure.label}: {figure.show(value)}" for figure, value in figures.values())
        _say(quiet, f"wrote {len(generation.samples)} samples to {generation.folder}{shown}")


def _apply_sets(raw: dict[str, dict], set_values: list[str], sections: tuple[str, ...] | None = None) -> dict[str, dict]:
    """``raw`` with each ``--set SECTION.KEY=VALUE`` laid over it (only ``sections`` where given)."""
    for text in set_values:
        section, key, value = configuration.parse_override(text)
        if sections is not None and section not in sections:
            raise configuration.ConfigError(f"--set {text}: a finished run takes only {' and '.join(sections)} keys here "
                              "(the rest were fixed by training)")
        raw = configuration.merge(raw, {section: {key: value}}, f"--set {text}")
    return raw


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
        for name, figures in runs.evaluate_generations(session, _split_values(generations)).items():
            headline = [f for f in figures["figures"] if f["headline"] and isinstance(figures.get(f["key"]), (int, float))]
            _say(quiet, f"generations/{name}: " + "  ".join(f"{f['key']}={figures[f['key']]:.4g}" for f in headline))
        metrics = runs.evaluate(session, trained, runs.saved_generation(session), train)
        _say(quiet, _summary(session.run_dir, metrics))


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
        _say(quiet, paths["table"].read_text().split("\n\nRuns:")[0])
        _say(quiet, f"\nwrote {paths['table']}, {paths['json'].name} and {paths['plot'].name}")


@app.command("plugins", help="List every plugin by kind, with the plugin API it is written for and where it came from.")
def plugins_command(plugins_dir: PluginsDir = [], as_json: Json = False, debug: Debug = False) -> None:
    with user_errors(debug):
        registry = plugin_registry.load_registry(plugins_dir)
        if as_json:
            typer.echo(json.dumps({kind: [{"name": entry.name, "api": compat.api_version(entry.plugin),
                                           "origin": entry.origin,
                                           "description": getattr(entry.plugin, "description", "")}
                                          for entry in registry.entries(kind)] for kind in plugin_registry.KINDS}, indent=2))
            return
        for kind in plugin_registry.KINDS:
            typer.echo(f"{kind}s:")
            for entry in registry.entries(kind):
                description = getattr(entry.plugin, "description", "")
                api = f"API {compat.api_version(entry.plugin)}"
                typer.echo(f"  {entry.name:<16} {api}  {entry.origin}" + (f"  - {description}" if description else ""))




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
                _say(quiet, f"pretrained model {name} copied to {run.root}")
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
            serving.serve(composer, host, port, functools.partial(_say, False), quiet=quiet, allow_hosts=allow_host)
        finally:  # also where serving never began (a busy port): the uploads folder goes with it
            composer.close()


@app.command("doctor", help="Check this machine: Python, torch, GPU, bf16, the cache folder, and the programs plugins "
                             "use (abcm2ps, abc2midi, FluidSynth); say what each missing one costs.")
def doctor_command(
    as_json: Annotated[bool, typer.Option("--json", metavar="", help="Print the checks as JSON.")] = False,
    plugins_dir: PluginsDir = [],
    debug: Debug = False,
) -> None:
    with user_errors(debug):
        found = doctor.checks(plugin_registry.load_registry(plugins_dir))
        if as_json:
            typer.echo(json.dumps([dataclasses.asdict(check) for check in found], indent=2))
            return
        for check in found:
            typer.echo(f"{'ok' if check.ok else 'missing':8} {check.name}: {check.found}")
            if not check.ok and check.without:
                typer.echo(f"{'':8} without it: {check.without}")


@app.command("prepare", help="Prepare a corpus ahead of training: read, fit and encode it once into the cache that "
             "`run` and `train` with the same --repr, --data, --config and --set options then memory-map.")
def prepare_command(
    repr: ReprOpt = None,
    data: DataOpt = None,
    config_file: ConfigFile = None,
    set_values: SetValues = [],
    seed: Seed = None,
    plugins_dir: PluginsDir = [],
    quiet: Quiet = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug, quiet):
        registry = plugin_registry.load_registry(plugins_dir)
        given = {"repr": repr, "seed": seed, **_run_paths(data, plugins_dir)}
        named = {"run": {k: v for k, v in given.items() if v is not None}}
        raw = configuration.read_toml(config_file) if config_file else {}
        raw = _apply_sets(configuration.merge(raw, named, "command line"), set_values)
        corpus = runs.prepare_only(_resolve_naming_flags(raw, registry, named, set_values), registry, quiet=quiet)
        _say(quiet, f"prepared corpus {corpus.folder.name}: {corpus.originals}/{len(corpus.val)}/{len(corpus.test)} "
                    f"pieces ({len(corpus.train)} training pieces with augmented copies) in {corpus.folder}")


cache_app = typer.Typer(help="Prepared corpora: the encoded splits that runs memory-map instead of encoding anew.",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("list", help="List the prepared corpora: key, size on disk, pieces, what they were made from.")
def cache_list_command(debug: Debug = False) -> None:
    with user_errors(debug):
        corpora = prepared.cached_corpora()
        for corpus in corpora:
            pieces = "/".join(str(corpus.pieces.get(name, "?")) for name in prepared.SPLITS)
            what = ", ".join(f"{k} {v}" for k, v in corpus.describe.items())
            typer.echo(f"{corpus.key}  {corpus.bytes / 1e6:9.1f} MB  {corpus.created}  {pieces:>14} pieces  {what}")
        total = sum(c.bytes for c in corpora)
        typer.echo(f"{len(corpora)} prepared corpora, {total / 1e6:.1f} MB in {prepared.root()}")


@cache_app.command("remove", help="Remove prepared corpora by key (a prefix is enough), or all of them.")
def cache_remove_command(
    keys: Annotated[list[str] | None, typer.Argument(help="Keys (or prefixes) from `noizenet cache list`.")] = None,
    all_: Annotated[bool, typer.Option("--all", metavar="", help="Remove every prepared corpus.")] = False,
    debug: Debug = False,
) -> None:
    with user_errors(debug):
        if not keys and not all_:
            raise configuration.ConfigError("name the keys to remove (noizenet cache list), or pass --all")
        removed = prepared.remove([""] if all_ else keys or [])
        if keys and not removed:
            raise DataError(f"no prepared corpus has a key starting with {', '.join(keys)} (noizenet cache list)")
        typer.echo(f"removed {len(removed)} prepared corpora")


def join_list_options(argv: list[str]) -> list[str]:
    """``--prime song noise perlin`` -> ``--prime song,noise,perlin`` (and likewise for
    ``--temperature``): the values after a list option up to the next option, the
    first word that is a path (a run directory given after the option) or, after
    ``--temperature``, the first word that is not a number (``-t 0.8 myrun``)."""
    joined: list[str] = []
    i = 0
    while i < len(argv):
        joined.append(argv[i])
        if argv[i] in LIST_OPTIONS:
            numbers = argv[i] in ("--temperature", "-t")
            values = []
            while i + 1 < len(argv) and _is_list_value(argv[i + 1], numbers=numbers):
                i += 1
                values.append(argv[i])
            if values:
                joined.append(",".join(values))
        i += 1
    return joined


def _is_list_value(text: str, *, numbers: bool) -> bool:
    if "/" in text or Path(text).exists():
        return False
    try:
        [float(v) for v in text.split(",") if v]
    except ValueError:
        return not numbers and not text.startswith("-")
    return True


def main() -> None:
    """The console script: usage errors (a bad option value, an unknown option) become
    one line too, with exit code 2, instead of a framed usage box."""
    try:
        code = app(args=join_list_options(sys.argv[1:]), prog_name="noizenet", standalone_mode=False)
    except typer.Abort:
        typer.echo("noizenet: interrupted", err=True)
        code = 130
    except typer.Exit as done:
        code = done.exit_code
    except Exception as error:
        # typer's (vendored) click usage errors; anything else is a bug: re-raise it
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            raise
        if error.format_message():  # empty when no arguments brought up the help
            typer.echo(f"noizenet: error: {error.format_message()}", err=True)
        code = error.exit_code
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
