"""A run trains on audio whose decoded samples would not fit in the memory it is allowed.

The training process's private memory is limited (``RLIMIT_DATA``: heap and
anonymous maps, not the page cache that memory-mapped files use) to what a run on a
corpus ten times smaller peaks at, plus a third of the large corpus's decoded size.
From the prepared corpus it trains; with ``--no-cache``, which holds the decoded
corpus, the same limit stops it: the limit bites.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16000
TRAIN_FILES = 6
WAVEFORM_RUN = ["--repr", "waveform", "--model", "gru", "--hidden", "32", "--layers", "1", "--seq-len", "64",
                "--batch-size", "8", "--epochs", "1", "--max-minutes", "0.05", "--seed", "0", "-q"]
DECODED_BYTES_PER_SAMPLE = 8  # int64 steps, as a run without the cache holds them
# Each large training file's seconds: 6 x 100 s decode to 77 MB, a third of which
# (26 MB, three thread stacks) is the margin the mapped run must stay within.
LARGE_SECONDS = 100


def audio_folder(root: Path, train_seconds: float) -> Path:
    """Tonal audio: TRAIN_FILES training files of ``train_seconds`` each, and one short
    validation and one short test file (a .jsonl manifest fixes the split)."""
    root.mkdir()
    rng = np.random.default_rng(0)
    lines = []
    for index, (split, seconds) in enumerate([("train", train_seconds)] * TRAIN_FILES + [("validation", 2), ("test", 2)]):
        t = np.arange(int(seconds * RATE)) / RATE
        pitch = 220 * 2 ** (rng.integers(0, 12) / 12)
        audio = 0.3 * np.sin(2 * np.pi * pitch * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
        sf.write(root / f"{index}.wav", audio.astype(np.float32), RATE, subtype="PCM_16")
        lines.append(json.dumps({"path": f"{index}.wav", "split": split}))
    (root / "corpus.jsonl").write_text("\n".join(lines) + "\n")
    return root / "corpus.jsonl"


def noizenet(*args: str, cache: Path, data_limit: int | None = None) -> tuple[subprocess.CompletedProcess, int]:
    """``python -m noizenet ARGS`` with its private memory limited to ``data_limit``
    bytes; returns the process and its peak private memory (VmData, bytes, sampled)."""
    def limit() -> None:
        if data_limit is not None:
            resource.setrlimit(resource.RLIMIT_DATA, (data_limit, data_limit))

    env = {**os.environ, "NOIZENET_CACHE": str(cache)}
    process = subprocess.Popen([sys.executable, "-m", "noizenet", *args], env=env, preexec_fn=limit,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(status.split("VmData:")[1].split()[0]) * 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.05)
    out, err = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err), peak


def test_a_prepared_audio_corpus_larger_than_the_memory_a_run_may_use_trains(cli, tmp_path, monkeypatch):
    small = audio_folder(tmp_path / "small", train_seconds=LARGE_SECONDS / 10)
    large = audio_folder(tmp_path / "large", train_seconds=LARGE_SECONDS)
    cache = tmp_path / "cache"
    monkeypatch.setenv("NOIZENET_CACHE", str(cache))
    for data in (small, large):  # in this process: preparing is not what is limited
        prepared = cli("prepare", "--repr", "waveform", "--data", data, "--seed", "0")
        assert prepared.exit_code == 0, prepared.output
    baseline_run, baseline = noizenet("train", "--data", str(small), "--out", str(tmp_path / "small-run"),
                                      *WAVEFORM_RUN, cache=cache)
    assert baseline_run.returncode == 0, baseline_run.stderr
    decoded = TRAIN_FILES * LARGE_SECONDS * RATE * DECODED_BYTES_PER_SAMPLE
    limit = baseline + decoded // 3

    mapped, peak = noizenet("train", "--data", str(large), "--out", str(tmp_path / "mapped"), *WAVEFORM_RUN,
                            cache=cache, data_limit=limit)
    assert mapped.returncode == 0, mapped.stderr
    status = json.loads((tmp_path / "mapped" / "status.json").read_text())
    assert status["train"]["steps"] > 0 and peak <= limit

    held, _ = noizenet("train", "--data", str(large), "--out", str(tmp_path / "held"), *WAVEFORM_RUN, "--no-cache",
                       cache=cache, data_limit=limit)
    # Out of memory shows as a MemoryError, a failed allocation, or a library it loads after
    # decoding the corpus that can no longer be mapped.
    signs = ("MemoryError", "allocate", "out of memory", "failed to map segment")
    assert held.returncode != 0 and any(sign in held.stderr for sign in signs), held.stderr[-2000:]
