"""PNG plots of a run: loss curves, hidden-unit activations over a generated piece,
and distributions of generated vs training music side by side."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from noizenet.deferred import deferred
from noizenet.runs.rundir import atomic_write_bytes

# Files, never windows: the backend pyplot takes when it is first imported (matplotlib
# itself is imported then too: 0.1 s that a command drawing nothing does not pay).
os.environ["MPLBACKEND"] = "Agg"
plt = deferred("matplotlib.pyplot")


def save_figure(fig: Any, path: Path, *, tight: bool = True) -> Path:
    """Write ``fig`` as a PNG at ``path`` (atomically) and close it. ``tight`` crops
    the margins to what is drawn, which draws the figure twice: a figure laid out
    with fixed margins (``fig.subplots_adjust``) passes ``tight=False``."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight" if tight else None)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def plot_losses(records: list[dict[str, Any]], path: Path, *, unit: str) -> Path:
    """Train and validation loss per epoch, from metrics.jsonl records."""
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = [r["epoch"] for r in records]
    ax.plot(epochs, [r["train_loss"] for r in records], marker="o", ms=3, label="train")
    ax.plot(epochs, [r["val_loss"] for r in records], marker="o", ms=3, label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({unit})")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("loss per epoch")
    return save_figure(fig, path)


def plot_activations(activations: np.ndarray, labels: list[str], units: list[int], path: Path, *, per_row: int = 60) -> Path:
    """Heatmap of ``activations`` (T, len(units)): one row per unit, one column per step,
    each column labelled under it with its token (``labels``), wrapped every
    ``per_row`` steps. A label per column, not per cell: the piece reads left to right
    under its activations, and the text, which is what a figure costs to draw, is
    eight times less (240 texts: 0.66 s, where 1,920 took 2.83 s; benchmarks/plot_speed.py)."""
    steps = len(labels)
    chunks = [(i, min(i + per_row, steps)) for i in range(0, steps, per_row)]
    fig, axes = plt.subplots(
        len(chunks), 1, figsize=(per_row * 0.22 + 1.5, len(chunks) * (0.3 * len(units) + 0.7)), squeeze=False
    )
    limit = float(np.abs(activations).max()) or 1.0
    for ax, (lo, hi) in zip(axes[:, 0], chunks):
        ax.imshow(activations[lo:hi].T, cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        ax.set_xlim(-0.5, per_row - 0.5)  # a short last row keeps the cells' width
        ax.set_xticks([])
        for t, label in enumerate(labels[lo:hi]):  # texts, not ticks: a tick costs four artists
            ax.text(t, len(units) - 0.35, label, ha="center", va="top", fontsize=7, family="monospace", clip_on=False)
        ax.set_yticks(range(len(units)), [f"unit {k}" for k in units], fontsize=6)
    axes[0, 0].set_title("hidden-unit activations over a generated piece (blue < 0 < red), its tokens below", fontsize=8)
    return save_figure(fig, path)


def plot_distributions(panels: dict[str, tuple[list[str], dict[str, list[float]]]], path: Path) -> Path:
    """One bar chart per panel, two series side by side: ``panels`` maps a title to
    (bin labels, {series name: shares}), e.g. {"training": ..., "generated": ...};
    the first panel's legend names the series."""
    rows = math.ceil(len(panels) / 2)
    fig, axes = plt.subplots(rows, 2, figsize=(12, 3.5 * rows), squeeze=False)
    for ax, (title, (labels, values)) in zip(axes.flat, panels.items()):
        x = np.arange(len(labels))
        for offset, (series, shares) in zip((-0.2, 0.2), values.items()):
            ax.bar(x + offset, shares, width=0.4, label=series)
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_title(title)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    axes.flat[0].legend()
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.5 / (3.5 * rows), top=1 - 0.4 / (3.5 * rows), hspace=0.35,
                        wspace=0.12)  # fixed margins (0.5 in below, 0.4 in above): drawn once
    return save_figure(fig, path, tight=False)
