"""Measures of audio clips (float32 mono arrays): level, spectral change and
flatness, MFCC + chroma features and the Fréchet distance between feature sets.
The audio metrics (``metrics.py``) and the benchmarks build on them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import librosa
import numpy as np
from scipy import linalg

N_FFT = 1024
HOP = 256
RMS_RATIO_MIN = 0.1  # last second vs prime (or vs real audio when the prime is silent)
CHANGE_RATIO_MIN = 0.1  # frame-to-frame spectral change vs real audio
SILENT = 1e-4  # RMS below this is silence
N_MFCC = 20
FRECHET_RIDGE = 1e-6  # added to the feature covariances (features are O(1) to O(100))


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


def sample_facts(audio: np.ndarray, prime_samples: int, sample_rate: int) -> dict[str, Any]:
    """Collapse statistics of one sample's continuation (after ``prime_samples``)."""
    continuation = audio[prime_samples:]
    last_second = continuation[-sample_rate:]
    tail = continuation[-1000:]
    return {
        "rms_prime": round(rms(audio[:prime_samples]), 6),
        "rms_last_second": round(rms(last_second), 6),
        "std_last_1000": round(float(tail.std()) if tail.size else 0.0, 6),
        "distinct_values_last_1000": int(np.unique(tail).size),
        "spectral_change": round(spectral_change(continuation), 5),
    }


def flatness(audio: np.ndarray) -> float:
    """Mean spectral flatness (0 = tonal, 1 = white noise)."""
    if len(audio) < N_FFT:
        return float("nan")
    return float(librosa.feature.spectral_flatness(y=audio.astype(np.float32), n_fft=N_FFT, hop_length=HOP).mean())


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
