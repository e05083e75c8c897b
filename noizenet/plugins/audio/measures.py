"""Measures of audio clips (float32 mono arrays): level, spectral change and
flatness, MFCC + chroma features and the Fréchet distance between feature sets;
tonality: the pitch track (pyin), voiced share, pitch changes, chroma entropy and
pitch-class histograms; and motion, which suits polyphonic recordings as well as
single lines: onsets per second, tempo, loudness spread and the longest held
stretch. The audio metrics (``metrics.py``, ``motion.py``) and the benchmarks build
on them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import librosa
import numpy as np

from noizenet.api import cached_arrays, deferred

linalg = deferred("scipy.linalg")

N_FFT = 1024
HOP = 256
SILENT = 1e-4  # RMS below this is silence
N_MFCC = 20
PITCH_HOP = 512  # samples between pyin frames (32 ms at 16 kHz)
PITCH_FRAME = 2048  # long enough for a period of the lowest pitch
LOWEST_HZ, HIGHEST_HZ = 65.0, 2100.0  # C2 to C7
VOICED_PROBABILITY = 0.1  # pyin's voiced flag alone calls most frames of white noise voiced
TONALITY_VERSION = 1  # of tonality(): raise it when it changes, so that no cached pitch track is reused
FRECHET_RIDGE = 1e-6  # added to the feature covariances (features are O(1) to O(100))
HELD_HOP = 1024  # samples between the frames compared by longest_held (64 ms at 16 kHz)
HELD_MELS = 32  # bands of those frames' spectral envelope
HELD_DB = 0.5  # mean change in dB over the bands below which a frame holds the one before; measured at 16 kHz:
# a Griffin-Lim frame held 0.1-0.2, white noise 0.7-1.1, recorded music 1.2-2.9 (median), 0-1.2 (1st-5th percentile)
DYNAMIC_RANGE_DB = 60.0  # below a clip's loudest band, the envelope is floored here (silence is one value)


def rms(audio: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def spectral_change(audio: np.ndarray) -> float:
    """Mean L1 change between consecutive magnitude spectra ÷ their mean L1 norm
    (0 for silence or a repeated frame; level independent)."""
    if len(audio) < N_FFT + HOP:
        return 0.0
    spectra = np.abs(librosa.stft(audio.astype(np.float32), n_fft=N_FFT, hop_length=HOP, center=False))
    size = spectra.sum(axis=0).mean()
    return float(np.abs(np.diff(spectra, axis=1)).sum(axis=0).mean() / size) if size > 1e-9 else 0.0


def flatness(audio: np.ndarray) -> float:
    """Mean spectral flatness (0 = tonal, 1 = white noise)."""
    if len(audio) < N_FFT:
        return float("nan")
    return float(librosa.feature.spectral_flatness(y=audio.astype(np.float32), n_fft=N_FFT, hop_length=HOP).mean())


def onsets_per_second(audio: np.ndarray, sample_rate: int) -> float:
    """Note and chord onsets (librosa's spectral-flux onset detector) per second."""
    audio = audio.astype(np.float32)
    found = librosa.onset.onset_detect(y=audio, sr=sample_rate, hop_length=HOP)
    return len(found) / (len(audio) / sample_rate) if len(audio) else 0.0


def tempo(audio: np.ndarray, sample_rate: int) -> float | None:
    """Beats per minute (librosa's beat tracker); None for clips under 2 s or with no onsets."""
    if len(audio) < 2 * sample_rate:
        return None
    found = float(librosa.feature.tempo(y=audio.astype(np.float32), sr=sample_rate, hop_length=HOP)[0])
    return found if found > 0 else None


def envelope_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(HELD_MELS, frames)`` mel band energies in dB, one frame every ``HELD_HOP``
    samples, floored ``DYNAMIC_RANGE_DB`` below the clip's loudest."""
    mel = librosa.feature.melspectrogram(y=audio.astype(np.float32), sr=sample_rate, n_fft=2 * HELD_HOP,
                                         hop_length=HELD_HOP, n_mels=HELD_MELS)
    decibels = librosa.power_to_db(mel, ref=1.0, top_db=None)
    return np.maximum(decibels, decibels.max() - DYNAMIC_RANGE_DB) if decibels.size else decibels


def longest_held(audio: np.ndarray, sample_rate: int) -> float:
    """Seconds of the longest run of frames whose spectral envelope changes by less
    than ``HELD_DB`` from each to the next: a note or code held unchanged, or silence."""
    envelope = envelope_db(audio, sample_rate)
    if envelope.shape[1] < 2:
        return 0.0
    held = np.abs(np.diff(envelope, axis=1)).mean(axis=0) < HELD_DB
    edges = np.diff(np.concatenate([[0], held.astype(np.int8), [0]]))
    runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)  # lengths of the runs of held frames
    return float(runs.max(initial=0)) * HELD_HOP / sample_rate


def loudness_spread(audio: np.ndarray) -> float | None:
    """Standard deviation in dB of the loudness of the sounding 64 ms frames: how
    much the dynamics move (0 for a constant level; None for silence)."""
    frames = librosa.feature.rms(y=audio.astype(np.float32), frame_length=2 * HELD_HOP, hop_length=HELD_HOP,
                                 center=False)[0]
    level = 20 * np.log10(np.maximum(frames, 1e-12))
    sounding = level[level > 20 * np.log10(SILENT)]
    return float(sounding.std()) if sounding.size > 1 else None


def features(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Per-frame MFCC and chroma, ``(frames, N_MFCC + 12)``."""
    audio = audio.astype(np.float32)
    mfcc = librosa.feature.mfcc(y=audio, sr=sample_rate, n_mfcc=N_MFCC, n_fft=N_FFT, hop_length=HOP)
    chroma = librosa.feature.chroma_stft(y=audio, sr=sample_rate, n_fft=N_FFT, hop_length=HOP, tuning=0.0)  # same bins for every clip
    return np.concatenate([mfcc, chroma]).T


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature rows of ``a`` and ``b``.
    A tiny ridge keeps the covariances invertible when a feature never moves (a
    collapsed clip, a silent chroma band) without changing the distance's scale."""
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    ridge = FRECHET_RIDGE * np.eye(a.shape[1])
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2 * root))


@dataclass
class Tonality:
    """Tonal facts of one clip: ``voiced`` (bool per pyin frame), ``midi`` (float
    pitch per frame, NaN where unvoiced), ``chroma`` ``(12, frames)`` and its
    duration in ``seconds``."""

    voiced: np.ndarray
    midi: np.ndarray
    chroma: np.ndarray
    seconds: float

    @property
    def voiced_share(self) -> float:
        return float(self.voiced.mean()) if self.voiced.size else 0.0

    @property
    def pitch_changes(self) -> int:
        """Steps of one semitone or more between consecutive voiced frames (the
        rounded pitch, median-filtered over 3 frames so that jitter is not a change)."""
        notes = np.round(self.midi[self.voiced])
        if len(notes) < 3:
            return 0
        smooth = np.median(np.lib.stride_tricks.sliding_window_view(np.pad(notes, 1, mode="edge"), 3), axis=1)
        return int((np.abs(np.diff(smooth)) >= 1).sum())

    @property
    def chroma_entropy(self) -> float | None:
        return chroma_entropy(self.chroma)


def chroma_entropy(frames: np.ndarray) -> float | None:
    """Mean entropy in bits of the pitch-class distributions of chroma ``frames``
    ``(12, T)`` (frames with sound only); 0 = one pitch class, log2(12) = 3.58 = all
    alike; None for silence."""
    energy = frames.sum(axis=0)
    sounding = frames[:, energy > 1e-6] / np.maximum(energy[energy > 1e-6], 1e-12)
    if not sounding.size:
        return None
    return float(-(sounding * np.log2(np.maximum(sounding, 1e-12))).sum(axis=0).mean())


def tonality(audio: np.ndarray, sample_rate: int) -> Tonality:
    """Pitch track (pyin, 65-2100 Hz) and chroma of ``audio``."""
    audio = np.pad(audio.astype(np.float32), (0, max(0, PITCH_FRAME - len(audio))))
    with warnings.catch_warnings():  # silence has no pitch to tune by
        warnings.simplefilter("ignore")
        f0, flag, probability = librosa.pyin(audio, fmin=LOWEST_HZ, fmax=HIGHEST_HZ, sr=sample_rate,
                                             frame_length=PITCH_FRAME, hop_length=PITCH_HOP)
    voiced = flag & (probability >= VOICED_PROBABILITY)
    return Tonality(voiced, librosa.hz_to_midi(np.where(voiced, f0, np.nan)), chroma(audio, sample_rate),
                    len(audio) / sample_rate)


def recurring_tonality(audio: np.ndarray, sample_rate: int) -> Tonality:
    """:func:`tonality` of a clip measured again and again (held-out audio, at every
    ``generate`` and ``evaluate`` of a run), kept in the cache folder under a hash of
    its samples: pyin is most of an audio evaluation (0.3-0.6 s a 10 s clip)."""
    def measured() -> dict[str, np.ndarray]:
        found = tonality(audio, sample_rate)
        return {"voiced": found.voiced, "midi": found.midi, "chroma": found.chroma, "seconds": np.array(found.seconds)}

    key = b"".join([f"tonality v{TONALITY_VERSION} librosa {librosa.__version__} {sample_rate} Hz ".encode(),
                    np.ascontiguousarray(audio, dtype=np.float32).tobytes()])
    kept = cached_arrays("tonality", key, measured)
    return Tonality(kept["voiced"], kept["midi"], kept["chroma"], float(kept["seconds"]))


def chroma(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(12, frames)`` chroma at the pitch track's frames (A440 tuning for every clip)."""
    return librosa.feature.chroma_stft(y=audio.astype(np.float32), sr=sample_rate, n_fft=PITCH_FRAME,
                                       hop_length=PITCH_HOP, tuning=0.0)


def pitch_class_profile(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(12,)`` :func:`chroma` summed over the frames that are not silent (RMS at
    least ``SILENT``); zeros for silence."""
    audio = np.pad(audio.astype(np.float32), (0, max(0, PITCH_FRAME - len(audio))))
    loud = librosa.feature.rms(y=audio, frame_length=PITCH_FRAME, hop_length=PITCH_HOP)[0] >= SILENT
    return chroma(audio, sample_rate)[:, loud].sum(axis=1).astype(np.float64)


def primes_differ(generated: Sequence[tuple[str, np.ndarray]]) -> bool | None:
    """Whether continuations from different primes differ (None: only one prime)."""
    by_prime: dict[str, np.ndarray] = {}
    for prime, continuation in generated:
        by_prime.setdefault(prime, continuation)
    if len(by_prime) < 2:
        return None
    firsts = list(by_prime.values())
    n = min(len(f) for f in firsts)
    return all(not np.allclose(a[:n], b[:n], atol=1e-3) for i, a in enumerate(firsts) for b in firsts[i + 1 :])


def finite_mean(values: Any) -> float | None:
    finite = [v for v in values if np.isfinite(v)]
    return round(float(np.mean(finite)), 5) if finite else None
