"""Representation ``harmonic``: melodic audio as notes and timbre, one frame per 16 ms.

Each frame (1024 samples every 256: 64 ms analysis windows, 16 ms hops at 16 kHz)
is the fundamental that pyin hears, as a token (a semitone from ``lowest`` to
``highest``, held or struck anew where librosa hears an onset, or "unvoiced"), and a few continuous features: the pitch's offset in
cents from that semitone, the loudness of the harmonics, the shape of their
spectrum (each of ``harmonics`` partials' share) and a noise envelope in ``bands``
log-spaced bands (``additive.py``). The model draws the pitch token at the
temperature and regresses the rest (output kind ``token-and-frame``); decoding
plays the frames by harmonic-plus-noise additive synthesis, so every voiced frame
is a harmonic tone at a note of the scale: tonal by construction. The pitch track
is also written as a ``.mid``. The feature scaler travels in the checkpoint.

Each piece comes with its notes' pitch-class profile as the model's condition (12
values, standardized: voiced frames per pitch class); ``--key`` asks for a key
(``pitch_condition.py``), ``--guidance`` weighs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import librosa
import numpy as np
import torch

from noizenet.api import ConfigError, OutputSpec, Piece, hookimpl
from noizenet.plugins.audio.additive import Analysis, HarmonicPlusNoise
from noizenet.plugins.audio.base import FRAME_STEP_SUGGESTED, AudioRepresentation
from noizenet.plugins.audio.keys import standardized
from noizenet.plugins.audio.pitch_condition import PitchConditionConfig, PitchConditioned
from noizenet.plugins.audio.token_frame import TokenAndFrame
from noizenet.plugins.midi.notes import notes_array, write_notes_midi

FLOOR = 1e-5  # amplitude added before a log (-100 dB of full scale)
SHARE_FLOOR = 1e-4  # of a partial's share of the harmonic amplitude, before its log
MIDI_TEMPO = 120.0  # quarter notes per minute of the written .mid (seconds -> quarters)
ONSET_DELTA = 0.2  # of the clip's strongest onset, above the local mean: a note's own ripples are not onsets
ONSET_SLACK = 4  # frames (64 ms) after a change of pitch in which an onset belongs to that note
SHORTEST_NOTE = 3  # frames (48 ms): shorter pitch runs are not written to the .mid


@dataclass
class HarmonicConfig(PitchConditionConfig):
    frame_size: int = 1024  # samples per analysis frame (64 ms at 16 kHz: a period of the lowest note fits)
    hop: int = 256  # samples between frames: one step per 16 ms
    lowest: int = 36  # MIDI note of the lowest pitch token (C2, 65 Hz)
    highest: int = 96  # MIDI note of the highest (C7, 2093 Hz)
    harmonics: int = 24  # partials per voiced frame
    bands: int = 16  # noise bands, log-spaced up to Nyquist

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.frame_size < 256 or self.frame_size % 2:
            raise ConfigError(f"repr.frame_size must be an even number >= 256, got {self.frame_size}")
        if not 16 <= self.hop <= self.frame_size // 2:
            raise ConfigError(f"repr.hop must be in [16, frame_size / 2], got {self.hop}")
        if not 0 <= self.lowest < self.highest <= 127:
            raise ConfigError(f"repr.lowest and repr.highest must be MIDI notes, lowest < highest; got {self.lowest}, {self.highest}")
        if not 1 <= self.harmonics <= 128 or not 1 <= self.bands <= 64:
            raise ConfigError("repr.harmonics must be in [1, 128] and repr.bands in [1, 64]")


class HarmonicRepresentation(PitchConditioned, AudioRepresentation):
    """Steps are float32 frames ``(T, 1 + 2 * pitches + 2 + harmonics + bands)``: the
    pitch token one-hot (0 = unvoiced, then each note held and struck: token
    ``1 + 2 * (note - lowest) + struck``), then standardized cents, loudness (log10 of the
    harmonics' summed amplitude), the partials' log10 shares and the noise bands'
    log10 magnitudes, these three :attr:`lag` frames late."""

    name = "harmonic"
    Config = HarmonicConfig
    # guidance 2.5: over seeds 0-2 asked keys scored 0.56 (MIREX) against 0.30 at guidance 1
    # and 0.27 by chance; the song key kept 0.34 against 0.47, within the seeds' spread
    # (benchmarks/README.md, "harmonic with pitch-class conditions")
    suggested = {**FRAME_STEP_SUGGESTED, "generate": {**FRAME_STEP_SUGGESTED["generate"], "guidance": 2.5}}

    def __init__(self, config: HarmonicConfig) -> None:
        super().__init__(config)
        self.hop = config.hop
        self.tokens = 1 + 2 * (config.highest - config.lowest + 1)  # unvoiced; each note held or struck
        self.features = 2 + config.harmonics + config.bands
        self.mean = np.zeros(self.features, np.float32)
        self.std = np.ones(self.features, np.float32)
        self.codec = self._codec()

    def _codec(self) -> HarmonicPlusNoise:
        cfg = self.config
        nyquist_note = librosa.hz_to_midi(self.sample_rate / 2)
        return HarmonicPlusNoise(self.sample_rate, cfg.frame_size, cfg.hop, cfg.harmonics, cfg.bands,
                                 float(librosa.midi_to_hz(cfg.lowest - 0.5)),
                                 float(librosa.midi_to_hz(min(cfg.highest + 0.5, nyquist_note - 1))))

    @property
    def spec(self) -> OutputSpec:
        return OutputSpec(TokenAndFrame(self.tokens), self.tokens + self.features, condition=self.condition_width)

    def condition(self, encoded: torch.Tensor) -> np.ndarray:
        """The standardized ``(12,)`` pitch-class profile of the notes in ``encoded``
        ``(T, tokens + features)``: its voiced frames counted per pitch class."""
        tokens = encoded[:, : self.tokens].argmax(1).numpy()
        voiced = tokens[tokens > 0]
        return standardized(np.bincount(self.pitch(voiced) % 12, minlength=12).astype(np.float64))

    # -- frames <-> analysis -------------------------------------------------------------
    def onsets(self, audio: np.ndarray, count: int) -> np.ndarray:
        """``(count,)`` bool: frames where librosa hears a note begin."""
        strength = librosa.onset.onset_strength(y=audio, sr=self.sample_rate, hop_length=self.hop,
                                                n_fft=self.config.frame_size)
        found = librosa.onset.onset_detect(onset_envelope=strength, sr=self.sample_rate, hop_length=self.hop,
                                           delta=ONSET_DELTA)
        onset = np.zeros(count, bool)
        onset[found[found < count]] = True
        return onset

    def raw_features(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(pitch tokens ``(T,)``, unscaled features ``(T, features)``) of ``audio``."""
        analysis = self.codec.analyse(audio)
        voiced = analysis.f0 > 0
        midi = librosa.hz_to_midi(np.where(voiced, analysis.f0, 1.0))
        note = np.clip(np.rint(midi), self.config.lowest, self.config.highest).astype(np.int64)
        changed = voiced & (np.diff(np.where(voiced, note, -1), prepend=-1) != 0)  # a new pitch starts a note
        # an onset heard just after a change of pitch is that note's own attack, not a new note
        settling = np.convolve(changed, np.ones(ONSET_SLACK + 1), mode="full")[: len(changed)] > 0
        struck = changed | (self.onsets(np.asarray(audio, np.float32), len(note)) & voiced & ~settling)
        tokens = np.where(voiced, 1 + 2 * (note - self.config.lowest) + struck, 0)
        total = analysis.harmonics.sum(1, keepdims=True)
        shares = analysis.harmonics / np.maximum(total, FLOOR)
        features = np.concatenate([
            np.where(voiced, midi - note, 0.0)[:, None],
            np.log10(total + FLOOR),
            np.log10(shares + SHARE_FLOOR),
            np.log10(analysis.noise + FLOOR),
        ], axis=1)
        return tokens, features.astype(np.float32)

    def fit_audio(self, audio: Sequence[np.ndarray]) -> None:
        self.codec = self._codec()  # the sample rate is known now
        pairs = [self.raw_features(a) for a in audio]
        tokens = np.concatenate([t for t, _ in pairs])
        features = np.concatenate([f for _, f in pairs])
        voiced = tokens > 0
        harmonic = slice(0, 2 + self.config.harmonics)  # cents, loudness, shares: measured where voiced
        rows = features[voiced] if voiced.any() else features
        self.mean[harmonic], self.std[harmonic] = rows[:, harmonic].mean(0), rows[:, harmonic].std(0)
        noise = slice(2 + self.config.harmonics, None)
        self.mean[noise], self.std[noise] = features[:, noise].mean(0), features[:, noise].std(0)
        self.std = np.maximum(self.std, 1e-3).astype(np.float32)
        self.mean = self.mean.astype(np.float32)

    @property
    def lag(self) -> int:
        """Frames by which loudness, shares and noise trail the pitch token in a step:
        an analysis window reaches half a frame ahead, so undelayed features would
        show the next note's attack before its token; the model learned to change
        notes on that cue, which its own regressed features never give (a 3-minute
        LSTM held each note 5x longer than the tunes it learned from)."""
        return -(-self.config.frame_size // (2 * self.hop))

    def to_steps(self, audio: np.ndarray) -> torch.Tensor:
        tokens, features = self.raw_features(audio)
        scaled = (features - self.mean) / self.std
        scaled[tokens == 0, : 2 + self.config.harmonics] = 0.0  # no harmonics: their features at the mean
        scaled[:, 1:] = shift(scaled[:, 1:], self.lag)
        onehot = np.eye(self.tokens, dtype=np.float32)[tokens]
        return torch.from_numpy(np.concatenate([onehot, scaled], axis=1).astype(np.float32))

    def analysis_of(self, steps: torch.Tensor) -> Analysis:
        frames = steps.float().numpy()
        tokens = frames[:, : self.tokens].argmax(1)
        features = frames[:, self.tokens :] * self.std + self.mean
        features[:, 1:] = shift(features[:, 1:], -self.lag)
        k = self.config.harmonics
        cents = np.clip(features[:, 0], -0.5, 0.5)
        f0 = np.where(tokens > 0, librosa.midi_to_hz(self.pitch(tokens) + cents), 0.0)
        shares = np.maximum(10 ** features[:, 2 : 2 + k] - SHARE_FLOOR, 0.0)
        shares /= np.maximum(shares.sum(1, keepdims=True), 1e-9)
        total = np.maximum(10 ** features[:, 1:2] - FLOOR, 0.0)
        harmonics = np.where(tokens[:, None] > 0, total * shares, 0.0)
        noise = np.maximum(10 ** features[:, 2 + k :] - FLOOR, 0.0)
        return Analysis(f0.astype(np.float32), harmonics.astype(np.float32), noise.astype(np.float32))

    def from_steps(self, steps: torch.Tensor) -> np.ndarray:
        return self.codec.synthesize(self.analysis_of(steps))

    # -- files ---------------------------------------------------------------------
    def decode(self, encoded: torch.Tensor, *, prime_steps: int = 0) -> Piece:
        piece = super().decode(encoded, prime_steps=prime_steps)
        tokens = encoded[:, : self.tokens].argmax(1).numpy()
        return Piece(piece.id, piece.data, {**piece.meta, "pitch_tokens": tokens.tolist()})

    def transpose(self, piece: Piece, semitones: int) -> Piece:
        """The audio pitch-shifted, and the pitch track (the ``.mid``) moved with it;
        a note moved out of ``lowest``-``highest`` becomes unvoiced."""
        moved = super().transpose(piece, semitones)
        tokens = np.asarray(piece.meta.get("pitch_tokens", []), np.int64)
        tokens = np.where(tokens > 0, tokens + 2 * semitones, 0)
        tokens[(tokens < 1) | (tokens >= self.tokens)] = 0
        return Piece(moved.id, moved.data, {**moved.meta, "pitch_tokens": tokens.tolist()})

    def pitch(self, tokens: np.ndarray) -> np.ndarray:
        """MIDI notes of voiced pitch tokens."""
        return (np.asarray(tokens) - 1) // 2 + self.config.lowest

    def notes(self, tokens: Sequence[int]) -> np.ndarray:
        """``(N, 4)`` notes (start, end in quarter notes at ``MIDI_TEMPO``, MIDI pitch,
        velocity): from each struck token (or change of pitch) to the next or to
        silence, those at least ``SHORTEST_NOTE`` frames long."""
        tokens = np.asarray(tokens, np.int64)
        quarters_per_frame = self.hop / self.sample_rate * MIDI_TEMPO / 60
        pitches = np.where(tokens > 0, self.pitch(tokens), -1)
        starts = (tokens > 0) & ((tokens % 2 == 0) | (np.diff(pitches, prepend=-1) != 0))
        rows = []
        for start in np.flatnonzero(starts):
            end = start + 1
            while end < len(tokens) and pitches[end] == pitches[start] and not starts[end]:
                end += 1
            if end - start >= SHORTEST_NOTE:
                rows.append((start * quarters_per_frame, end * quarters_per_frame, pitches[start], 90))
        return notes_array(rows)

    def write(self, piece: Piece, path_stem: Path) -> list[Path]:
        """``.wav`` and ``.png`` of the audio, and ``.mid`` of the pitch track."""
        written = super().write(piece, path_stem)
        notes = self.notes(piece.meta.get("pitch_tokens", []))
        return [*written, write_notes_midi(notes, Path(f"{path_stem}.mid"), MIDI_TEMPO)]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "mean": torch.from_numpy(self.mean), "std": torch.from_numpy(self.std)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.mean = state["mean"].numpy().astype(np.float32)
        self.std = state["std"].numpy().astype(np.float32)
        self.codec = self._codec()


def shift(rows: np.ndarray, by: int) -> np.ndarray:
    """``rows`` ``(T, D)`` delayed by ``by`` rows (advanced where negative), the edge
    row repeated into the gap."""
    if by == 0 or len(rows) == 0:
        return rows
    index = np.clip(np.arange(len(rows)) - by, 0, len(rows) - 1)
    return rows[index]


@hookimpl
def noizenet_representations():
    return [HarmonicRepresentation]
