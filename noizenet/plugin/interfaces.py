"""The plugin interfaces. A plugin author reads this file, not the core.

Data flows ``Dataset -> Piece -> Representation.encode -> Tensor -> model -> Tensor
-> Representation.decode -> Piece -> Representation.write``, and generated pieces
go to every :class:`Metric` that applies. The core never looks inside a piece: it
asks the :class:`~noizenet.plugin.kinds.OutputKind` that the representation's
:class:`OutputSpec` carries for the loss, accuracy and sampling, and each metric
for its figures.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from noizenet.plugin.compat import output_kind
from noizenet.errors import ConfigError
from noizenet.plugin.figures import Figure
from noizenet.plugin.kinds import OutputKind


@dataclass(frozen=True)
class Piece:
    """One unit of music: a tune, a song, an audio file.

    ``data`` is whatever the dataset and representation agree on: ``str`` for
    symbolic text (an ABC tune), a float32 ``np.ndarray`` of shape ``(n_samples,)``
    for mono audio. ``meta`` carries extras such as ``{"sample_rate": 16000}``.
    """

    id: str
    data: Any
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OutputSpec:
    """What one step of the model predicts.

    kind: an :class:`~noizenet.plugin.kinds.OutputKind` object: ``Categorical()`` (int64
        token ids ``(T,)``, ``size`` logits per step, cross-entropy in nats/token),
        ``Continuous()`` (float32 frames ``(T, size)``, mean squared error), or a
        representation's own.
    size: vocabulary size, or frame width: the model outputs ``size`` numbers a step.
    start: token that begins every encoded piece (token kinds only), else None.
    stop: token that ends a piece; generation of a sample stops when it is drawn.
    bias: where the model's output layer starts, one number per output (e.g. each
        key's log-odds in the training data), so that training begins at the data's
        base rates instead of crawling off a plateau; None: the model's own init.
    frame: width of an encoded frame where it differs from ``size`` (a kind whose
        outputs parametrize a frame's distribution); None: ``size``.
    condition: width ``C`` of the condition vector every step comes with
        (:meth:`Representation.condition`: a pitch-class profile, ...); 0: none.
    """

    kind: OutputKind
    size: int
    start: int | None = None
    stop: int | None = None
    bias: tuple[float, ...] | None = None
    frame: int | None = None
    condition: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", output_kind(self.kind))  # API 1's "categorical" etc., adapted

    @property
    def input_size(self) -> int:
        """What one input step holds: the vocabulary (tokens) or the frame's width."""
        return self.frame or self.size


class Representation(ABC):
    """A codec: turns pieces into tensors and back, and writes pieces as files.

    The core constructs it as ``cls(config)``, ``config`` being its filled
    ``Config``. Subclasses set ``name`` and ``Config`` (a dataclass of options, every
    field with a default; ``[repr]`` in a config file and ``--set repr.KEY=VALUE``
    fill it). ``default_dataset`` is used when the user gives no ``--data``;
    ``path_dataset`` (or :meth:`dataset_for` the path) when they do. ``piece_type`` names what :meth:`decode` returns
    (``"abc"``: ABC text; ``"audio"``: mono float32 samples with
    ``meta["sample_rate"]``), so that metrics for that type apply. ``suggested``
    holds defaults for the other config sections that suit this representation
    (e.g. a smaller model for audio samples); the user's own values override them,
    and model keys the chosen model lacks are ignored.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    default_dataset: ClassVar[str]
    path_dataset: ClassVar[str]
    piece_type: ClassVar[str] = ""
    suggested: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, config: Any) -> None:
        self.config = config

    @property
    @abstractmethod
    def spec(self) -> OutputSpec:
        """The model's output spec; valid after :meth:`fit` or :meth:`load_state_dict`."""

    @abstractmethod
    def fit(self, pieces: Sequence[Piece]) -> None:
        """Learn what encoding needs (vocabulary, scaler) from the training pieces."""

    @abstractmethod
    def encode(self, piece: Piece) -> torch.Tensor:
        """A whole piece: int64 ``(T,)`` tokens from start to stop, or float32 ``(T, D)``."""

    @abstractmethod
    def decode(self, encoded: torch.Tensor, *, prime_steps: int = 0) -> Piece:
        """Inverse of :meth:`encode` for generated tensors (markers may be missing).

        ``prime_steps``: how many leading steps were the prime, so that the piece can
        tell prime from continuation (audio keeps it in ``meta["prime_samples"]``).
        """

    @abstractmethod
    def opening(self, piece: Piece | None, *, seconds: float = 1.0) -> torch.Tensor:
        """The encoded opening of ``piece`` used to prime generation.

        ``None`` asks for the shortest valid prime (for tokens: the start token).
        ``seconds``: the opening's length for representations that count time
        (symbolic ones choose their own, e.g. the header and first bar).
        """

    def prime(self, piece: Piece, *, bars: int = 0, seconds: float = 0.0) -> torch.Tensor:
        """A user's whole piece as a prime (``--prime-file``): generation continues
        after its end. ``bars`` / ``seconds`` (0 = all) cut it to its first bars or
        seconds, for representations that count them (ABC and MIDI bars, audio seconds).

        By default: :meth:`encode` without the stop token, ``bars`` and ``seconds``
        ignored. Override to cut, or to bound a prime longer than the model can take.
        """
        encoded = self.encode(piece)
        stop = self.spec.stop
        if stop is not None and len(encoded) and int(encoded[-1]) == stop:
            return encoded[:-1]
        return encoded

    @abstractmethod
    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """Write ``piece`` as files named ``path_stem`` + suffixes; return those written.

        A format that cannot be produced for this piece is left out, not raised
        (a metric's per-sample facts can say why). Write atomically
        (``noizenet.runs.rundir.atomic_write_bytes``); ``noizenet.plugins.synthesis``
        writes MIDI and renders it to WAV.
        """

    @classmethod
    def dataset_for(cls, path: Path) -> str:
        """The dataset that reads a user's ``path`` (``--data``, ``--prime-file``):
        ``path_dataset``; override it where files of several formats are read by
        different datasets (a ``.mat`` piano roll, a folder of ``.mid``)."""
        return cls.path_dataset

    def steered_opening(self, steering: dict[str, str]) -> torch.Tensor:
        """The shortest valid prime that states ``steering`` (``meter``, ``key``,
        ``unit``, each present only when asked for), as folk-rnn lets a user set
        meter and mode: the ``start`` prime uses it when the user steers."""
        raise ConfigError(f"representation '{self.name}' cannot be steered by "
                          f"{', '.join('--' + k for k in steering)} (the abc representation can)")

    def condition(self, encoded: torch.Tensor) -> np.ndarray:
        """What ``encoded`` (a whole piece, or a prime) states, as the float32 ``(C,)``
        vector (``spec.condition`` wide) the model is conditioned on: a training piece's
        at every step of it, a song or file prime's while continuing it. All zeros is
        the neutral condition, which training puts in place of a piece's
        ``train.condition_dropout`` of the time, so that one model learns the
        conditioned and the unconditioned prediction (``generate.guidance`` mixes
        them). Representations with ``spec.condition`` 0 (the default) have none."""
        raise NotImplementedError(f"representation '{self.name}' declares no condition")

    def asked_condition(self, steering: dict[str, str]) -> np.ndarray | None:
        """The ``(C,)`` condition for what the user asked (``--key``: ``steering["key"]``),
        or None where this representation cannot be steered by it (the default)."""
        return None

    def stand_ins(self, steering: dict[str, str]) -> list[tuple[dict[str, str], int]]:
        """Other ways to make what ``steering`` asks (as :meth:`asked_condition` takes
        it), each a steering to condition on and the semitones that then move its
        samples to what was asked (:meth:`transpose`): the asked way itself first
        (0), then the others in order of preference. Generation tries each on a few
        probe samples scored by :meth:`follows` and takes the first the model follows
        (``noizenet.generate.stand_ins``). Default: none, the asked way alone."""
        return []

    def follows(self, steering: dict[str, str], piece: Piece) -> float:
        """How well the decoded probe ``piece`` (its part after the prime) follows
        ``steering``, 0-1; needed where :meth:`stand_ins` offers any."""
        raise NotImplementedError(f"representation '{self.name}' cannot score a probe sample")

    def transpose(self, piece: Piece, semitones: int) -> Piece:
        """``piece`` (decoded) moved by ``semitones``; called only for a stand-in
        with a shift (:meth:`stand_ins`)."""
        raise NotImplementedError(f"representation '{self.name}' cannot transpose")

    def steered_by(self) -> tuple[str, ...]:
        """The steering options (of ``meter``, ``key``, ``unit``) this representation
        takes, by :meth:`steered_opening` or :meth:`asked_condition`: the composer page
        (``noizenet serve``) offers these fields. Default: none."""
        return ()

    def token_rule(self) -> TokenRule | None:
        """A fresh :class:`TokenRule` for one generated row, or None (the default):
        generation then draws only the tokens the rule allows."""
        return None

    def instrument_rule(self, instruments: Sequence[str]) -> TokenRule:
        """A fresh :class:`TokenRule` for one generated row that plays only
        ``instruments`` (``generate.instruments``, ``--instruments``: General MIDI
        instrument names or program numbers, family names, ``drums``). Default:
        refused, naming the representation."""
        raise ConfigError(f"representation '{self.name}' cannot choose instruments (--instruments); "
                          "the midi representation can")

    def step_labels(self, encoded: torch.Tensor) -> list[str] | None:
        """One short printable label per step of ``encoded`` (the cells of the run's
        activation heatmap), or None for no heatmap. Default: each step decoded alone,
        where steps decode to text (ABC characters); None otherwise (audio)."""
        if not isinstance(self.decode(encoded[:1]).data, str):
            return None
        return [repr(self.decode(encoded[t : t + 1]).data)[1:-1] or "·" for t in range(len(encoded))]

    def steps_per_second(self) -> float | None:
        """Steps of the encoding per second of music, for time-based lengths
        (``generate.seconds``, ``generate.prime_seconds``); None for symbolic text,
        whose lengths are counted in steps (``generate.max_length``)."""
        return None

    def prime_from_signal(self, signal: np.ndarray, *, smooth: bool, context: PrimeContext) -> torch.Tensor:
        """Encode a synthetic prime: ``signal`` float32 ``(n,)`` in [-1, 1] holds
        ``generate.prime_seconds`` of values at :meth:`signal_rate` per second: white
        noise (``smooth=False``) or a Perlin contour (``smooth=True``). Audio takes it as
        samples; a symbolic representation maps it to its own vocabulary."""
        raise NotImplementedError(f"representation '{self.name}' cannot encode noise or Perlin primes")

    def signal_rate(self) -> float:
        """Values per second of the signals given to :meth:`prime_from_signal`."""
        return self.steps_per_second() or 8.0

    def augment(self, pieces: Sequence[Piece]) -> list[Piece]:
        """Extra training pieces made from ``pieces`` (transposed copies, ...); none by default.

        Only the training split is augmented; held-out scores stay on real pieces.
        """
        return []

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`fit` learned, so that a checkpoint can decode alone."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


class TokenRule(ABC):
    """What may come next in one generated row of tokens (a grammar, a meter):
    fed every token of the row in order, the prime's included."""

    @abstractmethod
    def feed(self, token: int) -> None:
        """Read the row's next token."""

    @abstractmethod
    def allowed(self) -> np.ndarray | None:
        """``(spec.size,)`` bool: the tokens that may come next, or None for any."""


class SequenceModel(nn.Module):
    """What a model plugin's ``build`` returns.

    ``forward(x, state=None, condition=None) -> (y, state)``: ``x`` is ``(B, T)``
    int64 or ``(B, T, D)`` float32; ``y`` is ``(B, T, spec.size)``. ``state`` is
    opaque to the core: whatever the model returned, passed back unchanged (training
    carries it across windows, generation across single steps). ``condition`` is
    float32 ``(B, T, spec.condition)`` where the representation declares conditions,
    and None for the unconditioned prediction, which must equal an all-zero condition
    (e.g. a bias-free projection added to the input). A model built for a spec with
    ``condition`` 0 may leave the keyword out. ``hidden`` returns the top layer's
    activations ``(B, T, H)`` for plots.
    """

    def forward(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def hidden(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def reset_state(self, state: Any, rows: torch.Tensor) -> Any:
        """``state`` with the rows where ``rows`` (B,) is True set to the zero state.

        Training calls this when some rows of a batch begin a new piece. The default
        handles what ``nn.RNN``/``nn.LSTM``/``nn.GRU`` return: tensors (or tuples of
        them) shaped ``(layers, B, H)``; override it for another layout.
        """
        if state is None:
            return None  # already the zero state
        if isinstance(state, torch.Tensor):
            return state.masked_fill(rows.view(1, -1, *([1] * (state.dim() - 2))), 0.0)
        return type(state)(self.reset_state(s, rows) for s in state)

    def sharpening(self, state: Any) -> torch.Tensor | None:
        """Optional per-row factor ``(B,)`` on the logits of the next token, read from
        the ``state`` after a step while generating (a token kind's sampling sharpened
        where the model judges it should be, e.g. LPCNet's rule on periodic audio);
        None (the default): the temperature alone."""
        return None

    def compiled_sampler(self, rows: int) -> Callable[..., None] | None:
        """Optional fast path for generating ``rows`` samples at once on CPU, or None
        (also where batched PyTorch steps would be faster for that many rows).

        Returned callable: ``sampler(out, lengths, ends, temperatures, *, stop, noise,
        seed, scale, top_k=0, top_p=1.0, conditions=None, guidance=1.0)`` with ``out``
        int64 ``(B, L)`` or float32 ``(B, L, D)`` numpy holding each row's prime; it
        fills every row ``i`` from ``lengths[i]`` up to ``ends[i]`` (tokens: or past a
        drawn ``stop``, -1 = none) in place, drawing from the same distributions as
        :meth:`forward` and the eager generator (tokens: softmax at the temperature;
        frames: the prediction plus ``temperature * scale`` (D,) Gaussian noise;
        ``noise`` as in ``inject_noise``; tokens: ``top_k`` / ``top_p`` as
        :func:`noizenet.plugin.kinds.categorical.truncate`; ``conditions`` float32 ``(B, C)``
        per row, the outputs mixed as ``uncond + guidance * (cond - uncond)``).
        A sampler without one of these keywords is used only when what it stands
        for is off; the eager generator does it otherwise.
        """
        return None


@dataclass(frozen=True)
class ModelPlugin:
    """A model kind: ``build(spec, config)`` returns a :class:`SequenceModel`.

    ``Config`` is a dataclass of options (``[model]`` in a config file).
    """

    name: str
    Config: type
    build: Callable[[OutputSpec, Any], SequenceModel]


@dataclass
class PrimeContext:
    """What a prime may draw on: ``openings``, the encoded openings of the held-out
    (test) pieces (``Representation.opening(piece, seconds=...)``, kept in the run's
    checkpoint so that generation needs no data), a seeded RNG, the prime's length
    in seconds and the noise level (``generate.prime_seconds``,
    ``generate.noise_level``), and the steering the user asked for
    (``generate.meter``, ``key``, ``unit``: the ones given)."""

    openings: Sequence[torch.Tensor]
    rng: np.random.Generator
    seconds: float = 1.0
    noise_level: float = 0.1
    steering: dict[str, str] = field(default_factory=dict)  # asked-for meter, key, unit (those given)


class Prime(ABC):
    """The input that starts generation, in the representation's encoding.

    ``keeps_condition``: True for primes of real music (``song``), whose own
    :meth:`Representation.condition` conditions their continuations; False (noise,
    the start token): the neutral condition, unless the user asks for one (``--key``).
    A prime that feeds another piece's condition overrides :meth:`condition_sources`.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    keeps_condition: ClassVar[bool] = False

    @abstractmethod
    def make(
        self, representation: Representation, context: PrimeContext, count: int
    ) -> list[torch.Tensor]:
        """``count`` encoded primes (each shaped like :meth:`Representation.encode`)."""

    def applies_to(self, representation: Representation) -> bool:
        """Whether this prime can start ``representation``'s samples (default: any;
        generation refuses, and the composer page does not offer, one that cannot)."""
        return True

    def condition_sources(
        self, representation: Representation, context: PrimeContext, primes: Sequence[torch.Tensor]
    ) -> list[torch.Tensor | None]:
        """For each of ``primes`` (as :meth:`make` gave them), the encoded piece whose
        :meth:`Representation.condition` its continuation is fed, or None for the
        neutral condition. Default: the prime itself where ``keeps_condition``."""
        return list(primes) if self.keeps_condition else [None] * len(primes)


class Dataset(ABC):
    """Where pieces come from. Knows nothing of tensors.

    ``path`` is the user's ``--data`` (None for a dataset that needs none). Raise
    :class:`noizenet.errors.DataError` for unusable input.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    description: ClassVar[str] = ""

    def __init__(self, config: Any, path: Path | None) -> None:
        self.config = config
        self.path = path

    @abstractmethod
    def pieces(self) -> Iterator[Piece]:
        """Yield every piece, each with an id unique within the dataset."""

    def sources(self) -> Sequence[Path] | None:
        """The files :meth:`pieces` reads, without reading them, or None (the default)
        when the dataset cannot say. A run keys its prepared corpus by their paths,
        sizes and modification times (with the dataset's options), so that once the
        corpus is prepared it reads no piece at all; with None it reads every piece
        to hash its contents. Return every file whose change changes a piece."""
        return None

    def read_file(self, path: Path) -> Piece:
        """The piece that a user's own file makes (``--prime-file``): by default the
        first piece of ``pieces()`` for a dataset built on that path."""
        return next(iter(type(self)(self.config, path).pieces()))


@dataclass
class Check:
    """One thing ``noizenet doctor`` looks at: its ``name``, whether it is there (``ok``),
    what was ``found`` (a version, a path, why not) and what a user goes ``without``
    when it is missing (empty for what is not optional)."""

    name: str
    ok: bool
    found: str
    without: str = ""


@dataclass
class Sample:
    """One generated piece: its name (the files' stem in ``samples/``), the prime
    and temperature it was made with, the generated tensor ``encoded`` (prime
    included: its first ``prime_steps`` steps), the decoded ``piece``, the names
    of the files written, and what the user asked it to be conditioned on (``--key``
    of a conditioned representation), which metrics may check, the semitones
    its decoded piece was moved by (:meth:`Representation.stand_ins`), and the
    condition its continuation was fed (``(C,)`` values; None without conditions)."""

    name: str
    prime: str
    temperature: float
    encoded: torch.Tensor
    prime_steps: int
    piece: Piece
    files: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # every metric's per-sample facts
    asked: dict[str, str] = field(default_factory=dict)  # the condition the user asked for it (e.g. {"key": "E minor"})
    transposed: int = 0  # semitones the decoded piece was moved by
    condition: list[float] | None = None  # what its continuation was conditioned on (before any transposition)

    ROW_KEYS: ClassVar[tuple[str, ...]] = ("name", "prime", "temperature", "prime_steps", "steps", "files", "asked",
                                           "transposed", "condition")

    def row(self) -> dict[str, Any]:
        """The sample as samples.json and metrics.json list it: ``ROW_KEYS``, then its facts."""
        return {"name": self.name, "prime": self.prime, "temperature": self.temperature,
                "prime_steps": self.prime_steps, "steps": len(self.encoded), "files": self.files,
                **({"asked": self.asked} if self.asked else {}),
                **({"transposed": self.transposed} if self.transposed else {}),
                **({"condition": [round(v, 4) for v in self.condition]} if self.condition is not None else {}),
                **self.facts}


@dataclass
class EvaluationContext:
    """What a metric compares samples with: the run's ``training`` pieces (before
    augmentation) and ``held_out`` pieces (test split), the representation, and the
    run directory ``out_dir`` for plots. Metrics with ``references = False`` get
    empty piece lists."""

    representation: Representation
    samples: Sequence[Sample]
    training: Sequence[Piece]
    held_out: Sequence[Piece]
    out_dir: Path


@dataclass
class MetricResult:
    """``figures``: a value for each declared figure (key -> number, bool or None);
    ``details``: JSON-serialisable extras (per-sample verdicts, histograms), kept in
    ``metrics.json["quality"][metric name]``; ``plots``: title -> PNG file name
    written into ``out_dir``; ``notes``: sentences for the report."""

    figures: dict[str, Any]
    details: dict[str, Any] = field(default_factory=dict)
    plots: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class Metric(ABC):
    """Figures about generated pieces, against real ones.

    ``piece_types``: the representations' ``piece_type`` s it applies to (or
    override :meth:`applies_to`). ``figures``: every figure it reports, declared
    (:class:`~noizenet.plugin.figures.Figure`). ``references = False``: it needs no
    training or held-out pieces (it then also runs right after ``generate``).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    piece_types: ClassVar[tuple[str, ...]] = ()
    figures: ClassVar[tuple[Figure, ...]] = ()
    references: ClassVar[bool] = True

    def applies_to(self, representation: Representation) -> bool:
        return representation.piece_type in self.piece_types

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        """JSON-serialisable facts about one sample, for ``samples.json`` and the
        report's sample table (computed when the sample is written)."""
        return {}

    @abstractmethod
    def per_set(self, context: EvaluationContext) -> MetricResult:
        """The declared figures over all samples (``context.samples``, each with its
        ``facts``), against ``context.training`` / ``context.held_out``."""
