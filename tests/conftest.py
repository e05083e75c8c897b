"""Shared fixtures: real tunes from the music21 corpus, tiny configs, a CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import music21
import numpy as np
import pytest
from typer.testing import CliRunner

from noizenet.cli import app
from noizenet.datasets.abc_files import read_text
from noizenet.plugins.abc.text import split_tunes

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from serve_load import start_server, stop_server  # noqa: E402

# Small enough that a whole run takes a few seconds on 2 CPU cores. A time budget far
# beyond that keeps the schedule bound to steps, so runs repeat exactly on a busy machine.
TINY_ANY_REPR = [
    "--hidden", "32", "--layers", "1", "--epochs", "2", "--max-minutes", "60", "--seq-len", "32", "--batch-size", "8",
    "--num-samples", "2", "--set", "generate.max_length=300", "--seed", "0", "-q",
]
TINY = [*TINY_ANY_REPR, "--set", "repr.transpose=[]"]  # abc: no transposed copies


@pytest.fixture(scope="session", autouse=True)
def cache_folder(tmp_path_factory) -> Path:
    """Prepared corpora and rendered audio of the tests go to a folder of their own,
    never into the user's ~/.cache/noizenet."""
    folder = tmp_path_factory.mktemp("noizenet-cache")
    previous = os.environ.get("NOIZENET_CACHE")
    os.environ["NOIZENET_CACHE"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("NOIZENET_CACHE", None)
    else:
        os.environ["NOIZENET_CACHE"] = previous


@pytest.fixture(scope="session")
def tunes_file(tmp_path_factory) -> Path:
    """40 real tunes from O'Neill's 1850 collection in one .abc file."""
    folder = Path(music21.__file__).parent / "corpus" / "oneills1850"
    tunes = [t for f in sorted(folder.glob("*.abc"))[:2] for t in split_tunes(read_text(f))][:40]
    path = tmp_path_factory.mktemp("data") / "tunes.abc"
    path.write_text("\n".join(tunes), encoding="utf-8")
    return path


def latest_generation(run: Path) -> Path:
    """The folder of the last ``noizenet generate`` on ``run``."""
    return sorted((run / "generations").iterdir())[-1]


@pytest.fixture
def cli():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, tunes_file) -> Path:
    """One finished tiny run shared by tests that only read it."""
    out = tmp_path_factory.mktemp("runs") / "tiny"
    result = CliRunner().invoke(app, ["run", "--data", str(tunes_file), "--out", str(out), *TINY], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


def in_key(tonic: int, seed: int, seconds: float, rate: int = 16000) -> np.ndarray:
    """A plucked melody in the major key of ``tonic`` (semitones above A 220 Hz):
    ``round(seconds)`` groups of ten 0.125 s notes, each the scale and the tonic triad
    shuffled (1.25 s a group), float32 ``(n,)`` at ``rate``."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.125 * rate)) / rate
    steps = np.concatenate([rng.permutation([0, 2, 4, 5, 7, 9, 11, 0, 4, 7]) for _ in range(round(seconds))])
    return np.concatenate([0.5 * np.sin(2 * np.pi * 220 * 2 ** ((tonic + s) / 12) * t) * np.exp(-6 * t)
                           for s in steps]).astype(np.float32)


@dataclass
class Served:
    """A `noizenet serve` process on a free loopback port: its ``url``, the ``folder``
    of runs it serves (a copy of the tiny run as ``tiny``), the ``tmp`` folder it keeps
    its uploads in, its ``process``."""

    url: str
    folder: Path
    tmp: Path
    process: subprocess.Popen


@pytest.fixture(scope="session")
def server(trained_run, tmp_path_factory):
    """One real server for the tests that talk to it over HTTP, with small limits
    (4 samples, 10 KB uploads, 4 uploads waiting, 5 s of audio). Stopped with Ctrl-C
    at the end, which must be clean."""
    folder, tmp = tmp_path_factory.mktemp("served"), tmp_path_factory.mktemp("server-tmp")
    shutil.copytree(trained_run, folder / "tiny")
    process, url = start_server(folder, "--max-samples", "4", "--max-upload-mb", "0.01", "--max-uploads", "4",
                                "--max-seconds", "5",
                                env={"TMPDIR": str(tmp)})
    yield Served(url, folder, tmp, process)
    code, err = stop_server(process)
    assert code == 0 and "Traceback" not in err, err[-3000:]
