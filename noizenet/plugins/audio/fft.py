"""Representation ``fft``: one step per overlapping FFT frame.

Frames of ``frame_size`` samples every ``hop`` samples under a square-root Hann
window; with ``hop = frame_size / 2`` the squared windows sum to one, so windowing
again after the inverse FFT and overlap-adding gives the audio back exactly.

features:
  ``complex`` (default): real and imaginary parts of the rFFT, ``frame_size + 2``
      values per frame; decoded by inverse rFFT and overlap-add.
  ``magnitude``: log(1 + |rFFT|), ``frame_size / 2 + 1`` values; the phase is
      recovered with ``librosa.griffinlim``.
Either way each feature is standardised with the training frames' mean and std
(in the checkpoint); the loss is mean squared error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from noizenet.api import ConfigError, Continuous, OutputSpec, hookimpl
from noizenet.plugins.audio.augment import AugmentConfig
from noizenet.plugins.audio.base import FramedRepresentation
from noizenet.plugins.audio.stft import Framing

FEATURES = ("complex", "magnitude")


@dataclass
class FftConfig(AugmentConfig):
    frame_size: int = 1024  # samples per frame (64 ms at 16 kHz)
    hop: int = 512  # samples between frames; frame_size / 2 for exact overlap-add
    features: str = "complex"  # complex | magnitude

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frame_size < 4 or self.frame_size % 2:
            raise ConfigError(f"repr.frame_size must be an even number >= 4, got {self.frame_size}")
        if not 1 <= self.hop <= self.frame_size:
            raise ConfigError(f"repr.hop must be in [1, frame_size], got {self.hop}")
        if self.features not in FEATURES:
            raise ConfigError(f"repr.features must be one of {', '.join(FEATURES)}; got '{self.features}'")


class FftRepresentation(FramedRepresentation):
    name = "fft"
    Config = FftConfig
    suggested = {
        "train": {"seq_len": 48, "batch_size": 16, "lr": 1e-3, "max_minutes": 5.0},
        "generate": {"prime": ["song", "noise", "perlin"], "num_samples": 2},
    }

    def __init__(self, config: FftConfig) -> None:
        super().__init__(config)
        self.hop = config.hop
        self.framing = Framing(config.frame_size, config.hop)
        self.mean = np.zeros(self._width, np.float32)
        self.std = np.ones(self._width, np.float32)

    @property
    def _width(self) -> int:
        bins = self.config.frame_size // 2 + 1
        return 2 * bins if self.config.features == "complex" else bins

    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(Continuous(), self._width)

    # -- frames ------------------------------------------------------------------------
    def raw_features(self, audio: np.ndarray) -> np.ndarray:
        spectra = self.framing.spectra(audio)
        if self.config.features == "complex":
            return np.concatenate([spectra.real, spectra.imag], axis=1).astype(np.float32)
        return np.log1p(np.abs(spectra)).astype(np.float32)

    def fit_audio(self, audio: Sequence[np.ndarray]) -> None:
        frames = np.concatenate([self.raw_features(a) for a in audio]) if audio else np.zeros((1, self._width))
        self.mean = frames.mean(axis=0).astype(np.float32)
        self.std = np.maximum(frames.std(axis=0), 1e-5).astype(np.float32)

    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        return torch.from_numpy((self.raw_features(audio) - self.mean) / self.std)

    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        values = steps.float().numpy() * self.std + self.mean
        bins = self.framing.bins
        if self.config.features == "complex":
            return self.framing.overlap_add(values[:, :bins] + 1j * values[:, bins:])
        return self.framing.griffin_lim(np.expm1(np.maximum(values, 0)))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "mean": self.mean.tolist(), "std": self.std.tolist()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.mean = np.asarray(state["mean"], np.float32)
        self.std = np.asarray(state["std"], np.float32)


@hookimpl
def noizenet_representations():
    return [FftRepresentation]
