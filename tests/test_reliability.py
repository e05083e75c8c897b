"""Interruption, resume and numerical blow-up, on real runs: in a process of its own
where the process is what is tested (a signal, a kill), in this one otherwise."""

import json
import shutil
import signal
import subprocess
import sys
import time

import torch
from conftest import TINY

LONG = [a for a in TINY if a != "-q"] + ["--epochs", "15", "--max-minutes", "60", "--set", "train.patience=0", "-q"]


def test_sigint_saves_last_checkpoint_and_resume_matches_an_uninterrupted_run(cli, tunes_file, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    done = cli("train", "--data", tunes_file, "--out", whole, *LONG)
    assert done.exit_code == 0, done.output

    process = subprocess.Popen(
        [sys.executable, "-m", "noizenet", "train", "--data", str(tunes_file), "--out", str(split), *LONG],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 120
    while not (split / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2
    assert "interrupted at step" in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert json.loads((split / "status.json").read_text())["state"] == "interrupted"
    stopped_at = torch.load(split / "checkpoints" / "last.pt", weights_only=True)["trainer"]["step"]
    final = torch.load(whole / "checkpoints" / "last.pt", weights_only=True)
    assert 0 < stopped_at < final["trainer"]["step"]

    resumed = cli("train", "--resume", split, "-q")
    assert resumed.exit_code == 0, resumed.output
    again = torch.load(split / "checkpoints" / "last.pt", weights_only=True)
    assert again["trainer"]["step"] == final["trainer"]["step"]
    for name, weights in final["model"].items():
        assert torch.equal(weights, again["model"][name]), name


def test_blow_up_stops_with_advice_and_keeps_the_good_checkpoint(cli, tunes_file, tmp_path):
    run = tmp_path / "run"
    assert cli("train", "--data", tunes_file, "--out", run, *TINY).exit_code == 0
    best = (run / "checkpoints" / "best.pt").read_bytes()
    blown = cli("train", "--resume", run, "--epochs", "6", "--lr", "1000", "--optimizer", "sgd", "-q")
    assert blown.exit_code == 2
    message = blown.output.strip()
    assert "\n" not in message and "diverged at step" in message and "lr" in message and "--lr" in message
    assert (run / "checkpoints" / "best.pt").read_bytes() == best
    assert json.loads((run / "status.json").read_text())["state"] == "diverged"
    generated = cli("generate", run, "--num-samples", "1", "-q")
    assert generated.exit_code == 0, generated.output


def _copy(run, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(run, target)
    return target


def test_damaged_checkpoint_is_one_line(cli, trained_run, tmp_path):
    run = _copy(trained_run, tmp_path)
    for name in ("best.pt", "last.pt"):
        data = (run / "checkpoints" / name).read_bytes()
        (run / "checkpoints" / name).write_bytes(data[: len(data) // 2])  # truncated
    for command in ("generate", "evaluate"):
        result = cli(command, run)
        assert result.exit_code == 2 and "damaged or unreadable" in result.output


def test_checkpoint_of_a_plugin_that_is_not_installed_names_it(cli, trained_run, tmp_path):
    run = _copy(trained_run, tmp_path)
    config = run / "config.toml"
    config.write_text(config.read_text().replace('model = "lstm"', 'model = "wide-gru"'))
    result = cli("generate", run)
    assert result.exit_code == 2 and "unknown model 'wide-gru'" in result.output


def test_a_writer_killed_mid_write_never_leaves_a_truncated_checkpoint(tmp_path):
    target = tmp_path / "last.pt"
    writer = (
        "import itertools, sys, torch\n"
        "from noizenet.runs.rundir import atomic_torch_save\n"
        "state = {'model': torch.randn(4_000_000)}\n"
        "for i in itertools.count():\n"
        "    state['i'] = i\n"
        "    atomic_torch_save(sys.argv[1], state)\n"
    )
    for delay in (0.05, 0.13, 0.31):  # kill -9 at different points of a 16 MB write
        process = subprocess.Popen([sys.executable, "-c", writer, str(target)])
        deadline = time.time() + 60
        while not target.exists() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        process.kill()
        process.wait()
        checkpoint = torch.load(target, weights_only=True)
        assert checkpoint["model"].numel() == 4_000_000


BROKEN_METRIC = '''
import noizenet
from noizenet.plugin.figures import Figure
from noizenet.plugin.interfaces import Metric


class Broken(Metric):
    name = "broken"
    description = "a metric with a bug"
    piece_types = ("abc",)
    figures = (Figure("broken_figure", "what it would have said"),)

    def per_sample(self, sample, representation):
        return {}

    def per_set(self, context):
        return max([])


@noizenet.hookimpl
def noizenet_metrics():
    return [Broken]
'''


def test_a_metric_that_fails_costs_its_figures_not_the_run(cli, tunes_file, tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "broken_metric.py").write_text(BROKEN_METRIC)
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", folder, "--data", tunes_file, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["broken_figure"] is None and metrics["abc_valid_rate"] is not None
    assert any("Metric 'broken' failed (ValueError" in note for note in metrics["notes"])
    assert "Metric 'broken' failed" in (out / "report.md").read_text()
