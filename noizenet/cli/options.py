"""What several commands share: option types, parsing of list options and overrides,
the config layering that names the flag an error came from, one-line errors."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from noizenet import config as configuration
from noizenet.cli.app import log
from noizenet.deferred import deferred
from noizenet.errors import NoizenetError
from noizenet.runs.rundir import RunDir

# imported when a command first uses them: what needs no model imports no torch
plugin_registry = deferred("noizenet.plugin.registry")

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
InstrumentsOpt = Annotated[list[str], typer.Option(
    "--instruments", rich_help_panel=GENERATION, metavar="NAMES",
    help="MIDI: the instruments samples may play, comma-separated: General MIDI families (piano, bass, strings, "
         "guitar, brass, ...), instrument names (\"violin\") or program numbers (0-127), drums (default: any the run "
         "learned).")]
RunDirArg = Annotated[Path, typer.Argument(help="A run directory written by `noizenet run`.")]
ReprOpt = Annotated[str | None, typer.Option("--repr", rich_help_panel=DATA, help="Representation plugin (default: abc): abc, midi, pianoroll, codebook (audio), harmonic, waveform, fft, chroma; `noizenet plugins` lists all.")]
DataOpt = Annotated[str | None, typer.Option("--data", rich_help_panel=DATA, metavar="PATH", help="A file, a folder or a list (.txt, .jsonl) of files: .abc for abc, .mid for midi, a .mat for pianoroll, audio for the audio representations (default: the corpus bundled with music21).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", rich_help_panel=OUTPUT, metavar="FILE", help="A TOML config (e.g. configs/abc-lstm.toml).")]
SetValues = Annotated[list[str], typer.Option("--set", rich_help_panel=OUTPUT, metavar="SECTION.KEY=VALUE", help="Override any key (repeatable); docs/reference.md lists them.")]


def split_values(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def floats(values: list[str], option: str) -> list[float]:
    try:
        return [float(v) for v in split_values(values)]
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


@dataclass(frozen=True)
class GenerationOptions:
    """The generation flags that ``run``, ``train`` and ``generate`` share, as given
    (None or empty: not given; ``GenerationOptions()``: none given). A command
    declares them with :func:`with_generation_options`."""

    temperature: list[str] = field(default_factory=list)
    top_k: int | None = None
    top_p: float | None = None
    guidance: float | None = None
    num_samples: int | None = None
    prime: list[str] = field(default_factory=list)
    prime_file: list[Path] = field(default_factory=list)
    prime_bars: int | None = None
    prime_seconds: float | None = None
    seconds: float | None = None
    inject_noise: float | None = None
    meter: str | None = None
    key: str | None = None
    unit: str | None = None
    instruments: list[str] = field(default_factory=list)

    def overrides(self) -> dict[str, Any]:
        """The ``[generate]`` keys the flags give; one not given is absent."""
        given = {"seconds": self.seconds, "inject_noise": self.inject_noise, "meter": self.meter, "key": self.key,
                 "unit": self.unit, "top_k": self.top_k, "top_p": self.top_p, "guidance": self.guidance,
                 "prime_bars": self.prime_bars, "prime_file_seconds": self.prime_seconds, "num_samples": self.num_samples}
        values: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        if self.temperature:
            values["temperature"] = floats(self.temperature, "--temperature")
        if self.prime_file:  # your own files: only them, unless --prime names others too
            values["prime_files"] = [str(p.expanduser().absolute()) for p in self.prime_file]
            values["prime"] = []
        if self.prime:
            values["prime"] = split_values(self.prime)
        if self.instruments:
            values["instruments"] = split_values(self.instruments)
        return values


NO_GENERATION_FLAGS = GenerationOptions()  # a command's default: it is always called with what was given

# Each flag of GenerationOptions, in --help order: its option (name, type and help).
GENERATION_FLAGS: dict[str, Any] = {
    "temperature": Temperature, "top_k": TopK, "top_p": TopP, "guidance": Guidance, "num_samples": NumSamples,
    "prime": PrimeOpt, "prime_file": PrimeFile, "prime_bars": PrimeBars, "prime_seconds": PrimeSeconds,
    "seconds": Seconds, "inject_noise": InjectNoise, "meter": Meter, "key": Key, "unit": Unit,
    "instruments": InstrumentsOpt,
}


def with_generation_options(command: Callable[..., None]) -> Callable[..., None]:
    """``command``, whose parameter ``generation: GenerationOptions`` stands where the
    generation flags go in its ``--help``, as a typer command taking those flags; it
    is called with them gathered into one :class:`GenerationOptions`."""
    signature = inspect.signature(command, eval_str=True)
    parameters: list[inspect.Parameter] = []
    for parameter in signature.parameters.values():
        if parameter.name == "generation":
            parameters += [inspect.Parameter(name, parameter.kind, default=getattr(NO_GENERATION_FLAGS, name),
                                             annotation=option) for name, option in GENERATION_FLAGS.items()]
        else:
            parameters.append(parameter)

    @functools.wraps(command)
    def with_flags(**options: Any) -> None:
        generation = GenerationOptions(**{name: options.pop(name) for name in GENERATION_FLAGS})
        command(generation=generation, **options)

    with_flags.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return with_flags


def run_paths(data: str | None, plugins_dir: list[Path]) -> dict[str, Any]:
    """``run.data`` and ``run.plugins_dirs`` as absolute paths (None where not given)."""
    return {"data": str(Path(data).expanduser().absolute()) if data else None,
            "plugins_dirs": [str(p.expanduser().absolute()) for p in plugins_dir] or None}


def say(quiet: bool, text: str) -> None:
    if not quiet:
        typer.echo(text)


def summary(run_dir: RunDir, metrics: dict[str, Any]) -> str:
    """The headline figures that the run declared, and where its files are."""
    headline = [f for f in metrics.get("figures", []) if f["headline"] and metrics.get(f["key"]) is not None]
    figures = "  ".join(f"{f['key']}={metrics[f['key']]:.4g}" for f in headline if isinstance(metrics[f["key"]], (int, float)))
    return f"{figures}\nrun directory: {run_dir.root}  (report: {run_dir.report_html})"


DEFAULTS_NOTE = (" The defaults shown are the core's: a representation may suggest others, and --print-config "
                 "shows what a run will use.")


FLAGS = {("generate", "prime_files"): "--prime-file", ("generate", "prime_file_seconds"): "--prime-seconds",
         ("run", "cache"): "--no-cache", ("run", "plugins_dirs"): "--plugins-dir"}  # where not --KEY-WITH-DASHES


def resolve_naming_flags(raw: dict, registry: Any, named: dict[str, dict], set_values: list[str]) -> Any:
    """The resolved config; an error about keys (:attr:`ConfigError.keys`) the user gave
    as flags (and not with --set) names the flags and the values typed: "--optimizer
    lamb: train.optimizer ..."."""
    try:
        return configuration.resolve(raw, registry)
    except configuration.ConfigError as error:
        flagged = [(section, key) for section, _, key in (name.partition(".") for name in error.keys)
                   if key in named.get(section, {}) and not any(text.startswith(f"{section}.{key}=") for text in set_values)]
        if not flagged:
            raise
        shown = ", ".join(f"{FLAGS.get((section, key), '--' + key.replace('_', '-'))} {_typed(named[section][key])}"
                          for section, key in flagged)
        raise configuration.ConfigError(f"{shown}: {error}", keys=error.keys) from None


def _typed(value: Any) -> Any:
    """A flag's value as typed: a list comma-joined."""
    return ",".join(map(str, value)) if isinstance(value, list) else value


def warn_inapplicable(representation: Any, *, seconds: float | None, max_length: int | None = None) -> None:
    """Say so when a length option does not apply to the run's representation."""
    counts_time = representation.steps_per_second() is not None
    if not counts_time and seconds is not None:
        log.warning(f"--seconds does not apply to '{representation.name}' (it does not count time): samples run to "
                    f"their end or to --max-length / generate.max_length steps")
    elif counts_time and max_length is not None:
        log.warning(f"--max-length does not apply to '{representation.name}', which counts time: use --seconds")


def apply_sets(raw: dict[str, dict], set_values: list[str], sections: tuple[str, ...] | None = None) -> dict[str, dict]:
    """``raw`` with each ``--set SECTION.KEY=VALUE`` laid over it (only ``sections`` where given)."""
    for text in set_values:
        section, key, value = configuration.parse_override(text)
        if sections is not None and section not in sections:
            raise configuration.ConfigError(f"--set {text}: a finished run takes only {' and '.join(sections)} keys here "
                              "(the rest were fixed by training)")
        raw = configuration.merge(raw, {section: {key: value}}, f"--set {text}")
    return raw
