"""A piano-roll PNG of one generated piece: every note as a bar (pitch over
quarter notes), a colour per instrument, the drums in a strip of their own below,
the prime shaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pretty_midi

from noizenet.api import deferred, plt, save_figure
from noizenet.plugins.midi.notes import DRUMS, END, PIANO, PITCH, PROGRAM, START, instrument_name, pitched

collections = deferred("matplotlib.collections")

STRUCK = 0.125  # quarter notes: the least width of a drum's bar (a hit lasts a tick)


def plot_roll(notes: np.ndarray, quarters: float, prime_quarters: float, path: Path) -> Path:
    """Notes ``(N, 5)`` of a piece ``quarters`` long; its first ``prime_quarters`` are the prime."""
    drums, tuned = notes[notes[:, PROGRAM] == DRUMS], pitched(notes)
    rows = (3, 1) if len(drums) else (1,)
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 4 + 1.3 * (len(rows) - 1)), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": rows})
    ax = axes[0, 0]
    low, high = (int(tuned[:, PITCH].min()) - 2, int(tuned[:, PITCH].max()) + 3) if len(tuned) else (58, 72)
    programs = np.unique(tuned[:, PROGRAM]).astype(int)
    for colour, program in enumerate(programs):  # one artist per instrument, not one a note
        bars = note_bars(tuned[tuned[:, PROGRAM] == program])
        ax.add_collection(collections.PolyCollection(bars, color=f"C{colour % 10}", label=instrument_name(program)))
    for axis in axes[:, 0]:
        if prime_quarters > 0:
            axis.axvspan(0, prime_quarters, color="0.9", label="prime" if axis is ax else None, zorder=0)
    if prime_quarters > 0 or len(programs) > 1 or programs.tolist() not in ([], [PIANO]):
        ax.legend(loc="upper right", fontsize=7, ncols=min(4, len(programs) + 1))
    ax.set_xlim(0, max(quarters, 1.0))
    ax.set_ylim(low, high)
    octaves = [p for p in range(low, high) if p % 12 == 0]
    ax.set_yticks(octaves, [pretty_midi.note_number_to_name(p) for p in octaves])
    ax.set_ylabel("pitch")
    ax.set_title(f"{len(notes)} notes, {len(programs) + bool(len(drums))} instruments")
    ax.grid(axis="y", alpha=0.3)
    if len(drums):
        strip = axes[1, 0]
        strip.add_collection(collections.PolyCollection(note_bars(drums, least=STRUCK), color="0.25"))
        strip.set_ylim(drums[:, PITCH].min() - 1, drums[:, PITCH].max() + 1)
        strip.set_yticks([])
        strip.set_ylabel("drums")
    axes[-1, 0].set_xlabel("quarter notes")
    return save_figure(fig, path)


def note_bars(notes: np.ndarray, least: float = 0.0) -> np.ndarray:
    """The corners of each note's bar, ``(N, 4, 2)`` (quarter notes, pitch): from its
    start to its end (at least ``least`` long), 0.8 of a semitone high around its pitch."""
    start, end, pitch = (notes[:, column].astype(float) for column in (START, END, PITCH))
    end = np.maximum(end, start + least)
    xs = np.stack([start, end, end, start], axis=1)
    ys = np.stack([pitch - 0.4, pitch - 0.4, pitch + 0.4, pitch + 0.4], axis=1)
    return np.stack([xs, ys], axis=2)
