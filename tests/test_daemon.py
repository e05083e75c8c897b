"""The warm daemon: a command given to the `noizenet` script runs in a forked child of
a process that has imported torch and noizenet, and behaves as it does without one."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import TINY

from noizenet import daemon

SCRIPT = Path(sys.executable).parent / "noizenet"  # the console script, as a user runs it
LONG = [a for a in TINY if a != "-q"] + ["--epochs", "15", "--max-minutes", "60", "--set", "train.patience=0", "-q"]


def noizenet(env: dict, *args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *map(str, args)], env=env, capture_output=True, text=True, timeout=300, **kwargs)


def served(env: dict) -> int:
    """Commands the daemon has run, from `noizenet daemon status` (which it runs too,
    and counts)."""
    said = noizenet(env, "daemon", "status")
    assert said.returncode == 0, said.stdout + said.stderr
    return int(re.search(r"(\d+) commands served", said.stdout).group(1))


@pytest.fixture(scope="module")
def daemon_env():
    """The environment of a daemon of these tests' own (its socket in a short folder of
    its own: a socket's path takes at most 107 bytes); stopped at the end."""
    runtime = tempfile.mkdtemp(prefix="nz", dir="/tmp")
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
    env.pop(daemon.DISABLE_ENV, None)
    starts = [subprocess.Popen([SCRIPT, "daemon", "start", "--idle-minutes", "10"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True) for _ in range(2)]  # at once: one daemon
    said = [start.communicate(timeout=300) for start in starts]
    assert all(start.returncode == 0 for start in starts), said
    pids = {re.search(r"noizenet daemon (\d+) listens on", out).group(1) for out, _ in said}
    assert len(pids) == 1, said
    yield env
    stopped = noizenet(env, "daemon", "stop")
    assert stopped.returncode == 0 and "stopped noizenet daemon" in stopped.stdout
    assert noizenet(env, "daemon", "status").returncode == 1
    shutil.rmtree(runtime, ignore_errors=True)


def test_a_command_runs_in_the_daemon_with_the_callers_environment_and_streams(daemon_env, tmp_path):
    before = served(daemon_env)
    listed = noizenet({**daemon_env, "NOIZENET_CACHE": str(tmp_path / "mine")}, "cache", "list")
    assert listed.returncode == 0, listed.stderr
    assert str(tmp_path / "mine") in listed.stdout  # the caller's variables, and its stdout
    doctor = {c["name"]: c for c in json.loads(noizenet(daemon_env, "doctor", "--json").stdout)}
    assert doctor["daemon"]["ok"] and doctor["daemon"]["found"].startswith("pid ")
    bad = noizenet(daemon_env, "show", tmp_path / "nothing")
    assert bad.returncode == 2 and bad.stderr.strip() == f"noizenet: error: {tmp_path / 'nothing'} is not a folder"
    assert served(daemon_env) == before + 4  # three, and the status that read before


def test_ctrl_c_reaches_a_training_in_the_daemon_which_ran_in_the_callers_folder(daemon_env, tunes_file, tmp_path):
    shutil.copy(tunes_file, tmp_path / "tunes.abc")
    before = served(daemon_env)
    process = subprocess.Popen([SCRIPT, "train", "--data", "tunes.abc", "--out", "run", *LONG], cwd=tmp_path,
                               env=daemon_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "run"  # relative paths are the caller's folder's
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert "interrupted at step" in stderr and "Traceback" not in stderr
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"
    assert str(tmp_path / "tunes.abc") in (run / "config.toml").read_text()
    assert served(daemon_env) == before + 2  # one, and the status that read before


def test_a_caller_unlike_the_daemon_or_one_that_opts_out_runs_the_command_itself(daemon_env):
    before = served(daemon_env)
    unlike = noizenet({**daemon_env, "PYTHONHASHSEED": "7"}, "--version")
    assert unlike.returncode == 0 and unlike.stdout.startswith("noizenet ")
    assert "the daemon declined (PYTHONHASHSEED differs from the daemon's); running here" in unlike.stderr
    opted_out = noizenet({**daemon_env, daemon.DISABLE_ENV: "0"}, "--version")
    assert opted_out.returncode == 0 and opted_out.stdout == unlike.stdout and not opted_out.stderr
    assert served(daemon_env) == before + 1  # none but the status that read before


def test_the_daemon_declines_what_it_cannot_run_as_the_caller_would(tmp_path):
    worker = daemon.Daemon(tmp_path / "d.sock", idle_minutes=1)
    caller = daemon.process_state()
    assert worker._decline(caller) == ""
    assert "PYTHONPATH" in worker._decline({**caller, "env": {**caller["env"], "PYTHONPATH": "/elsewhere"}})
    assert "sys.path" in worker._decline({**caller, "path": ["/elsewhere", *caller["path"]]})
    assert "cgroup" in worker._decline({**caller, "cgroup": {"memory.max": 1e9}})
    assert "niceness" in worker._decline({**caller, "nice": caller["nice"] - 1})
    limit = str(resource.RLIMIT_NOFILE)
    soft, hard = caller["limits"][limit]
    if hard != resource.RLIM_INFINITY:
        assert "limits" in worker._decline({**caller, "limits": {**caller["limits"], limit: (soft, hard + 1)}})
    lower = {**caller, "limits": {**caller["limits"], limit: (64, 64)}, "nice": caller["nice"] + 1}
    assert worker._decline(lower) == ""  # tighter limits and more niceness the child takes on
    worker.fingerprint = "before an upgrade"
    assert worker._decline(caller) == daemon.STALE
