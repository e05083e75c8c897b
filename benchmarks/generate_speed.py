"""Generation throughput of the default ABC model (2x384 LSTM): 64 tunes at once
vs one tune, on the default path (the compiled numba loop where it is faster: here
one row; batched PyTorch steps beyond) and on the eager PyTorch loop alone.
The model is freshly initialised and its stop token disabled, so every row runs the
full length (speed does not depend on the weights). Each figure is the best of
``--repeats`` runs. Also printed: the ceiling that the fp32 matmul speed measured
here puts on 64 tunes' throughput, as a multiple of one tune's.

    .venv/bin/python benchmarks/generate_speed.py [--steps 400] [--repeats 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import matmul_flops, model_macs_per_token, report  # noqa: E402

from noizenet.generator import generate  # noqa: E402
from noizenet.interfaces import OutputSpec  # noqa: E402
from noizenet.plugins.recurrent import RecurrentConfig, RecurrentNet  # noqa: E402

CPU = torch.device("cpu")
VOCABULARY = 96  # about the size of the ABC character set


def tokens_per_s(model: RecurrentNet, spec: OutputSpec, batch: int, steps: int, compiled: bool) -> float:
    primes = [torch.tensor([0])] * batch
    generate(model, spec, primes, [1.0] * batch, max_length=20, seed=0, device=CPU, compiled=compiled)
    tick = time.perf_counter()
    result = generate(model, spec, primes, [1.0] * batch, max_length=steps, seed=0, device=CPU, compiled=compiled)
    return result.new_steps / (time.perf_counter() - tick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="new tokens per tune")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best is kept")
    args = parser.parse_args()
    spec = dataclasses.replace(OutputSpec("categorical", VOCABULARY, start=0, stop=1), stop=None)
    torch.manual_seed(0)
    model = RecurrentNet("lstm", spec, RecurrentConfig()).eval()
    result = {"steps": args.steps}
    for path, compiled in (("default", True), ("eager", False)):
        for batch in (1, 64):
            best = max(tokens_per_s(model, spec, batch, args.steps, compiled) for _ in range(args.repeats))
            result[f"{path}_batch{batch}_tokens_per_s"] = round(best)
        result[f"{path}_batch64_over_batch1"] = round(
            result[f"{path}_batch64_tokens_per_s"] / result[f"{path}_batch1_tokens_per_s"], 1
        )
    flops = 2.0 * model_macs_per_token(RecurrentConfig(), VOCABULARY)
    peak = matmul_flops()
    for key in [k for k in result if k.endswith("tokens_per_s")]:
        result[key.replace("tokens_per_s", "flops_over_fp32_matmul")] = round(result[key] * flops / peak, 3)
    result["fp32_matmul_ceiling_tokens_per_s"] = round(peak / flops)
    result["ceiling_over_default_batch1"] = round(peak / flops / result["default_batch1_tokens_per_s"], 1)
    report("generate_speed", result)
    print(f"64 tunes at once: {result['default_batch64_tokens_per_s']} tokens/s = "
          f"{result['default_batch64_over_batch1']}x one tune on the default path, "
          f"{result['eager_batch64_over_batch1']}x on the eager path (goal >= 20). "
          f"At this machine's fp32 matmul speed the model cannot pass {result['fp32_matmul_ceiling_tokens_per_s']} "
          f"tokens/s = {result['ceiling_over_default_batch1']}x the default path's single tune")


if __name__ == "__main__":
    main()
