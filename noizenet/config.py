"""Run configuration: typed dataclasses with defaults in code, TOML files and
``--set section.key=value`` overrides on top, unknown keys and bad values rejected.

A config has core sections (``run``, ``train``, ``generate``) and plugin sections
(``model``, ``repr``, ``data``) whose fields are the chosen plugins' own ``Config``
dataclasses. The resolved config saved in a run directory repeats the run.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from noizenet.errors import ConfigError

OPTIMIZERS = ("adam", "adamw", "sgd", "adagrad", "rmsprop")
SCHEDULES = ("none", "cosine", "plateau")
DEVICES = ("auto", "cpu", "cuda")
LAYOUTS = ("pieces", "stream")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass
class RunConfig:
    repr: str = "abc"
    model: str = "lstm"
    dataset: str = ""  # "" = the representation's default (with --data: its path dataset)
    data: str = ""  # a file or folder; "" = the dataset's built-in data
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # intra-op CPU threads; 0 = all available cores
    precision: str = "auto"  # training autocast: auto (bf16 where the hardware has it) | fp32 | bf16 | fp16 (GPU)
    plugins_dirs: list[str] = field(default_factory=list)  # --plugins-dir folders, loaded again by generate/evaluate
    cache: bool = True  # prepare the encoded corpus once and memory-map it in later runs; false = encode in memory (--no-cache)
    tensorboard: bool = False  # TensorBoard event files in RUN_DIR/tensorboard (--tensorboard; needs the tensorboard package)

    def __post_init__(self) -> None:
        _choice("run.device", self.device, DEVICES)
        _choice("run.precision", self.precision, PRECISIONS)
        _at_least("run.threads", self.threads, 0)


@dataclass
class TrainConfig:
    epochs: int = 0  # 0 = no limit: the minutes decide (a small corpus trains for its minutes too)
    max_minutes: float = 4.0  # training stops at whichever of epochs/minutes comes first
    max_steps: int = 0  # 0: fixed from max_minutes after the first 20 steps (and recorded); N: exactly N steps
    layout: str = "pieces"  # pieces: each batch row is a piece from its start; stream: pieces end to end
    batch_size: int = 32  # rows of a batch
    seq_len: int = 64  # tokens (or frames) per window of truncated backprop
    optimizer: str = "adam"
    lr: float = 4e-3
    weight_decay: float = 0.0
    clip: float = 1.0  # max gradient norm; 0 = off
    schedule: str = "cosine"  # over training progress (steps or time, whichever runs out first)
    warmup_steps: int = 30
    min_lr_ratio: float = 0.02  # cosine ends at lr * this
    patience: int = 5  # validations without improvement before stopping; 0 = never
    # ... and they must span this share of the budget since the best validation (on a
    # small corpus an epoch takes a second: five validations are no trend)
    patience_share: float = 0.1
    early_stop_after: float = 0.5  # share of the budget (epochs or minutes) before patience may stop training
    val_every: float = 1.0  # epochs between validations (fractions allowed); also at every 10% of max_minutes
    val_max_tokens: int = 50_000  # validation pieces scored during training (all of them at the end); 0 = all
    split: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train/val/test by piece
    condition_dropout: float = 0.2  # conditioned representations: share of rows trained with the neutral condition

    def __post_init__(self) -> None:
        _at_least("train.epochs", self.epochs, 0)
        _at_least("train.max_steps", self.max_steps, 0)
        if not 0 <= self.condition_dropout <= 1:
            raise ConfigError.about("train.condition_dropout", f"must be in [0, 1], got {self.condition_dropout}")
        if not self.max_minutes > 0:
            raise ConfigError.about("train.max_minutes", f"must be > 0, got {self.max_minutes}")
        _choice("train.layout", self.layout, LAYOUTS)
        _at_least("train.batch_size", self.batch_size, 1)
        _at_least("train.seq_len", self.seq_len, 2)
        _choice("train.optimizer", self.optimizer, OPTIMIZERS)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError.about("train.lr", f"must be a positive number, got {self.lr}")
        _at_least("train.weight_decay", self.weight_decay, 0)
        _at_least("train.clip", self.clip, 0)
        _choice("train.schedule", self.schedule, SCHEDULES)
        _at_least("train.warmup_steps", self.warmup_steps, 0)
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError.about("train.min_lr_ratio", f"must be in [0, 1], got {self.min_lr_ratio}")
        _at_least("train.patience", self.patience, 0)
        for key in ("early_stop_after", "patience_share"):
            if not 0 <= getattr(self, key) <= 1:
                raise ConfigError.about(f"train.{key}", f"must be in [0, 1], got {getattr(self, key)}")
        if not self.val_every > 0:
            raise ConfigError.about("train.val_every", f"must be > 0, got {self.val_every}")
        _at_least("train.val_max_tokens", self.val_max_tokens, 0)
        if len(self.split) != 3 or min(self.split) < 0 or self.split[0] <= 0 or self.split[1] <= 0:
            raise ConfigError.about(
                "train.split", f"must be three fractions [train, val, test] with train and val > 0, got {self.split}")


@dataclass
class GenerateConfig:
    prime: list[str] = field(default_factory=lambda: ["start"])
    prime_files: list[str] = field(default_factory=list)  # files that prime samples too, each all of it (a tune, a song)
    prime_bars: int = 0  # cut each prime file to its first bars (ABC, MIDI); 0 = all of it
    prime_file_seconds: float = 0.0  # cut each prime file to its first seconds (audio); 0 = all of it, up to 30 s
    temperature: list[float] = field(default_factory=lambda: [1.0])  # 0 = argmax
    top_k: int = 0  # tokens: draw among the k most likely only; 0 = all
    top_p: float = 1.0  # tokens: draw among the most likely whose probabilities add up to p (nucleus); 1 = all
    guidance: float = 1.0  # conditioned representations: uncond + g * (cond - uncond); 1 = conditioned, 0 = unconditioned
    num_samples: int = 10  # per prime and temperature
    max_length: int = 1500  # tokens (or frames) generated after the prime, for symbolic music
    seconds: float = 4.0  # audio generated after the prime (representations that count time)
    prime_seconds: float = 1.0  # length of song, noise and Perlin primes
    noise_level: float = 0.1  # RMS of the white-noise prime, and peak of the Perlin prime
    inject_noise: float = 0.0  # during generation: Gaussian noise of this std on fed-back frames, or this share of random tokens
    # Steering the start prime (representations that take it; abc: the header the tunes start from); "" = free
    meter: str = ""  # e.g. "6/8"
    key: str = ""  # e.g. "D", "Ador", "Bm"; audio: a key to condition on, e.g. "E minor"
    unit: str = ""  # note length unit, e.g. "1/8"
    # midi: the instruments samples may play (General MIDI names or numbers, families, "drums"); [] = any
    instruments: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.prime and not self.prime_files:
            raise ConfigError.about("generate.prime", "needs at least one prime name (or generate.prime_files a file)")
        if not self.temperature:
            raise ConfigError.about("generate.temperature", "needs at least one value")
        for t in self.temperature:
            if not (t >= 0 and math.isfinite(t)):
                raise ConfigError.about("generate.temperature", f"must be >= 0, got {t}")
        _at_least("generate.top_k", self.top_k, 0)
        if not 0 < self.top_p <= 1:
            raise ConfigError.about("generate.top_p", f"must be in (0, 1], got {self.top_p}")
        if not (self.guidance >= 0 and math.isfinite(self.guidance)):
            raise ConfigError.about("generate.guidance", f"must be >= 0, got {self.guidance}")
        _at_least("generate.num_samples", self.num_samples, 1)
        _at_least("generate.max_length", self.max_length, 1)
        _at_least("generate.prime_bars", self.prime_bars, 0)
        _at_least("generate.prime_file_seconds", self.prime_file_seconds, 0)
        for key in ("seconds", "prime_seconds"):
            if not (getattr(self, key) > 0 and math.isfinite(getattr(self, key))):
                raise ConfigError.about(f"generate.{key}", f"must be > 0, got {getattr(self, key)}")
        if not 0 < self.noise_level <= 1:
            raise ConfigError.about("generate.noise_level", f"must be in (0, 1], got {self.noise_level}")
        _at_least("generate.inject_noise", self.inject_noise, 0)


STEERING = ("meter", "key", "unit")  # GenerateConfig keys that steer the start prime


CORE_SECTIONS = {"run": RunConfig, "train": TrainConfig, "generate": GenerateConfig}
PLUGIN_SECTIONS = {"model": "model", "repr": "representation", "data": "dataset"}


@dataclass
class Config:
    """The resolved configuration of one run."""

    run: RunConfig
    train: TrainConfig
    generate: GenerateConfig
    model: Any  # the model plugin's Config
    repr: Any  # the representation plugin's Config
    data: Any  # the dataset plugin's Config
    dataset_name: str = ""  # run.dataset, or the representation's choice when that is ""

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


SECTIONS = tuple(CORE_SECTIONS) + tuple(PLUGIN_SECTIONS)


def _at_least(key: str, value: float, low: float) -> None:
    if value < low:
        raise ConfigError.about(key, f"must be >= {low}, got {value}")


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError.about(key, f"must be one of {', '.join(choices)}; got '{value}'{_closest(value, choices)}")


def _closest(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict; syntax errors name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path}: {error}") from None


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"train.lr=1e-3"`` -> ``("train", "lr", 0.001)``; values are TOML, else strings."""
    key, sep, raw = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not name:
        raise ConfigError(f"--set expects SECTION.KEY=VALUE, got '{text}'")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return section, name, value


def merge(base: dict[str, dict], updates: dict[str, Any], origin: str) -> dict[str, dict]:
    """``base`` with ``updates`` (section -> {key: value}) laid over it."""
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in updates.items():
        if section not in SECTIONS:
            raise ConfigError(f"{origin}: unknown section '{section}'{_closest(section, SECTIONS)} (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise ConfigError(f"{origin}: '{section}' must be a table of keys")
        merged.setdefault(section, {}).update(values)
    return merged


def build_section(cls: type, values: dict[str, Any], section: str) -> Any:
    """An instance of dataclass ``cls`` from ``values``, checking names and types."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            raise ConfigError(
                f"unknown key '{section}.{key}'{_closest(key, names)} (known: {', '.join(names) or 'none'})"
            )
        kwargs[key] = _coerce(f"{section}.{key}", value, hints[key])
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"[{section}]: {error}") from None


def _coerce(key: str, value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            if option is type(None) and value is None:
                return None
            try:
                return _coerce(key, value, option)
            except ConfigError:
                continue
        raise ConfigError.about(key, f"has the wrong type: {value!r}")
    if origin is list:
        (item,) = typing.get_args(hint)
        items = value if isinstance(value, list) else [value]
        return [_coerce(key, v, item) for v in items]
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:
        return value
    raise ConfigError.about(key, f"must be {hint.__name__}, got {value!r}")


def defaults() -> dict[str, dict[str, Any]]:
    """The core sections' defaults as plain dicts."""
    return {name: dataclasses.asdict(cls()) for name, cls in CORE_SECTIONS.items()}


def resolve(raw: dict[str, dict[str, Any]], registry: Any) -> Config:
    """Validate ``raw`` (sections of key/values) into a :class:`Config`.

    The plugin sections are checked against the ``Config`` of the plugins that
    ``run`` names; the registry raises for unknown plugin names.
    """
    run = build_section(RunConfig, raw.get("run", {}), "run")
    representation = registry.get("representation", run.repr)
    model = registry.get("model", run.model)
    raw = merge(_suggested(representation, model), raw, f"representation '{run.repr}'")
    core = {name: build_section(cls, raw.get(name, {}), name) for name, cls in CORE_SECTIONS.items()}
    dataset_name = run.dataset or (representation.dataset_for(Path(run.data).expanduser()) if run.data else representation.default_dataset)
    dataset = registry.get("dataset", dataset_name)
    for prime in core["generate"].prime:
        registry.get("prime", prime)
    return Config(
        run=core["run"],
        train=core["train"],
        generate=core["generate"],
        model=build_section(model.Config, raw.get("model", {}), "model"),
        repr=build_section(representation.Config, raw.get("repr", {}), "repr"),
        data=build_section(dataset.Config, raw.get("data", {}), "data"),
        dataset_name=dataset_name,
    )


def _suggested(representation: Any, model: Any) -> dict[str, dict[str, Any]]:
    """The representation's suggested defaults, less model keys this model lacks."""
    suggested = {section: dict(values) for section, values in getattr(representation, "suggested", {}).items()}
    if "model" in suggested:
        known = {f.name for f in dataclasses.fields(model.Config)}
        suggested["model"] = {k: v for k, v in suggested["model"].items() if k in known}
    return suggested
