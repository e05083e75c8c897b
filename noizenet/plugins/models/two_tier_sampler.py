"""The compiled (numba) sampling loop of the two-tier ``samplernn`` model on CPU.

Per sample: the last ``frame`` tokens' embeddings through the sample-level input
layer (folded into one lookup table per position: token -> ``(mlp,)``), plus the
block's conditioning and the row's condition (a pitch-class profile, projected
once), two ReLU layers, the softmax draw; guided, the layers run again without the
condition and the logits mix as ``uncond + g * (cond - uncond)``. Once per block: the frame
GRU's step (its input layer folded the same way) and the conditioning of the next
block, and the periodicity that sharpens the draw (LPCNet's rule). The same
distributions as the eager model (:mod:`noizenet.plugins.models.samplernn`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from noizenet.plugins.models.sampler import _draw, _step

GRU = 1  # the cell code of sampler._step


@dataclass
class TwoTierWeights:
    """``frame_table`` ``(frame, V, 3H)``: position p's token through the frame
    input layer and the GRU's input weights; ``frame_bias`` ``(3H,)``; ``w_hh``
    ``(L, H, 3H)``, ``w_ih`` ``(L-1, H, 3H)``, ``b_ih``/``b_hh`` ``(L, 3H)``;
    ``up_w`` ``(H, frame * mlp)``, ``up_b``; ``sample_table`` ``(frame, V, mlp)``
    (plus ``sample_bias``); ``mid_w`` ``(mlp, mlp)``, ``mid_b``; ``head_w``
    ``(mlp, V)``, ``head_b``; ``condition_w`` ``(C, mlp)``, a condition's projection
    into the sample tier's input (``(0, mlp)`` without conditions); and the model's
    ``pad`` token, ``sharpen`` factor and periodicity lags and window. Built by
    ``TwoTier.compiled_weights``."""

    frame_table: np.ndarray
    frame_bias: np.ndarray
    w_ih: np.ndarray
    w_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    sample_table: np.ndarray
    sample_bias: np.ndarray
    mid_w: np.ndarray
    mid_b: np.ndarray
    head_w: np.ndarray
    head_b: np.ndarray
    condition_w: np.ndarray
    pad: int
    sharpen: float
    lags: tuple[int, int, int]  # shortest and longest period, window

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
        """Fill int64 ``out`` ``(B, L)`` after each row's prime; see SequenceModel.compiled_sampler."""
        mlp = self.sample_bias.shape[0]
        if conditions is None or guidance == 0 or not self.condition_w.size:
            row_condition, guidance = np.zeros((len(out), mlp), np.float32), 1.0
        else:
            row_condition = np.ascontiguousarray(conditions.astype(np.float32) @ self.condition_w)
        _sample(
            self.frame_table, self.frame_bias, self.w_ih, self.w_hh, self.b_ih, self.b_hh, self.up_w, self.up_b,
            self.sample_table, self.sample_bias, self.mid_w, self.mid_b, self.head_w, self.head_b,
            self.pad, self.sharpen, *self.lags,
            out, lengths.astype(np.int64), ends.astype(np.int64), temperatures.astype(np.float32), float(noise),
            seed % (2**32), stop, int(top_k), float(top_p), row_condition, float(guidance),
        )


@numba.njit(cache=True, fastmath=True)
def _periodicity(row, t, centre, shortest, longest, window):
    """Largest normalized autocorrelation of ``row[t-window+1 .. t]`` (tokens around
    ``centre``; ``centre`` before the row's start) at lags ``shortest..longest``."""
    best = 0.0
    now_energy = 0.0
    for k in range(window):
        i = t - window + 1 + k
        v = (row[i] - centre) / centre if i >= 0 else 0.0
        now_energy += v * v
    for lag in range(shortest, longest + 1):
        dot = 0.0
        energy = 0.0
        for k in range(window):
            i = t - window + 1 + k
            v = (row[i] - centre) / centre if i >= 0 else 0.0
            j = i - lag
            w = (row[j] - centre) / centre if j >= 0 else 0.0
            dot += v * w
            energy += w * w
        norm = math.sqrt(energy * now_energy)
        if norm > 1e-6 and dot / norm > best:
            best = dot / norm
    return min(best, 1.0)


@numba.njit(cache=True, fastmath=True)
def _sample_tier(z, mid_w, mid_b, head_w, head_b):
    """Logits ``(V,)`` of the sample tier's input ``z`` ``(mlp,)``: two ReLU layers, the head."""
    z = np.maximum(z, np.float32(0.0))
    z = np.maximum(z @ mid_w + mid_b, np.float32(0.0))
    return z @ head_w + head_b


@numba.njit(cache=True, nogil=True)  # the GIL is free for progress bars while it runs
def _sample(
    frame_table, frame_bias, w_ih, w_hh, b_ih, b_hh, up_w, up_b, sample_table, sample_bias, mid_w, mid_b, head_w,
    head_b, pad, sharpen, shortest, longest, window, out, lengths, ends, temperatures, noise, seed, stop, top_k, top_p,
    row_condition, guidance,
):
    np.random.seed(seed)
    batch = out.shape[0]
    size, vocab, mlp = sample_table.shape
    layers, hidden = w_hh.shape[0], w_hh.shape[1]
    h = np.zeros((layers, batch, hidden), np.float32)
    c = np.zeros((layers, batch, hidden), np.float32)  # unused by the GRU step
    cond = np.empty((batch, size, mlp), np.float32)
    for b in range(batch):
        cond[b] = up_b.reshape(size, mlp)
    factor = np.ones(batch, np.float32)
    done = np.zeros(batch, np.bool_)
    for t in range(ends.max() - 1):
        if (t + 1) % size == 0:  # out[:, t] completes a block: the frame tier steps
            first = np.empty((batch, frame_table.shape[2]), np.float32)
            for b in range(batch):
                first[b] = frame_bias
                for p in range(size):
                    i = t - size + 1 + p
                    first[b] += frame_table[p, out[b, i] if i >= 0 else pad]
            top = _step(GRU, first, w_ih, w_hh, b_ih, b_hh, h, c)
            cond = (top @ up_w + up_b).astype(np.float32).reshape(batch, size, mlp)
            if sharpen > 0:
                for b in range(batch):
                    factor[b] = 1.0 + sharpen * _periodicity(out[b], t, pad, shortest, longest, window)
        position = (t + 1) % size
        for b in range(batch):
            if done[b] or t + 1 < lengths[b] or t + 1 >= ends[b]:
                continue
            z = sample_bias + cond[b, position]
            for p in range(size):
                i = t - size + 1 + p
                z = z + sample_table[p, out[b, i] if i >= 0 else pad]
            logits = _sample_tier(z + row_condition[b], mid_w, mid_b, head_w, head_b)
            if guidance != 1.0:  # the same step unconditioned, mixed
                unconditioned = _sample_tier(z, mid_w, mid_b, head_w, head_b)
                logits = unconditioned + np.float32(guidance) * (logits - unconditioned)
            logits = logits * factor[b]
            token = _draw(logits, temperatures[b], top_k, top_p)
            if noise > 0 and np.random.random() < noise:
                token = np.random.randint(0, vocab)
            out[b, t + 1] = token
            if token == stop:
                done[b] = True
        if (done | (t + 2 >= ends)).all():
            break
