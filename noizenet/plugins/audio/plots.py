"""One PNG per generated audio sample: prime and continuation side by side, each
as waveform, RMS envelope and spectrogram (dB of the STFT magnitude)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np

from noizenet.api import plt, save_figure

HOP = 256
OUTLINE_COLUMNS = 1000  # about two per pixel of a waveform panel


def plot_sample(audio: np.ndarray, prime_samples: int, sample_rate: int, path: Path) -> Path:
    """Columns: prime, continuation (the prime column is left empty without one)."""
    parts = [("prime", audio[:prime_samples]), ("continuation", audio[prime_samples:])]
    fig, axes = plt.subplots(3, 2, figsize=(11, 7), sharey="row", squeeze=False)
    for column, (title, part) in enumerate(parts):
        wave, level, spectrum = axes[:, column]
        wave.set_title(f"{title} ({len(part) / sample_rate:.2f} s)")
        if len(part) < 2:
            for ax in (wave, level, spectrum):
                ax.set_axis_off()
            continue
        seconds, low, high = waveform_outline(part, sample_rate)
        wave.fill_between(seconds, low, high, linewidth=0.4)
        wave.set_ylabel("amplitude")
        envelope = librosa.feature.rms(y=part, frame_length=1024, hop_length=HOP, center=True)[0]
        level.plot(librosa.times_like(envelope, sr=sample_rate, hop_length=HOP), envelope)
        level.set_ylabel("RMS")
        decibels = librosa.amplitude_to_db(np.abs(librosa.stft(part, n_fft=1024, hop_length=HOP)), ref=1.0, top_db=90)
        extent = (0, len(part) / sample_rate, 0, sample_rate / 2)
        spectrum.imshow(decibels, origin="lower", aspect="auto", extent=extent, vmin=-90, vmax=10, cmap="magma")
        spectrum.set_xlabel("seconds")
        spectrum.set_ylabel("Hz")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.95, bottom=0.08, hspace=0.45, wspace=0.12)
    return save_figure(fig, path, tight=False)  # fixed margins: tight_layout or cropping draws it twice


def waveform_outline(part: np.ndarray, sample_rate: int, *, columns: int = OUTLINE_COLUMNS) -> tuple[np.ndarray, ...]:
    """The lowest and highest sample in each of ``columns`` equal slices of ``part``,
    at each slice's start in seconds: ``(seconds, low, high)``, each ``(columns,)``,
    fewer for a short part. What an audio editor draws: every peak shows at a
    fraction of the cost of a line through every sample."""
    edges = np.linspace(0, len(part), min(columns, len(part)) + 1).astype(int)
    low, high = np.minimum.reduceat(part, edges[:-1]), np.maximum.reduceat(part, edges[:-1])
    return edges[:-1] / sample_rate, low, high
