"""TensorBoard event files of a run (``--tensorboard``, ``run.tensorboard``), in
``RUN_DIR/tensorboard/`` for ``tensorboard --logdir runs``: at each validation the
losses, accuracy, learning rate and training speed; after each generation the first
samples' audio (every ``.wav``) and pictures (every ``.png``: spectrograms, piano
rolls, heatmaps), as the representation wrote them. Written with torch's own
``SummaryWriter``, which needs the optional ``tensorboard`` package.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from noizenet.deferred import deferred
from noizenet.errors import ConfigError
from noizenet.plugin.interfaces import Sample

image = deferred("matplotlib.image")

FOLDER = "tensorboard"
SAMPLES_SHOWN = 4  # samples of a generation whose files go to TensorBoard
SCALARS = {"train_loss": "loss/train", "val_loss": "loss/validation", "val_accuracy": "accuracy/validation",
           "lr": "learning_rate"}  # metrics.jsonl key: TensorBoard tag


def require() -> None:
    """One clear error, before any training, when the tensorboard package is missing."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError("--tensorboard (run.tensorboard) needs the tensorboard package: "
                          "pip install 'noizenet[tensorboard]'")


class Board:
    """A writer of one run's event files; ``step``: the training step they are shown at."""

    def __init__(self, run_root: Path) -> None:
        require()
        # imported here: the optional package, and 0.5 s that runs without --tensorboard do not pay
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_root / FOLDER))

    def validation(self, record: dict[str, Any], tokens_per_s: float) -> None:
        """One ``metrics.jsonl`` record (``step``, losses, ...) and the training speed."""
        for key, tag in SCALARS.items():
            if record.get(key) is not None:
                self.writer.add_scalar(tag, record[key], record["step"])
        self.writer.add_scalar("tokens_per_second", tokens_per_s, record["step"])
        self.writer.flush()

    def samples(self, samples: Sequence[Sample], folder: Path, step: int) -> None:
        """The files of the first :data:`SAMPLES_SHOWN` samples, written in ``folder``."""
        for sample in samples[:SAMPLES_SHOWN]:
            for name in sample.files:
                path = folder / name
                tag = f"{folder.name}/{name}"
                if path.suffix == ".wav":
                    audio, rate = sf.read(path, dtype="float32", always_2d=True)
                    self.writer.add_audio(tag, audio.mean(axis=1)[None], step, sample_rate=rate)
                elif path.suffix == ".png":
                    pixels = np.asarray(image.imread(path))
                    pixels = pixels[..., :3] if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
                    self.writer.add_image(tag, pixels, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
