"""The shared training stage: teacher forcing over carried-state windows, gradient
clipping, optimizer and LR schedule, validation, early stopping and checkpoints.

Used unchanged by every representation: the loss comes from the output spec.
"""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from noizenet import distributed
from noizenet.config import TrainConfig
from noizenet.device import autocast
from noizenet.errors import NoizenetError
from noizenet.interfaces import OutputSpec, SequenceModel
from noizenet.progress import progress_bar
from noizenet.rundir import RunDir, atomic_torch_save
from noizenet.scoring import score_pieces, sequence_loss
from noizenet.windows import PieceWindows, StreamWindows, Window

log = logging.getLogger("noizenet")
DIVERGENCE_STEPS = 10  # losses averaged for the divergence check
GPU_LOSS_READ_EVERY = 16  # on a GPU, steps queued between host syncs (loss read, clock, decisions)


class TrainingInterrupted(NoizenetError):
    """SIGINT/SIGTERM arrived; ``last.pt`` holds the state to resume from."""


class TrainingDiverged(NoizenetError):
    """The loss became NaN/inf or far above its start; the last good checkpoint stays."""


@dataclass
class TrainResult:
    stopped: str  # "epochs", "time", "early-stop"
    epochs: float
    steps: int
    seconds: float
    tokens_per_s: float
    best_val_loss: float


def build_optimizer(params: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """adam | adamw | sgd (Nesterov, momentum 0.9) | adagrad | rmsprop."""
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, nesterov=True, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.RMSprop(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def lr_factor(cfg: TrainConfig, step: int, progress: float, plateau_factor: float) -> float:
    """Multiplier of ``cfg.lr`` at ``step``; ``progress`` in [0, 1] is the share of the
    step or time budget used, whichever is larger, so the cosine ends as training does."""
    warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    if cfg.schedule == "cosine":
        r = cfg.min_lr_ratio
        return warmup * (r + (1 - r) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))
    if cfg.schedule == "plateau":
        return warmup * plateau_factor
    return warmup


def detach(state: Any) -> Any:
    """Cut the graph behind a recurrent state (tensor or nested tuple/list of them)."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach(s) for s in state)
    return state


def _first_tokens(pieces: Sequence[torch.Tensor], budget: int) -> list[torch.Tensor]:
    """The leading pieces whose lengths add up to at most ``budget`` (at least one)."""
    if not budget:
        return list(pieces)
    chosen, total = [], 0
    for piece in pieces:
        if chosen and total + len(piece) > budget:
            break
        chosen.append(piece)
        total += len(piece)
    return chosen


class _StopSignal:
    """Turns SIGINT/SIGTERM into a flag checked after each step."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopSignal:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = signum

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Trainer:
    """Trains ``model`` on ``windows``, validating on ``val_encoded`` pieces.

    During training only the first ``cfg.val_max_tokens`` steps' worth of validation
    pieces are scored (the evaluator scores them all).
    ``checkpoint_extra`` (config, representation state, ...) goes into every
    checkpoint so that ``generate`` and ``evaluate`` can rebuild the run from it.
    """

    def __init__(
        self,
        *,
        model: SequenceModel,
        spec: OutputSpec,
        windows: PieceWindows | StreamWindows,
        val_encoded: Sequence[torch.Tensor],
        cfg: TrainConfig,
        run_dir: RunDir,
        device: torch.device,
        checkpoint_extra: dict[str, Any],
        quiet: bool = False,
        amp_dtype: torch.dtype | None = None,
    ) -> None:
        self.model = model
        self.train_model = distributed.wrap(model, device)  # DDP under torchrun, else the model
        self.spec = spec
        self.windows = windows
        self.val_encoded = distributed.shard(_first_tokens(val_encoded, cfg.val_max_tokens))
        self.cfg = cfg
        self.run_dir = run_dir
        self.device = device
        self.checkpoint_extra = checkpoint_extra
        self.quiet = quiet
        self.amp_dtype = amp_dtype
        self.optimizer = build_optimizer(model.parameters(), cfg)
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none
        self.scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
        # Steps between reads of the loss: each read waits for the GPU to finish.
        self.read_every = 1 if device.type == "cpu" else GPU_LOSS_READ_EVERY
        self.total_steps = cfg.epochs * windows.windows_per_epoch
        # Everything below is saved in last.pt and restored by resume().
        self.step = 0
        self.epoch = 0  # epochs finished
        self.window = 0  # windows done in the current epoch
        self.tokens = 0  # predictions trained on
        self.seconds = 0.0  # wall time of training, validation included (the budget)
        self.step_seconds = 0.0  # time inside training steps (the throughput)
        self.state: Any = None
        self.best_val = math.inf
        self.bad_validations = 0
        self.plateau_factor = 1.0
        self.initial_loss: float | None = None  # mean of the first DIVERGENCE_STEPS losses
        self.recent_losses: list[float] = []
        self.loss_sum = 0.0
        self.loss_count = 0
        self.time_validations = 0
        self.validated_step = -1
        self.next_val_epoch = cfg.val_every
        self.epoch_windows = windows.count(0)

    # -- checkpoints -------------------------------------------------------------
    def _checkpoint(self) -> dict[str, Any]:
        return {
            **self.checkpoint_extra,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "trainer": {
                "step": self.step,
                "epoch": self.epoch,
                "window": self.window,
                "tokens": self.tokens,
                "seconds": self.seconds,
                "step_seconds": self.step_seconds,
                "state": self.state,
                "best_val": self.best_val,
                "bad_validations": self.bad_validations,
                "plateau_factor": self.plateau_factor,
                "initial_loss": self.initial_loss,
                "recent_losses": self.recent_losses,
                "loss_sum": self.loss_sum,
                "loss_count": self.loss_count,
                "time_validations": self.time_validations,
                "next_val_epoch": self.next_val_epoch,
                "torch_rng": torch.get_rng_state(),
            },
        }

    def resume(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        if checkpoint["config"]["train"]["optimizer"] == self.cfg.optimizer:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        else:
            log.warning("optimizer changed to %s: its state starts afresh", self.cfg.optimizer)
        t = checkpoint["trainer"]
        self.step, self.seconds, self.state = t["step"], t["seconds"], t["state"]
        self.epoch, self.window, self.tokens = t["epoch"], t["window"], t["tokens"]
        self.step_seconds = t["step_seconds"]
        self.best_val, self.bad_validations = t["best_val"], t["bad_validations"]
        self.plateau_factor, self.initial_loss = t["plateau_factor"], t["initial_loss"]
        self.recent_losses = list(t.get("recent_losses", []))
        self.loss_sum, self.loss_count = t["loss_sum"], t["loss_count"]
        self.time_validations = t["time_validations"]
        self.next_val_epoch = t["next_val_epoch"]
        torch.set_rng_state(t["torch_rng"])

    # -- the loop ----------------------------------------------------------------
    def progress(self) -> float:
        """Share of the budget used: epochs (estimated in steps) or minutes, the larger."""
        return min(1.0, max(self.step / self.total_steps, self.seconds / (60 * self.cfg.max_minutes)))

    def fit(self) -> TrainResult:
        self.model.train()
        stopped = ""
        start_tokens, start_step_seconds = self.tokens, self.step_seconds
        with _StopSignal() as stop, progress_bar("train", quiet=self.quiet) as bar:
            unread: list[torch.Tensor] = []  # losses not yet copied to the host
            pending = 0.0  # step seconds not yet added to the agreed clock
            while not stopped:
                self.epoch_windows = self.windows.count(self.epoch)
                windows_left = self.epoch_windows - self.window
                for window in self.windows.epoch(self.epoch, start=self.window):
                    tick = time.perf_counter()
                    unread.append(self._train_step(window))
                    elapsed = time.perf_counter() - tick
                    self.step_seconds += elapsed
                    pending += elapsed
                    windows_left -= 1
                    if len(unread) < self.read_every and windows_left > 0:
                        continue  # on a GPU: read the loss (a host sync) and decide every read_every steps
                    loss = self._read_losses(unread)
                    loss, self.seconds, stopping = distributed.agree(
                        loss, self.seconds + pending, stop.received is not None, self.device
                    )
                    unread, pending = [], 0.0
                    self._check_loss(loss)
                    speed = (self.tokens - start_tokens) / max(1e-9, self.step_seconds - start_step_seconds)
                    bar.update(self.progress(), f"ep {self.epoch_position():5.2f} loss {loss:.3f} {speed:,.0f} tok/s")
                    if self._due_for_validation():
                        tick = time.perf_counter()
                        stopped = self._validate()
                        self.seconds += time.perf_counter() - tick
                    if stopping:
                        self._save_last()
                        self.run_dir.set_status("interrupted", step=self.step)
                        raise TrainingInterrupted(
                            f"interrupted at step {self.step}; resume with: noizenet run --resume {self.run_dir.root}"
                        )
                    if stopped:
                        break
                else:  # the epoch ran to its end
                    self.epoch, self.window = self.epoch + 1, 0
                    if self.epoch >= self.cfg.epochs:
                        stopped = self._validate() if self.validated_step != self.step else "epochs"
        seconds = self.step_seconds - start_step_seconds
        return TrainResult(
            stopped=stopped,
            epochs=self.epoch_position(),
            steps=self.step,
            seconds=self.seconds,
            tokens_per_s=(self.tokens - start_tokens) / seconds if seconds > 0 else 0.0,
            best_val_loss=self.best_val,
        )

    def epoch_position(self) -> float:
        """Epochs done, with the current one as a fraction."""
        return self.epoch + self.window / self.epoch_windows

    def _train_step(self, window: Window) -> torch.Tensor:
        factor = lr_factor(self.cfg, self.step, self.progress(), self.plateau_factor)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr * factor
        if bool(window.fresh.all()):
            self.state = None  # every row begins a new piece (or the corpus is laid out anew)
        elif bool(window.fresh.any()):
            self.state = self.model.reset_state(self.state, window.fresh.to(self.device))
        x, y, mask = (self._to_device(t) for t in (window.x, window.y, window.mask))
        with autocast(self.device, self.amp_dtype):
            out, state = self.train_model(x, self.state)
        self.state = detach(state)
        loss = sequence_loss(out.float(), y, self.spec, mask)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        self.window += 1
        self.tokens += window.steps
        return loss.detach()

    def _to_device(self, tensor: torch.Tensor | None) -> torch.Tensor | None:
        """Host batch -> device; through pinned memory on CUDA so the copy overlaps compute."""
        if tensor is None or self.device.type == "cpu":
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def _read_losses(self, losses: list[torch.Tensor]) -> float:
        """The losses of the steps since the last read, as floats (one host sync);
        adds them to the running train loss and returns their mean."""
        values = torch.stack(losses).float().tolist()
        self.loss_sum += sum(values)
        self.loss_count += len(values)
        return sum(values) / len(values)

    def _check_loss(self, loss: float) -> None:
        """Stop on a NaN or infinite loss, or when the mean of the last
        ``DIVERGENCE_STEPS`` losses passes 3x the mean of the first ones (char-rnn's
        rule, on means: single windows of audio differ in loudness by more than 3x)."""
        self.recent_losses = [*self.recent_losses, loss][-DIVERGENCE_STEPS:]
        level = sum(self.recent_losses) / len(self.recent_losses)
        if self.initial_loss is None and len(self.recent_losses) == DIVERGENCE_STEPS:
            self.initial_loss = level
        if not math.isfinite(loss) or (self.initial_loss is not None and level > 3 * self.initial_loss):
            lr = self.optimizer.param_groups[0]["lr"]
            self.run_dir.set_status("diverged", step=self.step, loss=loss, lr=lr)
            start = f"{self.initial_loss:.4g}" if self.initial_loss is not None else "not yet measured"
            raise TrainingDiverged(
                f"training diverged at step {self.step} (loss {loss:.4g}, recent mean {level:.4g}, start {start}, "
                f"lr {lr:.3g}); try a lower --lr or a smaller --clip. The last good checkpoint is kept."
            )

    def _due_for_validation(self) -> bool:
        """Every ``val_every`` epochs, at each tenth of the time budget (so that big
        corpora get a loss curve too), and when the time is up."""
        position = self.epoch_position()
        scheduled = position + 1e-9 >= self.next_val_epoch
        if scheduled:
            self.next_val_epoch = (math.floor(position / self.cfg.val_every + 1e-9) + 1) * self.cfg.val_every
        tenth = int(10 * self.seconds / (60 * self.cfg.max_minutes))
        timed = tenth > self.time_validations
        self.time_validations = max(tenth, self.time_validations)
        return scheduled or timed or self._out_of_budget()

    def _out_of_budget(self) -> bool:
        return self.seconds >= 60 * self.cfg.max_minutes

    def _validate(self) -> str:
        """Score the validation pieces, log, checkpoint; return why to stop, or ""."""
        self.validated_step = self.step
        val = distributed.reduce_score(score_pieces(self.model, self.val_encoded, self.spec, self.device), self.device)
        train_loss = self.loss_sum / max(1, self.loss_count)
        self.loss_sum, self.loss_count = 0.0, 0
        record = {
            "epoch": round(self.epoch_position(), 4),
            "step": self.step,
            "seconds": round(self.seconds, 2),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "val_loss": val["loss"],
        }
        if "accuracy" in val:
            record["val_accuracy"] = val["accuracy"]
        self.run_dir.append_metrics(record)
        improved = val["loss"] < self.best_val
        if improved:
            self.best_val = val["loss"]
            self.bad_validations = 0
        else:
            self.bad_validations += 1
            self.plateau_factor *= 0.5
        self._save_last()
        if improved:
            atomic_torch_save(self.run_dir.best, self._checkpoint())
        if self.cfg.patience and self.bad_validations >= self.cfg.patience:
            return "early-stop"
        if self.seconds >= 60 * self.cfg.max_minutes:
            return "time"
        if self.epoch >= self.cfg.epochs:
            return "epochs"
        return ""

    def _save_last(self) -> None:
        atomic_torch_save(self.run_dir.last, self._checkpoint())
