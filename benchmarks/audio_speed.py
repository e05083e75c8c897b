"""Audio generation speed as real-time factors (seconds of audio per second of work).

Waveform (mu-law, one model step per sample at 16 kHz) with the default waveform
model (single-layer GRU of 128 units, as the representation suggests) and with the
two-tier ``samplernn`` model (its defaults: a 512-unit frame GRU every 16 samples, a
256-unit sample MLP), at batch 1 and batch 16, through the compiled sampler that
generation uses by default and through the eager PyTorch step loop for comparison; and FFT frames with the default
model (2x384 LSTM) at batch 1, including the inverse FFT and overlap-add, over a
longer stretch (a 4 s FFT clip is 125 frames: a tenth of a second of work, too short
to time on a busy machine). Each figure is the best of ``--repeats`` runs.
Speed does not depend on the weights, so the models are freshly initialised.

    .venv/bin/python benchmarks/audio_speed.py [--seconds 4] [--fft-seconds 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import report

from noizenet.generate.generator import generate
from noizenet.plugin.interfaces import Piece
from noizenet.plugins.audio.fft import FftConfig, FftRepresentation
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet
from noizenet.plugins.models.samplernn import SampleRnnConfig, TwoTier
from noizenet.plugins.audio.waveform import WaveformConfig, WaveformRepresentation

RATE = 16000
CPU = torch.device("cpu")


def best_of(repeats: int, measure: Callable[[], float]) -> float:
    """The highest of ``repeats`` real-time factors: the run least disturbed by other work."""
    return max(measure() for _ in range(repeats))


def waveform_model(name: str, representation: WaveformRepresentation) -> torch.nn.Module:
    """A freshly initialised ``name`` model (gru, lstm: the waveform's suggested size;
    samplernn: its own defaults)."""
    torch.manual_seed(0)
    if name == "samplernn":
        return TwoTier(representation.spec, SampleRnnConfig()).eval()
    return RecurrentNet(name, representation.spec, RecurrentConfig(**representation.suggested["model"])).eval()


def waveform_rtf(cell: str, batch: int, seconds: float, compiled: bool) -> float:
    representation = WaveformRepresentation(WaveformConfig())
    model = waveform_model(cell, representation)
    primes = [representation.opening(None)] * batch
    generate(model, representation.spec, primes, [1.0] * batch, max_length=200, seed=0, device=CPU, compiled=compiled)
    steps = int(seconds * RATE)
    tick = time.perf_counter()
    generate(model, representation.spec, primes, [1.0] * batch, max_length=steps, seed=0, device=CPU, compiled=compiled)
    return batch * seconds / (time.perf_counter() - tick)


def fft_rtf(seconds: float) -> float:
    representation = FftRepresentation(FftConfig())
    noise = np.random.default_rng(0).normal(0, 0.1, RATE).astype(np.float32)
    representation.fit([Piece("noise", noise, {"sample_rate": RATE})])
    torch.manual_seed(0)
    model = RecurrentNet("lstm", representation.spec, RecurrentConfig()).eval()
    prime = representation.opening(Piece("noise", noise, {"sample_rate": RATE}), seconds=0.5)
    steps = int(np.ceil(seconds * representation.steps_per_second()))
    scale = torch.ones(representation.spec.size)
    generate(model, representation.spec, [prime], [1.0], max_length=5, seed=0, device=CPU, calibration=scale)  # warm-up
    tick = time.perf_counter()
    result = generate(model, representation.spec, [prime], [1.0], max_length=steps, seed=0, device=CPU, calibration=scale)
    audio = representation.decode(result.sequences[0], prime_steps=len(prime)).data
    elapsed = time.perf_counter() - tick
    return (len(audio) / RATE - 0.5) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="waveform audio generated per measurement")
    parser.add_argument("--fft-seconds", type=float, default=30.0, help="FFT audio generated per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best is kept")
    args = parser.parse_args()
    result = {"sample_rate": RATE, "seconds": args.seconds, "fft_seconds": args.fft_seconds, "repeats": args.repeats}
    for cell in ("gru", "lstm", "samplernn"):
        for batch in (1, 16):
            rtf = best_of(args.repeats, lambda: waveform_rtf(cell, batch, args.seconds, True))
            result[f"waveform_{cell}_batch{batch}_rtf"] = round(rtf, 2)
        eager = best_of(args.repeats, lambda: waveform_rtf(cell, 1, min(args.seconds, 1.0), False))
        result[f"waveform_{cell}_batch1_eager_rtf"] = round(eager, 3)
        result[f"waveform_{cell}_compiled_over_eager"] = round(result[f"waveform_{cell}_batch1_rtf"] / eager, 1)
    result["fft_lstm_batch1_rtf"] = round(best_of(args.repeats, lambda: fft_rtf(args.fft_seconds)), 1)
    report("audio_speed", result)
    print(f"waveform GRU batch 1: {result['waveform_gru_batch1_rtf']}x real time (goal >= 1); "
          f"SampleRNN batch 1: {result['waveform_samplernn_batch1_rtf']}x (goal >= 1); "
          f"FFT: {result['fft_lstm_batch1_rtf']}x (goal >= 50)")


if __name__ == "__main__":
    main()
