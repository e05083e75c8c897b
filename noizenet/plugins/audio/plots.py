"""One PNG per generated audio sample: prime and continuation side by side, each
as waveform, RMS envelope and spectrogram (dB of the STFT magnitude)."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np

from noizenet.api import plt, save_figure

HOP = 256


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
        seconds = np.arange(len(part)) / sample_rate
        wave.plot(seconds, part, linewidth=0.4)
        wave.set_ylabel("amplitude")
        envelope = librosa.feature.rms(y=part, frame_length=1024, hop_length=HOP, center=True)[0]
        level.plot(librosa.times_like(envelope, sr=sample_rate, hop_length=HOP), envelope)
        level.set_ylabel("RMS")
        decibels = librosa.amplitude_to_db(np.abs(librosa.stft(part, n_fft=1024, hop_length=HOP)), ref=1.0, top_db=90)
        extent = (0, len(part) / sample_rate, 0, sample_rate / 2)
        spectrum.imshow(decibels, origin="lower", aspect="auto", extent=extent, vmin=-90, vmax=10, cmap="magma")
        spectrum.set_xlabel("seconds")
        spectrum.set_ylabel("Hz")
    fig.subplots_adjust(hspace=0.45, wspace=0.12)  # fixed: tight_layout costs a second per figure
    return save_figure(fig, path)
