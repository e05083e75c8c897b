"""The four plugin interfaces. A plugin author reads this file, not the core.

Data flows ``Dataset -> Piece -> Representation.encode -> Tensor -> model -> Tensor
-> Representation.decode -> Piece -> Representation.write``. The core never looks
inside a piece: it only asks the representation's :class:`OutputSpec` whether the
model's outputs are categorical (tokens, cross-entropy, sampling) or continuous
(frames, mean squared error).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn


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

    kind: ``"categorical"``: inputs are int64 token ids of shape ``(T,)``, the model
        outputs ``size`` logits per step, the loss is cross-entropy (nats/token).
        ``"continuous"``: inputs are float32 frames of shape ``(T, size)``, the model
        outputs a frame per step, the loss is mean squared error.
    size: vocabulary size, or frame width.
    start: token that begins every encoded piece (categorical only), else None.
    stop: token that ends a piece; generation of a sample stops when it is drawn.
    """

    kind: Literal["categorical", "continuous"]
    size: int
    start: int | None = None
    stop: int | None = None


class Representation(ABC):
    """Turns pieces into tensors and back, and writes pieces as files.

    Subclasses set ``name`` and ``Config`` (a dataclass of options, every field with
    a default; ``[repr]`` in a config file and ``--set repr.KEY=VALUE`` fill it).
    ``default_dataset`` is used when the user gives no ``--data``;
    ``path_dataset`` when they do. ``suggested`` holds defaults for the other config
    sections that suit this representation (e.g. a smaller model for audio samples);
    the user's own values override them, and model keys the chosen model lacks are
    ignored.
    """

    name: ClassVar[str]
    Config: ClassVar[type]
    default_dataset: ClassVar[str]
    path_dataset: ClassVar[str]
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

    @abstractmethod
    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """Write ``piece`` as files named ``path_stem`` + suffixes; return those written.

        A format that cannot be produced for this piece is left out, not raised;
        :meth:`describe` says why.
        """

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

    def describe(self, piece: Piece) -> dict[str, Any]:
        """Per-piece quality facts for the report, JSON-serialisable.

        A ``"valid"`` bool, when present, is averaged into ``<name>_valid_rate``.
        """
        return {}

    def compare(
        self, generated: Sequence[Piece], held_out: Sequence[Piece], *, training: Sequence[Piece], out_dir: Path
    ) -> dict[str, Any]:
        """Set-level quality of the decoded samples, for ``metrics.json["quality"]``:
        against held-out pieces (audio: collapse, Fréchet distance) or the training
        pieces (ABC: music statistics, novelty).

        ``generated`` carry ``id`` = the sample's name and ``meta["prime"]`` = its prime.
        Plots go into ``out_dir`` (the run directory); list their file names under
        ``"plots"`` (name -> file) for the report.
        """
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`fit` learned, so that a checkpoint can decode alone."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def token_labels(self, encoded: torch.Tensor) -> list[str] | None:
        """One short printable label per step of ``encoded`` (for plots), or None."""
        return None


class SequenceModel(nn.Module):
    """What a model plugin's ``build`` returns.

    ``forward(x, state=None) -> (y, state)``: ``x`` is ``(B, T)`` int64 or
    ``(B, T, D)`` float32; ``y`` is ``(B, T, spec.size)``. ``state`` is opaque to the
    core: whatever the model returned, passed back unchanged (training carries it
    across windows, generation across single steps). ``hidden`` returns the top
    layer's activations ``(B, T, H)`` for plots.
    """

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError

    def hidden(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
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

    def compiled_sampler(self, rows: int) -> Callable[..., None] | None:
        """Optional fast path for generating ``rows`` samples at once on CPU, or None
        (also where batched PyTorch steps would be faster for that many rows).

        Returned callable: ``sampler(out, lengths, ends, temperatures, *, stop, noise,
        seed, scale)`` with ``out`` int64 ``(B, L)`` or float32 ``(B, L, D)`` numpy
        holding each row's prime; it fills every row ``i`` from ``lengths[i]`` up to
        ``ends[i]`` (tokens: or past a drawn ``stop``, -1 = none) in place, drawing
        from the same distributions as :meth:`forward` and the eager generator
        (tokens: softmax at the temperature; frames: the prediction plus
        ``temperature * scale`` (D,) Gaussian noise; ``noise`` as in ``inject_noise``).
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
    """What a prime may draw on: held-out pieces it may open, a seeded RNG, the
    prime's length in seconds and the noise level (``generate.prime_seconds``,
    ``generate.noise_level``)."""

    held_out: Sequence[Piece]
    rng: np.random.Generator
    seconds: float = 1.0
    noise_level: float = 0.1


class Prime(ABC):
    """The input that starts generation, in the representation's encoding."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def make(
        self, representation: Representation, context: PrimeContext, count: int
    ) -> list[torch.Tensor]:
        """``count`` encoded primes (each shaped like :meth:`Representation.encode`)."""


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
