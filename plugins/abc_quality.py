"""Generated ABC tunes against the training tunes: music statistics and novelty.

Music statistics follow Yang and Lerch, "On the evaluation of generative models in
music" (MGEval): the distributions of pitch class, pitch range, melodic interval
and note length over the generated tunes and over the training tunes, and how much
they overlap (1 = the same distribution) and their KL divergence (0 = the same).
Novelty shows memorisation: the longest stretch of each generated tune's body that
appears verbatim in a training tune, and the share of its 8-grams found there.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from noizenet.plots import plt, save_figure

INTERVALS = np.arange(-12, 13)  # semitones; larger leaps are clipped to an octave
LENGTHS = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])  # quarter notes; others go to the nearest
RANGES = np.arange(0, 38, 3)  # bins of a tune's pitch range in semitones
NGRAM = 8
EPSILON = 1e-6


def tune_statistics(score: Any) -> dict[str, np.ndarray] | None:
    """Counts per feature of one parsed tune, or None without two notes."""
    pitches, lengths = [], []
    for element in score.flatten().notes:
        if element.isChord:
            pitch = max(p.midi for p in element.pitches)
        else:
            pitch = element.pitch.midi
        pitches.append(pitch)
        lengths.append(float(element.duration.quarterLength))
    if len(pitches) < 2:
        return None
    pitches_array = np.array(pitches)
    nearest = np.abs(np.array(lengths)[:, None] - LENGTHS[None]).argmin(axis=1)
    return {
        "pitch_class": np.bincount(pitches_array % 12, minlength=12).astype(float),
        "interval": np.bincount(np.clip(np.diff(pitches_array), -12, 12) + 12, minlength=len(INTERVALS)).astype(float),
        "note_length": np.bincount(nearest, minlength=len(LENGTHS)).astype(float),
        "pitch_range": np.histogram([pitches_array.max() - pitches_array.min()], bins=np.append(RANGES, 200))[0].astype(float),
    }


def distribution(scores: Sequence[Any]) -> dict[str, np.ndarray]:
    """Each feature's counts summed over the tunes, normalised to sum to 1."""
    stats = [s for s in (tune_statistics(score) for score in scores) if s is not None]
    if not stats:
        return {}
    return {key: (total := sum(s[key] for s in stats)) / max(total.sum(), EPSILON) for key in stats[0]}


def music_statistics(generated: Sequence[Any], training: Sequence[Any]) -> dict[str, Any]:
    """Overlap and KL divergence per feature between generated and training tunes."""
    gen, train = distribution(generated), distribution(training)
    if not gen or not train:
        return {}
    result: dict[str, Any] = {"tunes_generated": len(generated), "tunes_training": len(training)}
    for key in gen:
        p, q = gen[key] + EPSILON, train[key] + EPSILON
        result[f"{key}_overlap"] = round(float(np.minimum(gen[key], train[key]).sum()), 4)
        result[f"{key}_kl"] = round(float(np.sum(p * np.log(p / q))), 4)
    result["histograms"] = {key: {"generated": gen[key].round(4).tolist(), "training": train[key].round(4).tolist()} for key in gen}
    return result


def plot_statistics(histograms: dict[str, dict[str, list[float]]], path: Path) -> Path:
    labels = {
        "pitch_class": ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"],
        "interval": [str(i) for i in INTERVALS],
        "note_length": [f"{x:g}" for x in LENGTHS],
        "pitch_range": [f"{r}" for r in RANGES],
    }
    titles = {"pitch_class": "pitch class", "interval": "melodic interval (semitones)",
              "note_length": "note length (quarter notes)", "pitch_range": "pitch range per tune (semitones)"}
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    for ax, (key, values) in zip(axes.flat, histograms.items()):
        x = np.arange(len(values["generated"]))
        ax.bar(x - 0.2, values["training"], width=0.4, label="training")
        ax.bar(x + 0.2, values["generated"], width=0.4, label="generated")
        ax.set_xticks(x, labels[key], fontsize=7)
        ax.set_title(titles[key])
    axes.flat[0].legend()
    fig.tight_layout()
    return save_figure(fig, path)


def body(text: str) -> str:
    """The notes of a tune: what follows its K: line, without comments."""
    key = re.search(r"(?m)^K:.*$", text)
    return re.sub(r"%[^\n]*", "", text[key.end() + 1 :] if key else text)


def novelty(generated: Sequence[str], training: Sequence[str]) -> dict[str, Any]:
    """Per generated tune body: the longest substring that is also in a training
    tune body, and the share of its 8-grams found in the training bodies."""
    corpus = "\x00".join(body(t) for t in training)
    grams = {corpus[i : i + NGRAM] for i in range(len(corpus) - NGRAM + 1)}
    per_tune = []
    for text in generated:
        notes = body(text)
        longest = 0
        for start in range(len(notes)):  # the match can only grow: O(len) searches
            while start + longest < len(notes) and notes[start : start + longest + 1] in corpus:
                longest += 1
        own = [notes[i : i + NGRAM] for i in range(len(notes) - NGRAM + 1)]
        shared = sum(g in grams for g in own) / len(own) if own else None
        per_tune.append({"chars": len(notes), "longest_copied": longest, "share_8grams_in_training": shared})
    measured = [t for t in per_tune if t["share_8grams_in_training"] is not None]
    return {
        "mean_longest_copied": round(float(np.mean([t["longest_copied"] for t in per_tune])), 1) if per_tune else None,
        "max_longest_copied": max((t["longest_copied"] for t in per_tune), default=None),
        "share_8grams_in_training": round(float(np.mean([t["share_8grams_in_training"] for t in measured])), 4) if measured else None,
        "per_tune": per_tune,
    }
