"""Model ``samplernn``: a two-tier SampleRNN (Mehri et al. 2017) for sample-level
tokens (``waveform``'s mu-law samples).

A frame-level GRU steps once per block of ``frame`` samples (16: 1 ms at 16 kHz):
its input is the block just completed, its output a conditioning vector for each
sample of the next block. A sample-level MLP predicts each sample from the
``frame`` samples before it plus that conditioning. The recurrence, the expensive
part, runs 16x less often than a sample-level GRU of the same width, so a wide one
fits the budget of a narrow one; the MLP sees exact recent samples, which the GRU's
state only blurs.

Frames are counted from where the model's state began (training windows and
generation alike), not from a piece's first sample; ``state`` carries the frame
GRU's state, the last tokens, the conditioning of the block in progress, the
position in it and the sampling sharpness of the last block.

Sampling sharpens the distribution where the recent output is periodic, as LPCNet
does with its pitch correlation: the logits are multiplied by ``1 + sharpen * c``,
``c`` in [0, 1] the normalized autocorrelation of the last ``PERIODICITY_WINDOW``
samples at their best lag between ``SHORTEST_PERIOD`` and ``LONGEST_PERIOD``
(2 kHz to 62 Hz at 16 kHz), measured in inference once per completed block on the
samples up to its end (:meth:`TwoTier.sharpening`; training and scoring are not
affected).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from noizenet.api import ConfigError, ModelPlugin, OutputSpec, SequenceModel, deferred, hookimpl
from noizenet.plugins.models.condition import ConditionInput

two_tier_sampler = deferred("noizenet.plugins.models.two_tier_sampler")  # numba: compiled only when sampling

SHORTEST_PERIOD, LONGEST_PERIOD = 8, 256  # samples
PERIODICITY_WINDOW = 320  # samples whose autocorrelation is measured (20 ms at 16 kHz)
COMPILED_MACS = 3_000_000  # multiply-adds per sample step (all rows) up to which the compiled sampler is faster


@dataclass
class SampleRnnConfig:
    frame: int = 16  # samples per block of the frame-level tier
    # named apart from the recurrent models' hidden/layers/embedding, so that a
    # representation's suggestions for those (waveform: a 1x128 GRU) leave these alone
    frame_hidden: int = 512  # frame-level GRU units
    frame_layers: int = 1  # frame-level GRU layers
    sample_embedding: int = 16  # width of each sample's embedding (both tiers)
    mlp: int = 256  # units of the sample-level MLP's two hidden layers
    dropout: float = 0.0  # in the sample-level MLP
    sharpen: float = 1.0  # LPCNet's rule: logits x (1 + sharpen * periodicity) when sampling; 0 = one flat temperature

    def __post_init__(self) -> None:
        if not 2 <= self.frame <= 256:
            raise ConfigError.about("model.frame", f"must be in [2, 256] samples, got {self.frame}")
        for key in ("frame_hidden", "frame_layers", "sample_embedding", "mlp"):
            if getattr(self, key) < 1:
                raise ConfigError.about(f"model.{key}", f"must be >= 1, got {getattr(self, key)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError.about("model.dropout", f"must be in [0, 1), got {self.dropout}")
        if self.sharpen < 0:
            raise ConfigError.about("model.sharpen", f"must be >= 0, got {self.sharpen}")


class TwoTier(SequenceModel):
    """``(B, T)`` tokens -> ``(B, T, V)`` logits of the next token."""

    def __init__(self, spec: OutputSpec, cfg: SampleRnnConfig) -> None:
        super().__init__()
        if not spec.kind.tokens:
            raise ConfigError("model 'samplernn' predicts sample tokens (--repr waveform); this representation gives frames")
        self.frame, self.sharpen = cfg.frame, cfg.sharpen
        self.pad = spec.size // 2  # history before the first sample: mu-law's silence
        self.history = PERIODICITY_WINDOW + LONGEST_PERIOD + cfg.frame  # tokens kept in the state
        self.embed = nn.Embedding(spec.size, cfg.sample_embedding)
        self.frame_in = nn.Linear(cfg.frame * cfg.sample_embedding, cfg.frame_hidden)
        self.rnn = nn.GRU(cfg.frame_hidden, cfg.frame_hidden, cfg.frame_layers, batch_first=True)
        self.upsample = nn.Linear(cfg.frame_hidden, cfg.frame * cfg.mlp)  # one conditioning vector per sample of the next block
        self.sample_in = nn.Linear(cfg.frame * cfg.sample_embedding, cfg.mlp)
        self.condition = ConditionInput(spec, cfg.mlp)  # into the sample-level MLP, every sample
        self.hidden_layer = nn.Linear(cfg.mlp, cfg.mlp)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.mlp, spec.size)

    # -- state --------------------------------------------------------------------------
    def zero_state(self, rows: int, device: torch.device) -> tuple:
        """(frame GRU state, last tokens ``(B, history)``, conditioning of the block in
        progress ``(B, frame, mlp)``, position in the block, sharpness ``(B,)``)."""
        history = torch.full((rows, self.history), self.pad, dtype=torch.long, device=device)
        cond = self.upsample.bias.detach().view(1, self.frame, -1).expand(rows, -1, -1).clone()
        return None, history, cond, 0, torch.ones(rows, device=device)

    def reset_state(self, state: Any, rows: torch.Tensor) -> Any:
        if state is None:
            return None
        h, history, cond, phase, sharpness = state
        _, zero_history, zero_cond, _, ones = self.zero_state(len(rows), history.device)
        if h is not None:
            h = h.masked_fill(rows.view(1, -1, 1), 0.0)
        history = torch.where(rows[:, None], zero_history, history)
        cond = torch.where(rows[:, None, None], zero_cond.to(cond.dtype), cond)
        return h, history, cond, phase, torch.where(rows, ones, sharpness)

    # -- forward ------------------------------------------------------------------------
    def hidden(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        """The sample-level MLP's last hidden layer ``(B, T, mlp)``."""
        batch, steps = x.shape
        h, history, cond, phase, sharpness = state if state is not None else self.zero_state(batch, x.device)
        size = self.frame
        full = torch.cat([history[:, -size:], x], dim=1)  # full[:, size + i] is x[:, i]
        first_end = (size - 1 - phase) % size  # index of the first input that completes a block
        blocks = 0 if first_end >= steps else (steps - 1 - first_end) // size + 1
        conds = cond[:, None]  # (B, 1 + blocks, size, mlp): the block in progress, then each new one
        if blocks:
            done = full[:, first_end + 1 :].unfold(1, size, size)[:, :blocks]  # (B, blocks, size)
            out, h = self.rnn(self.frame_in(self.embed(done).flatten(2)), h)
            conds = torch.cat([conds, self.upsample(out).view(batch, blocks, size, -1).to(cond.dtype)], dim=1)
        i = torch.arange(steps, device=x.device)
        block = torch.where(i < first_end, 0, (i - first_end) // size + 1)
        position = (phase + i + 1) % size
        recent = full.unfold(1, size, 1)[:, 1 : steps + 1]  # (B, T, size): the samples before each prediction
        z = self.condition(self.sample_in(self.embed(recent).flatten(2)) + conds[:, block, position], condition)
        z = torch.relu(z)
        z = torch.relu(self.hidden_layer(self.drop(z)))
        history = torch.cat([history, x], dim=1)[:, -self.history :]
        phase = (phase + steps) % size
        if blocks and self.sharpen and not self.training:  # the tokens up to the last completed block
            sharpness = 1.0 + self.sharpen * periodicity(history[:, : self.history - phase], self.pad)
        return z, (h, history, conds[:, -1], phase, sharpness)

    def forward(self, x: torch.Tensor, state: Any = None, condition: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        z, state = self.hidden(x, state, condition)
        return self.head(self.drop(z)), state

    def sharpening(self, state: Any) -> torch.Tensor | None:
        """Per row ``(B,)``: ``1 + sharpen * periodicity`` at the last completed block
        (the factor on the logits of the next sample), or None when off."""
        if not self.sharpen or state is None:
            return None
        return state[4]

    def compiled_sampler(self, rows: int):
        """The numba loop on CPU while a step's multiply-adds (rows x the MLP's and
        the amortized frame tier's weights) stay small."""
        per_step = self.sample_in.weight.numel() + self.hidden_layer.weight.numel() + self.head.weight.numel()
        per_step += sum(w.numel() for w in self.rnn.parameters() if w.dim() == 2) // self.frame
        if self.head.weight.device.type != "cpu" or rows * per_step > COMPILED_MACS:
            return None
        return self.compiled_weights().sample

    def compiled_weights(self) -> two_tier_sampler.TwoTierWeights:
        """The weights folded for the compiled loop: each block position's token
        embedding through the frame tier's input layer and the GRU's input weights,
        and through the sample tier's input layer."""

        def array(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().float().cpu().numpy())

        size, rnn, embed = self.frame, self.rnn, self.embed.weight  # embed (V, E)
        frame_in = torch.einsum("ve,hpe->pvh", embed, self.frame_in.weight.view(-1, size, embed.shape[1]))
        sample_in = torch.einsum("ve,mpe->pvm", embed, self.sample_in.weight.view(-1, size, embed.shape[1]))
        gates = rnn.weight_hh_l0.shape[0]
        upper = [getattr(rnn, f"weight_ih_l{k}").T for k in range(1, rnn.num_layers)]
        return two_tier_sampler.TwoTierWeights(
            frame_table=array(frame_in @ rnn.weight_ih_l0.T),
            frame_bias=array(self.frame_in.bias @ rnn.weight_ih_l0.T + rnn.bias_ih_l0),
            w_ih=array(torch.stack(upper)) if upper else np.zeros((0, rnn.hidden_size, gates), np.float32),
            w_hh=array(torch.stack([getattr(rnn, f"weight_hh_l{k}").T for k in range(rnn.num_layers)])),
            b_ih=array(torch.stack([torch.zeros(gates)] + [getattr(rnn, f"bias_ih_l{k}") for k in range(1, rnn.num_layers)])),
            b_hh=array(torch.stack([getattr(rnn, f"bias_hh_l{k}") for k in range(rnn.num_layers)])),
            up_w=array(self.upsample.weight.T), up_b=array(self.upsample.bias),
            sample_table=array(sample_in), sample_bias=array(self.sample_in.bias),
            mid_w=array(self.hidden_layer.weight.T), mid_b=array(self.hidden_layer.bias),
            head_w=array(self.head.weight.T), head_b=array(self.head.bias),
            condition_w=array(self.condition.project.weight.T) if self.condition.project is not None
            else np.zeros((0, self.hidden_layer.weight.shape[1]), np.float32),
            pad=self.pad, sharpen=float(self.sharpen),
            lags=(SHORTEST_PERIOD, LONGEST_PERIOD, PERIODICITY_WINDOW),
        )


def periodicity(history: torch.Tensor, centre: int) -> torch.Tensor:
    """``(B,)`` in [0, 1]: the largest normalized autocorrelation of the last
    ``PERIODICITY_WINDOW`` tokens of ``history`` ``(B, N)``, N at least the window
    plus ``LONGEST_PERIOD`` (values around ``centre``), with themselves
    ``SHORTEST_PERIOD``..``LONGEST_PERIOD`` samples earlier."""
    signal = (history.float() - centre) / centre
    now = signal[:, -PERIODICITY_WINDOW:]
    lags = torch.arange(SHORTEST_PERIOD, LONGEST_PERIOD + 1, device=history.device)
    start = history.shape[1] - PERIODICITY_WINDOW - lags  # (L,)
    index = start[:, None] + torch.arange(PERIODICITY_WINDOW, device=history.device)  # (L, W)
    before = signal[:, index]  # (B, L, W)
    dot = (before * now[:, None]).sum(-1)
    norm = (before.square().sum(-1) * now.square().sum(-1, keepdim=True)).sqrt().clamp_min(1e-6)
    return (dot / norm).amax(-1).clamp(0.0, 1.0)


def build(spec: OutputSpec, cfg: SampleRnnConfig) -> TwoTier:
    return TwoTier(spec, cfg)


@hookimpl
def noizenet_models():
    return [ModelPlugin("samplernn", SampleRnnConfig, build)]
