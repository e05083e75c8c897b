"""Models ``rnn`` (tanh), ``lstm`` and ``gru``: input layer, stacked fused recurrent
layers (oneDNN on CPU, cuDNN on GPU) with dropout between them, linear head.

Single steps in inference on CPU (generation) skip oneDNN: its RNN call costs about
3.5 ms of set-up whatever the size, ten times the step's own arithmetic for the
default model; :func:`recur` runs those steps through the plain cell kernels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from noizenet.api import (
    Categorical, ConfigError, Continuous, ModelPlugin, OutputSpec, SequenceModel, deferred, hookimpl,
)
from noizenet.plugins.models.condition import ConditionInput

sampler = deferred("noizenet.plugins.models.sampler")  # numba: compiled only when sampling

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CELL_STEPS = {  # nn.RNNBase.mode -> the kernel of one step of one layer
    "RNN_TANH": torch.rnn_tanh_cell, "RNN_RELU": torch.rnn_relu_cell, "LSTM": torch.lstm_cell, "GRU": torch.gru_cell,
}
INITS = ("default", "xavier", "kaiming")
COMPILED_MACS = 3_000_000  # multiply-adds per step (all rows) up to which the compiled sampler is faster


@dataclass
class RecurrentConfig:
    hidden: int = 384  # units per recurrent layer
    layers: int = 2
    dropout: float = 0.2  # between recurrent layers and before the head
    embedding: int = 64  # width of the input layer (token embedding or frame projection)
    init: str = "default"  # default | xavier | kaiming

    def __post_init__(self) -> None:
        for key in ("hidden", "layers", "embedding"):
            if getattr(self, key) < 1:
                raise ConfigError.about(f"model.{key}", f"must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError.about("model.dropout", f"must be in [0, 1), got {self.dropout}")
        if self.init not in INITS:
            raise ConfigError.about("model.init", f"must be one of {', '.join(INITS)}; got '{self.init}'")


class RecurrentNet(SequenceModel):
    """``(B, T)`` tokens or ``(B, T, D)`` frames (and a ``(B, T, C)`` condition, added
    to the input layer's output) -> ``(B, T, spec.size)`` outputs."""

    def __init__(self, cell: str, spec: OutputSpec, cfg: RecurrentConfig) -> None:
        super().__init__()
        self.cell = cell
        self.kind = spec.kind
        if spec.kind.tokens:
            self.input = nn.Embedding(spec.input_size, cfg.embedding)
        else:
            self.input = nn.Linear(spec.input_size, cfg.embedding)
        self.condition = ConditionInput(spec, cfg.embedding)
        self.rnn = CELLS[cell](
            cfg.embedding, cfg.hidden, cfg.layers, batch_first=True, dropout=cfg.dropout if cfg.layers > 1 else 0.0
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, spec.size)
        initialize(self, cfg.init)
        start_head(self.head, spec)

    def hidden(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        return recur(self.rnn, self.condition(self.input(x), condition), state)  # (B, T, hidden), state

    def forward(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        h, state = self.hidden(x, state, condition)
        return self.head(self.drop(h)), state

    def compiled_sampler(self, rows: int):
        """The numba sampling loop on CPU where it beats batched PyTorch steps: while
        a step's multiply-adds (rows x weights) stay under ~3M, a loop without
        PyTorch's per-op dispatch wins (2x384 LSTM: 1 row, 3x faster; 1x128 GRU: up
        to 28 rows, 2-18x); beyond, batched matrix products do. It samples the two
        built-in output kinds only. The weights are copied now."""
        weights = sum(w.numel() for w in self.rnn.parameters() if w.dim() == 2) + self.head.weight.numel()
        if self.head.weight.device.type != "cpu" or rows * weights > COMPILED_MACS:
            return None
        if type(self.kind) not in (Categorical, Continuous):
            return None
        modules = (self.cell, self.input, self.rnn, self.head, self.condition.project)
        return sampler.RecurrentWeights.from_modules(*modules).sample


def recur(rnn: nn.RNNBase, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
    """``rnn(x, state)`` for batch-first ``x`` (B, T, input); a single step (T = 1) in
    eval mode on CPU goes layer by layer through the cell kernel instead of oneDNN,
    with the same outputs and state layout ((layers, B, hidden), a pair for LSTM)."""
    plain = rnn.batch_first and rnn.bias and not rnn.bidirectional and not rnn.proj_size
    if x.shape[1] != 1 or rnn.training or x.device.type != "cpu" or not plain:
        return rnn(x, state)
    lstm = rnn.mode == "LSTM"
    if state is None:
        zeros = x.new_zeros(rnn.num_layers, x.shape[0], rnn.hidden_size)
        state = (zeros, zeros) if lstm else zeros
    cell = CELL_STEPS[rnn.mode]
    inp, hs, cs = x[:, 0], [], []
    for layer, weights in enumerate(rnn.all_weights):
        if lstm:
            inp, c = cell(inp, (state[0][layer], state[1][layer]), *weights)
            cs.append(c)
        else:
            inp = cell(inp, state[layer], *weights)
        hs.append(inp)
    h = torch.stack(hs)
    return inp[:, None], ((h, torch.stack(cs)) if lstm else h)


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


def start_head(head: nn.Linear, spec: OutputSpec) -> None:
    """Set the output layer's bias to ``spec.bias`` where the representation gives one."""
    if spec.bias is not None:
        with torch.no_grad():
            head.bias.copy_(torch.tensor(spec.bias, dtype=head.bias.dtype))


def _builder(cell: str):
    def build(spec: OutputSpec, cfg: RecurrentConfig) -> RecurrentNet:
        return RecurrentNet(cell, spec, cfg)

    return build


@hookimpl
def noizenet_models():
    return [ModelPlugin(name, RecurrentConfig, _builder(name)) for name in CELLS]
