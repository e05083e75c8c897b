"""A piano-roll PNG of one generated piece: every note as a bar (pitch over
quarter notes), the prime shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi

from noizenet.api import deferred, plt, save_figure
from noizenet.plugins.midi.notes import END, PITCH, START

collections = deferred("matplotlib.collections")


def plot_roll(notes: np.ndarray, quarters: float, prime_quarters: float, path: Path) -> Path:
    """Notes ``(N, 4)`` of a piece ``quarters`` long; its first ``prime_quarters`` are the prime."""
    fig, ax = plt.subplots(figsize=(11, 4))
    low, high = (int(notes[:, PITCH].min()) - 2, int(notes[:, PITCH].max()) + 3) if len(notes) else (58, 72)
    if prime_quarters > 0:
        ax.axvspan(0, prime_quarters, color="0.9", label="prime")
        ax.legend(loc="upper right", fontsize=8)
    ax.add_collection(collections.PolyCollection(note_bars(notes), color="tab:blue"))  # one artist, not one a note
    ax.set_xlim(0, max(quarters, 1.0))
    ax.set_ylim(low, high)
    octaves = [p for p in range(low, high) if p % 12 == 0]
    ax.set_yticks(octaves, [pretty_midi.note_number_to_name(p) for p in octaves])
    ax.set_xlabel("quarter notes")
    ax.set_ylabel("pitch")
    ax.set_title(f"{len(notes)} notes")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def note_bars(notes: np.ndarray) -> np.ndarray:
    """The corners of each note's bar, ``(N, 4, 2)`` (quarter notes, pitch): from its
    start to its end, 0.8 of a semitone high around its pitch."""
    start, end, pitch = (notes[:, column].astype(float) for column in (START, END, PITCH))
    xs = np.stack([start, end, end, start], axis=1)
    ys = np.stack([pitch - 0.4, pitch - 0.4, pitch + 0.4, pitch + 0.4], axis=1)
    return np.stack([xs, ys], axis=2)
