"""Representation ``chroma``: 12-dimensional chroma frames (how much of each pitch
class sounds), as in the chord-recognition report.

Frames are computed with ``librosa.feature.chroma_stft`` from audio: a folder of
the user's music, or by default tunes of the bundled ABC corpus rendered through
their MIDI. The model predicts the next frame (MSE). Decoding turns each frame's
strongest pitch classes into a chord; consecutive equal chords are merged and
written as MIDI (music21) and played as WAV, next to a chromagram PNG.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import torch

from noizenet.api import ConfigError, Continuous, OutputSpec, Piece, deferred, hookimpl, plt, save_figure
from noizenet.plugins.audio.augment import AugmentConfig
from noizenet.plugins.audio.base import AudioRepresentation
from noizenet.plugins.audio.keys import PITCH_CLASSES
from noizenet.plugins.synthesis import write_midi

music21 = deferred("music21")


@dataclass
class ChromaConfig(AugmentConfig):
    hop: int = 2048  # samples between frames (128 ms at 16 kHz)
    chord_notes: int = 3  # at most this many pitch classes per decoded chord
    threshold: float = 0.5  # a pitch class joins the chord at this share of the frame's strongest

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hop < 64:
            raise ConfigError(f"repr.hop must be >= 64 samples, got {self.hop}")
        if not 1 <= self.chord_notes <= 12 or not 0 < self.threshold <= 1:
            raise ConfigError("repr.chord_notes must be in [1, 12] and repr.threshold in (0, 1]")


class ChromaRepresentation(AudioRepresentation):
    name = "chroma"
    Config = ChromaConfig
    suggested = {
        "model": {"hidden": 128, "layers": 1},
        "train": {"seq_len": 32, "batch_size": 16, "lr": 2e-3, "max_minutes": 3.0},
        "generate": {"prime": ["song", "noise", "perlin"], "num_samples": 2, "seconds": 8.0},
    }

    def __init__(self, config: ChromaConfig) -> None:
        super().__init__(config)
        self.hop = config.hop

    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(Continuous(), 12)

    def fit_audio(self, audio: Sequence[np.ndarray]) -> None:
        pass  # chroma frames are already normalised (strongest pitch class = 1)

    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        """Chroma ``(T, 12)`` in [0, 1], one frame per ``hop`` samples."""
        n_fft = 2 * self.hop
        padded = np.pad(audio.astype(np.float32), (0, max(0, n_fft - len(audio))))
        with warnings.catch_warnings():  # silence has no pitch to tune by: librosa then assumes A440, as wanted
            warnings.filterwarnings("ignore", message="Trying to estimate tuning from empty frequency set")
            chroma = librosa.feature.chroma_stft(y=padded, sr=self.sample_rate, n_fft=n_fft, hop_length=self.hop, center=False)
        return torch.from_numpy(np.ascontiguousarray(chroma.T, dtype=np.float32))

    def chords(self, steps: torch.Tensor) -> list[tuple[tuple[int, ...], int]]:
        """(pitch classes, frames) of each run of equal chords; () is silence."""
        runs: list[tuple[tuple[int, ...], int]] = []
        for frame in steps.float().numpy():
            strongest = float(frame.max())
            order = np.argsort(frame)[::-1][: self.config.chord_notes]
            chord = tuple(sorted(int(i) for i in order if strongest > 0.05 and frame[i] >= self.config.threshold * strongest))
            if runs and runs[-1][0] == chord:
                runs[-1] = (chord, runs[-1][1] + 1)
            else:
                runs.append((chord, 1))
        return runs

    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        """The chords played: each pitch class as a tone in two octaves, soft attacks."""
        seconds_per_frame = self.hop / self.sample_rate
        pieces = []
        for chord, frames in self.chords(steps):
            n = frames * self.hop
            t = np.arange(n) / self.sample_rate
            tone = np.zeros(n)
            for pc in chord:
                for octave in (3, 4):
                    tone += np.sin(2 * np.pi * librosa.midi_to_hz(12 * (octave + 1) + pc) * t)
            envelope = np.minimum(1.0, t / 0.02) * np.minimum(1.0, (n / self.sample_rate - t) / 0.02)
            pieces.append(0.15 * tone * envelope * np.exp(-0.5 * t / max(seconds_per_frame * frames, 1e-3)))
        return np.concatenate(pieces).astype(np.float32) if pieces else np.zeros(0, np.float32)

    def decode(self, encoded: torch.Tensor, *, prime_steps: int = 0) -> Piece:
        piece = super().decode(encoded, prime_steps=prime_steps)
        chords = [[list(chord), frames] for chord, frames in self.chords(encoded)]
        return Piece(piece.id, piece.data, {**piece.meta, "chords": chords, "chroma": encoded.float().numpy().tolist()})

    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """``.wav`` and ``.png`` of the audio, ``.mid`` of the chords, ``-chroma.png``."""
        written = super().write(piece, path_stem)
        written.append(self._write_midi(piece.meta.get("chords", []), Path(f"{path_stem}.mid")))
        written.append(self._plot_chroma(np.array(piece.meta.get("chroma", np.zeros((0, 12)))), Path(f"{path_stem}-chroma.png")))
        return written

    def _write_midi(self, chords: list, path: Path) -> Path:
        quarter_seconds = 0.5  # at 120 beats per minute
        stream = music21.stream.Stream([music21.tempo.MetronomeMark(number=120)])
        for pitch_classes, frames in chords:
            length = max(0.25, round(frames * self.hop / self.sample_rate / quarter_seconds * 4) / 4)
            if pitch_classes:
                stream.append(music21.chord.Chord([48 + pc for pc in pitch_classes], quarterLength=length))
            else:
                stream.append(music21.note.Rest(quarterLength=length))
        return write_midi(stream, path)

    def _plot_chroma(self, chroma: np.ndarray, path: Path) -> Path:
        fig, ax = plt.subplots(figsize=(9, 3))
        seconds = len(chroma) * self.hop / self.sample_rate
        ax.imshow(chroma.T if chroma.size else np.zeros((12, 1)), origin="lower", aspect="auto",
                  extent=(0, max(seconds, 1e-3), -0.5, 11.5), cmap="magma", vmin=0, vmax=1)
        ax.set_yticks(range(12), list(PITCH_CLASSES))
        ax.set_xlabel("seconds")
        ax.set_title("chroma")
        return save_figure(fig, path)


@hookimpl
def noizenet_representations():
    return [ChromaRepresentation]
