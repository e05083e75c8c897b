"""Models ``rnn`` (tanh), ``lstm`` and ``gru``: input layer, stacked fused recurrent
layers (oneDNN on CPU, cuDNN on GPU) with dropout between them, linear head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from noizenet import hookimpl
from noizenet.errors import ConfigError
from noizenet.interfaces import ModelPlugin, OutputSpec, SequenceModel

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
INITS = ("default", "xavier", "kaiming")
COMPILED_WORK = 6144  # rows x hidden x layers up to which the compiled sampler is the faster one


@dataclass
class RecurrentConfig:
    hidden: int = 384  # units per recurrent layer
    layers: int = 2
    dropout: float = 0.2  # between recurrent layers and before the head
    embedding: int = 64  # width of the input layer (token embedding or frame projection)
    init: str = "default"  # default | xavier | kaiming

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1 or self.embedding < 1:
            raise ConfigError("model.hidden, model.layers and model.embedding must be >= 1")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.init not in INITS:
            raise ConfigError(f"model.init must be one of {', '.join(INITS)}; got '{self.init}'")


class RecurrentNet(SequenceModel):
    """``(B, T)`` tokens or ``(B, T, D)`` frames -> ``(B, T, spec.size)`` outputs."""

    def __init__(self, cell: str, spec: OutputSpec, cfg: RecurrentConfig) -> None:
        super().__init__()
        self.cell = cell
        if spec.kind == "categorical":
            self.input = nn.Embedding(spec.size, cfg.embedding)
        else:
            self.input = nn.Linear(spec.size, cfg.embedding)
        self.rnn = CELLS[cell](
            cfg.embedding, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, spec.size)
        initialize(self, cfg.init)

    def hidden(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        return self.rnn(self.input(x), state)  # (B, T, hidden), state

    def forward(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        h, state = self.hidden(x, state)
        return self.head(self.drop(h)), state

    def compiled_sampler(self, rows: int):
        """The numba sampling loop on CPU where it beats batched PyTorch steps: its
        element-wise gate maths costs about rows x hidden x layers, which oneDNN
        vectorizes better past ~6k (2x384 LSTM: faster up to 8 rows, 6x at 1 row;
        1x128 GRU: faster at 64 rows too, offered up to 48). The weights are copied now."""
        if self.head.weight.device.type != "cpu" or rows * self.rnn.hidden_size * self.rnn.num_layers > COMPILED_WORK:
            return None
        from noizenet.plugins.recurrent_sampler import RecurrentWeights

        return RecurrentWeights.from_modules(self.cell, self.input, self.rnn, self.head).sample


def initialize(model: nn.Module, scheme: str) -> None:
    """Re-initialise weight matrices (biases to zero) unless ``scheme`` is "default"."""
    if scheme == "default":
        return
    for name, param in model.named_parameters():
        if param.dim() >= 2:
            if scheme == "xavier":
                nn.init.xavier_uniform_(param)
            else:
                nn.init.kaiming_uniform_(param, nonlinearity="linear")
        elif "bias" in name:
            nn.init.zeros_(param)


def _builder(cell: str):
    def build(spec: OutputSpec, cfg: RecurrentConfig) -> RecurrentNet:
        return RecurrentNet(cell, spec, cfg)

    return build


@hookimpl
def noizenet_models():
    return [ModelPlugin(name, RecurrentConfig, _builder(name)) for name in CELLS]
