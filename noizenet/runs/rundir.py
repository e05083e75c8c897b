"""The run directory: one folder per run, written atomically, the input of
``generate`` and ``evaluate``.

Layout::

    RUN_DIR/config.toml          resolved config (rerun with --config)
    RUN_DIR/status.json          running / finished / interrupted / diverged
    RUN_DIR/splits.json          piece ids of train / val / test, and where the split came from
    RUN_DIR/checkpoints/best.pt  lowest validation loss
    RUN_DIR/checkpoints/last.pt  latest state, for --resume
    RUN_DIR/metrics.jsonl        one line per validation
    RUN_DIR/samples/             the run's generated pieces + samples.json
    RUN_DIR/generations/DATE/    the pieces of each later `generate`, never overwritten
    RUN_DIR/metrics.json, loss.png, heatmap.png, report.md, report.html
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import tomllib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from noizenet.deferred import deferred
from noizenet.errors import RunDirError

if TYPE_CHECKING:
    import numpy as np

# imported when a checkpoint or a WAV is written or read: `noizenet runs` and `show` read a run without them
torch = deferred("torch")
sf = deferred("soundfile")

SAMPLES_MANIFEST = "samples.json"  # in every folder of samples


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file: teammates can read shared runs
DIR_MODE = 0o777 & ~_umask()  # and mkdir a new folder


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file, fsync and ``os.replace``; the
    file gets the permissions of any new file (the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # mkstemp makes it 0600
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, value: Any) -> None:
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def atomic_torch_save(path: Path, value: Any) -> None:
    buffer = io.BytesIO()
    torch.save(value, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def atomic_write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """A 16-bit PCM WAV of float ``audio`` in [-1, 1], ``(n,)`` mono or ``(n, channels)``."""
    buffer = io.BytesIO()
    sf.write(buffer, audio, sample_rate, subtype="PCM_16", format="WAV")
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


class RunDir:
    """The paths of one run directory (see the module docstring) and its small files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.config = self.root / "config.toml"
        self.status = self.root / "status.json"
        self.splits = self.root / "splits.json"
        self.checkpoints = self.root / "checkpoints"
        self.best = self.checkpoints / "best.pt"
        self.last = self.checkpoints / "last.pt"
        self.metrics_log = self.root / "metrics.jsonl"
        self.metrics = self.root / "metrics.json"
        self.samples = self.root / "samples"
        self.samples_manifest = self.samples / SAMPLES_MANIFEST
        self.generations = self.root / "generations"
        self.report = self.root / "report.md"
        self.report_html = self.root / "report.html"

    def facts(self) -> dict[str, Any]:
        """What ``noizenet runs`` and ``show`` tell of this run, from its small files:
        name, representation, model, data, status, why training stopped, held-out
        loss, headline figures, samples and generations, date, report; ``error``
        says which of these files cannot be read (None when all can)."""
        damaged: list[str] = []

        def read(path: Path, parse: Callable[[str], Any]) -> Any:
            try:
                return parse(path.read_text()) if path.exists() else None
            except (OSError, ValueError) as error:  # one damaged file is said, not raised: the run is still listed
                damaged.append(f"{path.name} cannot be read ({type(error).__name__}: {error})")
                return None

        config = read(self.config, tomllib.loads) or {}
        status = self.read_status()
        metrics = read(self.metrics, json.loads) or {}
        manifest = read(self.samples_manifest, json.loads) or {}
        try:
            headline = {f["key"]: metrics.get(f["key"]) for f in metrics.get("figures", []) if f.get("headline")}
            samples = len(manifest.get("samples", []))
        except (AttributeError, KeyError, TypeError) as error:
            headline, samples = {}, 0
            damaged.append(f"{self.metrics.name} or {self.samples_manifest.name} is not as written ({error})")
        run = config.get("run", {})
        return {
            "name": self.root.name, "path": str(self.root), "representation": run.get("repr"), "model": run.get("model"),
            "data": run.get("data") or "(built-in)", "status": status.get("state", "unknown"),
            "stopped": status.get("train", {}).get("stop_reason"), "test_loss": metrics.get("test_loss"),
            "figures": headline,
            "samples": samples,
            "generations": len(list(self.generations.glob(f"*/{SAMPLES_MANIFEST}"))),
            "date": datetime.fromtimestamp(self.config.stat().st_mtime).strftime("%Y-%m-%d %H:%M") if self.config.exists() else "",
            "report": str(self.report_html) if self.report_html.exists() else None,
            "error": "; ".join(damaged) or None,
        }

    def new_generation(self) -> Path:
        """A new, empty folder ``generations/<date>-<time>`` (``-2``, ``-3``, ... when
        one of that second exists) for the samples of one ``generate``."""
        stamp, number = datetime.now().strftime("%Y%m%d-%H%M%S"), 1
        while True:
            folder = self.generations / (stamp if number == 1 else f"{stamp}-{number}")
            try:
                folder.mkdir(parents=True)
                return folder
            except FileExistsError:
                number += 1

    def set_status(self, state: str, **details: Any) -> None:
        atomic_write_json(self.status, {"state": state, **details})

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status.read_text())
        except (OSError, ValueError):
            return {}

    def append_metrics(self, record: dict[str, Any]) -> None:
        with self.metrics_log.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def read_metrics_log(self) -> list[dict[str, Any]]:
        if not self.metrics_log.exists():
            return []
        lines = self.metrics_log.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def require_run(self) -> RunDir:
        """Raise a one-line error unless this is a run directory with a checkpoint."""
        if not self.root.is_dir():
            raise RunDirError(f"{self.root} is not a folder")
        if not self.config.exists():
            raise RunDirError(f"{self.root} is not a noizenet run (no config.toml)")
        if not (self.best.exists() or self.last.exists()):
            raise RunDirError(f"{self.root} has no checkpoint (checkpoints/best.pt or last.pt)")
        return self

    def load_checkpoint(self, which: str = "best") -> dict[str, Any]:
        path = self.best if which == "best" and self.best.exists() else self.last
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            reason = str(error).strip().split(". ")[0].splitlines()[0] if str(error).strip() else type(error).__name__
            raise RunDirError(f"checkpoint {path} is damaged or unreadable ({reason}); "
                              f"{'train the run again' if which == 'best' else 'its best.pt may still generate'}") from None
