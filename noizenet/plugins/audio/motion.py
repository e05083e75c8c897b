"""Metric ``motion``: does generated audio move the way the music moves?

A pitch tracker is no judge of an orchestra (it hears one line), so these measures
suit any recording: onsets per second and tempo (librosa's onset detector and beat
tracker), how much the loudness moves (the spread of 64 ms frame levels, dB), and
the longest stretch in which the spectral envelope does not change (a note or
code held, or silence; ``measures.longest_held``). Each is measured on the
continuations, on held-out audio cut into clips as long as the continuations (a
longest stretch depends on how long one looks) and on white noise of that length.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from noizenet.api import EvaluationContext, Figure, Metric, MetricResult, hookimpl
from noizenet.plugins.audio import measures
from noizenet.plugins.audio.metrics import continuation, real_audio, white_noise

REAL_CLIPS = 16  # held-out clips, each as long as the mean continuation, cut from the held-out pieces in turn
MEASURES: tuple[tuple[str, str, str, str, Callable[[np.ndarray, int], float | None]], ...] = (
    ("onsets_per_s", "onsets (librosa)", "per s", "{:.2f}", measures.onsets_per_second),
    ("tempo_bpm", "tempo (librosa's beat tracker)", "bpm", "{:.0f}", measures.tempo),
    ("loudness_spread_db", "spread of the 64 ms loudness", "dB", "{:.2f}", lambda a, _: measures.loudness_spread(a)),
    ("longest_held_s", "longest stretch of unchanged spectrum", "s", "{:.2f}", measures.longest_held),
)
GROUPS = (("generated", "continuations"), ("real", "held-out audio"), ("white_noise", "white noise"))


def _figures() -> tuple[Figure, ...]:
    return tuple(
        Figure(f"{key}_{group}", f"{label}: {named}", unit, headline=group == "generated" and key != "tempo_bpm",
               format=fmt)
        for key, label, unit, fmt, _ in MEASURES for group, named in GROUPS
    )


def real_clips(real: list[np.ndarray], length: int) -> list[np.ndarray]:
    """Up to ``REAL_CLIPS`` clips of ``length`` samples, taken from each held-out piece in
    turn (its first, then its second, ...), so that every piece is heard."""
    chunks = [[r[i : i + length] for i in range(0, len(r) - length + 1, length)] for r in real]
    clips = []
    for k in range(max((len(c) for c in chunks), default=0)):
        clips += [c[k] for c in chunks if k < len(c)]
    return clips[:REAL_CLIPS]


class Motion(Metric):
    name = "motion"
    description = "onsets, tempo, loudness spread and the longest held stretch: continuations, real audio, noise"
    piece_types = ("audio",)
    figures = _figures()

    def per_set(self, context: EvaluationContext) -> MetricResult:
        measured = [s for s in context.samples if len(continuation(s)) >= measures.N_FFT]
        continuations = [continuation(s) for s in measured]
        if not continuations:
            return MetricResult({})
        rate = context.samples[0].piece.meta["sample_rate"]
        length = int(np.mean([len(c) for c in continuations]))
        real = real_audio(context)
        noise = white_noise(real, length * len(continuations))
        clips = {"generated": continuations, "real": real_clips(real, length),
                 "white_noise": [noise[i * length : (i + 1) * length] for i in range(len(continuations))]}
        figures: dict[str, Any] = {}
        per_sample: list[dict[str, Any]] = [{"name": s.name} for s in measured]
        for key, _, _, _, measure in MEASURES:
            for group, audio in clips.items():
                values = [measure(clip, rate) for clip in audio]
                figures[f"{key}_{group}"] = measures.finite_mean(v for v in values if v is not None)
                if group == "generated":
                    for row, value in zip(per_sample, values):
                        row[key] = None if value is None else round(value, 3)
        return MetricResult(figures, details={"per_sample": per_sample, "real_clips": len(clips["real"])})


@hookimpl
def noizenet_metrics():
    return [Motion]
