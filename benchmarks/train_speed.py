"""Training throughput of the default ABC model (2x384 LSTM, batch 32 x 64 steps).

Three measurements in one run, on the same windows of real tunes:
  1. the machine's matmul FLOP/s (2048x2048 fp32, and bf16 where autocast uses it);
  2. a bare fused loop: forward, loss, backward, clipping, Adam, state carried;
  3. noizenet's Trainer (data pipeline, schedule, clipping, progress, logging).
Prints tokens/s, model FLOP/s / fp32 matmul FLOP/s, and trainer / bare loop.
Model FLOPs per token: 6 x (4H(input + H) per layer + H x vocabulary), i.e. the
forward multiply-adds x 2, times 3 for forward + backward.

    .venv/bin/python benchmarks/train_speed.py [--tunes 400] [--precision auto]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import matmul_flops, model_macs_per_token, report  # noqa: E402

from noizenet.config import TrainConfig  # noqa: E402
from noizenet.datasets.abc_files import Music21Abc, Music21AbcConfig  # noqa: E402
from noizenet.train.device import autocast, autocast_dtype  # noqa: E402
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation  # noqa: E402
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet  # noqa: E402
from noizenet.runs.rundir import RunDir  # noqa: E402
from noizenet.train.trainer import Trainer  # noqa: E402
from noizenet.train.windows import make_windows  # noqa: E402

CPU = torch.device("cpu")


def bare_loop(model: RecurrentNet, windows: list, spec, dtype) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=4e-3)
    state, tokens = None, 0
    tick = time.perf_counter()
    for window in windows:
        if state is not None and bool(window.fresh.any()):
            state = model.reset_state(state, window.fresh)
        with autocast(CPU, dtype):
            out, state = model(window.x, state)
        state = tuple(s.detach() for s in state)
        loss = spec.kind.loss(out.float(), window.y, window.mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss.item()
        tokens += window.steps
    return tokens / (time.perf_counter() - tick)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tunes", type=int, default=400)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    args = parser.parse_args()
    torch.manual_seed(0)
    dtype = autocast_dtype(args.precision, CPU)
    tunes = list(Music21Abc(Music21AbcConfig(collections=["oneills1850"]), None).pieces())[: args.tunes]
    representation = AbcRepresentation(AbcConfig(transpose=[]))
    representation.fit(tunes)
    spec = representation.spec
    train = TrainConfig(epochs=1, max_minutes=1000.0, val_every=1000.0)
    windows = make_windows("pieces", [representation.encode(t) for t in tunes],
                           batch_size=train.batch_size, seq_len=train.seq_len, seed=0)
    model_cfg = RecurrentConfig()

    fp32_peak = matmul_flops(None)
    bf16_peak = matmul_flops(torch.bfloat16) if dtype is not None else None
    bare = bare_loop(RecurrentNet("lstm", spec, model_cfg), list(windows.epoch(0)), spec, dtype)
    with tempfile.TemporaryDirectory() as folder:
        trainer = Trainer(model=RecurrentNet("lstm", spec, model_cfg), spec=spec, windows=windows,
                          val_encoded=[representation.encode(t) for t in tunes[:5]], cfg=train, run_dir=RunDir(Path(folder)),
                          device=CPU, checkpoint_extra={}, quiet=True, amp_dtype=dtype)
        ours = trainer.fit().tokens_per_s
    per_token = 6.0 * model_macs_per_token(model_cfg, spec.size)  # 2 per multiply-add, x3 for backward
    result = {
        "precision": str(dtype or "fp32").removeprefix("torch."),
        "windows": windows.windows_per_epoch,
        "matmul_fp32_gflops": round(fp32_peak / 1e9, 1),
        "matmul_bf16_gflops": round(bf16_peak / 1e9, 1) if bf16_peak else None,
        "model_gflop_per_token": round(per_token / 1e9, 6),
        "bare_loop_tokens_per_s": round(bare),
        "trainer_tokens_per_s": round(ours),
        "bare_loop_flops_over_fp32_matmul": round(bare * per_token / fp32_peak, 3),
        "trainer_flops_over_fp32_matmul": round(ours * per_token / fp32_peak, 3),
        "trainer_over_bare_loop": round(ours / bare, 3),
    }
    report("train_speed", result)
    print(f"trainer: {ours:,.0f} tokens/s = {result['trainer_flops_over_fp32_matmul']} of fp32 matmul peak "
          f"(goal >= 0.6); {result['trainer_over_bare_loop']} of the bare loop (goal >= 0.9)")


if __name__ == "__main__":
    main()
