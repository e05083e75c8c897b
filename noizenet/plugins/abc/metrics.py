"""Metrics of generated ABC tunes: validity, music statistics and novelty.

Validity: a tune counts when music21 parses it into at least ``MIN_NOTES`` notes.

Music statistics follow Yang and Lerch, "On the evaluation of generative models in
music" (MGEval): the distributions of pitch class, pitch range, melodic interval
and note length over the generated tunes and over the training tunes, and how much
they overlap (1 = the same distribution) and their KL divergence (0 = the same).
Novelty shows memorisation: the longest stretch of each generated tune's body that
appears verbatim in a training tune, and the share of its 8-grams found there.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from noizenet.api import (
    EvaluationContext, Figure, Metric, MetricResult, Representation, Sample, cached_arrays, deferred, hookimpl,
    plot_distributions,
)
from noizenet.plugins.abc.engrave import engrave
from noizenet.plugins.abc.text import body, parse_abc, sample_midi
from noizenet.plugins.synthesis import quiet_music21, renderer

music21 = deferred("music21")

INTERVALS = np.arange(-12, 13)  # semitones; larger leaps are clipped to an octave
LENGTHS = np.array([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0])  # quarter notes; others go to the nearest
RANGES = np.arange(0, 38, 3)  # bins of a tune's pitch range in semitones
NGRAM = 8
EPSILON = 1e-6
MIN_NOTES = 8  # a generated tune is valid when music21 finds at least this many notes
BARS_KEPT = 0.8  # share of a tune's inner bars that must fill the meter asked for
STATISTICS_TUNES = 100  # training tunes parsed for the music statistics
STATISTICS_VERSION = 1  # of tune_statistics: raise it when it changes, so that no cached statistics are reused
FEATURES = ("pitch_class", "interval", "note_length", "pitch_range")
PITCH_CLASSES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]


def tune_statistics(score: Any) -> dict[str, np.ndarray] | None:
    """Counts per feature of one parsed tune, or None without two notes. Chord
    symbols ("Am", or an empty "" that the model wrote) are not notes."""
    pitches, lengths = [], []
    for element in score.flatten().notes:
        if isinstance(element, music21.harmony.Harmony) or not element.pitches:
            continue
        pitches.append(max(p.midi for p in element.pitches))  # a chord: its top note
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


def distribution(stats: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Each feature's counts (:func:`tune_statistics`) summed over the tunes,
    normalised to sum to 1."""
    if not stats:
        return {}
    return {key: (total := sum(s[key] for s in stats)) / max(total.sum(), EPSILON) for key in stats[0]}


def music_statistics(generated: Sequence[dict[str, np.ndarray]], training: Sequence[dict[str, np.ndarray]]) -> dict[str, Any]:
    """Overlap and KL divergence per feature between generated and training tunes,
    each given as its :func:`tune_statistics`."""
    gen, train = distribution(generated), distribution(training)
    if not gen or not train:
        return {}
    result: dict[str, Any] = {"tunes_generated": len(generated), "tunes_training": len(training)}
    for key in gen:
        p, q = gen[key] + EPSILON, train[key] + EPSILON
        result[f"{key}_overlap"] = round(float(np.minimum(gen[key], train[key]).sum()), 4)
        result[f"{key}_kl"] = round(float(np.sum(p * np.log(p / q))), 4)
    result["histograms"] = {key: {"training": train[key].round(4).tolist(), "generated": gen[key].round(4).tolist()} for key in gen}
    return result


def statistics_of(texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """:func:`tune_statistics` of each tune of ``texts`` that parses and has two notes."""
    scores = (score for score, _ in (parse_abc(text) for text in texts))
    return [stats for stats in (tune_statistics(score) for score in scores if score is not None) if stats is not None]


def reference_statistics(texts: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """:func:`statistics_of` the training tunes ``texts``, kept in the cache folder
    under a hash of the texts (and music21's version): a run's later ``generate`` and
    ``evaluate`` parse no training tune again (music21 takes about 0.1 s a tune)."""
    def stacked() -> dict[str, np.ndarray]:
        stats = statistics_of(texts)
        return {feature: np.stack([s[feature] for s in stats]) for feature in FEATURES} if stats else {}

    key = "\0".join([f"abc-statistics v{STATISTICS_VERSION}", music21.__version__, *texts]).encode()
    arrays = cached_arrays("abc-statistics", key, stacked)
    return [{feature: arrays[feature][i] for feature in FEATURES} for i in range(len(arrays[FEATURES[0]]))] if arrays else []


def plot_statistics(histograms: dict[str, dict[str, list[float]]], path: Path) -> Path:
    labels = {
        "pitch_class": PITCH_CLASSES,
        "interval": [str(i) for i in INTERVALS],
        "note_length": [f"{x:g}" for x in LENGTHS],
        "pitch_range": [f"{r}" for r in RANGES],
    }
    titles = {"pitch_class": "pitch class", "interval": "melodic interval (semitones)",
              "note_length": "note length (quarter notes)", "pitch_range": "pitch range per tune (semitones)"}
    return plot_distributions({titles[key]: (labels[key], values) for key, values in histograms.items()}, path)


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


def training_texts(context: EvaluationContext) -> list[str]:
    """The training tunes as the representation sees them (encoded and decoded)."""
    representation = context.representation
    return [representation.decode(representation.encode(piece)).data for piece in context.training]


class AbcValidity(Metric):
    name = "abc-validity"
    description = "share of generated tunes that music21 parses into 8 or more notes"
    piece_types = ("abc",)
    references = False
    figures = (Figure("abc_valid_rate", "tunes that parse (8+ notes)", "", "higher", headline=True, format="{:.3f}"),)

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        text = sample.piece.data
        score, error = parse_abc(text)
        notes = len(score.flatten().notes) if score is not None else 0
        if score is not None and notes < MIN_NOTES:
            error = f"only {notes} notes (a tune needs {MIN_NOTES})"
        facts = {"valid": error is None, "notes": notes, "chars": len(text), "error": error}
        if score is None or notes:  # abc2midi plays some tunes music21 cannot read
            facts["midi_error"] = sample_midi(text)[1]
        if f"{sample.name}.svg" not in sample.files:
            with tempfile.TemporaryDirectory() as folder:
                facts["sheet_error"] = engrave(text, Path(folder) / "tune.svg") or "not engraved"
        return facts

    def per_set(self, context: EvaluationContext) -> MetricResult:
        valid = [s.facts["valid"] for s in context.samples if "valid" in s.facts]
        if not valid:
            return MetricResult({"abc_valid_rate": None})
        by_temperature: dict[str, list[bool]] = {}
        for sample in context.samples:
            by_temperature.setdefault(f"{sample.temperature:g}", []).append(sample.facts["valid"])
        notes = []
        if not all(valid):
            notes.append("Tunes that failed a check keep their .abc file; the reasons are in the sample table.")
        if any(s.facts.get("midi_error", "") is None for s in context.samples):
            notes.append(f"WAV files rendered from the MIDI with: {renderer()}.")
        return MetricResult(
            {"abc_valid_rate": sum(valid) / len(valid)},
            details={"valid_rate_by_temperature": {t: sum(v) / len(v) for t, v in by_temperature.items()}},
            notes=notes,
        )


class MusicStatistics(Metric):
    name = "music-statistics"
    description = "pitch-class, interval, note-length and range distributions vs 100 training tunes (MGEval)"
    piece_types = ("abc",)
    figures = tuple(
        Figure(f"{feature}_{measure}", f"{feature.replace('_', ' ')} {label} vs training", "", better, format="{:.4f}")
        for feature in FEATURES
        for measure, label, better in (("overlap", "overlap", "higher"), ("kl", "KL divergence", "lower"))
    )

    def per_set(self, context: EvaluationContext) -> MetricResult:
        texts = training_texts(context)
        sample = np.random.default_rng(0).permutation(len(texts))[:STATISTICS_TUNES]
        reference = reference_statistics([texts[int(i)] for i in sample])
        statistics = music_statistics(statistics_of([s.piece.data for s in context.samples]), reference)
        if not statistics:
            return MetricResult({})
        histograms = statistics.pop("histograms")
        path = plot_statistics(histograms, Path(context.out_dir) / "music_statistics.png")
        figures = {f.key: statistics.pop(f.key) for f in self.figures}
        return MetricResult(figures, details={**statistics, "histograms": histograms},
                            plots={"Music statistics": path.name})


class Novelty(Metric):
    name = "novelty"
    description = "longest stretch copied from a training tune, and the share of 8-grams found in them"
    piece_types = ("abc",)
    figures = (
        Figure("mean_longest_copied", "longest stretch copied from a training tune, mean", "chars", "lower", format="{:.1f}"),
        Figure("max_longest_copied", "longest stretch copied from a training tune, max", "chars", "lower", format="{}"),
        Figure("share_8grams_in_training", "share of 8-grams found in training tunes", "", "lower", format="{:.4f}"),
    )

    def per_set(self, context: EvaluationContext) -> MetricResult:
        if not context.samples:
            return MetricResult({})
        result = novelty([s.piece.data for s in context.samples], training_texts(context))
        per_tune = result.pop("per_tune")
        return MetricResult(result, details={"per_tune": per_tune})


def asked_for(prime: str) -> dict[str, str]:
    """The meter and key a prime's header states (``M:``, ``K:``), those it has."""
    fields = {"meter": re.search(r"(?m)^M:[ \t]*(\S.*?)\s*$", prime), "key": re.search(r"(?m)^K:[ \t]*(\S.*?)\s*$", prime)}
    return {name: found.group(1) for name, found in fields.items() if found}


def keeps_meter(score: Any, meter: str) -> bool:
    """The tune's bars (all but its first and last, which may be partial) fill
    ``meter`` in at least ``BARS_KEPT`` of cases."""
    with quiet_music21():
        bar = music21.meter.TimeSignature({"C": "4/4", "C|": "2/2"}.get(meter, meter)).barDuration.quarterLength
        measures = list(score.recurse().getElementsByClass(music21.stream.Measure))[1:-1]
    return bool(measures) and sum(m.duration.quarterLength == bar for m in measures) >= BARS_KEPT * len(measures)


def keeps_key(score: Any) -> bool:
    """music21's key analysis of the tune's notes has the key signature the tune states."""
    with quiet_music21():
        stated = next(iter(score.recurse().getElementsByClass(music21.key.KeySignature)), None)
        return stated is not None and score.analyze("key").sharps == stated.sharps


class HeaderKept(Metric):
    name = "header-kept"
    description = "samples whose music keeps the meter and key their prime states (as --meter and --key ask)"
    piece_types = ("abc",)
    references = False
    figures = (
        Figure("meter_kept_rate", "parsed tunes whose bars fill the meter their prime states", "", "higher", headline=True,
               format="{:.2f}"),
        Figure("key_kept_rate", "parsed tunes whose notes fit the key their prime states (music21's key analysis)", "", "higher",
               headline=True, format="{:.2f}"),
    )

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        asked = asked_for(representation.decode(sample.encoded[: sample.prime_steps]).data)
        if not asked:
            return {}
        score, _ = parse_abc(sample.piece.data)
        if score is not None and len(score.flatten().notes) < MIN_NOTES:
            score = None  # judged among the tunes that parse, as abc_valid_rate counts them
        facts: dict[str, Any] = {f"asked_{name}": value for name, value in asked.items()}
        if "meter" in asked:
            facts["meter_kept"] = keeps_meter(score, asked["meter"]) if score is not None else None
        if "key" in asked:
            facts["key_kept"] = keeps_key(score) if score is not None else None
        return facts

    def per_set(self, context: EvaluationContext) -> MetricResult:
        """Shares among the tunes that parse (8+ notes) and whose prime states a meter (a key)."""
        figures = {}
        for name in ("meter", "key"):
            verdicts = [s.facts[f"{name}_kept"] for s in context.samples if s.facts.get(f"{name}_kept") is not None]
            figures[f"{name}_kept_rate"] = sum(verdicts) / len(verdicts) if verdicts else None
        return MetricResult(figures)


@hookimpl
def noizenet_metrics():
    return [AbcValidity, HeaderKept, MusicStatistics, Novelty]
