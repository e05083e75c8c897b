"""Metric ``instruments``: which instruments generated ``"notes"`` pieces play, and
how, beside the held-out pieces (the test split), as multitrack models are judged
(MuseGAN's per-track statistics, Dong et al. 2018; MMM, Ens and Pasquier 2020):

* instruments per piece (General MIDI programs, the drums counting as one), median;
* share of the notes on the drum channel, and share of pieces with drums;
* share of pitched notes inside the pitch range their instrument has in the
  held-out pieces (a note of an instrument they never play counts as outside);
* per instrument: notes, pitch range and notes per quarter note, in the details,
  and each instrument's share of the notes in a plot.

Continuations are measured without their prime.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from noizenet.api import EvaluationContext, Figure, Metric, MetricResult, Representation, Sample, hookimpl, plot_distributions
from noizenet.plugins.midi.metrics import continuation
from noizenet.plugins.midi.notes import DRUMS, PITCH, PROGRAM, instrument_name

SIDES = (("held_out", "held-out pieces"), ("generated", "continuations"))
MEASURES = {  # key: (label, unit, format)
    "instruments": ("instruments per piece, median", "instruments", "{:.1f}"),
    "drum_share": ("share of notes on the drum channel", "", "{:.3f}"),
    "with_drums": ("share of pieces with drums", "", "{:.2f}"),
}
SHOWN = 12  # instruments in the plot: the commonest of both sides


def piece_facts(notes: np.ndarray) -> dict[str, Any]:
    """Instruments (their programs, :data:`DRUMS` for drums) and drum share of one piece."""
    programs = np.unique(notes[:, PROGRAM]).astype(int).tolist()
    return {"instruments": len(programs), "programs": programs,
            "drum_share": round(float((notes[:, PROGRAM] == DRUMS).mean()), 4) if len(notes) else None}


def per_instrument(pieces: Sequence[tuple[np.ndarray, float]]) -> dict[int, dict[str, Any]]:
    """For each program of ``pieces``: its notes, lowest and highest pitch, and notes
    per quarter note over the pieces it plays in."""
    table: dict[int, dict[str, Any]] = {}
    for notes, quarters in pieces:
        for program in np.unique(notes[:, PROGRAM]).astype(int):
            pitches = notes[notes[:, PROGRAM] == program, PITCH]
            row = table.setdefault(int(program), {"notes": 0, "lowest": 127, "highest": 0, "quarters": 0.0})
            row["notes"] += len(pitches)
            row["lowest"], row["highest"] = min(row["lowest"], int(pitches.min())), max(row["highest"], int(pitches.max()))
            row["quarters"] += quarters
    for row in table.values():
        row["per_quarter"] = round(row["notes"] / max(row.pop("quarters"), 1e-9), 3)
    return table


def in_range(pieces: Sequence[tuple[np.ndarray, float]], ranges: dict[int, dict[str, Any]]) -> float | None:
    """Share of the pitched notes of ``pieces`` inside their instrument's range in ``ranges``."""
    notes = np.concatenate([notes for notes, _ in pieces] or [np.zeros((0, PROGRAM + 1))])
    notes = notes[notes[:, PROGRAM] != DRUMS]
    bounds = np.array([[ranges[p]["lowest"], ranges[p]["highest"]] if p in ranges else [1, 0]
                       for p in notes[:, PROGRAM].astype(int)]).reshape(-1, 2)
    inside = (bounds[:, 0] <= notes[:, PITCH]) & (notes[:, PITCH] <= bounds[:, 1])
    return float(inside.mean()) if len(notes) else None


def side_figures(pieces: Sequence[tuple[np.ndarray, float]]) -> dict[str, float | None]:
    """The :data:`MEASURES` of ``pieces``."""
    facts = [piece_facts(notes) for notes, _ in pieces if len(notes)]
    if not facts:
        return {key: None for key in MEASURES}
    all_notes = np.concatenate([notes for notes, _ in pieces])
    return {"instruments": float(np.median([f["instruments"] for f in facts])),
            "drum_share": float((all_notes[:, PROGRAM] == DRUMS).mean()),
            "with_drums": float(np.mean([DRUMS in f["programs"] for f in facts]))}


class Instruments(Metric):
    name = "instruments"
    description = "instruments per piece, drums, each instrument's pitch range and share of notes vs held-out pieces"
    piece_types = ("notes",)
    figures = (
        *(Figure(f"{key}_{side}", f"{label}: {words}", unit, headline=key == "instruments" and side == "generated",
                 format=fmt)
          for key, (label, unit, fmt) in MEASURES.items() for side, words in SIDES),
        Figure("in_range_generated", "share of pitched notes inside their instrument's held-out pitch range",
               better="higher", format="{:.3f}"),
    )

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        notes, _ = continuation(sample.piece)
        facts = piece_facts(notes)
        facts["programs"] = [instrument_name(p) for p in facts["programs"]]
        return facts

    def per_set(self, context: EvaluationContext) -> MetricResult:
        if not context.samples:
            return MetricResult({})
        sides = {"held_out": [(p.data, p.meta["quarters"]) for p in context.held_out],
                 "generated": [continuation(sample.piece) for sample in context.samples]}
        figures: dict[str, Any] = {}
        for side, pieces in sides.items():
            figures.update({f"{key}_{side}": value for key, value in side_figures(pieces).items()})
        tables = {side: per_instrument(pieces) for side, pieces in sides.items()}
        figures["in_range_generated"] = in_range(sides["generated"], tables["held_out"])
        details = {side: {instrument_name(p): row for p, row in sorted(table.items())} for side, table in tables.items()}
        plots = {}
        if any(tables.values()):
            plots["Instruments"] = self.plot(tables, Path(context.out_dir) / "instruments.png").name
        return MetricResult(figures, details={"per_instrument": details}, plots=plots)

    @staticmethod
    def plot(tables: dict[str, dict[int, dict[str, Any]]], path: Path) -> Path:
        """Each instrument's share of the notes, held-out beside generated (the
        :data:`SHOWN` commonest)."""
        totals = {side: max(1, sum(row["notes"] for row in table.values())) for side, table in tables.items()}
        share = {side: {p: row["notes"] / totals[side] for p, row in table.items()} for side, table in tables.items()}
        programs = sorted(set().union(*share.values()), key=lambda p: -sum(s.get(p, 0.0) for s in share.values()))[:SHOWN]
        labels = [instrument_name(p) for p in programs]
        values = {words: [round(share[side].get(p, 0.0), 4) for p in programs] for side, words in SIDES}
        return plot_distributions({"share of notes per instrument": (labels, values)}, path)


@hookimpl
def noizenet_metrics():
    return [Instruments]
