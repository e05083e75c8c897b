"""The stages of a run wired together: data -> train -> generate -> evaluate.

Each stage reads what it needs from the run directory, so ``generate`` and
``evaluate`` work on a finished run as well as inside ``noizenet run``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet import config as configuration
from noizenet import distributed
from noizenet.config import Config
from noizenet.device import autocast_dtype, pick_device, set_threads
from noizenet.errors import DataError, RunDirError
from noizenet.evaluator import evaluate_run
from noizenet.generator import generate
from noizenet.interfaces import Piece, PrimeContext, Representation, SequenceModel
from noizenet.progress import progress_bar
from noizenet.registry import Registry
from noizenet.rundir import RunDir, atomic_torch_save, atomic_write_json
from noizenet.scoring import residual_scale
from noizenet.splits import split_pieces
from noizenet.trainer import Trainer
from noizenet.windows import make_windows

log = logging.getLogger("noizenet")


@dataclass
class Splits:
    train: list[Piece]
    val: list[Piece]
    test: list[Piece]


@dataclass
class Session:
    """A run's config with its plugins built: what every stage works on."""

    config: Config
    registry: Registry
    run_dir: RunDir
    representation: Representation
    device: torch.device
    quiet: bool = False
    _splits: Splits | None = None

    @property
    def splits(self) -> Splits:
        if self._splits is None:
            self._splits = load_splits(self)
        return self._splits

    def build_model(self) -> SequenceModel:
        plugin = self.registry.get("model", self.config.run.model)
        return plugin.build(self.representation.spec, self.config.model).to(self.device)


def setup_runtime(config: Config) -> torch.device:
    """Seed every RNG, set CPU threads, pick the device."""
    seed = config.run.seed
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    cores = len(os.sched_getaffinity(0))
    set_threads(config.run.threads or max(1, cores // distributed.local_processes()))
    return distributed.setup(pick_device(config.run.device))


def open_session(config: Config, registry: Registry, run_dir: RunDir, *, quiet: bool = False) -> Session:
    device = setup_runtime(config)
    representation = registry.get("representation", config.run.repr)(config.repr)
    return Session(config, registry, run_dir, representation, device, quiet)


def read_pieces(session: Session) -> list[Piece]:
    config = session.config
    dataset_cls = session.registry.get("dataset", config.dataset_name)
    path = Path(config.run.data).expanduser() if config.run.data else None
    pieces = list(dataset_cls(config.data, path).pieces())
    if not pieces:
        raise DataError(f"dataset '{config.dataset_name}' yielded no pieces")
    return pieces


def load_splits(session: Session) -> Splits:
    """The run's train/val/test pieces: recorded in splits.json, or made and recorded."""
    pieces = read_pieces(session)
    path = session.run_dir.splits
    if path.exists():
        ids = json.loads(path.read_text())
        by_id = {piece.id: piece for piece in pieces}
        missing = [i for part in ids.values() for i in part if i not in by_id]
        if missing:
            raise DataError(f"the data has changed since this run: {len(missing)} piece(s) of splits.json are gone, e.g. {missing[0]}")
        return Splits(*([by_id[i] for i in ids[name]] for name in ("train", "val", "test")))
    splits = Splits(*split_pieces(pieces, session.config.train.split, session.config.run.seed))
    atomic_write_json(path, {name: [p.id for p in getattr(splits, name)] for name in ("train", "val", "test")})
    return splits


def encode_all(representation: Representation, pieces: list[Piece]) -> list[torch.Tensor]:
    return [representation.encode(piece) for piece in pieces]


def prepare_run_dir(out: Path, *, overwrite: bool) -> RunDir:
    """A fresh run directory at ``out``; an existing non-empty one only with ``overwrite``."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise RunDirError(f"--out {out} already exists; pick another folder, --resume it, or pass --overwrite")
        if not RunDir(out).config.exists():
            raise RunDirError(f"--overwrite refuses to delete {out}: it is not a noizenet run")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return RunDir(out)


def checkpoint_extra(session: Session) -> dict[str, Any]:
    return {
        "config": session.config.to_dict(),
        "representation": session.representation.state_dict(),
    }


def train_stage(session: Session, *, resume: bool = False) -> dict[str, Any]:
    """Fit the representation (or restore it), train, leave best.pt and last.pt."""
    run_dir, cfg = session.run_dir, session.config
    splits = session.splits
    checkpoint = run_dir.load_checkpoint("last") if resume else None
    train_pieces = splits.train + session.representation.augment(splits.train)
    if checkpoint is not None:
        session.representation.load_state_dict(checkpoint["representation"])
    else:
        session.representation.fit(train_pieces)
    windows = make_windows(
        cfg.train.layout,
        encode_all(session.representation, train_pieces),
        batch_size=cfg.train.batch_size,
        seq_len=cfg.train.seq_len,
        seed=cfg.run.seed,
        rank=distributed.rank(),
        world_size=distributed.world_size(),
    )
    if windows.batch_size < cfg.train.batch_size:
        log.warning("training data is small: batch size lowered to %d", windows.batch_size)
    model = session.build_model()
    trainer = Trainer(
        model=model,
        spec=session.representation.spec,
        windows=windows,
        val_encoded=encode_all(session.representation, splits.val),
        cfg=cfg.train,
        run_dir=run_dir,
        device=session.device,
        checkpoint_extra=checkpoint_extra(session),
        quiet=session.quiet,
        amp_dtype=autocast_dtype(cfg.run.precision, session.device),
    )
    if checkpoint is not None:
        trainer.resume(checkpoint)
    run_dir.set_status("training")
    result = trainer.fit()
    summary = {
        "stopped": result.stopped,
        "epochs": round(result.epochs, 3),
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "best_val_loss": result.best_val_loss,
        "parameters": sum(p.numel() for p in model.parameters()),
        "precision": str(trainer.amp_dtype or torch.float32).removeprefix("torch."),
        "train_pieces": len(splits.train),
        "augmented_pieces": len(train_pieces) - len(splits.train),
        "val_pieces": len(splits.val),
        "test_pieces": len(splits.test),
    }
    run_dir.set_status("trained", train=summary)
    return summary


def load_trained(session: Session) -> SequenceModel:
    """The best checkpoint's model (representation state restored too)."""
    checkpoint = session.run_dir.load_checkpoint("best")
    session.representation.load_state_dict(checkpoint["representation"])
    model = session.build_model()
    model.load_state_dict(checkpoint["model"])
    model.eval()
    return model


def generate_stage(session: Session, model: SequenceModel) -> list[dict[str, Any]]:
    """Write every (prime, temperature, index) sample into samples/, with a manifest."""
    cfg = session.config
    gen = cfg.generate
    representation = session.representation
    context = PrimeContext(
        held_out=session.splits.test,
        rng=np.random.default_rng(cfg.run.seed),
        seconds=gen.prime_seconds,
        noise_level=gen.noise_level,
    )
    rows: list[dict[str, Any]] = []
    primes: list[torch.Tensor] = []
    for prime_name in gen.prime:
        prime = session.registry.get("prime", prime_name)()
        made = prime.make(representation, context, gen.num_samples)
        for temperature in gen.temperature:
            for index, tensor in enumerate(made):
                rows.append({"name": f"{prime_name}-t{temperature:g}-{index:02d}", "prime": prime_name, "temperature": temperature})
                primes.append(tensor)
    scale = None
    if representation.spec.kind == "continuous":
        scale = residual_scale(model, encode_all(representation, session.splits.val[:8]), session.device)
    with progress_bar(f"generate {len(rows)} samples", quiet=session.quiet) as bar:
        result = generate(
            model,
            representation.spec,
            primes,
            [row["temperature"] for row in rows],
            max_length=generation_length(representation, gen),
            seed=cfg.run.seed,
            device=session.device,
            inject_noise=gen.inject_noise,
            scale=scale,
            progress=bar.update,
        )
    samples_dir = session.run_dir.samples
    if samples_dir.exists():
        shutil.rmtree(samples_dir)
    samples_dir.mkdir(parents=True)
    with progress_bar("write samples", quiet=session.quiet) as bar:
        for done, (row, prime, sequence) in enumerate(zip(rows, primes, result.sequences), 1):
            piece = representation.decode(sequence, prime_steps=len(prime))
            files = representation.write(piece, samples_dir / row["name"])
            row.update(
                prime_steps=len(prime),
                steps=len(sequence),
                files=[f.name for f in files],
                **representation.describe(piece),
            )
            bar.update(done / len(rows), row["name"])
    atomic_torch_save(samples_dir / "sequences.pt", result.sequences)
    speed = result.new_steps / result.seconds if result.seconds > 0 else 0.0
    atomic_write_json(
        session.run_dir.samples_manifest,
        {
            "generate_tokens_per_s": round(speed, 1),
            "seconds": round(result.seconds, 3),
            "prediction_spread": None if scale is None else round(float(scale.mean()), 5),
            "samples": rows,
        },
    )
    return rows


def generation_length(representation: Representation, gen: configuration.GenerateConfig) -> int:
    """Steps to generate after the prime: ``gen.seconds`` for representations that
    count time, else ``gen.max_length``."""
    rate = representation.steps_per_second()
    return max(1, math.ceil(gen.seconds * rate)) if rate else gen.max_length


def generated_pieces(session: Session) -> list[Piece]:
    """The samples of the last ``generate`` decoded again, named as in samples.json."""
    manifest = session.run_dir.samples_manifest
    sequences = session.run_dir.samples / "sequences.pt"
    if not manifest.exists() or not sequences.exists():
        return []
    rows = json.loads(manifest.read_text())["samples"]
    pieces = []
    for row, sequence in zip(rows, torch.load(sequences, weights_only=True)):
        piece = session.representation.decode(sequence, prime_steps=row["prime_steps"])
        pieces.append(Piece(row["name"], piece.data, {**piece.meta, "prime": row["prime"]}))
    return pieces


def evaluate_stage(session: Session, model: SequenceModel) -> dict[str, Any]:
    splits = session.splits
    return evaluate_run(
        run_dir=session.run_dir,
        model=model,
        representation=session.representation,
        val=encode_all(session.representation, splits.val),
        test=encode_all(session.representation, splits.test),
        device=session.device,
        config=session.config,
        quality=session.representation.compare(
            generated_pieces(session), splits.test, training=splits.train, out_dir=session.run_dir.root
        ),
        quiet=session.quiet,
    )


def session_from_run(run_dir: RunDir, registry: Registry, overrides: dict[str, dict] | None = None, *, quiet: bool = False) -> Session:
    """Rebuild a session from a run directory's config.toml (plus optional overrides)."""
    run_dir.require_run()
    raw = configuration.read_toml(run_dir.config)
    if overrides:
        raw = configuration.merge(raw, overrides, "options")
    config = configuration.resolve(raw, registry)
    return open_session(config, registry, run_dir, quiet=quiet)
