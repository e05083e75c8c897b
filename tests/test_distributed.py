"""torchrun with the gloo backend: two processes on this machine train one run, from one prepared corpus."""

import json
import os
import subprocess
import sys

from conftest import TINY

ARGS = [a for a in TINY if a not in ("--batch-size", "8")] + ["--dropout", "0"]


def final_val_loss(run_dir):
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])["val_loss"]


def test_two_gloo_processes_train_like_one_with_the_same_global_batch(cli, tmp_path, tunes_file):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = tmp_path / "runs" / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "noizenet", "run", "--data", str(tunes_file), "--out", str(out), "--batch-size", "4", *ARGS,
    ]
    cache = tmp_path / "cache"  # new: both ranks meet an unprepared corpus at once
    env = {**os.environ, "TMPDIR": str(scratch), "OMP_NUM_THREADS": "1", "NOIZENET_CACHE": str(cache)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    prepared = [p for p in (cache / "prepared").iterdir() if p.is_dir()]
    assert len(prepared) == 1 and not prepared[0].name.startswith(".")  # one prepared, mapped by both; no leftovers

    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["ddp"]  # rank 0 alone wrote a run
    assert not any(p.name.startswith("noizenet-rank") for p in scratch.iterdir())  # the other rank's scratch is gone
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    assert len(list((out / "samples").glob("*.abc"))) == 2

    single = tmp_path / "single"
    result = cli("train", "--data", tunes_file, "--out", single, "--batch-size", "8", *ARGS)
    assert result.exit_code == 0, result.output
    assert abs(final_val_loss(out) - final_val_loss(single)) < 0.01
