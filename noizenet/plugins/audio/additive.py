"""Harmonic-plus-noise analysis and synthesis of monophonic audio (the ``harmonic``
representation's codec).

Analysis, one frame every ``hop`` samples (frame ``t`` centred on sample
``t * hop``): the fundamental from librosa's pyin (voiced or not; refined by yin
where the two agree), the amplitude of each harmonic ``k * f0`` from the energy
around it in a Blackman-Harris STFT, and the median magnitude of what is left
between the harmonics in a few log-spaced noise bands. Synthesis runs it backwards: a bank of sinusoids at the
harmonics of a glided fundamental, plus noise shaped by the band envelope.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import librosa
import numpy as np

PYIN_RESOLUTION = 0.5  # semitones between pyin's pitch states: 10x faster than its 0.1 default
AGREE_SEMITONES = 0.5  # yin's finer f0 replaces pyin's when the two are this close
ANALYSIS_WINDOW = "blackmanharris"  # sidelobes at -92 dB: a harmonic's leakage does not pass for noise
HARMONIC_GAP_BINS = 4.0  # bins this close to a harmonic belong to it (the window's main lobe), not to the noise


@dataclass(frozen=True)
class Analysis:
    """Frames ``T`` of one clip: ``f0`` Hz ``(T,)`` (0 where unvoiced),
    ``harmonics`` linear amplitudes ``(T, K)`` (0 where unvoiced), ``noise`` median
    STFT magnitude of the residual per band ``(T, B)``, in the analysis window's
    units (see :meth:`HarmonicPlusNoise.noise_scale`)."""

    f0: np.ndarray
    harmonics: np.ndarray
    noise: np.ndarray


class HarmonicPlusNoise:
    """Analysis and synthesis at ``sample_rate`` Hz with ``frame_size``-sample
    frames every ``hop`` samples, ``harmonics`` partials, ``bands`` noise bands,
    fundamentals between ``fmin`` and ``fmax`` Hz."""

    def __init__(self, sample_rate: int, frame_size: int, hop: int, harmonics: int, bands: int,
                 fmin: float, fmax: float) -> None:
        self.sample_rate, self.frame_size, self.hop = sample_rate, frame_size, hop
        self.harmonic_count, self.fmin, self.fmax = harmonics, fmin, fmax
        self.window = librosa.filters.get_window(ANALYSIS_WINDOW, frame_size, fftbins=True)
        self.synthesis_window = librosa.filters.get_window("hann", frame_size, fftbins=True)
        # White noise of std s has STFT magnitudes whose median is s * sqrt(ln 2 * sum(w^2)) (Rayleigh);
        # random-phase frames of magnitude M, overlap-added, have std M * sqrt(hop / (N * sum(ws^2))).
        self.noise_gain = np.sqrt(frame_size * np.square(self.synthesis_window).sum()
                                  / (hop * np.log(2) * np.square(self.window).sum()))
        self.bin_hz = sample_rate / frame_size
        nyquist = sample_rate / 2
        # band edges: log-spaced from 4 bins up to Nyquist, the first band from 0
        edges = np.geomspace(4 * self.bin_hz, nyquist, bands + 1)
        edges[0] = 0.0
        self.band_edges = edges
        self.band_of_bin = np.clip(np.searchsorted(edges, np.arange(frame_size // 2 + 1) * self.bin_hz, side="right") - 1,
                                   0, bands - 1)

    def frames(self, n_samples: int) -> int:
        return 1 + n_samples // self.hop

    # -- analysis ----------------------------------------------------------------------
    def fundamental(self, audio: np.ndarray) -> np.ndarray:
        """Hz per frame ``(T,)``, 0 where pyin calls the frame unvoiced."""
        common = dict(fmin=self.fmin, fmax=self.fmax, sr=self.sample_rate, frame_length=self.frame_size,
                      hop_length=self.hop, center=True)
        coarse, voiced, _ = librosa.pyin(audio, resolution=PYIN_RESOLUTION, **common)
        fine = librosa.yin(audio, **common)
        agree = np.abs(12 * np.log2(np.maximum(fine, 1e-3) / np.where(voiced, coarse, 1.0))) < AGREE_SEMITONES
        return np.where(voiced, np.where(agree, fine, coarse), 0.0).astype(np.float32)

    def analyse(self, audio: np.ndarray) -> Analysis:
        audio = np.asarray(audio, np.float32)
        if len(audio) < self.frame_size:
            audio = np.pad(audio, (0, self.frame_size - len(audio)))
        f0 = self.fundamental(audio)
        spectra = np.abs(librosa.stft(audio, n_fft=self.frame_size, hop_length=self.hop, window=self.window,
                                      center=True, pad_mode="constant")).T  # (T, bins)
        count = min(len(f0), len(spectra))
        f0, spectra = f0[:count], spectra[:count]
        bins = spectra.shape[1]
        k = np.arange(1, self.harmonic_count + 1)
        centre = f0[:, None] * k / self.bin_hz  # (T, K) fractional bin of each harmonic
        # each partial's energy within HARMONIC_GAP_BINS of k * f0 (less where partials are
        # closer): a partial that wanders (vibrato, a slightly wrong f0) keeps its level
        reach = np.minimum(HARMONIC_GAP_BINS, np.floor(f0 / self.bin_hz / 2))[:, None].astype(int)  # (T, 1)
        nearest = np.rint(centre).astype(int)
        low, high = np.clip(nearest - reach, 0, bins - 1), np.clip(nearest + reach, 0, bins - 1)
        energy = np.concatenate([np.zeros((count, 1)), np.cumsum(np.square(spectra, dtype=np.float64), axis=1)], axis=1)
        rows = np.arange(count)[:, None]
        lobe = energy[rows, high + 1] - energy[rows, low]
        audible = (f0[:, None] > 0) & (centre < bins - 1)
        harmonics = np.where(audible, np.sqrt(4 * lobe / (self.frame_size * np.square(self.window).sum())), 0.0)
        # the residual: bins further than HARMONIC_GAP_BINS from every harmonic of a voiced frame
        ratio = np.arange(bins) * self.bin_hz / np.where(f0 > 0, f0, np.inf)[:, None]  # (T, bins) bin / f0
        gap = np.abs(ratio - np.rint(ratio)) * np.where(f0 > 0, f0, 0.0)[:, None] / self.bin_hz
        residual = ~((ratio >= 0.5) & (gap < HARMONIC_GAP_BINS))
        noise = np.zeros((count, len(self.band_edges) - 1))
        for band in range(noise.shape[1]):
            in_band = self.band_of_bin == band
            kept = np.where(residual[:, in_band], spectra[:, in_band], np.nan)
            with warnings.catch_warnings():  # a band with no residual bin is nan here, handled below
                warnings.simplefilter("ignore", RuntimeWarning)
                # the median: the other note's partials while notes change, or a transient,
                # do not lift the band (the mean put a burst of noise at every change of note)
                middle = np.nanmedian(kept, axis=1)
            noise[:, band] = np.where(np.isnan(middle), spectra[:, in_band].min(1), middle)
        return Analysis(f0, harmonics.astype(np.float32), noise.astype(np.float32))

    # -- synthesis ---------------------------------------------------------------------
    def synthesize(self, analysis: Analysis, *, seed: int = 0) -> np.ndarray:
        """Float32 audio ``(T * hop,)``: the harmonics (amplitudes faded to 0 where a
        frame is unvoiced, the pitch held there so nothing glides through silence)
        plus noise with the bands' magnitudes."""
        count = len(analysis.f0)
        n = count * self.hop
        where = np.arange(count) * self.hop  # frame t's centre
        t = np.arange(n)
        voiced = analysis.f0 > 0
        if voiced.any():
            held = analysis.f0[np.maximum.accumulate(np.where(voiced, np.arange(count), 0))]
            held = np.where(held > 0, held, analysis.f0[voiced][0])
        else:
            held = np.full(count, 440.0, np.float32)
        f0 = np.exp(np.interp(t, where, np.log(held)))
        phase = 2 * np.pi * np.cumsum(f0) / self.sample_rate
        audio = np.zeros(n)
        for k in range(1, analysis.harmonics.shape[1] + 1):
            amplitude = np.interp(t, where, analysis.harmonics[:, k - 1])
            amplitude[k * f0 >= self.sample_rate / 2] = 0.0
            if amplitude.any():
                audio += amplitude * np.sin(k * phase)
        return (audio + self.noise(analysis.noise, n, seed)).astype(np.float32)

    def noise(self, bands: np.ndarray, n: int, seed: int) -> np.ndarray:
        """``(n,)`` noise whose STFT magnitudes follow ``bands`` ``(T, B)``."""
        magnitude = bands[:, self.band_of_bin].T  # (bins, T)
        phase = np.random.default_rng(seed).uniform(0, 2 * np.pi, magnitude.shape)
        audio = librosa.istft(self.noise_gain * magnitude * np.exp(1j * phase), hop_length=self.hop, n_fft=self.frame_size,
                              window=self.synthesis_window, center=True, length=n)
        return audio.astype(np.float64)
