"""Pretrained models shipped inside the package, for a first result without
training: ``noizenet generate --pretrained NAME`` copies the model's run folder
(``config.toml``, a slim ``checkpoints/best.pt``, ``figures.json``) to
``runs/NAME`` once and generates there as from any run.
``scripts/build_pretrained.py`` trains and slims them."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from noizenet.errors import ConfigError, RunDirError
from noizenet.runs.rundir import RunDir, atomic_torch_save

FOLDER = Path(__file__).parent / "pretrained-runs"
KEPT = ("config", "representation", "openings", "calibration", "model")  # what generation reads of best.pt


def names() -> list[str]:
    return sorted(p.name for p in FOLDER.iterdir() if (p / "config.toml").exists()) if FOLDER.is_dir() else []


def slim_checkpoint(source: Path, target: Path) -> None:
    """``source`` without what only training needs (optimizer, trainer state), its
    floating-point weights as float16 (generation loads them into float32)."""
    checkpoint = torch.load(source, weights_only=True)
    slim = {key: checkpoint[key] for key in KEPT if key in checkpoint}
    slim["model"] = {k: v.half() if v.is_floating_point() else v for k, v in slim["model"].items()}
    atomic_torch_save(target, slim)


def pretrained_run(name: str, runs: Path = Path("runs")) -> tuple[RunDir, bool]:
    """The run folder of pretrained model ``name`` under ``runs`` (copied there from
    the package on first use) and whether it was copied now."""
    known = names()
    if name not in known:
        raise ConfigError(f"--pretrained {name}: no such pretrained model (shipped: {', '.join(known) or 'none'})")
    target = runs / name
    if target.exists():
        if not (target / "config.toml").exists():
            raise RunDirError(f"--pretrained {name}: {target} exists and is not a noizenet run; move it away")
        return RunDir(target).require_run(), False
    runs.mkdir(parents=True, exist_ok=True)
    shutil.copytree(FOLDER / name, target)
    return RunDir(target).require_run(), True
