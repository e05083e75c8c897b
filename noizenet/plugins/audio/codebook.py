"""Representation ``codebook``: audio as spectral tokens, one per 16 ms frame.

Each STFT frame (1024 samples every 256: 64 ms windows, 16 ms hops at 16 kHz) is
described by its log-magnitude spectrum. k-means (scikit-learn) over the training
frames learns a codebook of ``codes`` spectra, and a frame becomes the token of the
nearest one. The model learns the tokens on the categorical path (cross-entropy,
sampling at a temperature), so each step draws one whole, sharp spectrum, never a
blurred average of several: what a continuous model's mean-squared error gives.
Decoding plays magnitudes with phase found by Griffin-Lim. A code stands for many
frames, and its centroid is their average: played for every frame a code holds,
it freezes the spectrum (a sustained chord of a recording held as one still
frame) and blurs the harmonics. So each code also keeps an exemplar: the longest
stretch of consecutive training frames it holds (at most ``exemplar_frames``),
as they were recorded, and a run of one code plays its stretch, back and forth
for a long run. Measured on orchestral recordings encoded and decoded (no model;
benchmarks/README.md, "Recorded music"): the longest frozen stretch 0.03 s on
average instead of 0.47 s, spectral flatness 1.6x the recordings' instead of
3.3x, chroma entropy 0.33 bits above theirs instead of 0.50. The codebook and
the exemplars travel in the checkpoint.

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
    exemplar_frames: int = 16  # frames of recorded spectra each code keeps and plays when held; 0 = its centroid

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
        if not 0 <= self.exemplar_frames <= 1024:
            raise ConfigError(f"repr.exemplar_frames must be in [0, 1024], got {self.exemplar_frames}")


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
        # (codes, exemplar_frames, bins) float16 log-magnitude stretches, each code's first lengths[code] frames its own
        self.exemplars = np.zeros((config.codes, 0, self.framing.bins), np.float16)
        self.exemplar_lengths = np.zeros(config.codes, np.int64)
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
        self.fit_exemplars(audio)

    def fit_exemplars(self, audio: Sequence[np.ndarray]) -> None:
        """Keep each code's longest run of consecutive training frames (its first
        ``exemplar_frames``); a code that never holds a frame keeps none."""
        size = self.config.exemplar_frames
        self.exemplars = np.zeros((len(self.centroids), size, self.framing.bins), np.float16)
        self.exemplar_lengths = np.zeros(len(self.centroids), np.int64)
        if not size:
            return
        for piece in audio:
            frames = self.log_spectra(piece)
            for code, start, length in runs(self.tokens_of(frames)):
                if length > self.exemplar_lengths[code]:
                    kept = min(length, size)
                    self.exemplars[code, :kept] = frames[start : start + kept]
                    self.exemplar_lengths[code] = kept

    def tokens_of(self, frames: np.ndarray) -> np.ndarray:
        """Int64 ``(T,)``: each log-magnitude frame's nearest code (Euclidean)."""
        closeness = frames @ self.centroids.T - 0.5 * np.square(self.centroids).sum(axis=1)
        return closeness.argmax(axis=1).astype(np.int64)

    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        """Int64 tokens ``(T,)``: each frame's nearest code (Euclidean, in log magnitude)."""
        return torch.from_numpy(self.tokens_of(self.log_spectra(audio)))

    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        """Audio of the codes ``steps`` ``(T,)``: a run of one code plays its exemplar
        from its start, back and forth when the run is longer (its centroid where it
        has none)."""
        tokens = steps.numpy().astype(np.int64)
        log_magnitude = self.centroids[tokens]
        for code, start, length in runs(tokens):
            kept = int(self.exemplar_lengths[code])
            if kept:
                cycle = np.arange(length) % max(1, 2 * kept - 2)  # 0 1 .. kept-1 kept-2 .. 1 0 1 ..
                log_magnitude[start : start + length] = self.exemplars[code, np.minimum(cycle, 2 * kept - 2 - cycle)]
        return self.framing.griffin_lim(np.maximum(np.exp(log_magnitude) - self.floor, 0.0))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "centroids": torch.from_numpy(self.centroids), "floor": self.floor,
                "exemplars": torch.from_numpy(self.exemplars),
                "exemplar_lengths": torch.from_numpy(self.exemplar_lengths)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.centroids = state["centroids"].numpy().astype(np.float32)
        self.floor = float(state["floor"])
        self._code_pitches = None
        codes, bins = self.centroids.shape
        # a checkpoint from before exemplars plays its centroids
        self.exemplars = state.get("exemplars", torch.zeros((codes, 0, bins), dtype=torch.float16)).numpy()
        self.exemplar_lengths = state.get("exemplar_lengths", torch.zeros(codes, dtype=torch.int64)).numpy()


def runs(tokens: np.ndarray) -> list[tuple[int, int, int]]:
    """``(token, start, length)`` of each run of one token in ``tokens`` ``(T,)``."""
    if not len(tokens):
        return []
    starts = np.flatnonzero(np.diff(tokens, prepend=tokens[0] - 1))
    lengths = np.diff(np.append(starts, len(tokens)))
    return list(zip(tokens[starts].tolist(), starts.tolist(), lengths.tolist()))


@hookimpl
def noizenet_representations():
    return [CodebookRepresentation]
