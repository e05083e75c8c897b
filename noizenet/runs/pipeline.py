"""A run, stage by stage: data -> train -> generate -> evaluate, each stage
returning what the next one needs.

Files are written for what outlives the process: checkpoints (``--resume``, and
``generate`` / ``evaluate`` on a finished run: ``best.pt`` holds the weights, what
the representation learned, the openings of the held-out pieces for song primes
and the output kind's calibration, so that generating needs no data), samples/ and
status.json (``evaluate`` on a finished run).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet import config as configuration
from noizenet.train import distributed, tensorboard
from noizenet.data import prepared
from noizenet.config import Config
from noizenet.train.device import autocast_dtype, pick_device, set_threads
from noizenet.errors import ConfigError, DataError, NoizenetError, RunDirError
from noizenet.data.conditioning import asked_condition, corpus_conditions, sample_conditions
from noizenet.evaluate.evaluator import evaluate_run, evaluate_samples
from noizenet.generate.generator import generate as sample_sequences
from noizenet.plugin.interfaces import Dataset, EvaluationContext, Piece, PrimeContext, Representation, Sample, SequenceModel
from noizenet.data.pool import map_in_order
from noizenet.progress import Bar, Listener, progress_bar
from noizenet.plugin.registry import Registry, load_registry
from noizenet.evaluate.report import refresh_report
from noizenet.runs.rundir import SAMPLES_MANIFEST, RunDir, atomic_torch_save, atomic_write_json, atomic_write_text
from noizenet.data.splits import is_given_split, split_pieces
from noizenet.generate.stand_ins import stand_in
from noizenet.train.tensorboard import Board
from noizenet.train.trainer import Trainer
from noizenet.train.windows import make_windows

log = logging.getLogger("noizenet")
CALIBRATION_PIECES = 8  # validation pieces the output kind calibrates sampling on
# test pieces whose openings the checkpoint keeps for song primes: bounds best.pt and its loading in corpus size
# (a 1-s waveform opening is 16 KB; the bundled corpora's test splits hold fewer, so all of theirs are kept)
MAX_OPENINGS = 512
SPLIT_KEYS = ("train", "val", "test")


@dataclass
class Splits:
    train: list[Piece]
    val: list[Piece]
    test: list[Piece]


@dataclass
class Session:
    """A run's config with its plugins built: what every stage works on. The data
    is read on first use of :attr:`splits` only."""

    config: Config
    registry: Registry
    run_dir: RunDir
    representation: Representation
    device: torch.device
    quiet: bool = False
    listener: Listener | None = None  # hears the progress of generation (the composer page's job status)
    _splits: Splits | None = None
    _corpus: prepared.PreparedCorpus | None = None

    @property
    def splits(self) -> Splits:
        if self._splits is None:
            self._splits = load_splits(self)
        return self._splits

    def corpus(self, *, fitted: bool) -> prepared.PreparedCorpus:
        """The encoded splits (the training one with its augmented copies), prepared
        once and mapped from the cache (``run.cache``), or encoded in memory.
        ``fitted``: the representation's state is already restored (resume, evaluate),
        so a missing cache is encoded with it instead of fitting anew."""
        if self._corpus is None:
            self._corpus = encode_corpus(self, fitted=fitted)
        return self._corpus

    def build_model(self) -> SequenceModel:
        plugin = self.registry.get("model", self.config.run.model)
        return plugin.build(self.representation.spec, self.config.model).to(self.device)


@dataclass
class Trained:
    """What generation needs of a trained run, all from its best checkpoint."""

    model: SequenceModel
    calibration: torch.Tensor | None  # the output kind's, for sampling
    openings: dict[str, Any] | None  # {"seconds": prime seconds, "pieces": encoded openings of the test pieces}


@dataclass
class Generation:
    samples: list[Sample]
    tokens_per_s: float
    folder: Path  # where the samples' files are


# -- set-up ---------------------------------------------------------------------------
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


def session_from_run(
    run_dir: RunDir, overrides: dict[str, dict] | None = None, *, plugins_dirs: Sequence[Path] = (), quiet: bool = False
) -> Session:
    """Rebuild a session from a run directory's config.toml (plus ``overrides``),
    with the plugin folders the run was made with and ``plugins_dirs``."""
    run_dir.require_run()
    raw = configuration.read_toml(run_dir.config)
    if overrides:
        raw = configuration.merge(raw, overrides, "options")
    registry = load_registry(recorded_plugins_dirs(raw, run_dir) + list(plugins_dirs))
    return open_session(configuration.resolve(raw, registry), registry, run_dir, quiet=quiet)


def recorded_plugins_dirs(raw: dict[str, Any], run_dir: RunDir) -> list[Path]:
    """The ``--plugins-dir`` folders a run was made with, each still there."""
    folders = [Path(p) for p in raw.get("run", {}).get("plugins_dirs", [])]
    for folder in folders:
        if not folder.is_dir():
            raise RunDirError(f"{run_dir.root} was made with --plugins-dir {folder}, which is gone")
    return folders


def empty_folder(path: Path) -> Path:
    """``path`` made if missing; a file or a folder with something in it is refused."""
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise RunDirError(f"--out {path} already exists and is not an empty folder; samples never overwrite others")
    path.mkdir(parents=True, exist_ok=True)
    return path


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


# -- data -----------------------------------------------------------------------------
def dataset(session: Session) -> Dataset:
    config = session.config
    dataset_cls = session.registry.get("dataset", config.dataset_name)
    return dataset_cls(config.data, Path(config.run.data).expanduser() if config.run.data else None)


def read_pieces(session: Session) -> list[Piece]:
    pieces = list(dataset(session).pieces())
    if not pieces:
        raise DataError(f"dataset '{session.config.dataset_name}' yielded no pieces")
    return pieces


def split_source(pieces: Sequence[Piece], seed: int) -> str:
    return "the dataset's own split" if is_given_split(pieces) else f"shuffled with seed {seed}"


def fresh_splits(session: Session) -> tuple[Splits, str]:
    """Every piece read and split by the seed (what a prepared corpus keyed by the
    dataset's sources holds), and how the split was made."""
    pieces = read_pieces(session)
    seed = session.config.run.seed
    return Splits(*split_pieces(pieces, session.config.train.split, seed)), split_source(pieces, seed)


def recorded_split(session: Session) -> dict[str, list[str]] | None:
    """The piece ids of splits.json, if the run has one."""
    path = session.run_dir.splits
    return {name: ids for name, ids in json.loads(path.read_text()).items() if name != "source"} if path.exists() else None


def record_split(session: Session, ids: dict[str, list[str]], source: str) -> None:
    atomic_write_json(session.run_dir.splits, {"source": source, **ids})


def load_splits(session: Session) -> Splits:
    """The run's train/val/test pieces: recorded in splits.json, or made and recorded."""
    recorded = recorded_split(session)
    if recorded is None:
        splits, source = fresh_splits(session)
        record_split(session, {name: [p.id for p in getattr(splits, name)] for name in SPLIT_KEYS}, source)
        return splits
    by_id = {piece.id: piece for piece in read_pieces(session)}
    missing = [i for name in SPLIT_KEYS for i in recorded[name] if i not in by_id]
    if missing:
        raise DataError(f"the data has changed since this run: {len(missing)} piece(s) of splits.json are gone, e.g. {missing[0]}")
    return Splits(*([by_id[i] for i in recorded[name]] for name in SPLIT_KEYS))


def encode_all(representation: Representation, pieces: Sequence[Piece], bar: Bar | None = None) -> list[torch.Tensor]:
    """Each piece encoded, in order, by a pool of processes (one a core,
    ``$NOIZENET_WORKERS``) that inherit the pieces and the fitted representation;
    ``bar`` advances by piece."""
    def encode(index: int) -> np.ndarray:
        return representation.encode(pieces[index]).numpy()  # numpy crosses processes without shared-memory handles

    encoded = []
    for index, steps, _ in map_in_order(range(len(pieces)), encode):
        encoded.append(torch.from_numpy(steps))
        if bar is not None and index % 64 == 0:
            bar.update((index + 1) / len(pieces), f"{index + 1:,} of {len(pieces):,} pieces")
    return encoded


def encode_splits(session: Session, splits: Splits, source: str, *, fitted: bool) -> prepared.Encoded:
    """Augment and fit (unless ``fitted``), then encode every split."""
    representation = session.representation
    train = splits.train + representation.augment(splits.train)
    if not fitted:
        representation.fit(train)
    parts = {"train": train, "val": splits.val, "test": splits.test}
    encoded: dict[str, list[torch.Tensor]] = {}
    for name, pieces in parts.items():
        with progress_bar(f"encode {name}", quiet=session.quiet or len(pieces) < 50) as bar:
            encoded[name] = encode_all(representation, pieces, bar)
    return prepared.Encoded({name: [p.id for p in pieces] for name, pieces in parts.items()}, encoded,
                            len(splits.train), source)


def encode_corpus(session: Session, *, fitted: bool) -> prepared.PreparedCorpus:
    """The encoded splits: through the prepared-corpus cache when ``run.cache``, else
    in memory. A dataset that names its sources keys the cache by them, so that a
    prepared corpus is mapped without reading a piece (and the run's splits.json is
    written from it); the others, and a run whose recorded split is not the one the
    data gives now, key it by the pieces read."""
    representation, config = session.representation, session.config
    if not config.run.cache:
        return prepared.in_memory(encode_splits(session, session.splits, "", fitted=fitted))
    describe = {"representation": config.run.repr, "dataset": config.dataset_name, "data": config.run.data or "(built-in)"}
    sources = dataset(session).sources()
    if sources is not None:
        def encode_fresh() -> prepared.Encoded:
            splits, source = fresh_splits(session)
            session._splits = splits  # read already: openings and metrics need not read again
            return encode_splits(session, splits, source, fitted=fitted)

        corpus = prepared.prepare(representation, prepared.sources_digest(data_identity(session), sources),
                                  encode_fresh, describe=describe, restore=not fitted)
        recorded = recorded_split(session)
        if recorded is None:
            record_split(session, corpus.split_ids(), corpus.split_source)
        if recorded is None or recorded == corpus.split_ids():
            return corpus
        log.info("this run's split (splits.json) is not the one its data gives now: encoding its own pieces")
        session._splits = None
    splits = session.splits
    digest = prepared.pieces_digest({name: getattr(splits, name) for name in SPLIT_KEYS})
    return prepared.prepare(representation, digest, lambda: encode_splits(session, splits, "", fitted=fitted),
                            describe=describe, restore=not fitted)


def data_identity(session: Session) -> dict[str, Any]:
    """What, beside its source files, decides a dataset's pieces and their split."""
    config = session.config
    cls = session.registry.get("dataset", config.dataset_name)
    options = dataclasses.asdict(config.data) if dataclasses.is_dataclass(config.data) else {}
    return {"dataset": config.dataset_name, "class": f"{cls.__module__}.{cls.__qualname__}",
            "source": prepared.source_digest(cls), "options": options, "data": config.run.data,
            "split": list(config.train.split), "seed": config.run.seed}


def openings(session: Session, corpus: prepared.PreparedCorpus) -> dict[str, Any]:
    """The encoded openings of the test pieces at ``generate.prime_seconds`` (at most
    ``MAX_OPENINGS`` of them, spread evenly over the test split), tokens compacted
    (:func:`prepared.compact_tokens`): kept with the prepared corpus, else made from
    the data (and kept there)."""
    seconds = session.config.generate.prime_seconds
    kept = f"openings-{seconds:g}s"
    pieces = corpus.kept(kept)
    if pieces is None:
        test = session.splits.test
        picked = np.unique(np.linspace(0, len(test) - 1, min(len(test), MAX_OPENINGS)).round().astype(int))
        made = [session.representation.opening(test[int(i)], seconds=seconds) for i in picked]
        pieces = prepared.compact_tokens(made, session.representation.spec.size)
        corpus.keep(kept, pieces)
    return {"seconds": seconds, "pieces": pieces}


# -- stages ---------------------------------------------------------------------------
def train(session: Session, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train from the prepared corpus (fitted before, or restored from ``checkpoint``,
    the last one of a resumed run), leave best.pt and last.pt; return the training
    summary (also kept in status.json)."""
    run_dir, cfg, representation = session.run_dir, session.config, session.representation
    corpus = session.corpus(fitted=checkpoint is not None)
    windows = make_windows(
        cfg.train.layout,
        corpus.train,
        batch_size=cfg.train.batch_size,
        seq_len=cfg.train.seq_len,
        seed=cfg.run.seed,
        rank=distributed.rank(),
        world_size=distributed.world_size(),
        conditions=corpus_conditions(representation, corpus, "train"),
    )
    if windows.batch_size < cfg.train.batch_size:
        log.warning("training data is small: batch size lowered to %d", windows.batch_size)
    model = session.build_model()
    val_encoded = corpus.val
    trainer = Trainer(
        model=model,
        spec=representation.spec,
        windows=windows,
        val_encoded=val_encoded,
        val_conditions=corpus_conditions(representation, corpus, "val"),
        cfg=cfg.train,
        run_dir=run_dir,
        device=session.device,
        checkpoint_extra={
            "config": cfg.to_dict(),
            "representation": representation.state_dict(),
            "openings": openings(session, corpus),
        },
        quiet=session.quiet,
        amp_dtype=autocast_dtype(cfg.run.precision, session.device),
        board=Board(run_dir.root) if cfg.run.tensorboard else None,
    )
    if checkpoint is not None:
        trainer.resume(checkpoint)
    run_dir.set_status("training")
    try:
        result = trainer.fit()
    finally:
        if trainer.board is not None:
            trainer.board.close()
    if distributed.is_main():
        calibrate(session, val_encoded[:CALIBRATION_PIECES])
    summary = {
        "stopped": result.stopped,
        "stop_reason": result.reason,
        "epochs": round(result.epochs, 3),
        "steps": result.steps,
        "step_budget": result.step_budget,  # train.max_steps that repeats this run
        "seconds": round(result.seconds, 1),
        "tokens_per_s": round(result.tokens_per_s, 1),
        "best_val_loss": result.best_val_loss,
        "parameters": sum(p.numel() for p in model.parameters()),
        "precision": str(trainer.amp_dtype or torch.float32).removeprefix("torch."),
        "batch_size": windows.batch_size,  # rows a step per process: train.batch_size, or fewer for few pieces
        "train_pieces": corpus.originals,
        "augmented_pieces": len(corpus.train) - corpus.originals,
        "val_pieces": len(corpus.val),
        "test_pieces": len(corpus.test),
    }
    run_dir.set_status("trained", train=summary)
    return summary


def resume_from(session: Session) -> dict[str, Any]:
    """The last checkpoint of a run being resumed, its representation state restored:
    the corpus is encoded with exactly the state it trained with, never refitted."""
    checkpoint = session.run_dir.load_checkpoint("last")
    session.representation.load_state_dict(checkpoint["representation"])
    return checkpoint


def calibrate(session: Session, val_encoded: Sequence[torch.Tensor]) -> None:
    """Add the output kind's calibration of the best model to best.pt."""
    checkpoint = session.run_dir.load_checkpoint("best")
    model = session.build_model()
    model.load_state_dict(checkpoint["model"])
    checkpoint["calibration"] = session.representation.spec.kind.calibrate(model, val_encoded, session.device)
    atomic_torch_save(session.run_dir.best, checkpoint)


def load_trained(session: Session) -> Trained:
    """The best checkpoint's model (representation state restored too), calibration
    and openings; what older checkpoints lack is made again from the data."""
    checkpoint = session.run_dir.load_checkpoint("best")
    session.representation.load_state_dict(checkpoint["representation"])
    model = session.build_model()
    model.load_state_dict(checkpoint["model"])
    model.eval()
    if "calibration" in checkpoint:
        calibration = checkpoint["calibration"]
    else:
        val = encode_all(session.representation, session.splits.val[:CALIBRATION_PIECES])
        calibration = session.representation.spec.kind.calibrate(model, val, session.device)
    return Trained(model, calibration, checkpoint.get("openings"))


def prime_openings(session: Session, trained: Trained) -> list[torch.Tensor]:
    """The held-out openings for song primes: from the checkpoint when they were made
    at this ``generate.prime_seconds``, else from the prepared corpus or the data."""
    kept = trained.openings
    if kept is not None and kept["seconds"] == session.config.generate.prime_seconds:
        return prepared.widened(kept["pieces"])
    try:
        return prepared.widened(openings(session, session.corpus(fitted=True))["pieces"])
    except DataError as error:
        raise DataError(f"primes of {session.config.generate.prime_seconds:g} s need the run's data "
                        f"(its checkpoint keeps openings of {kept['seconds']:g} s): {error}") from None


def decoded(representation: Representation, sequence: torch.Tensor, prime_steps: int, semitones: int) -> Piece:
    """A generated ``sequence`` decoded, then moved by ``semitones`` where not 0."""
    piece = representation.decode(sequence, prime_steps=prime_steps)
    return representation.transpose(piece, semitones) if semitones else piece


def generate(session: Session, trained: Trained, folder: Path | None = None) -> Generation:
    """Write every (prime, temperature, index) sample with samples.json into
    ``folder`` (default: the run's samples/, replaced); return the samples with
    every applicable metric's per-sample facts."""
    cfg = session.config
    gen = cfg.generate
    representation = session.representation
    steering = {key: getattr(gen, key) for key in configuration.STEERING if getattr(gen, key)}
    asked = asked_condition(representation, steering)  # a conditioned representation takes --key as its condition
    semitones = 0
    if asked is not None:  # made in the first way the model follows (another key, then moved), where offered
        made_as, semitones = stand_in(trained.model, representation, steering, seed=cfg.run.seed,
                                      device=session.device, calibration=trained.calibration, guidance=gen.guidance)
        if semitones:
            asked = representation.asked_condition(made_as)
    context = PrimeContext(
        openings=prime_openings(session, trained) if gen.prime else [],  # --prime-file alone needs none
        rng=np.random.default_rng(cfg.run.seed),
        seconds=gen.prime_seconds,
        noise_level=gen.noise_level,
        steering={} if asked is not None else steering,
    )
    if context.steering and "start" not in gen.prime:
        log.warning("--meter, --key and --unit steer the start prime, and it is not among the primes: add --prime start")
    if (gen.top_k or gen.top_p < 1) and not representation.spec.kind.tokens:
        log.warning("--top-k and --top-p (generate.top_k, top_p) do not apply to '%s': it draws frames, not tokens",
                    representation.name)
    made: list[tuple[str, str, float, torch.Tensor]] = []  # name, prime, temperature, encoded prime
    sources: list[torch.Tensor | None] = []  # what each sample's condition is taken from (None: neutral)
    named = []  # stem, prime name, its encoded primes, the sources of their conditions
    for name in gen.prime:
        prime = session.registry.get("prime", name)()
        if not prime.applies_to(representation):
            raise ConfigError(f"prime '{name}' does not apply to representation '{representation.name}': "
                              f"{prime.description}")
        primes = prime.make(representation, context, gen.num_samples)
        named.append((name, name, primes, prime.condition_sources(representation, context, primes)))
    for path in map(Path, gen.prime_files):
        prime = representation.prime(file_piece(session, path), bars=gen.prime_bars, seconds=gen.prime_file_seconds)
        named.append((f"file-{path.stem}", f"file:{path.name}", [prime] * gen.num_samples, [prime] * gen.num_samples))
    for stem, prime_name, primes, condition_sources in named:
        for temperature in gen.temperature:
            for index, (tensor, source) in enumerate(zip(primes, condition_sources)):
                made.append((f"{stem}-t{temperature:g}-{index:02d}", prime_name, temperature, tensor))
                sources.append(source)
    conditions = sample_conditions(representation, sources, asked)
    with progress_bar(f"generate {len(made)} samples", quiet=session.quiet, listener=session.listener) as bar:
        result = sample_sequences(
            trained.model,
            representation.spec,
            [tensor for *_, tensor in made],
            [temperature for _, _, temperature, _ in made],
            max_length=generation_length(representation, gen),
            seed=cfg.run.seed,
            device=session.device,
            inject_noise=gen.inject_noise,
            calibration=trained.calibration,
            rules=[representation.instrument_rule(gen.instruments) if gen.instruments else representation.token_rule()
                   for _ in made],
            top_k=gen.top_k,
            top_p=gen.top_p,
            conditions=conditions,
            guidance=gen.guidance,
            progress=bar.update,
        )
    samples_dir = folder or session.run_dir.samples
    if folder is None and samples_dir.exists():
        shutil.rmtree(samples_dir)
    samples_dir.mkdir(parents=True, exist_ok=True)
    metrics = session.registry.metrics_for(representation)
    samples = []
    with progress_bar("write samples", quiet=session.quiet, listener=session.listener) as bar:
        for done, ((name, prime, temperature, tensor), sequence) in enumerate(zip(made, result.sequences), 1):
            sample = Sample(name, prime, temperature, sequence, len(tensor),
                            decoded(representation, sequence, len(tensor), semitones),
                            asked=steering if asked is not None else {}, transposed=semitones,
                            condition=None if conditions is None else conditions[done - 1].tolist())
            sample.files = [f.name for f in representation.write(sample.piece, samples_dir / name)]
            for metric in metrics:
                sample.facts.update(metric.per_sample(sample, representation))
            samples.append(sample)
            bar.update(done / len(made), name)
    atomic_torch_save(samples_dir / "sequences.pt", result.sequences)
    speed = result.new_steps / result.seconds if result.seconds > 0 else 0.0
    atomic_write_json(samples_dir / SAMPLES_MANIFEST, {
        "generate_tokens_per_s": round(speed, 1),
        "seconds": round(result.seconds, 3),
        "samples": [s.row() for s in samples],
    })
    if cfg.run.tensorboard:
        logged = session.run_dir.read_metrics_log()
        board = Board(session.run_dir.root)
        board.samples(samples, samples_dir, logged[-1]["step"] if logged else 0)
        board.close()
    return Generation(samples, speed, samples_dir)


def generate_in_new_folder(session: Session, trained: Trained, out: Path | None = None) -> Generation:
    """:func:`generate` into ``out`` (new or empty) or a new ``generations/DATE-TIME``,
    then the report written again. Prime files are read first, so a bad one fails
    before any folder is made, and a folder made here is removed again if
    generation fails: no empty or half-written generation is left behind."""
    for path in session.config.generate.prime_files:
        file_piece(session, Path(path))
    made = out is None or not out.exists()
    folder = empty_folder(out) if out else session.run_dir.new_generation()
    try:
        generation = generate(session, trained, folder)
    except BaseException:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    refresh_report(session.run_dir, session.config)
    return generation


def file_piece(session: Session, path: Path) -> Piece:
    """The first piece of a user's file, read by the representation's file dataset
    (``dataset_for`` the path) with the run's data options where they apply (sample rate)."""
    representation = session.representation
    dataset_cls = session.registry.get("dataset", representation.dataset_for(path))
    known = {f.name for f in dataclasses.fields(dataset_cls.Config)}
    options = {k: v for k, v in dataclasses.asdict(session.config.data).items() if k in known}
    try:
        return dataset_cls(dataset_cls.Config(**options), None).read_file(path)
    except (DataError, StopIteration) as error:
        reason = str(error) or "no piece in it"
        raise DataError(f"--prime-file {path}: representation '{representation.name}' cannot start from it "
                        f"({reason}); it reads {dataset_cls.description}") from None


def generation_length(representation: Representation, gen: configuration.GenerateConfig) -> int:
    """Steps to generate after the prime: ``gen.seconds`` for representations that
    count time, else ``gen.max_length``."""
    rate = representation.steps_per_second()
    return max(1, math.ceil(gen.seconds * rate)) if rate else gen.max_length


def sample_figures(session: Session, samples: Sequence[Sample]) -> dict[str, Any]:
    """The figures of the metrics that need no reference pieces (shown after ``generate``)."""
    representation = session.representation
    context = EvaluationContext(representation, samples, [], [], session.run_dir.root)
    figures: dict[str, Any] = {}
    for metric in session.registry.metrics_for(representation):
        if not metric.references:
            result = metric.per_set(context)
            figures.update({f.key: (f, result.figures.get(f.key)) for f in metric.figures if f.headline})
    return figures


def saved_generation(session: Session, folder: Path | None = None) -> Generation:
    """The samples of a folder (default: the run's samples/), decoded again."""
    folder = folder or session.run_dir.samples
    manifest, sequences = folder / SAMPLES_MANIFEST, folder / "sequences.pt"
    if not manifest.exists() or not sequences.exists():
        return Generation([], 0.0, folder)
    saved = json.loads(manifest.read_text())
    samples = []
    for row, sequence in zip(saved["samples"], torch.load(sequences, weights_only=True)):
        semitones = row.get("transposed", 0)
        piece = decoded(session.representation, sequence, row["prime_steps"], semitones)
        facts = {k: v for k, v in row.items() if k not in Sample.ROW_KEYS}
        samples.append(Sample(row["name"], row["prime"], row["temperature"], sequence, row["prime_steps"], piece,
                              row["files"], facts, row.get("asked", {}), semitones, row.get("condition")))
    return Generation(samples, saved.get("generate_tokens_per_s", 0.0), folder)


def evaluate(session: Session, trained: Trained, generation: Generation, train_summary: dict[str, Any]) -> dict[str, Any]:
    """Score the held-out pieces, run the metrics, write metrics.json and the report."""
    splits, representation = session.splits, session.representation
    corpus = session.corpus(fitted=True)
    return evaluate_run(
        run_dir=session.run_dir,
        model=trained.model,
        representation=representation,
        val=corpus.val,
        test=corpus.test,
        device=session.device,
        config=session.config,
        metrics=session.registry.metrics_for(representation),
        samples=generation.samples,
        training=splits.train,
        held_out=splits.test,
        train=train_summary,
        generate_tokens_per_s=generation.tokens_per_s,
        quiet=session.quiet,
    )


def evaluate_generations(session: Session, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Run every metric on later generations (``generations/NAME``; ``all``: each one),
    writing each folder's metrics.json; return them by name."""
    folders = sorted(p.parent for p in session.run_dir.generations.glob(f"*/{SAMPLES_MANIFEST}"))
    chosen = folders if list(names) == ["all"] else [session.run_dir.generations / name for name in names]
    missing = [f.name for f in chosen if f not in folders]
    if missing:
        known = ", ".join(f.name for f in folders) or "none yet"
        raise RunDirError(f"--generations {missing[0]}: not a generation of {session.run_dir.root} (known: {known})")
    splits, metrics = session.splits, session.registry.metrics_for(session.representation)
    results = {}
    for folder in chosen:
        samples = saved_generation(session, folder).samples
        context = EvaluationContext(session.representation, samples, splits.train, splits.test, folder)
        results[folder.name] = evaluate_samples(folder, context, metrics, quiet=session.quiet)
    return results


# -- a whole run ----------------------------------------------------------------------
def execute(
    config: Config,
    registry: Registry,
    *,
    out: Path | None,
    resume: Path | None,
    overwrite: bool,
    train_only: bool,
    quiet: bool,
    say: Callable[[str], None],
) -> tuple[RunDir | None, dict[str, Any] | None]:
    """``noizenet run`` / ``train``: the stages in order into one run directory;
    return it and the metrics (None when only training). Under torchrun, ranks
    other than 0 train their share in a scratch folder and return (None, None)."""
    if not distributed.is_main():
        _train_other_rank(config, registry, resume)
        return None, None
    if resume is not None:
        run_dir = RunDir(resume).require_run()
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = prepare_run_dir(out or Path("runs") / f"{stamp}-{config.run.repr}-{config.run.model}", overwrite=overwrite)
    atomic_write_text(run_dir.config, config.to_toml())
    try:
        if config.run.tensorboard:
            tensorboard.require()  # before any data is read
        session = open_session(config, registry, run_dir, quiet=quiet)
        checkpoint = resume_from(session) if resume is not None else None
        corpus = session.corpus(fitted=checkpoint is not None)  # bad data fails here, before any training
        if not train_only:  # and so does a prime file that cannot be read, not after the training
            for path in config.generate.prime_files:
                file_piece(session, Path(path))
            if config.generate.instruments:  # and instruments it cannot play
                session.representation.instrument_rule(config.generate.instruments)
        say(f"noizenet {'train' if train_only else 'run'}: {config.run.repr} + {config.run.model} on "
            f"{config.dataset_name} ({corpus.originals}/{len(corpus.val)}/{len(corpus.test)} pieces) -> {run_dir.root}")
        summary = train(session, checkpoint)
        say(f"trained {summary['epochs']} epochs in {summary['seconds']} s ({summary['stop_reason']}), "
            f"{summary['tokens_per_s']:,.0f} tokens/s")
        metrics = None
        if not train_only:
            trained = load_trained(session)
            metrics = evaluate(session, trained, generate(session, trained), summary)
        run_dir.set_status("finished", train=summary)
        return run_dir, metrics
    except BaseException as error:
        if isinstance(error, Exception) and not isinstance(error, NoizenetError):
            run_dir.set_status("failed", error=f"{type(error).__name__}: {error}")  # a bug: keep what there is to see
        elif resume is None and not run_dir.last.exists():
            shutil.rmtree(run_dir.root, ignore_errors=True)  # nothing to resume: leave no debris
        raise
    finally:
        distributed.shutdown()


def prepare_only(config: Config, registry: Registry, *, quiet: bool) -> prepared.PreparedCorpus:
    """``noizenet prepare``: the corpus a run with ``config`` trains on, prepared in
    the cache (or found there), with no run folder left behind."""
    if not config.run.cache:
        raise configuration.ConfigError("run.cache = false: there is nothing to prepare (runs encode in memory)")
    with tempfile.TemporaryDirectory(prefix="noizenet-prepare-") as scratch:
        session = open_session(config, registry, RunDir(Path(scratch)), quiet=quiet)
        corpus = session.corpus(fitted=False)
        openings(session, corpus)  # the song primes' openings too, so that a run reads no piece
        return corpus


def _train_other_rank(config: Config, registry: Registry, resume: Path | None) -> None:
    """A rank other than 0 under torchrun: it trains its share in a scratch copy of
    the run directory (removed afterwards), so that rank 0 alone writes the real one."""
    with tempfile.TemporaryDirectory(prefix=f"noizenet-rank{distributed.rank()}-") as scratch:
        if resume is not None:
            shutil.copytree(resume, scratch, dirs_exist_ok=True)
        run_dir = RunDir(Path(scratch))
        atomic_write_text(run_dir.config, config.to_toml())
        try:
            session = open_session(config, registry, run_dir, quiet=True)
            train(session, resume_from(session) if resume is not None else None)
        finally:
            distributed.shutdown()
