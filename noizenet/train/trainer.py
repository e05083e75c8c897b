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
from dataclasses import dataclass, field, fields
from typing import Any

import torch

from noizenet.train import distributed
from noizenet.config import TrainConfig
from noizenet.train.device import autocast
from noizenet.errors import NoizenetError
from noizenet.plugin.interfaces import OutputSpec, SequenceModel
from noizenet.progress import progress_bar
from noizenet.runs.rundir import RunDir, atomic_torch_save
from noizenet.train.scoring import score_pieces
from noizenet.train.tensorboard import Board
from noizenet.train.windows import PieceWindows, StreamWindows, Window

log = logging.getLogger("noizenet")
DIVERGENCE_STEPS = 10  # losses averaged for the divergence check
GPU_LOSS_READ_EVERY = 16  # on a GPU, steps queued between host syncs (loss read, clock, decisions)
RISE = 0.02  # patience stops training on a validation loss this share above its best (a rise, not a plateau)
# The minutes become a step budget, once, after this many steps: the schedule (validations,
# cosine, patience) is then a function of the step, and a run repeats exactly on any machine.
BUDGET_PROBE_STEPS = 20
VALIDATIONS_PER_BUDGET = 10  # validations the budget leaves time for (one each tenth)
BUDGET_EPOCHS_SHARE = 0.5  # epochs expected to end within this share of the minutes: no validation is timed
OVERTIME = 1.5  # a safeguard: stop at this many times the minutes, whatever the step budget says


class TrainingInterrupted(NoizenetError):
    """SIGINT/SIGTERM arrived; ``last.pt`` holds the state to resume from."""


class TrainingDiverged(NoizenetError):
    """The loss became NaN/inf or far above its start; the last good checkpoint stays."""


@dataclass
class TrainerState:
    """Everything a resumed run needs to go on exactly where it stopped: saved whole
    in every checkpoint (``checkpoint["trainer"]``) and loaded whole by resume."""

    step: int = 0
    epoch: int = 0  # epochs finished
    window: int = 0  # windows done in the current epoch
    tokens: int = 0  # predictions trained on
    seconds: float = 0.0  # wall time of training, validation included (the budget)
    step_seconds: float = 0.0  # time inside training steps (the throughput)
    state: Any = None  # the model's recurrent state, carried across windows
    best_val: float = math.inf
    best_epoch: float = 0.0  # where the best validation was
    best_progress: float = 0.0  # share of the budget used then
    bad_validations: int = 0
    recent_val: list[float] = field(default_factory=list)  # the last validation losses, newest last
    plateau_factor: float = 1.0
    initial_loss: float | None = None  # mean of the first DIVERGENCE_STEPS losses
    recent_losses: list[float] = field(default_factory=list)
    loss_sum: float = 0.0  # train losses since the last validation
    loss_count: int = 0
    time_validations: int = 0  # tenths of the step budget validated at
    step_budget: int = 0  # steps this run trains (train.max_steps, or fixed from the minutes); 0: not fixed yet
    next_val_epoch: float = 0.0
    torch_rng: torch.Tensor = field(default_factory=torch.get_rng_state)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> TrainerState:
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


@dataclass
class TrainResult:
    stopped: str  # "epochs", "steps", "time", "early-stop"
    reason: str  # why, in a sentence for the summary and the report
    epochs: float
    steps: int
    seconds: float
    tokens_per_s: float
    best_val_loss: float
    step_budget: int  # the steps it was to train: rerun with train.max_steps=this to repeat it exactly


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
    """Trains ``model`` on ``windows``, validating on ``val_encoded`` pieces (with
    ``val_conditions`` ``(pieces, C)`` where the representation declares conditions;
    in training, each row's condition is the neutral one ``cfg.condition_dropout`` of
    the time).

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
        val_conditions: torch.Tensor | None = None,
        cfg: TrainConfig,
        run_dir: RunDir,
        device: torch.device,
        checkpoint_extra: dict[str, Any],
        quiet: bool = False,
        amp_dtype: torch.dtype | None = None,
        board: Board | None = None,
    ) -> None:
        self.model = model
        self.board = board  # TensorBoard, or None
        self.train_model = distributed.wrap(model, device)  # DDP under torchrun, else the model
        self.spec = spec
        self.windows = windows
        scored = _first_tokens(val_encoded, cfg.val_max_tokens)
        self.val_encoded = distributed.shard(scored)
        self.val_conditions = None if val_conditions is None else distributed.shard(val_conditions[: len(scored)])
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
        self.total_steps = cfg.epochs * windows.windows_per_epoch  # 0: no epoch limit
        self.run_state = TrainerState(next_val_epoch=cfg.val_every, step_budget=cfg.max_steps)  # saved in every checkpoint
        self.validated_step = -1
        self.log_validations = False  # a log line per validation (set by fit when no progress bar shows)
        self.speed = 0.0  # training tokens per second in this fit
        self.epoch_windows = windows.count(0)

    # -- checkpoints -------------------------------------------------------------
    def _checkpoint(self) -> dict[str, Any]:
        self.run_state.torch_rng = torch.get_rng_state()
        return {
            **self.checkpoint_extra,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "trainer": self.run_state.to_dict(),
        }

    def resume(self, checkpoint: dict[str, Any]) -> None:
        self.model.load_state_dict(checkpoint["model"])
        if checkpoint["config"]["train"]["optimizer"] == self.cfg.optimizer:
            self.optimizer.load_state_dict(checkpoint["optimizer"])
        else:
            log.warning("optimizer changed to %s: its state starts afresh", self.cfg.optimizer)
        self.run_state = TrainerState.from_dict(checkpoint["trainer"])
        torch.set_rng_state(self.run_state.torch_rng)

    # -- the loop ----------------------------------------------------------------
    def progress(self) -> float:
        """Share of the budget used, in steps: of the epochs' or of the step budget,
        the larger (0 by the step budget for the first :data:`BUDGET_PROBE_STEPS`
        steps, given or not), so that the schedule is a function of the step alone and
        a rerun with ``train.max_steps`` repeats a run exactly."""
        state = self.run_state
        by_epochs = state.step / self.total_steps if self.total_steps else 0.0
        by_budget = state.step / state.step_budget if state.step_budget and state.step >= BUDGET_PROBE_STEPS else 0.0
        return min(1.0, max(by_epochs, by_budget))

    def _fix_step_budget(self) -> None:
        """After :data:`BUDGET_PROBE_STEPS` steps, turn ``train.max_minutes`` into a
        number of steps, once, from the time a step has taken so far (validation
        passes included: one is timed here, and ten fit the minutes); what happens
        after depends on steps, not on the machine's speed. The count is recorded
        (status.json, the report), and ``train.max_steps`` set to it repeats the run."""
        state = self.run_state
        seconds_per_step = state.seconds / max(1, state.step)
        budget = 60 * self.cfg.max_minutes
        if self.total_steps and self.total_steps * seconds_per_step < BUDGET_EPOCHS_SHARE * budget:
            state.step_budget = math.floor(budget / seconds_per_step)  # the epochs end it first: no validation timed
            return
        tick = time.perf_counter()
        score_pieces(self.model, self.val_encoded, self.spec, self.device, conditions=self.val_conditions)
        _, validation_seconds, _ = distributed.agree(0.0, time.perf_counter() - tick, False, self.device)
        state.seconds += validation_seconds
        left = budget - state.seconds - VALIDATIONS_PER_BUDGET * validation_seconds
        state.step_budget = state.step + max(0, math.floor(left / seconds_per_step))

    def _epochs_done(self) -> bool:
        return bool(self.cfg.epochs) and self.run_state.epoch >= self.cfg.epochs

    def fit(self) -> TrainResult:
        self.model.train()
        stopped = ""
        start_tokens, start_step_seconds = self.run_state.tokens, self.run_state.step_seconds
        with _StopSignal() as stop, progress_bar("train", quiet=self.quiet) as bar:
            self.log_validations = not bar.shown and not self.quiet  # nohup, a scheduler, | tee: a line per validation
            unread: list[torch.Tensor] = []  # losses not yet copied to the host
            pending = 0.0  # step seconds not yet added to the agreed clock
            stepped = False  # whether this fit has read a loss yet
            while not stopped:
                self.epoch_windows = self.windows.count(self.run_state.epoch)
                windows_left = self.epoch_windows - self.run_state.window
                for window in self.windows.epoch(self.run_state.epoch, start=self.run_state.window):
                    tick = time.perf_counter()
                    unread.append(self._train_step(window))
                    elapsed = time.perf_counter() - tick
                    self.run_state.step_seconds += elapsed
                    pending += elapsed
                    windows_left -= 1
                    if len(unread) < self.read_every and windows_left > 0:
                        continue  # on a GPU: read the loss (a host sync) and decide every read_every steps
                    loss = self._read_losses(unread)
                    loss, self.run_state.seconds, stopping = distributed.agree(
                        loss, self.run_state.seconds + pending, stop.received is not None, self.device
                    )
                    unread, pending = [], 0.0
                    self._check_loss(loss)
                    if not stepped:  # status.json tells when the first steps are done (benchmarks time it)
                        self.run_dir.set_status("training", step=self.run_state.step)
                        stepped = True
                    done = self.run_state.step_seconds - start_step_seconds
                    self.speed = (self.run_state.tokens - start_tokens) / max(1e-9, done)
                    if not self.run_state.step_budget and self.run_state.step >= BUDGET_PROBE_STEPS:
                        self._fix_step_budget()
                    bar.update(self.progress(), f"ep {self.epoch_position():5.2f} loss {loss:.3f} {self.speed:,.0f} tok/s")
                    if self._due_for_validation():
                        tick = time.perf_counter()
                        stopped = self._validate()
                        self.run_state.seconds += time.perf_counter() - tick
                        # a validation that ends past the next tenth must not start another at once
                        self.run_state.time_validations = max(self.run_state.time_validations, self._tenths())
                    if stopping:
                        self._save_last()
                        self.run_dir.set_status("interrupted", step=self.run_state.step)
                        raise TrainingInterrupted(
                            f"interrupted at step {self.run_state.step}; resume with: noizenet run --resume {self.run_dir.root}"
                        )
                    if stopped:
                        break
                else:  # the epoch ran to its end
                    self.run_state.epoch, self.run_state.window = self.run_state.epoch + 1, 0
                    if self._epochs_done():
                        stopped = self._validate() if self.validated_step != self.run_state.step else "epochs"
        seconds = self.run_state.step_seconds - start_step_seconds
        return TrainResult(
            stopped=stopped,
            reason=self._reason(stopped),
            epochs=self.epoch_position(),
            steps=self.run_state.step,
            seconds=self.run_state.seconds,
            tokens_per_s=(self.run_state.tokens - start_tokens) / seconds if seconds > 0 else 0.0,
            best_val_loss=self.run_state.best_val,
            step_budget=self.run_state.step_budget or self.run_state.step,
        )

    def epoch_position(self) -> float:
        """Epochs done, with the current one as a fraction."""
        return self.run_state.epoch + self.run_state.window / self.epoch_windows

    def _train_step(self, window: Window) -> torch.Tensor:
        factor = lr_factor(self.cfg, self.run_state.step, self.progress(), self.run_state.plateau_factor)
        for group in self.optimizer.param_groups:
            group["lr"] = self.cfg.lr * factor
        if bool(window.fresh.all()):
            self.run_state.state = None  # every row begins a new piece (or the corpus is laid out anew)
        elif bool(window.fresh.any()):
            self.run_state.state = self.model.reset_state(self.run_state.state, window.fresh.to(self.device))
        x, y, mask = (self._to_device(t) for t in (window.x, window.y, window.mask))
        with autocast(self.device, self.amp_dtype):
            if window.condition is None:
                out, state = self.train_model(x, self.run_state.state)
            else:
                kept = torch.rand(len(window.condition)) >= self.cfg.condition_dropout  # (B,): the rest get the neutral zeros
                condition = self._to_device(window.condition * kept[:, None, None])
                out, state = self.train_model(x, self.run_state.state, condition=condition)
        self.run_state.state = detach(state)
        loss = self.spec.kind.loss(out.float(), y, mask)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.run_state.step += 1
        self.run_state.window += 1
        self.run_state.tokens += window.steps
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
        self.run_state.loss_sum += sum(values)
        self.run_state.loss_count += len(values)
        return sum(values) / len(values)

    def _check_loss(self, loss: float) -> None:
        """Stop on a NaN or infinite loss, or when the mean of the last
        ``DIVERGENCE_STEPS`` losses passes 3x the mean of the first ones (char-rnn's
        rule, on means: single windows of audio differ in loudness by more than 3x)."""
        self.run_state.recent_losses = [*self.run_state.recent_losses, loss][-DIVERGENCE_STEPS:]
        level = sum(self.run_state.recent_losses) / len(self.run_state.recent_losses)
        if self.run_state.initial_loss is None and len(self.run_state.recent_losses) == DIVERGENCE_STEPS:
            self.run_state.initial_loss = level
        if not math.isfinite(loss) or (self.run_state.initial_loss is not None and level > 3 * self.run_state.initial_loss):
            lr = self.optimizer.param_groups[0]["lr"]
            self.run_dir.set_status("diverged", step=self.run_state.step, loss=loss, lr=lr)
            start = f"{self.run_state.initial_loss:.4g}" if self.run_state.initial_loss is not None else "not yet measured"
            raise TrainingDiverged(
                f"training diverged at step {self.run_state.step} (loss {loss:.4g}, recent mean {level:.4g}, start {start}, "
                f"lr {lr:.3g}); try a lower --lr or a smaller --clip. The last good checkpoint is kept."
            )

    def _due_for_validation(self) -> bool:
        """Every ``val_every`` epochs, at each tenth of the step budget (so that big
        corpora get a loss curve too), and when the budget is spent."""
        position = self.epoch_position()
        scheduled = position + 1e-9 >= self.run_state.next_val_epoch
        if scheduled:
            self.run_state.next_val_epoch = (math.floor(position / self.cfg.val_every + 1e-9) + 1) * self.cfg.val_every
        tenth = self._tenths()
        timed = tenth > self.run_state.time_validations
        self.run_state.time_validations = max(tenth, self.run_state.time_validations)
        return scheduled or timed or self._out_of_budget()

    def _tenths(self) -> int:
        """Tenths of the step budget used (0 for the first :data:`BUDGET_PROBE_STEPS` steps)."""
        state = self.run_state
        return int(10 * state.step / state.step_budget) if state.step_budget and state.step >= BUDGET_PROBE_STEPS else 0

    def _out_of_budget(self) -> bool:
        """The step budget is spent; or, where the minutes set it (no
        ``train.max_steps``), the time has passed :data:`OVERTIME` times them: a
        safeguard for a machine that slowed down, after which the run would not repeat."""
        state = self.run_state
        if state.step_budget and state.step >= state.step_budget:
            return True
        return not self.cfg.max_steps and state.seconds >= OVERTIME * 60 * self.cfg.max_minutes

    def _validate(self) -> str:
        """Score the validation pieces, log, checkpoint; return why to stop, or ""."""
        self.validated_step = self.run_state.step
        val = distributed.reduce_score(score_pieces(self.model, self.val_encoded, self.spec, self.device,
                                                          conditions=self.val_conditions), self.device)
        train_loss = self.run_state.loss_sum / max(1, self.run_state.loss_count)
        self.run_state.loss_sum, self.run_state.loss_count = 0.0, 0
        record = {
            "epoch": round(self.epoch_position(), 4),
            "step": self.run_state.step,
            "seconds": round(self.run_state.seconds, 2),
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": train_loss,
            "val_loss": val["loss"],
        }
        if "accuracy" in val:
            record["val_accuracy"] = val["accuracy"]
        self.run_dir.append_metrics(record)
        if self.board is not None:
            self.board.validation(record, self.speed)
        if self.log_validations:
            log.info(self._validation_line(record))
        improved = val["loss"] < self.run_state.best_val
        if improved:
            self.run_state.best_val = val["loss"]
            self.run_state.best_epoch, self.run_state.best_progress = self.epoch_position(), self.progress()
            self.run_state.bad_validations = 0
        else:
            self.run_state.bad_validations += 1
            self.run_state.plateau_factor *= 0.5
        self._save_last()
        if improved:
            atomic_torch_save(self.run_dir.best, self._checkpoint())
        self.run_state.recent_val = [*self.run_state.recent_val, val["loss"]][-max(1, self.cfg.patience):]
        if self._rising():
            return "early-stop"
        if self._out_of_budget():
            return "steps" if self.cfg.max_steps else "time"
        if self._epochs_done():
            return "epochs"
        return ""

    def _validation_line(self, record: dict[str, Any]) -> str:
        """A validation's ``metrics.jsonl`` record in one line, for logs."""
        accuracy = f" accuracy {record['val_accuracy']:.3f}" if "val_accuracy" in record else ""
        budget = f"of {self.run_state.step_budget} steps " if self.run_state.step_budget else ""
        return (f"epoch {record['epoch']:.2f} step {record['step']} {budget}train loss {record['train_loss']:.4f} "
                f"val loss {record['val_loss']:.4f}{accuracy} {self.speed:,.0f} tok/s "
                f"{self.run_state.seconds:.0f} s ({100 * self.progress():.0f}% of the budget)")

    def _rising(self) -> bool:
        """Patience: ``cfg.patience`` validations without a new best whose mean is
        :data:`RISE` above the best (a plateau trains on), spanning at least
        ``cfg.patience_share`` of the budget since the best, and not before
        ``cfg.early_stop_after`` of it (a small held-out set is too noisy to stop on early)."""
        cfg, state = self.cfg, self.run_state
        if not cfg.patience or state.bad_validations < cfg.patience:
            return False
        rose = sum(state.recent_val) / len(state.recent_val) > state.best_val + RISE * abs(state.best_val)
        return rose and self.progress() >= cfg.early_stop_after and self.progress() - state.best_progress >= cfg.patience_share

    def _reason(self, stopped: str) -> str:
        """Why training ended, in words a user can act on."""
        state, cfg = self.run_state, self.cfg
        if stopped == "early-stop":
            mean = sum(state.recent_val) / len(state.recent_val)
            return (f"early stop: the validation loss rose, its last {len(state.recent_val)} validations averaging "
                    f"{mean:.4g} against the best {state.best_val:.4g} at epoch {state.best_epoch:.1f}, "
                    f"{100 * (self.progress() - state.best_progress):.0f}% of the budget ago; best.pt keeps the best "
                    f"(train.patience=0 trains on)")
        if stopped == "epochs":
            early = state.seconds < 0.9 * 60 * cfg.max_minutes
            return f"ran its {cfg.epochs} epochs" + (f" in {state.seconds:.0f} s of {cfg.max_minutes:g} minutes "
                                                     "(--epochs 0 trains for the minutes)" if early else "")
        if stopped == "steps":
            return f"ran its {cfg.max_steps} steps (train.max_steps)"
        if state.step_budget and state.step >= state.step_budget:
            return (f"used its {cfg.max_minutes:g} minutes: {state.step_budget} steps, fixed at step "
                    f"{BUDGET_PROBE_STEPS} (--set train.max_steps={state.step_budget} repeats this run exactly)")
        return f"used its {cfg.max_minutes:g} minutes and {OVERTIME:g} times more: the machine slowed down"

    def _save_last(self) -> None:
        atomic_torch_save(self.run_dir.last, self._checkpoint())
