"""Metrics of generated audio: did it collapse, and how far is it from real audio?

A waveform model that collapses settles on a constant (RMS and spread fall to zero)
or on a short loop (a periodic buzz: the waveform statistics look alive, but the
spectrum stops changing from frame to frame). ``collapse`` catches both, the second
by comparing frame-to-frame spectral change with the same measure on real audio.
``audio-quality`` compares spectral flatness and MFCC + chroma statistics (a
Fréchet distance) with held-out audio, beside the same distance for white noise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from noizenet import hookimpl
from noizenet.figures import Figure
from noizenet.interfaces import EvaluationContext, Metric, MetricResult, Representation, Sample
from noizenet.plugins.audio import measures
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
        prime_samples = sample.piece.meta.get("prime_samples", 0)
        tail = continuation(sample)[-1000:]
        return {
            "rms_prime": round(rms(audio[:prime_samples]), 6),
            "rms_last_second": round(rms(continuation(sample)[-rate:]), 6),
            "std_last_1000": round(float(tail.std()) if tail.size else 0.0, 6),
            "distinct_values_last_1000": int(np.unique(tail).size),
            "spectral_change": round(measures.spectral_change(continuation(sample)), 5),
            "seconds": round(len(audio) / rate, 4),
            "continuation_seconds": round(len(continuation(sample)) / rate, 4),
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


class AudioQuality(Metric):
    name = "audio-quality"
    description = "spectral flatness and a Fréchet distance of MFCC + chroma statistics to held-out audio"
    piece_types = ("audio",)
    figures = (
        Figure("flatness_generated", "spectral flatness of the continuations", "", format="{:.4g}"),
        Figure("flatness_real", "spectral flatness of real audio", "", format="{:.4g}"),
        Figure("frechet_generated", "Fréchet distance to held-out audio", "", "lower", headline=True, format="{:,.0f}"),
        Figure("frechet_white_noise", "Fréchet distance of white noise", "", format="{:,.0f}"),
    )

    def per_set(self, context: EvaluationContext) -> MetricResult:
        real = real_audio(context)
        continuations = [continuation(s) for s in context.samples]
        figures: dict[str, Any] = {
            "flatness_generated": finite_mean(flatness(c) for c in continuations),
            "flatness_real": finite_mean(flatness(r) for r in real),
        }
        everything = np.concatenate(continuations) if continuations else np.zeros(0, np.float32)
        if real and len(everything) >= N_FFT * 4:
            rate = context.samples[0].piece.meta["sample_rate"]
            real_level = float(np.mean([rms(r) for r in real]))
            real_features = np.concatenate([features(r, rate) for r in real])
            noise = np.random.default_rng(0).normal(0, real_level or 0.1, len(everything)).astype(np.float32)
            generated = np.concatenate([features(c, rate) for c in continuations if len(c) >= N_FFT])
            figures["frechet_generated"] = frechet(generated, real_features)
            figures["frechet_white_noise"] = frechet(features(noise, rate), real_features)
        return MetricResult(figures)


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
    return [Collapse, AudioQuality, Chords]
