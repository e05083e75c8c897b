"""Representation ``codebook``: audio as spectral tokens, one per 16 ms frame.

Each STFT frame (1024 samples every 256: 64 ms windows, 16 ms hops at 16 kHz) is
described by its log-magnitude spectrum. k-means (scikit-learn) over the training
frames learns a codebook of ``codes`` spectra, and a frame becomes the token of the
nearest one. The model learns the tokens on the categorical path (cross-entropy,
sampling at a temperature), so each step draws one whole, sharp spectrum, never a
blurred average of several: what a continuous model's mean-squared error gives.
Decoding plays the codes' magnitudes with phase found by Griffin-Lim, so the
output keeps the harmonics of the notes the codes were learned from. The codebook
travels in the checkpoint.

Each piece comes with its pitch-class profile as the model's condition (12 values,
standardized): the energy of its codes' spectra in each pitch class (librosa's
chroma filters), summed over the piece. Continuations of a song or file prime are
conditioned on the prime's profile, ``--key "E minor"`` on that key's
Krumhansl-Kessler profile; ``--guidance`` weighs the condition.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np
import torch

from noizenet.api import Categorical, ConfigError, DataError, OutputSpec, hookimpl
from noizenet.plugins.audio.base import FRAME_STEP_SUGGESTED, FramedRepresentation
from noizenet.plugins.audio.keys import standardized
from noizenet.plugins.audio.pitch_condition import PitchConditionConfig, PitchConditioned
from noizenet.plugins.audio.stft import Framing

PEAK_PERCENTILE = 99.9  # of the training magnitudes: "the loudest", robust to a stray click
FRAMES_PER_CODE = 64  # training frames a code is learned from at least: fewer frames, fewer codes
log = logging.getLogger("noizenet")


@dataclass
class CodebookConfig(PitchConditionConfig):
    frame_size: int = 1024  # samples per STFT frame (64 ms at 16 kHz)
    hop: int = 256  # samples between frames: one token per 16 ms
    codes: int = 256  # spectra in the codebook: the vocabulary (fewer when the training audio has under 64 frames a code)
    fit_frames: int = 30_000  # training frames k-means learns from at most (evenly spread)
    range_db: float = 60.0  # dynamics kept below the loudest training magnitude; quieter detail is one floor

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frame_size < 4 or self.frame_size % 2:
            raise ConfigError(f"repr.frame_size must be an even number >= 4, got {self.frame_size}")
        if not 1 <= self.hop <= self.frame_size // 2:
            raise ConfigError(f"repr.hop must be in [1, frame_size / 2], got {self.hop}")
        if not 2 <= self.codes <= 65536 or self.fit_frames < self.codes:
            raise ConfigError("repr.codes must be in [2, 65536] and repr.fit_frames >= repr.codes")
        if not 10 <= self.range_db <= 160:
            raise ConfigError(f"repr.range_db must be in [10, 160], got {self.range_db}")


class CodebookRepresentation(PitchConditioned, FramedRepresentation):
    name = "codebook"
    Config = CodebookConfig
    # guidance 2.5: over seeds 0-2 the key kept went from 0.61 (guidance 1) to 0.89 of real
    # audio's above chance, every tonal check holding (benchmarks/README.md, "Keeping the key")
    suggested = {**FRAME_STEP_SUGGESTED, "generate": {**FRAME_STEP_SUGGESTED["generate"], "guidance": 2.5}}

    def __init__(self, config: CodebookConfig) -> None:
        super().__init__(config)
        self.hop = config.hop
        self.framing = Framing(config.frame_size, config.hop)
        self.centroids = np.zeros((config.codes, self.framing.bins), np.float32)  # log-magnitude spectra
        self.floor = 1e-3  # magnitude added before the log, set by fit from range_db
        self._code_pitches: np.ndarray | None = None  # (codes, 12), from the centroids when first needed

    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(Categorical(), len(self.centroids), condition=self.condition_width)

    def condition(self, encoded: torch.Tensor) -> np.ndarray:
        """The standardized ``(12,)`` pitch-class profile of the codes ``encoded`` ``(T,)``."""
        if self._code_pitches is None:
            magnitude = np.maximum(np.exp(self.centroids) - self.floor, 0.0)  # (codes, bins)
            filters = librosa.filters.chroma(sr=self.sample_rate, n_fft=self.config.frame_size, tuning=0.0)  # (12, bins)
            self._code_pitches = np.square(magnitude) @ filters.T  # (codes, 12): each code's energy per pitch class
        return standardized(self._code_pitches[np.asarray(encoded, dtype=np.int64)].sum(axis=0))

    def log_spectra(self, audio: np.ndarray) -> np.ndarray:
        """``(T, bins)`` log-magnitude frames (a noise floor far below the music adds
        a constant, not random detail that would outweigh the harmonics)."""
        return np.log(np.abs(self.framing.spectra(audio)) + self.floor).astype(np.float32)

    def fit_audio(self, audio: Sequence[np.ndarray]) -> None:
        frames = sum(len(a) // self.hop + 1 for a in audio)
        stride = max(1, frames // self.config.fit_frames)  # every stride-th frame of every piece
        magnitudes = np.concatenate([np.abs(self.framing.spectra(a))[::stride].astype(np.float32) for a in audio])
        codes = min(self.config.codes, frames // FRAMES_PER_CODE)
        if codes < 2:
            raise DataError(f"representation 'codebook' needs at least {2 * FRAMES_PER_CODE} training frames "
                            f"({2 * FRAMES_PER_CODE * self.hop / self.sample_rate:.1f} s of audio), the training audio has {frames}")
        if codes < self.config.codes:
            log.warning("codebook: %d codes instead of %d (repr.codes): the training audio has %d frames, and a code "
                        "is learned from %d at least", codes, self.config.codes, frames, FRAMES_PER_CODE)
        self.floor = float(np.percentile(magnitudes, PEAK_PERCENTILE)) * 10 ** (-self.config.range_db / 20) or 1e-3
        # imported here, not at the top: scikit-learn adds 0.9 s to every start-up, and only fitting needs it
        from sklearn.cluster import MiniBatchKMeans

        kmeans = MiniBatchKMeans(n_clusters=codes, random_state=0, n_init=3, batch_size=4096)
        self.centroids = kmeans.fit(np.log(magnitudes + self.floor)).cluster_centers_.astype(np.float32)
        self._code_pitches = None

    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        """Int64 tokens ``(T,)``: each frame's nearest code (Euclidean, in log magnitude)."""
        frames = self.log_spectra(audio)
        closeness = frames @ self.centroids.T - 0.5 * np.square(self.centroids).sum(axis=1)
        return torch.from_numpy(closeness.argmax(axis=1).astype(np.int64))

    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        magnitude = np.maximum(np.exp(self.centroids[steps.numpy()]) - self.floor, 0.0)
        return self.framing.griffin_lim(magnitude)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "centroids": torch.from_numpy(self.centroids), "floor": self.floor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.centroids = state["centroids"].numpy().astype(np.float32)
        self.floor = float(state["floor"])
        self._code_pitches = None


@hookimpl
def noizenet_representations():
    return [CodebookRepresentation]
