"""Representation ``waveform``: one step per audio sample.

encoding:
  ``mulaw`` (default): 8-bit mu-law, a 256-way softmax; generation samples from it,
      which keeps the output alive (WaveNet, SampleRNN).
  ``zscore``: samples scaled by scikit-learn's ``StandardScaler``, MSE loss;
      ``minmax``: the same with ``MinMaxScaler``. These are the reference report's
      approach; their deterministic predictions decay to a constant after a few
      steps, which the evaluation's collapse statistics report.

With ``repr.pitch_condition=true`` (off by default: see the config) each piece comes
with its pitch-class profile as the model's condition (12 values, standardized: its
chroma summed over the frames that are not silent, as the ``tonality`` metric hears
it); ``--key`` asks for a key (``pitch_condition.py``), ``--guidance`` weighs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np
import torch

from noizenet.api import Categorical, ConfigError, Continuous, OutputSpec, hookimpl
from noizenet.plugins.audio import measures
from noizenet.plugins.audio.base import AudioRepresentation
from noizenet.plugins.audio.keys import standardized
from noizenet.plugins.audio.pitch_condition import PitchConditionConfig, PitchConditioned

ENCODINGS = ("mulaw", "zscore", "minmax")
SCALER_FIT_SAMPLES = 2_000_000  # the scaler sees at most this many training samples
# scikit-learn's scaler class and the attributes its state is, per encoding
SCALERS = {"zscore": ("StandardScaler", ("mean_", "scale_", "var_")),
           "minmax": ("MinMaxScaler", ("min_", "scale_", "data_min_", "data_max_", "data_range_"))}


def scaler_class(encoding: str) -> type:
    """The scaler of ``encoding``. scikit-learn is imported on this first use, not at the
    top: it adds 0.9 s to every start-up, and mu-law runs never need it."""
    import sklearn.preprocessing

    return getattr(sklearn.preprocessing, SCALERS[encoding][0])


@dataclass
class WaveformConfig(PitchConditionConfig):
    encoding: str = "mulaw"  # mulaw | zscore | minmax
    mu: int = 255  # mu-law: mu + 1 quantization levels
    # Pre-emphasis y[n] = x[n] - a x[n-1] before encoding, undone after decoding (LPCNet
    # uses 0.85): the quantization and sampling noise then comes out shaped like music
    # (low-passed) instead of white. 0 = off.
    pre_emphasis: float = 0.0
    # Off by default, unlike the frame representations: at seeds 0-1 of a 3-minute GRU run
    # (about one epoch) it neither kept the prime's key nor followed --key, and the
    # held-out loss was 0.02-0.06 nats higher (benchmarks/README.md, "waveform with
    # pitch-class conditions"). Turn it on for long runs of a model that learns pitch.
    pitch_condition: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.encoding not in ENCODINGS:
            raise ConfigError(f"repr.encoding must be one of {', '.join(ENCODINGS)}; got '{self.encoding}'")
        if not 1 <= self.mu <= 65535 or (self.mu + 1) % 2:
            raise ConfigError(f"repr.mu must be odd, from 1 to 65535 (mu + 1 levels), got {self.mu}")
        if not 0 <= self.pre_emphasis < 1:
            raise ConfigError(f"repr.pre_emphasis must be in [0, 1), got {self.pre_emphasis}")


class WaveformRepresentation(PitchConditioned, AudioRepresentation):
    name = "waveform"
    Config = WaveformConfig
    # One model step per sample: a small single-layer model samples faster than real
    # time at batch 1 on two CPU cores; long windows give backprop 16 ms of context.
    # Temperature 0.5: at 1 the many unlikely mu-law levels add up to hiss (features as
    # far from real audio as white noise); at 0.3-0.7 clips are tonal and nothing
    # collapsed (benchmarks/README.md, "Waveform temperature").
    suggested = {
        "model": {"hidden": 128, "layers": 1, "embedding": 32, "dropout": 0.0},
        "train": {"seq_len": 256, "batch_size": 64, "lr": 3e-3, "val_max_tokens": 400_000, "max_minutes": 5.0},
        "generate": {"prime": ["song", "noise", "perlin"], "num_samples": 2, "temperature": [0.5]},
    }

    def __init__(self, config: WaveformConfig) -> None:
        super().__init__(config)
        self.scaler: Any = None

    @property
    def spec(self) -> OutputSpec:
        if self.config.encoding == "mulaw":
            return OutputSpec(Categorical(), self.config.mu + 1, condition=self.condition_width)
        return OutputSpec(Continuous(), 1, condition=self.condition_width)

    def condition(self, encoded: torch.Tensor) -> np.ndarray:
        """The standardized ``(12,)`` pitch-class profile of the samples ``encoded``
        (``(T,)`` levels or ``(T, 1)`` scaled values): their chroma summed over the
        frames that are not silent."""
        return standardized(measures.pitch_class_profile(self.from_steps(torch.as_tensor(encoded)), self.sample_rate))

    def fit_audio(self, audio: Sequence[np.ndarray]) -> None:
        if self.config.encoding == "mulaw":
            return
        samples = np.concatenate(audio) if audio else np.zeros(1, np.float32)
        stride = max(1, len(samples) // SCALER_FIT_SAMPLES)
        self.scaler = scaler_class(self.config.encoding)().fit(samples[::stride, None].astype(np.float64))

    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        if self.config.pre_emphasis:
            audio = librosa.effects.preemphasis(audio, coef=self.config.pre_emphasis, zi=0.0).astype(np.float32)
        if self.config.encoding == "mulaw":
            levels = librosa.mu_compress(np.clip(audio, -1, 1), mu=self.config.mu, quantize=True)
            return torch.from_numpy(levels.astype(np.int64) + (self.config.mu + 1) // 2)
        return torch.from_numpy(self.scaler.transform(audio[:, None].astype(np.float64)).astype(np.float32))

    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        if self.config.encoding == "mulaw":
            levels = steps.numpy().astype(np.int64) - (self.config.mu + 1) // 2
            audio = librosa.mu_expand(levels, mu=self.config.mu, quantize=True)
        else:
            audio = self.scaler.inverse_transform(steps.float().numpy().reshape(-1, 1).astype(np.float64))[:, 0]
        if self.config.pre_emphasis:
            audio = librosa.effects.deemphasis(audio, coef=self.config.pre_emphasis, zi=0.0)
        return audio.astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.scaler is not None:
            _, attributes = SCALERS[self.config.encoding]
            state["scaler"] = {a: getattr(self.scaler, a).tolist() for a in attributes}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        if "scaler" in state:
            self.scaler = scaler_class(self.config.encoding)()
            for a in SCALERS[self.config.encoding][1]:
                setattr(self.scaler, a, np.asarray(state["scaler"][a], dtype=np.float64))
            self.scaler.n_features_in_ = 1


@hookimpl
def noizenet_representations():
    return [WaveformRepresentation]
