"""Generation throughput of the default ABC model (2x384 LSTM): 64 tunes at once
vs one tune, on the default path (the compiled numba loop where it is faster: here
one row; batched PyTorch steps beyond) and on the eager PyTorch loop alone.
The model is freshly initialised and its stop token disabled, so every row runs the
full length (speed does not depend on the weights). Each figure is the best of
``--repeats`` runs. Also printed: the ceiling that the fp32 matmul speed measured
here puts on 64 tunes' throughput, as a multiple of one tune's, and a probe of what
bf16 would give: a hand-written LSTM step loop over the same weights cast to bf16
(fp32 state), which noizenet does not use because it changes the samples.

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

from noizenet.generate.generator import generate  # noqa: E402
from noizenet.plugin.interfaces import OutputSpec  # noqa: E402
from noizenet.plugin.kinds import Categorical  # noqa: E402
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet  # noqa: E402

CPU = torch.device("cpu")
VOCABULARY = 96  # about the size of the ABC character set


def tokens_per_s(model: RecurrentNet, spec: OutputSpec, batch: int, steps: int, compiled: bool) -> float:
    primes = [torch.tensor([0])] * batch
    generate(model, spec, primes, [1.0] * batch, max_length=20, seed=0, device=CPU, compiled=compiled)
    tick = time.perf_counter()
    result = generate(model, spec, primes, [1.0] * batch, max_length=steps, seed=0, device=CPU, compiled=compiled)
    return result.new_steps / (time.perf_counter() - tick)


def bf16_probe_tokens_per_s(model: RecurrentNet, batch: int, steps: int) -> float:
    """Tokens/s of an LSTM step loop with bf16 matrix products (input and recurrent
    weights side by side, ``(in + H, 4H)`` per layer) and fp32 state and gates."""
    rnn, layers = model.rnn, model.rnn.num_layers
    weights = [torch.cat([getattr(rnn, f"weight_ih_l{k}"), getattr(rnn, f"weight_hh_l{k}")], 1).T.bfloat16() for k in range(layers)]
    biases = [(getattr(rnn, f"bias_ih_l{k}") + getattr(rnn, f"bias_hh_l{k}")).detach() for k in range(layers)]
    head_w, head_b = model.head.weight.T.bfloat16(), model.head.bias.detach()
    h = [torch.zeros(batch, rnn.hidden_size) for _ in range(layers)]
    c = [torch.zeros(batch, rnn.hidden_size) for _ in range(layers)]
    tokens, generator = torch.zeros(batch, dtype=torch.long), torch.Generator().manual_seed(0)
    with torch.inference_mode():
        tick = time.perf_counter()
        for _ in range(steps):
            x = model.input(tokens)
            for k in range(layers):
                gates = (torch.cat([x, h[k]], 1).bfloat16() @ weights[k]).float() + biases[k]  # (B, 4H)
                i, f, g, o = gates.chunk(4, 1)
                c[k] = torch.sigmoid(f) * c[k] + torch.sigmoid(i) * torch.tanh(g)
                h[k] = x = torch.sigmoid(o) * torch.tanh(c[k])
            logits = (x.bfloat16() @ head_w).float() + head_b
            tokens = torch.multinomial(torch.softmax(logits, -1), 1, generator=generator).squeeze(1)
        return batch * steps / (time.perf_counter() - tick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="new tokens per tune")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure; the best is kept")
    args = parser.parse_args()
    spec = dataclasses.replace(OutputSpec(Categorical(), VOCABULARY, start=0, stop=1), stop=None)
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
    best = max(bf16_probe_tokens_per_s(model, 64, args.steps) for _ in range(args.repeats))
    result["bf16_probe_batch64_tokens_per_s"] = round(best)
    result["bf16_probe_batch64_over_default_batch1"] = round(best / result["default_batch1_tokens_per_s"], 1)
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
          f"tokens/s = {result['ceiling_over_default_batch1']}x the default path's single tune; "
          f"a bf16 step loop reaches {result['bf16_probe_batch64_over_default_batch1']}x")


if __name__ == "__main__":
    main()
