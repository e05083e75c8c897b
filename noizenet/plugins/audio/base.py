"""What every audio representation shares: mono float32 pieces at one sample rate,
primes cut or made in seconds, WAV + PNG outputs (the audio metrics apply to all).

Subclasses (``waveform``, ``fft``) only say how samples become steps and back:
:meth:`AudioRepresentation.to_steps` and :meth:`AudioRepresentation.from_steps`.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet.api import DataError, Piece, PrimeContext, Representation, atomic_write_wav
from noizenet.plugins.audio.augment import AugmentConfig, augmented_copies, wanted
from noizenet.plugins.audio.plots import plot_sample
from noizenet.plugins.audio.stft import Framing

log = logging.getLogger("noizenet")
DEFAULT_SAMPLE_RATE = 16000
PRIME_MAX_SECONDS = 30  # of a user's file as a prime: generation feeds it step by step
# Defaults of the representations with one step per 16 ms frame (codebook, harmonic):
# 62.5 steps per second, so a 2x256 LSTM trains on a few hundred thousand steps and
# samples far faster than real time. Dropout 0.3: at 0.1 the codebook learned to stay
# in its silent code once there (1 of 6 continuations collapsed, seed 0); at 0.3 none
# did in seeds 0-2 (benchmarks/README.md, "Audio tonality").
FRAME_STEP_SUGGESTED = {
    "model": {"hidden": 256, "layers": 2, "dropout": 0.3},
    "train": {"seq_len": 64, "batch_size": 32, "lr": 3e-3, "max_minutes": 3.0},
    "generate": {"prime": ["song", "noise", "perlin"], "num_samples": 2, "seconds": 3.0},
}


class AudioRepresentation(Representation):
    """Pieces hold float32 ``(n_samples,)`` mono audio in [-1, 1] and
    ``meta["sample_rate"]`` (Hz); the rate is learned by :meth:`fit`."""

    default_dataset = "music21-audio"
    path_dataset = "audio-files"
    piece_type = "audio"
    hop: int = 1  # samples per step of the encoding

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.sample_rate = DEFAULT_SAMPLE_RATE

    # -- what subclasses define ------------------------------------------------------
    @abstractmethod
    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        """Float32 audio ``(n,)`` -> the encoded steps (``(T,)`` tokens or ``(T, D)`` frames)."""

    @abstractmethod
    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        """Encoded steps -> float32 audio ``(n,)``."""

    @abstractmethod
    def fit_audio(self, audio: Sequence[np.ndarray]) -> None:
        """Learn the encoding's statistics (scaler, feature means) from training audio."""

    # -- Representation ----------------------------------------------------------------
    def audio_of(self, piece: Piece) -> np.ndarray:
        data = piece.data
        if not isinstance(data, np.ndarray) or data.ndim != 1:
            raise DataError(
                f"representation '{self.name}' needs mono audio, but piece '{piece.id}' is "
                f"{type(data).__name__} (for ABC text use --repr abc)"
            )
        rate = piece.meta.get("sample_rate", self.sample_rate)
        if rate != self.sample_rate:
            raise DataError(f"piece '{piece.id}' is at {rate} Hz; this run works at {self.sample_rate} Hz")
        return data.astype(np.float32, copy=False)

    def fit(self, pieces: Sequence[Piece]) -> None:
        rates = {p.meta.get("sample_rate", DEFAULT_SAMPLE_RATE) for p in pieces}
        if len(rates) > 1:
            raise DataError(f"the training pieces mix sample rates {sorted(rates)}; resample them to one")
        self.sample_rate = int(rates.pop()) if rates else DEFAULT_SAMPLE_RATE
        self.fit_audio([self.audio_of(p) for p in pieces])

    def encode(self, piece: Piece) -> torch.Tensor:
        return self.to_steps(self.audio_of(piece))

    def augment(self, pieces: Sequence[Piece]) -> list[Piece]:
        """Pitch-shifted, tempo-changed, louder or softer copies of each piece when the
        training audio is short (``repr.augment_*``, see augment.py); ids ``ID~augN``.
        No copies for a subclass whose ``Config`` does not extend :class:`AugmentConfig`."""
        cfg = self.config
        seconds = sum(len(p.data) / p.meta.get("sample_rate", DEFAULT_SAMPLE_RATE) for p in pieces)
        if not isinstance(cfg, AugmentConfig) or not wanted(cfg, seconds):
            return []
        log.info("training audio is %.1f minutes: %d augmented copies of each piece too (up to %d semitones, "
                 "%g%% tempo, %g dB; repr.augment_copies=0 for none)", seconds / 60, cfg.augment_copies,
                 cfg.augment_semitones, 100 * cfg.augment_tempo, cfg.augment_gain_db)
        extra = []
        for piece in pieces:
            rate = piece.meta.get("sample_rate", DEFAULT_SAMPLE_RATE)
            for k, audio in enumerate(augmented_copies(piece.data, rate, cfg, piece.id), start=1):
                extra.append(Piece(f"{piece.id}~aug{k}", audio, piece.meta))
        return extra

    def decode(self, encoded: torch.Tensor, *, prime_steps: int = 0) -> Piece:
        audio = np.clip(self.from_steps(encoded), -1.0, 1.0).astype(np.float32)
        prime_samples = min(len(audio), self.prime_samples(prime_steps))
        return Piece("generated", audio, {"sample_rate": self.sample_rate, "prime_samples": prime_samples})

    def prime_samples(self, prime_steps: int) -> int:
        """Samples of decoded audio that the first ``prime_steps`` steps make."""
        return prime_steps * self.hop

    def steps_per_second(self) -> float:
        return self.sample_rate / self.hop

    def signal_rate(self) -> float:
        return float(self.sample_rate)

    def opening(self, piece: Piece | None, *, seconds: float = 1.0) -> torch.Tensor:
        """The first ``seconds`` of ``piece``; for None, one step of silence."""
        if piece is None:
            return self.to_steps(np.zeros(self.hop, np.float32))
        audio = self.audio_of(piece)[: max(self.hop, round(seconds * self.sample_rate))]
        return self.to_steps(audio)

    def prime(self, piece: Piece, *, bars: int = 0, seconds: float = 0.0) -> torch.Tensor:
        """All of ``piece`` up to :data:`PRIME_MAX_SECONDS` (a longer one: its last
        ones, with a warning), or its first ``seconds``."""
        audio = self.audio_of(piece)
        limit = round(PRIME_MAX_SECONDS * self.sample_rate)
        if seconds:
            audio = audio[: round(seconds * self.sample_rate)]
        elif len(audio) > limit:
            log.warning("the prime '%s' lasts %.0f s: its last %d s prime the samples (--prime-seconds cuts it "
                        "from the start instead)", piece.id, len(audio) / self.sample_rate, PRIME_MAX_SECONDS)
            audio = audio[-limit:]
        return self.opening(Piece(piece.id, audio, piece.meta), seconds=len(audio) / self.sample_rate)

    def prime_from_signal(self, signal: np.ndarray, *, smooth: bool, context: PrimeContext) -> torch.Tensor:
        return self.to_steps(np.clip(signal, -1, 1).astype(np.float32))

    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """``.wav`` (16-bit PCM at the run's rate) and ``.png`` (waveform, RMS, spectrogram)."""
        wav = atomic_write_wav(Path(f"{path_stem}.wav"), piece.data, self.sample_rate)
        png = plot_sample(piece.data, piece.meta.get("prime_samples", 0), self.sample_rate, Path(f"{path_stem}.png"))
        return [wav, png]

    def state_dict(self) -> dict[str, Any]:
        return {"sample_rate": self.sample_rate}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sample_rate = int(state["sample_rate"])


class FramedRepresentation(AudioRepresentation):
    """An audio representation with one step per STFT frame of ``self.framing``
    (set by the subclass): primes are cut at whole hops, and the prime's share of
    the decoded audio ends where its last frame starts to overlap the next."""

    framing: Framing

    def prime_samples(self, prime_steps: int) -> int:
        return self.framing.prime_samples(prime_steps)

    def opening(self, piece: Piece | None, *, seconds: float = 1.0) -> torch.Tensor:
        """The first ``seconds`` of ``piece``, rounded to whole hops (``None``: silence)."""
        if piece is None:
            return self.to_steps(np.zeros(self.hop, np.float32))
        return self.to_steps(self.audio_of(piece)[: self.framing.opening_samples(seconds, self.sample_rate)])
