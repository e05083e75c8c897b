"""Short-time Fourier frames shared by the frame representations (``fft``,
``codebook``): sqrt-Hann windows whose overlap-add at half-frame hops is exact,
audio padded so that every sample is covered by whole frames, and the way back by
overlap-add or by Griffin-Lim from magnitudes alone."""

from __future__ import annotations

import librosa
import numpy as np

GRIFFINLIM_ITERATIONS = 32


def periodic_hann(size: int) -> np.ndarray:
    """The ``(size,)`` periodic Hann window (scipy's and librosa's ``"hann"`` with
    ``fftbins=True``), computed here: ``librosa.filters`` takes about a second to
    import, which every run that only trains on prepared frames would pay."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(size) / size)


class Framing:
    """Frames of ``size`` samples every ``hop`` samples."""

    def __init__(self, size: int, hop: int) -> None:
        self.size, self.hop = size, hop
        self.window = np.sqrt(periodic_hann(size)).astype(np.float32)

    @property
    def bins(self) -> int:
        return self.size // 2 + 1

    def spectra(self, audio: np.ndarray) -> np.ndarray:
        """Complex rFFT frames ``(T, bins)``; the audio is padded by ``size - hop``
        zeros on both sides so that every sample is fully covered."""
        size, hop = self.size, self.hop
        edge = np.zeros(size - hop, np.float32)
        padded = np.concatenate([edge, audio.astype(np.float32), edge])
        count = max(1, -(-(len(padded) - size) // hop) + 1)
        padded = np.pad(padded, (0, max(0, (count - 1) * hop + size - len(padded))))
        frames = np.lib.stride_tricks.sliding_window_view(padded, size)[::hop][:count]
        return np.fft.rfft(frames * self.window, axis=1)

    def overlap_add(self, spectra: np.ndarray) -> np.ndarray:
        """Float32 audio from complex frames ``(T, bins)``: the inverse of :meth:`spectra`."""
        frames = np.fft.irfft(spectra, n=self.size, axis=1) * self.window
        audio = np.zeros((len(frames) - 1) * self.hop + self.size, np.float64)
        for k, frame in enumerate(frames):
            audio[k * self.hop : k * self.hop + self.size] += frame
        return self._unpad(audio)

    def griffin_lim(self, magnitude: np.ndarray, *, seed: int = 0) -> np.ndarray:
        """Float32 audio whose frames have the magnitudes ``(T, bins)``, the phase
        found by (fast) Griffin-Lim."""
        audio = librosa.griffinlim(
            magnitude.T, n_iter=GRIFFINLIM_ITERATIONS, hop_length=self.hop, win_length=self.size, n_fft=self.size,
            window=self.window, center=False, random_state=seed,
        )
        return self._unpad(audio)

    def _unpad(self, audio: np.ndarray) -> np.ndarray:
        edge = self.size - self.hop
        return audio[edge : len(audio) - edge].astype(np.float32)

    def prime_samples(self, prime_steps: int) -> int:
        """Decoded samples that the first ``prime_steps`` frames own alone (the last
        prime frame's second half overlaps what follows)."""
        return max(0, prime_steps - 1) * self.hop

    def opening_samples(self, seconds: float, sample_rate: int) -> int:
        """``seconds`` rounded to whole hops (at least one)."""
        return max(1, round(seconds * sample_rate / self.hop)) * self.hop
