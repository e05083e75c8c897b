"""A compiled (numba) sampling loop for the recurrent models on CPU.

Generating audio one sample at a time is 16,000 model steps per second of sound at
batch 1; an eager PyTorch step costs more than that allows (about 0.2x real time for
a small GRU), and even one step per FFT frame pays about 3 ms of dispatch. Here the
whole loop runs in one compiled function: for tokens, the embedding and first-layer
input weights are folded into a lookup table (token -> gate inputs); each step is a
few small matrix products; tokens are drawn from the same softmax as the eager
model, frames from the same Gaussian around the prediction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import nn

GATES = {"rnn": 1, "gru": 3, "lstm": 4}
CELL_CODES = {"rnn": 0, "gru": 1, "lstm": 2}


@dataclass
class RecurrentWeights:
    """A recurrent net's weights laid out for the compiled step (float32, C order).

    table: ``(V, G*H)`` embedding times layer 0's input weights plus its input bias
        (token inputs); for frame inputs ``(E, G*H)``: layer 0's input weights, transposed.
    in_w, in_b: frame inputs' projection ``(D, E)`` and ``(E,)`` (empty for tokens).
    w_ih: ``(L-1, H, G*H)`` input weights of layers above the first, transposed.
    w_hh: ``(L, H, G*H)`` recurrent weights, transposed. b_ih, b_hh: ``(L, G*H)``.
    head_w: ``(H, V)``; head_b: ``(V,)``. G = gates per cell (1, 3 or 4).
    condition_w: ``(C, G*H)``: a condition's projection through layer 0's input
        weights (what a row's condition adds to its gate inputs at every step);
        ``(0, G*H)`` for a model without conditions.
    """

    cell: int
    table: np.ndarray
    in_w: np.ndarray
    in_b: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    head_w: np.ndarray
    head_b: np.ndarray
    condition_w: np.ndarray

    @classmethod
    def from_modules(
        cls, cell: str, inputs: nn.Embedding | nn.Linear, rnn: nn.RNNBase, head: nn.Linear, condition: nn.Linear | None = None,
    ) -> RecurrentWeights:
        def array(t: torch.Tensor) -> np.ndarray:
            return np.ascontiguousarray(t.detach().float().cpu().numpy())

        layers, hidden = rnn.num_layers, rnn.hidden_size
        gates = GATES[cell] * hidden

        def param(name: str, layer: int) -> torch.Tensor:
            value = getattr(rnn, f"{name}_l{layer}", None)
            return value if value is not None else torch.zeros(gates)  # bias=False

        if isinstance(inputs, nn.Embedding):
            table = inputs.weight @ param("weight_ih", 0).T + param("bias_ih", 0)
            in_w, in_b = torch.zeros(0, 0), torch.zeros(0)
        else:
            table = param("weight_ih", 0).T
            in_w, in_b = inputs.weight.T, inputs.bias if inputs.bias is not None else torch.zeros(inputs.out_features)
        upper = [param("weight_ih", k).T for k in range(1, layers)]
        first_bias = torch.zeros(gates) if isinstance(inputs, nn.Embedding) else param("bias_ih", 0)
        return cls(
            cell=CELL_CODES[cell],
            table=array(table),
            in_w=array(in_w),
            in_b=array(in_b),
            w_ih=array(torch.stack(upper)) if upper else np.zeros((0, hidden, gates), np.float32),
            w_hh=array(torch.stack([param("weight_hh", k).T for k in range(layers)])),
            b_ih=array(torch.stack([first_bias] + [param("bias_ih", k) for k in range(1, layers)])),
            b_hh=array(torch.stack([param("bias_hh", k) for k in range(layers)])),
            head_w=array(head.weight.T),
            head_b=array(head.bias if head.bias is not None else torch.zeros(head.out_features)),
            condition_w=array(condition.weight.T @ param("weight_ih", 0).T) if condition is not None
            else np.zeros((0, gates), np.float32),
        )

    @property
    def frames(self) -> bool:
        return self.in_w.size > 0

    def arrays(self) -> tuple:
        return (self.cell, self.table, self.in_w, self.in_b, self.w_ih, self.w_hh, self.b_ih, self.b_hh,
                self.head_w, self.head_b, self.condition_w)

    def logits(self, inputs: np.ndarray) -> np.ndarray:
        """Teacher-forced outputs ``(B, T, V)`` for int64 tokens ``(B, T)`` or float32
        frames ``(B, T, D)``, from the zero state."""
        if self.frames:
            return _forward(*self.arrays(), np.zeros((0, 0), np.int64), np.ascontiguousarray(inputs, dtype=np.float32))
        return _forward(*self.arrays(), np.ascontiguousarray(inputs, dtype=np.int64), np.zeros((0, 0, 0), np.float32))

    def sample(
        self,
        out: np.ndarray,
        lengths: np.ndarray,
        ends: np.ndarray,
        temperatures: np.ndarray,
        *,
        stop: int,
        noise: float,
        seed: int,
        scale: np.ndarray | None = None,
        top_k: int = 0,
        top_p: float = 1.0,
        conditions: np.ndarray | None = None,
        guidance: float = 1.0,
    ) -> None:
        """Fill ``out`` (int64 ``(B, L)`` or float32 ``(B, L, D)``) after each row's
        prime; see SequenceModel.compiled_sampler."""
        bias = self.row_bias(len(out), conditions, guidance)
        common = (lengths.astype(np.int64), ends.astype(np.int64), temperatures.astype(np.float32), float(noise),
                  seed % (2**32), bias, float(guidance))
        if self.frames:
            spread = np.zeros(out.shape[2], np.float32) if scale is None else scale.astype(np.float32)
            _sample_frames(*self.arrays(), out, *common, spread)
        else:
            _sample_tokens(*self.arrays(), out, *common, stop, int(top_k), float(top_p))

    def row_bias(self, rows: int, conditions: np.ndarray | None, guidance: float) -> np.ndarray:
        """float32 ``(R, G*H)``: what each internal row adds to layer 0's gate inputs.
        R = ``rows`` (no condition, guidance 0 or 1) or ``2 * rows`` (guided: the
        conditioned rows, then the same rows unconditioned)."""
        gates = self.w_hh.shape[2]
        if conditions is None or guidance == 0 or not self.condition_w.size:
            return np.zeros((rows, gates), np.float32)
        conditioned = conditions.astype(np.float32) @ self.condition_w
        if guidance == 1:
            return np.ascontiguousarray(conditioned)
        return np.ascontiguousarray(np.concatenate([conditioned, np.zeros_like(conditioned)]))


@numba.njit(cache=True, fastmath=True)
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@numba.njit(cache=True)
def _first_gates(table, in_w, in_b, b_ih, tokens, frames):
    """Layer 0's gate inputs ``(B, G*H)`` for tokens ``(B,)`` or frames ``(B, D)``."""
    if in_w.size == 0:
        gates = np.empty((tokens.shape[0], table.shape[1]), np.float32)
        for b in range(tokens.shape[0]):
            gates[b] = table[tokens[b]]
        return gates
    return (frames @ in_w + in_b) @ table + b_ih[0]


@numba.njit(cache=True, fastmath=True)
def _step(cell, first, w_ih, w_hh, b_ih, b_hh, h, c):
    """Advance every layer one step given layer 0's gate inputs ``first`` ``(B, G*H)``;
    ``h``, ``c`` ``(L, B, H)`` in place. Returns the top layer's output ``(B, H)``."""
    layers, batch, hidden = h.shape
    below = h[0]
    for layer in range(layers):
        if layer == 0:
            gi = first
        else:
            gi = below @ w_ih[layer - 1] + b_ih[layer]
        gh = h[layer] @ w_hh[layer] + b_hh[layer]
        for b in range(batch):
            for j in range(hidden):
                if cell == 0:  # tanh RNN
                    h[layer, b, j] = math.tanh(gi[b, j] + gh[b, j])
                elif cell == 1:  # GRU: gates r, z, n
                    r = _sigmoid(gi[b, j] + gh[b, j])
                    z = _sigmoid(gi[b, hidden + j] + gh[b, hidden + j])
                    n = math.tanh(gi[b, 2 * hidden + j] + r * gh[b, 2 * hidden + j])
                    h[layer, b, j] = (1.0 - z) * n + z * h[layer, b, j]
                else:  # LSTM: gates i, f, g, o
                    i = _sigmoid(gi[b, j] + gh[b, j])
                    f = _sigmoid(gi[b, hidden + j] + gh[b, hidden + j])
                    g = math.tanh(gi[b, 2 * hidden + j] + gh[b, 2 * hidden + j])
                    o = _sigmoid(gi[b, 3 * hidden + j] + gh[b, 3 * hidden + j])
                    c[layer, b, j] = f * c[layer, b, j] + i * g
                    h[layer, b, j] = o * math.tanh(c[layer, b, j])
        below = h[layer]
    return below


@numba.njit(cache=True)
def _forward(cell, table, in_w, in_b, w_ih, w_hh, b_ih, b_hh, head_w, head_b, condition_w, tokens, frames):
    batch, steps = (frames.shape[0], frames.shape[1]) if in_w.size else (tokens.shape[0], tokens.shape[1])
    layers, hidden = w_hh.shape[0], w_hh.shape[1]
    h = np.zeros((layers, batch, hidden), np.float32)
    c = np.zeros((layers, batch, hidden), np.float32)
    logits = np.empty((batch, steps, head_b.shape[0]), np.float32)
    no_tokens = np.zeros(0, np.int64)
    no_frames = np.zeros((0, 0), np.float32)
    for t in range(steps):
        if in_w.size:
            first = _first_gates(table, in_w, in_b, b_ih, no_tokens, frames[:, t].copy())
        else:
            first = _first_gates(table, in_w, in_b, b_ih, tokens[:, t].copy(), no_frames)
        top = _step(cell, first, w_ih, w_hh, b_ih, b_hh, h, c)
        logits[:, t] = top @ head_w + head_b
    return logits


@numba.njit(cache=True)
def _guided(outputs, batch, guidance):
    """``(batch, V)``: the rows' outputs, or where ``outputs`` holds ``2 * batch`` rows
    (conditioned, then unconditioned) ``uncond + guidance * (cond - uncond)``."""
    if outputs.shape[0] == batch:
        return outputs
    return outputs[batch:] + np.float32(guidance) * (outputs[:batch] - outputs[batch:])


@numba.njit(cache=True, fastmath=True)
def _draw(logits, temperature, top_k, top_p):
    """A token from softmax(logits / temperature) (argmax when temperature is 0),
    among the ``top_k`` most likely (0 = all) and then the nucleus of ``top_p`` (1 =
    all): as noizenet.plugin.kinds.categorical.truncate, ties at the k-th logit kept."""
    vocab = logits.shape[0]
    best = 0
    for v in range(vocab):
        if logits[v] > logits[best]:
            best = v
    if temperature <= 0:
        return best
    weights = np.empty(vocab, np.float64)
    for v in range(vocab):
        weights[v] = math.exp((logits[v] - logits[best]) / temperature)
    if 0 < top_k < vocab:
        kth = np.sort(logits)[vocab - top_k]
        for v in range(vocab):
            if logits[v] < kth:
                weights[v] = 0.0
    if top_p < 1.0:
        order = np.argsort(-weights)
        total = weights.sum()
        above = 0.0
        for v in order:
            if above >= top_p * total:
                weights[v] = 0.0
            above += weights[v] if weights[v] > 0.0 else 0.0
    cumulative = np.cumsum(weights)
    u = np.random.random() * cumulative[-1]
    for v in range(vocab):
        if u < cumulative[v]:
            return v
    return best


@numba.njit(cache=True, nogil=True)  # the GIL is free for progress bars while it runs
def _sample_frames(
    cell, table, in_w, in_b, w_ih, w_hh, b_ih, b_hh, head_w, head_b, condition_w, out, lengths, ends, temperatures,
    noise, seed, bias, guidance, scale,
):
    np.random.seed(seed)
    batch, width = out.shape[0], out.shape[2]
    layers, hidden = w_hh.shape[0], w_hh.shape[1]
    rows = bias.shape[0]  # 2 * batch when guided: conditioned rows, then unconditioned
    h = np.zeros((layers, rows, hidden), np.float32)
    c = np.zeros((layers, rows, hidden), np.float32)
    no_tokens = np.zeros(0, np.int64)
    for t in range(ends.max() - 1):
        inputs = out[:, t].copy() if rows == batch else np.concatenate((out[:, t], out[:, t]))
        first = _first_gates(table, in_w, in_b, b_ih, no_tokens, inputs) + bias
        top = _step(cell, first, w_ih, w_hh, b_ih, b_hh, h, c)
        if ((t + 1 < lengths) | (t + 1 >= ends)).all():
            continue  # every row is still reading its prime (or done): no prediction needed
        frames = _guided(top @ head_w + head_b, batch, guidance)
        for b in range(batch):
            if t + 1 < lengths[b] or t + 1 >= ends[b]:
                continue
            for d in range(width):
                value = frames[b, d]
                if temperatures[b] > 0:
                    value += temperatures[b] * scale[d] * np.random.standard_normal()
                if noise > 0:
                    value += noise * np.random.standard_normal()
                out[b, t + 1, d] = value


@numba.njit(cache=True, nogil=True)  # the GIL is free for progress bars while it runs
def _sample_tokens(
    cell, table, in_w, in_b, w_ih, w_hh, b_ih, b_hh, head_w, head_b, condition_w, out, lengths, ends, temperatures,
    noise, seed, bias, guidance, stop, top_k, top_p,
):
    np.random.seed(seed)
    batch = out.shape[0]
    layers, hidden = w_hh.shape[0], w_hh.shape[1]
    vocab = head_b.shape[0]
    rows = bias.shape[0]  # 2 * batch when guided: conditioned rows, then unconditioned
    h = np.zeros((layers, rows, hidden), np.float32)
    c = np.zeros((layers, rows, hidden), np.float32)
    done = np.zeros(batch, np.bool_)
    no_frames = np.zeros((0, 0), np.float32)
    last = ends.max()
    for t in range(last - 1):
        inputs = out[:, t].copy() if rows == batch else np.concatenate((out[:, t], out[:, t]))
        first = _first_gates(table, in_w, in_b, b_ih, inputs, no_frames) + bias
        top = _step(cell, first, w_ih, w_hh, b_ih, b_hh, h, c)
        needed = np.zeros(batch, np.bool_)
        for b in range(batch):
            needed[b] = not done[b] and t + 1 >= lengths[b] and t + 1 < ends[b]
        if not needed.any():
            if (done | (t + 1 >= ends)).all():
                break
            continue
        logits = _guided(top @ head_w + head_b, batch, guidance)
        for b in range(batch):
            if not needed[b]:
                continue
            token = _draw(logits[b], temperatures[b], top_k, top_p)
            if noise > 0 and np.random.random() < noise:
                token = np.random.randint(0, vocab)
            out[b, t + 1] = token
            if token == stop:
                done[b] = True
