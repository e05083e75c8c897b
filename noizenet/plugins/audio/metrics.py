"""Metrics of generated audio: did it collapse, and how far is it from real audio?

A waveform model that collapses settles on a constant (RMS and spread fall to zero)
or on a short loop (a periodic buzz: the waveform statistics look alive, but the
spectrum stops changing from frame to frame). ``collapse`` catches both, the second
by comparing frame-to-frame spectral change with the same measure on real audio.
``audio-quality`` compares MFCC + chroma statistics (a Fréchet distance) with
held-out audio, beside the same distance for white noise and between two halves of
the held-out audio, so that a distance reads as "k times as far from real as real
is from itself".
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from noizenet.api import EvaluationContext, Figure, Metric, MetricResult, Representation, Sample, correlation, hookimpl
from noizenet.plugins.audio import keys, measures
from noizenet.plugins.audio.measures import HOP, N_FFT, SILENT, features, finite_mean, flatness, frechet, rms

RMS_RATIO_MIN = 0.1  # last second vs prime (or vs real audio when the prime is silent)
CHANGE_RATIO_MIN = 0.1  # frame-to-frame spectral change vs real audio


def continuation(sample: Sample) -> np.ndarray:
    """The generated part of an audio sample, after its prime."""
    return sample.piece.data[sample.piece.meta.get("prime_samples", 0) :]


def real_audio(context: EvaluationContext) -> list[np.ndarray]:
    """Held-out clips long enough to measure (one STFT frame and a hop)."""
    clips = [np.asarray(piece.data, dtype=np.float32) for piece in context.held_out]
    return [clip for clip in clips if len(clip) >= N_FFT + HOP]


class Collapse(Metric):
    name = "collapse"
    description = "continuations that fade to a constant or freeze into a loop"
    piece_types = ("audio",)
    figures = (
        Figure("collapsed_samples", "collapsed continuations", "samples", "lower", headline=True, format="{}"),
        Figure("samples_checked", "continuations checked", "samples", format="{}"),
        Figure("primes_differ", "continuations of different primes differ", format="{}"),
        Figure("real_spectral_change", "spectral change of real audio", "", format="{:.4g}"),
    )

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        audio, rate = sample.piece.data, sample.piece.meta["sample_rate"]
        generated = continuation(sample)
        tail = generated[-1000:]
        return {
            "rms_prime": round(rms(audio[: len(audio) - len(generated)]), 6),
            "rms_last_second": round(rms(generated[-rate:]), 6),
            "std_last_1000": round(float(tail.std()) if tail.size else 0.0, 6),
            "distinct_values_last_1000": int(np.unique(tail).size),
            "spectral_change": round(measures.spectral_change(generated), 5),
            "seconds": round(len(audio) / rate, 4),
            "continuation_seconds": round(len(generated) / rate, 4),
        }

    def per_set(self, context: EvaluationContext) -> MetricResult:
        real = real_audio(context)
        real_level = float(np.mean([rms(r) for r in real])) if real else 0.0
        real_change = float(np.mean([measures.spectral_change(r) for r in real])) if real else 0.0
        verdicts = []
        for sample in context.samples:
            audio, rate = sample.piece.data, sample.piece.meta["sample_rate"]
            prime_level = rms(audio[: sample.piece.meta.get("prime_samples", 0)])
            base = prime_level if prime_level > SILENT else real_level
            rms_ratio = rms(continuation(sample)[-rate:]) / base if base > 0 else 0.0
            change_ratio = measures.spectral_change(continuation(sample)) / real_change if real_change > 0 else 0.0
            verdicts.append({
                "name": sample.name,
                "prime": sample.prime,
                "rms_ratio": round(rms_ratio, 4),
                "spectral_change_ratio": round(change_ratio, 4),
                "collapsed": bool(rms_ratio < RMS_RATIO_MIN or change_ratio < CHANGE_RATIO_MIN),
            })
        figures = {
            "collapsed_samples": sum(v["collapsed"] for v in verdicts),
            "samples_checked": len(verdicts),
            "primes_differ": measures.primes_differ([(s.prime, continuation(s)) for s in context.samples]),
            "real_spectral_change": round(real_change, 5),
        }
        return MetricResult(figures, details={"per_sample": verdicts})


def white_noise(real: list[np.ndarray], samples: int) -> np.ndarray:
    """``samples`` of white noise at the mean level of the real clips, seeded."""
    level = float(np.mean([rms(r) for r in real])) if real else 0.1
    return np.random.default_rng(0).normal(0, level or 0.1, samples).astype(np.float32)


class AudioQuality(Metric):
    name = "audio-quality"
    description = "a Fréchet distance of MFCC + chroma statistics to held-out audio, beside white noise's"
    piece_types = ("audio",)
    figures = (
        Figure("frechet_generated", "Fréchet distance to held-out audio", "", "lower", headline=True, format="{:,.0f}"),
        Figure("frechet_white_noise", "Fréchet distance of white noise", "", format="{:,.0f}"),
        Figure("frechet_real_halves", "Fréchet distance between two halves of held-out audio (the reference)", "",
               format="{:,.0f}"),
        Figure("frechet_ratio", "Fréchet distance to held-out audio, in multiples of the reference", "x", "lower",
               headline=True, format="{:.2f}"),
    )

    def per_set(self, context: EvaluationContext) -> MetricResult:
        real = real_audio(context)
        continuations = [continuation(s) for s in context.samples]
        everything = sum(len(c) for c in continuations)
        if not real or everything < N_FFT * 4:
            return MetricResult({})
        rate = context.samples[0].piece.meta["sample_rate"]
        per_clip = [features(r, rate) for r in real]
        real_features = np.concatenate(per_clip)
        generated = np.concatenate([features(c, rate) for c in continuations if len(c) >= N_FFT])
        distance = frechet(generated, real_features)
        reference = real_halves_frechet(per_clip, len(generated))
        return MetricResult({
            "frechet_generated": distance,
            "frechet_white_noise": frechet(features(white_noise(real, everything), rate), real_features),
            "frechet_real_halves": reference,
            "frechet_ratio": distance / reference if reference else None,
        })


def real_halves_frechet(per_clip: list[np.ndarray], rows: int) -> float | None:
    """The Fréchet distance between two disjoint halves of held-out audio: clips
    alternately (one clip: its two halves), the first half thinned to ``rows`` feature
    rows spread evenly (as many as the continuations give, since a distance from
    fewer rows reads larger). None when the held-out audio is too short."""
    if len(per_clip) == 1:
        middle = len(per_clip[0]) // 2
        per_clip = [per_clip[0][:middle], per_clip[0][middle:]]
    first, second = np.concatenate(per_clip[::2]), np.concatenate(per_clip[1::2])
    if min(len(first), len(second)) < 2 * first.shape[1]:
        return None
    first = first[np.unique(np.linspace(0, len(first) - 1, min(rows, len(first))).round().astype(int))]
    return frechet(first, second)


TONAL_REAL_SECONDS = 10.0  # of each held-out clip, at most TONAL_REAL_CLIPS of them (pyin is slow)
KEY_WINDOWS = ((0.0, 1.0), (1.0, 2.0), (2.0, 4.0))  # seconds after the prime whose key is compared with the prime's
TONAL_REAL_CLIPS = 8
TONAL_MEASURES = (  # (figure key, label, unit, format)
    ("voiced_share", "frames with a pitch (pyin, 65-2100 Hz)", "", "{:.3f}"),
    ("chroma_entropy", "chroma entropy per frame", "bits", "{:.3f}"),
    ("pitch_changes_per_s", "pitch changes of a semitone or more", "per s", "{:.2f}"),
    ("flatness", "spectral flatness", "", "{:.4g}"),
)


def _tonal_figures() -> tuple[Figure, ...]:
    figures = []
    for key, label, unit, fmt in TONAL_MEASURES:
        figures += [
            Figure(f"{key}_generated", f"{label}: continuations", unit, headline=key != "flatness", format=fmt),
            Figure(f"{key}_real", f"{label}: held-out audio", unit, format=fmt),
            Figure(f"{key}_white_noise", f"{label}: white noise", unit, format=fmt),
        ]
    return (
        *figures,
        Figure("key_correlation", "song-primed continuations keep the prime's pitch classes (correlation of "
                                  "histograms)", "", "higher", headline=True, format="{:.3f}"),
        Figure("key_correlation_real", "the same between the opening of held-out audio and what follows it",
               "", format="{:.3f}"),
        Figure("key_correlation_other", "the same between the opening of one held-out clip and what follows "
                                        "another (chance)", "", format="{:.3f}"),
        *(figure for lo, hi in KEY_WINDOWS for figure in (
            Figure(f"key_correlation_{lo:g}_{hi:g}s", f"key kept {lo:g}-{hi:g} s after a song prime (correlation "
                                                      "of pitch-class histograms)", "", "higher", format="{:.3f}"),
            Figure(f"key_correlation_real_{lo:g}_{hi:g}s", f"the same {lo:g}-{hi:g} s into held-out audio's "
                                                           "sequel to its opening", "", format="{:.3f}"))),
        Figure("key_mirex", "Krumhansl-Schmuckler key of each song-primed continuation against its prime's "
                            "(MIREX score: 1 same, 0.5 a fifth, 0.3 relative, 0.2 parallel)", "", "higher",
               headline=True, format="{:.3f}"),
        Figure("key_agreement", "share of song-primed continuations in their prime's key", "", "higher",
               format="{:.3f}"),
        Figure("key_mirex_real", "the same between held-out audio's opening and its sequel", "", format="{:.3f}"),
        Figure("key_mirex_other", "the same between one held-out clip's opening and another's sequel (chance)",
               "", format="{:.3f}"),
        Figure("key_crossed_fed", "continuations of prime 'crossed' keep the pitch classes they were fed (another "
                                  "piece's condition; correlation)", "", "higher", format="{:.3f}"),
        Figure("key_crossed_prime", "... keep their own prime's instead (correlation; lower than fed: the model "
                                    "follows its condition)", "", format="{:.3f}"),
        Figure("key_crossed_pair", "... the fed and the prime's condition (correlation: how alike the pairs were)",
               "", format="{:.3f}"),
        Figure("key_crossed_follows", "share of 'crossed' continuations nearer the fed pitch classes than their "
                                      "prime's", "", "higher", headline=True, format="{:.3f}"),
        Figure("key_crossed_mirex_fed", "Krumhansl-Schmuckler key of 'crossed' continuations against the fed one "
                                        "(MIREX score)", "", "higher", format="{:.3f}"),
        Figure("key_crossed_mirex_prime", "... against their prime's (MIREX score)", "", format="{:.3f}"),
        Figure("key_asked_mirex", "continuations asked for a key (--key) in it (MIREX score)", "", "higher",
               headline=True, format="{:.3f}"),
        Figure("key_asked_mirex_chance", "held-out audio's keys against the asked key (chance)", "", format="{:.3f}"),
    )


class TonalityMetric(Metric):
    name = "tonality"
    description = "voiced share, chroma entropy, pitch changes and flatness: continuations, real audio, white noise"
    piece_types = ("audio",)
    figures = _tonal_figures()

    def per_set(self, context: EvaluationContext) -> MetricResult:
        if not context.samples:
            return MetricResult({})
        rate = context.samples[0].piece.meta["sample_rate"]
        real = [r[: int(TONAL_REAL_SECONDS * rate)] for r in real_audio(context)[:TONAL_REAL_CLIPS]]
        continuations = [continuation(s) for s in context.samples]
        clips = {
            "generated": continuations,
            "real": real,
            "white_noise": [white_noise(real, sum(len(c) for c in continuations))],
        }
        figures: dict[str, Any] = {}
        per_sample = []
        for group, audio in clips.items():
            measure = measures.recurring_tonality if group == "real" else measures.tonality
            tonal = [measure(clip, rate) for clip in audio if len(clip)]
            seconds = sum(t.seconds for t in tonal)
            figures[f"voiced_share_{group}"] = _weighted(tonal, lambda t: t.voiced_share)
            figures[f"chroma_entropy_{group}"] = finite_mean(t.chroma_entropy for t in tonal if t.chroma_entropy is not None)
            figures[f"pitch_changes_per_s_{group}"] = sum(t.pitch_changes for t in tonal) / seconds if seconds else None
            figures[f"flatness_{group}"] = finite_mean(flatness(clip) for clip in audio)
            if group == "generated":
                per_sample = [{"name": s.name, "voiced_share": round(t.voiced_share, 3),
                               "pitch_changes_per_s": round(t.pitch_changes / t.seconds, 2),
                               "chroma_entropy": t.chroma_entropy} for s, t in zip(context.samples, tonal)]
        kept, kept_rows = _key_kept([s for s in context.samples if s.prime == "song"], real, rate)
        asked, asked_rows = _key_asked([s for s in context.samples if "key" in s.asked], real, rate)
        crossed, crossed_rows = _key_crossed(
            [s for s in context.samples if s.prime == "crossed" and s.condition and not s.asked],
            context.representation, rate)
        figures.update({**kept, **asked, **crossed})
        details = {"per_sample": per_sample, "key_kept": kept_rows, "key_asked": asked_rows,
                   "key_crossed": crossed_rows}
        return MetricResult(figures, details={k: v for k, v in details.items() if v})


def _key_kept(song: list[Sample], real: list[np.ndarray], rate: int) -> tuple[dict[str, float | None], list[dict]]:
    """How song-primed continuations keep their prime's key, over the whole
    continuation and in the ``KEY_WINDOWS`` after the prime; beside held-out audio cut
    the same way (its opening against its own sequel: real; against another clip's:
    chance). Also each continuation's correlation and MIREX score (None where the
    clip has no pitch), for intervals over samples."""
    if not song:
        return {}, []
    cut, length = song[0].piece.meta.get("prime_samples", 0), len(continuation(song[0]))
    primes = [_pitch_classes(s.piece.data[: s.piece.meta.get("prime_samples", 0)], rate) for s in song]
    sequels = [continuation(s) for s in song]
    openings = [_pitch_classes(r[:cut], rate) for r in real]
    follows = [r[cut : cut + length] for r in real]
    sequel_profiles = [_pitch_classes(c, rate) for c in sequels]  # each clip's chroma once
    follow_profiles = [_pitch_classes(f, rate) for f in follows]
    correlations = list(map(_keeps_key, primes, sequel_profiles))
    figures: dict[str, float | None] = {
        "key_correlation": finite_mean(correlations),
        "key_correlation_real": finite_mean(map(_keeps_key, openings, follow_profiles)),
        "key_correlation_other": finite_mean(  # each opening beside the other clips' sequels
            _keeps_key(openings[i], follow_profiles[j]) for i, j in itertools.permutations(range(len(real)), 2)),
    }
    for lo, hi in KEY_WINDOWS:
        window = slice(int(lo * rate), int(hi * rate))
        figures[f"key_correlation_{lo:g}_{hi:g}s"] = finite_mean(
            _keeps_key(p, _pitch_classes(c[window], rate)) for p, c in zip(primes, sequels))
        figures[f"key_correlation_real_{lo:g}_{hi:g}s"] = finite_mean(
            _keeps_key(o, _pitch_classes(f[window], rate)) for o, f in zip(openings, follows))
    prime_keys = [_key(p) for p in primes]
    sequel_keys = [_key(c) for c in sequel_profiles]
    opening_keys, follow_keys = [_key(o) for o in openings], [_key(f) for f in follow_profiles]
    figures["key_mirex"] = _mean_score(zip(sequel_keys, prime_keys))
    figures["key_agreement"] = finite_mean(float(a == b) for a, b in zip(sequel_keys, prime_keys) if a and b)
    figures["key_mirex_real"] = _mean_score(zip(follow_keys, opening_keys))
    figures["key_mirex_other"] = _mean_score(
        (follow_keys[j], opening_keys[i]) for i, j in itertools.permutations(range(len(real)), 2))
    rows = [{"name": s.name, "key_correlation": None if np.isnan(c) else round(c, 4), "key_mirex": _score(found, wanted)}
            for s, c, found, wanted in zip(song, correlations, sequel_keys, prime_keys)]
    return figures, rows


def _key_asked(asked: list[Sample], real: list[np.ndarray], rate: int) -> tuple[dict[str, float | None], list[dict]]:
    """How continuations asked for a key (``--key``) land in it, beside held-out audio's
    keys against the same asked keys (chance); and each continuation's key and score."""
    if not asked:
        return {}, []
    wanted = [keys.parse_key(s.asked["key"]) for s in asked]
    found = [audio_key(continuation(s), rate) for s in asked]
    real_keys = [audio_key(r, rate) for r in real]
    figures = {"key_asked_mirex": _mean_score(zip(found, wanted)),
               "key_asked_mirex_chance": _mean_score((k, w) for k in real_keys for w in set(wanted))}
    rows = [{"name": s.name, "asked": s.asked["key"], "found": keys.key_name(k) if k else None, "key_mirex": _score(k, w)}
            for s, k, w in zip(asked, found, wanted)]
    return figures, rows


def _key_crossed(crossed: list[Sample], representation: Representation,
                 rate: int) -> tuple[dict[str, float | None], list[dict]]:
    """The control of conditioning: continuations fed another piece's condition
    (prime ``crossed``) against that condition and against their own prime's (both
    the representation's :meth:`~Representation.condition`, so neither is favoured
    by how it was measured), as correlation with the pitch classes heard and as
    MIREX-scored Krumhansl-Schmuckler keys; and each continuation's figures."""
    if not crossed:
        return {}, []
    fed = [np.asarray(s.condition, np.float64) for s in crossed]
    own = [np.asarray(representation.condition(s.encoded[: s.prime_steps]), np.float64) for s in crossed]
    heard = [_pitch_classes(continuation(s), rate) for s in crossed]
    to_fed, to_own = list(map(_keeps_key, fed, heard)), list(map(_keeps_key, own, heard))
    found = [_key(h) for h in heard]
    figures = {
        "key_crossed_fed": finite_mean(to_fed),
        "key_crossed_prime": finite_mean(to_own),
        "key_crossed_pair": finite_mean(map(_keeps_key, fed, own)),
        "key_crossed_follows": finite_mean(float(f > o) for f, o in zip(to_fed, to_own) if np.isfinite(f + o)),
        "key_crossed_mirex_fed": _mean_score(zip(found, map(_key, fed))),
        "key_crossed_mirex_prime": _mean_score(zip(found, map(_key, own))),
    }
    rows = [{"name": s.name, "fed": None if np.isnan(f) else round(f, 4), "prime": None if np.isnan(o) else round(o, 4),
             "follows": float(f > o) if np.isfinite(f + o) else None} for s, f, o in zip(crossed, to_fed, to_own)]
    return figures, rows


def _key(profile: np.ndarray | None) -> keys.Key | None:
    return None if profile is None else keys.detect_key(profile)


def audio_key(audio: np.ndarray, rate: int) -> keys.Key | None:
    """The Krumhansl-Schmuckler key of ``audio``'s summed chroma, as the ``tonality``
    metric hears it; None when it is too short or has no pitch."""
    return _key(_pitch_classes(audio, rate))


def _mean_score(pairs: Any) -> float | None:
    """Mean MIREX score of (found, wanted) key pairs where both were found."""
    return finite_mean(keys.mirex_score(found, wanted) for found, wanted in pairs if found and wanted)


def _score(found: keys.Key | None, wanted: keys.Key | None) -> float | None:
    return keys.mirex_score(found, wanted) if found and wanted else None


def _pitch_classes(audio: np.ndarray, rate: int) -> np.ndarray | None:
    """``(12,)`` chroma summed over ``audio``; None when it is shorter than a pitch frame."""
    return measures.chroma(audio, rate).sum(axis=1) if len(audio) >= measures.PITCH_FRAME else None


def _keeps_key(prime: np.ndarray | None, after: np.ndarray | None) -> float:
    """Correlation of the pitch-class histograms of a prime and what follows it (NaN
    when either is too short or has no pitch)."""
    value = None if prime is None or after is None else correlation(prime, after)
    return float("nan") if value is None else value


def _weighted(tonal: list[measures.Tonality], value: Any) -> float | None:
    """The mean of ``value`` over clips, weighted by their duration."""
    seconds = sum(t.seconds for t in tonal)
    return sum(value(t) * t.seconds for t in tonal) / seconds if seconds else None


class Chords(Metric):
    name = "chords"
    description = "chords per chroma sample, and how many differ"
    figures = (Figure("distinct_chords", "distinct chords per sample, mean", "", format="{:.2f}"),)

    def applies_to(self, representation: Representation) -> bool:
        return representation.name == "chroma"

    def per_sample(self, sample: Sample, representation: Representation) -> dict[str, Any]:
        chords = [tuple(c) for c, _ in sample.piece.meta.get("chords", []) if c]
        return {"chords": len(chords), "distinct_chords": len(set(chords))}

    def per_set(self, context: EvaluationContext) -> MetricResult:
        counts = [s.facts["distinct_chords"] for s in context.samples]
        return MetricResult({"distinct_chords": float(np.mean(counts)) if counts else None})


@hookimpl
def noizenet_metrics():
    return [Collapse, AudioQuality, TonalityMetric, Chords]
