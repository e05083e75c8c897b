"""Model ``crnn``: convolutions over each frame's feature axis, then a recurrent
layer over time, as in the chord-recognition report.

The convolutions see one frame at a time (a chroma vector, an FFT frame) and
summarize its feature axis into a short vector; the GRU or LSTM above them models
how frames follow each other; a linear head predicts the next frame. For frame
representations only (``fft``, ``chroma``, your own continuous ones).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from noizenet.api import ConfigError, ModelPlugin, OutputSpec, SequenceModel, hookimpl
from noizenet.plugins.models.condition import ConditionInput
from noizenet.plugins.models.recurrent import recur, start_head

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass
class CrnnConfig:
    cell: str = "gru"  # gru | lstm
    channels: int = 16  # convolution channels
    kernel: int = 5  # convolution width along the feature axis
    pooled: int = 8  # feature-axis positions left after pooling
    hidden: int = 256  # recurrent units
    layers: int = 1
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError.about("model.cell", f"must be one of {', '.join(CELLS)}; got '{self.cell}'")
        for key in ("channels", "kernel", "pooled", "hidden", "layers"):
            if getattr(self, key) < 1:
                raise ConfigError.about(f"model.{key}", f"must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError.about("model.dropout", f"must be in [0, 1), got {self.dropout}")


class Crnn(SequenceModel):
    """``(B, T, D)`` frames -> ``(B, T, D)`` predicted next frames."""

    def __init__(self, spec: OutputSpec, cfg: CrnnConfig) -> None:
        super().__init__()
        if spec.kind.tokens:
            raise ConfigError("model 'crnn' convolves frames: use it with a frame representation (fft, chroma)")
        stride = 2 if spec.input_size >= 64 else 1  # long frames (FFT bins) are halved twice
        padding = cfg.kernel // 2
        self.convolve = nn.Sequential(
            nn.Conv1d(1, cfg.channels, cfg.kernel, stride=stride, padding=padding),
            nn.ReLU(),
            nn.Conv1d(cfg.channels, cfg.channels, cfg.kernel, stride=stride, padding=padding),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(cfg.pooled),
        )
        self.condition = ConditionInput(spec, cfg.channels * cfg.pooled)
        self.rnn = CELLS[cfg.cell](
            cfg.channels * cfg.pooled, cfg.hidden, cfg.layers, batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, spec.size)
        start_head(self.head, spec)

    def summarize(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` -> ``(B, T, channels * pooled)``, each frame on its own."""
        batch, steps, width = x.shape
        features = self.convolve(x.reshape(batch * steps, 1, width))
        return features.reshape(batch, steps, -1)

    def hidden(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        return recur(self.rnn, self.condition(self.summarize(x), condition), state)

    def forward(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        h, state = self.hidden(x, state, condition)
        return self.head(self.drop(h)), state


@hookimpl
def noizenet_models():
    return [ModelPlugin("crnn", CrnnConfig, Crnn)]
