"""Metric ``polyphony``: how generated ``"notes"`` pieces compare with the training
pieces, on measures of polyphonic music (after Dong et al. 2018, MuseGAN, and
Mogren 2016, C-RNN-GAN), each for the continuations (the prime left out) and for
the training pieces side by side, on their pitched notes (drums are measured by the
``instruments`` metric):

* polyphony: mean number of notes sounding in frames where any sounds;
* empty frames: share of the grid's frames (sixteenths) where nothing sounds;
* pitch-class entropy of the notes, in bits (max log2 12 = 3.58);
* scale consistency: the largest share of notes inside one major scale (or its
  relative minor), over the 12;
* note length: mean, in quarter notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi

from noizenet.api import (
    EvaluationContext, Figure, Metric, MetricResult, Piece, Representation, Sample, hookimpl, plot_distributions,
)
from noizenet.plugins.midi.notes import END, PITCH, START, pitched, roll_from_notes

GRID = 0.25  # quarter notes per frame of the measures
MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])
MAX_VOICES = 8  # polyphony histogram: 0..8 and more
LENGTHS = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])  # quarter notes; others go to the nearest
REFERENCE_PIECES = 100  # training pieces measured
MEASURES = {  # key: (label, unit, format)
    "polyphony": ("notes sounding at once, mean over non-empty frames", "notes", "{:.2f}"),
    "empty_frames": ("share of empty sixteenth frames", "", "{:.3f}"),
    "pitch_class_entropy": ("pitch-class entropy", "bits", "{:.3f}"),
    "scale_consistency": ("share of notes in the best-fitting major scale", "", "{:.3f}"),
    "note_length": ("note length, mean", "quarter notes", "{:.2f}"),
}


def continuation(piece: Piece) -> tuple[np.ndarray, float]:
    """(notes, quarters) of a piece after its prime (``meta["prime_quarters"]``), times from the prime's end."""
    cut = piece.meta.get("prime_quarters", 0.0)
    notes = piece.data[piece.data[:, START] >= cut - 1e-9].copy()
    notes[:, [START, END]] -= cut
    return notes, piece.meta["quarters"] - cut


def measures(notes: np.ndarray, quarters: float) -> dict[str, float | None]:
    """Every measure of :data:`MEASURES` for one piece's pitched notes (drums left
    out; None where it has none)."""
    notes = pitched(notes)
    if len(notes) == 0:
        return {"notes": 0, **{key: None for key in MEASURES}, "empty_frames": 1.0}
    sounding = roll_from_notes(notes, quarters, GRID).sum(axis=1)
    classes = np.bincount(notes[:, PITCH].astype(int) % 12, minlength=12) / len(notes)
    present = classes[classes > 0]
    in_scale = max(classes[(MAJOR + tonic) % 12].sum() for tonic in range(12))
    return {
        "notes": len(notes),
        "polyphony": float(sounding[sounding > 0].mean()) if (sounding > 0).any() else None,
        "empty_frames": float((sounding == 0).mean()),
        "pitch_class_entropy": float(-(present * np.log2(present)).sum()),
        "scale_consistency": float(in_scale),
        "note_length": float((notes[:, END] - notes[:, START]).mean()),
    }


def distributions(pieces: Sequence[tuple[np.ndarray, float]]) -> dict[str, list[float]]:
    """Shares of polyphony (per frame), pitch class and note length over the pitched
    notes of ``pieces``."""
    voices, classes, lengths = np.zeros(MAX_VOICES + 1), np.zeros(12), np.zeros(len(LENGTHS))
    for notes, quarters in pieces:
        notes = pitched(notes)
        if len(notes) == 0:
            continue
        sounding = roll_from_notes(notes, quarters, GRID).sum(axis=1).astype(int)
        voices += np.bincount(np.minimum(sounding, MAX_VOICES), minlength=MAX_VOICES + 1)
        classes += np.bincount(notes[:, PITCH].astype(int) % 12, minlength=12)
        nearest = np.abs((notes[:, END] - notes[:, START])[:, None] - LENGTHS[None]).argmin(axis=1)
        lengths += np.bincount(nearest, minlength=len(LENGTHS))
    return {name: (counts / max(counts.sum(), 1)).round(4).tolist()
            for name, counts in (("polyphony", voices), ("pitch_class", classes), ("note_length", lengths))}


def mean_of(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


class Polyphony(Metric):
    name = "polyphony"
    description = "polyphony, empty frames, pitch-class entropy, scale consistency, note length vs training pieces"
    piece_types = ("notes",)
    figures = tuple(
        Figure(f"{key}_{side}", f"{label}: {words}", unit, headline=key == "polyphony" and side == "generated", format=fmt)
        for key, (label, unit, fmt) in MEASURES.items()
        for side, words in (("generated", "continuations"), ("training", "training pieces"))
    )

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        return {key: (round(value, 4) if isinstance(value, float) else value)
                for key, value in measures(*continuation(sample.piece)).items()}

    def per_set(self, context: EvaluationContext) -> MetricResult:
        if not context.samples:
            return MetricResult({})
        picks = np.random.default_rng(0).permutation(len(context.training))[:REFERENCE_PIECES]
        training = [(context.training[int(i)].data, context.training[int(i)].meta["quarters"]) for i in picks]
        generated = [continuation(sample.piece) for sample in context.samples]
        figures: dict[str, Any] = {}
        for side, pieces in (("training", training), ("generated", generated)):
            measured = [measures(*piece) for piece in pieces]
            figures.update({f"{key}_{side}": mean_of([m[key] for m in measured]) for key in MEASURES})
        shares = {"training": distributions(training), "generated": distributions(generated)}
        labels = {
            "polyphony": [str(n) for n in range(MAX_VOICES)] + [f"{MAX_VOICES}+"],
            "pitch_class": [pretty_midi.note_number_to_name(60 + k)[:-1] for k in range(12)],
            "note_length": [f"{x:g}" for x in LENGTHS],
        }
        titles = {"polyphony": "notes sounding at once (sixteenth frames)", "pitch_class": "pitch class",
                  "note_length": "note length (quarter notes)"}
        panels = {titles[k]: (labels[k], {side: shares[side][k] for side in shares}) for k in labels}
        path = plot_distributions(panels, Path(context.out_dir) / "polyphony.png")
        return MetricResult(figures, details={"distributions": shares, "training_pieces": len(training)},
                            plots={"Polyphonic statistics": path.name})


@hookimpl
def noizenet_metrics():
    return [Polyphony]
