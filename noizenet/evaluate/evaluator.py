"""The shared evaluation stage: held-out loss (and accuracy) from the output kind,
the figures of every metric plugin that applies, plots and the run's report."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet.data.conditioning import piece_conditions
from noizenet.config import Config
from noizenet.errors import PluginError
from noizenet.plugin.figures import Figure
from noizenet.plugin.interfaces import EvaluationContext, Metric, MetricResult, Piece, Representation, Sample, SequenceModel
from noizenet.evaluate.plots import plot_activations, plot_losses
from noizenet.progress import progress_bar
from noizenet.evaluate.report import write_report
from noizenet.runs.rundir import RunDir, atomic_write_json
from noizenet.train.scoring import score_pieces

log = logging.getLogger("noizenet")

HEATMAP_UNITS = 8
HEATMAP_STEPS = 240
SMALL_HELD_OUT = 3  # held-out pieces below which the report warns
CORE_FIGURES = (  # figures of training and generation; every output kind adds its held-out ones
    Figure("train_tokens_per_s", "training speed", "tokens/s", "higher", headline=True, format="{:,.0f}"),
    Figure("generate_tokens_per_s", "generation speed, all samples together", "tokens/s", "higher",
           headline=True, format="{:,.0f}"),
    Figure("epochs", "epochs trained", format="{:.2f}"),
    Figure("train_seconds", "training time", "s", format="{:.0f}"),
    Figure("parameters", "model parameters", format="{:,}"),
)


def train_figures(train: dict[str, Any]) -> dict[str, Any]:
    """The core figures of a training summary (``status.json["train"]``)."""
    return {"train_tokens_per_s": train.get("tokens_per_s"), "epochs": train.get("epochs"),
            "train_seconds": train.get("seconds"), "parameters": train.get("parameters")}


def evaluate_run(
    *,
    run_dir: RunDir,
    model: SequenceModel,
    representation: Representation,
    val: Sequence[torch.Tensor],
    test: Sequence[torch.Tensor],
    device: torch.device,
    config: Config,
    metrics: Sequence[Metric],
    samples: Sequence[Sample],
    training: Sequence[Piece],
    held_out: Sequence[Piece],
    train: dict[str, Any],
    generate_tokens_per_s: float | None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Write metrics.json, loss.png, heatmap.png, the metrics' plots and report.md;
    return the metrics.

    ``val``/``test``: encoded held-out pieces; ``samples``: the generated samples
    with their per-sample facts; ``training``/``held_out``: the pieces metrics
    compare samples with; ``train``: the training summary.
    """
    kind = representation.spec.kind
    share = sum(len(p) for p in val) / max(1, sum(len(p) for p in val) + sum(len(p) for p in test))
    with progress_bar("score held-out pieces", quiet=quiet) as bar:
        val_score = score_pieces(model, val, representation.spec, device, conditions=piece_conditions(representation, val),
                                 progress=lambda f: bar.update(share * f, "validation"))
        test_score = score_pieces(model, test, representation.spec, device, conditions=piece_conditions(representation, test),
                                  progress=lambda f: bar.update(share + (1 - share) * f, "test"))
    declared = [(kind.name, figure) for figure in kind.figures()] + [("core", figure) for figure in CORE_FIGURES]
    values: dict[str, Any] = {
        **kind.held_out_figures(val_score, test_score),
        **train_figures(train),
        "generate_tokens_per_s": generate_tokens_per_s,
    }
    context = EvaluationContext(representation, samples, training, held_out, run_dir.root)
    measured = apply_metrics(metrics, context, quiet=quiet)
    declared += measured.declared
    values.update(measured.values)
    quality, plots, notes = measured.quality, measured.plots, _held_out_notes(train) + measured.notes
    _check_unique(declared)

    records = run_dir.read_metrics_log()
    if records:
        plots = {"Loss per epoch": plot_losses(records, run_dir.root / "loss.png", unit=kind.unit).name, **plots}
    heatmap = _heatmap(model, representation, samples, run_dir.root / "heatmap.png", device)
    if heatmap:
        plots["Hidden units over a generated piece"] = heatmap.name
    result = {
        "representation": config.run.repr,
        "model": config.run.model,
        "dataset": config.dataset_name,
        "seed": config.run.seed,
        **values,
        "val_steps": val_score["steps"],
        "test_steps": test_score["steps"],
        "figures": [{**figure.to_dict(), "source": source} for source, figure in declared],
        "quality": quality,
        "notes": notes,
        "train": train,
        "samples": [s.row() for s in samples],
        "plots": plots,
    }
    result = _finite(result)
    atomic_write_json(run_dir.metrics, result)
    write_report(run_dir, result, config)
    return result


@dataclass
class Measured:
    """What the metrics said of one set of samples."""

    declared: list[tuple[str, Figure]] = field(default_factory=list)  # (metric name, figure)
    values: dict[str, Any] = field(default_factory=dict)  # figure key -> value
    quality: dict[str, Any] = field(default_factory=dict)  # metric name -> details
    plots: dict[str, str] = field(default_factory=dict)  # title -> PNG file name
    notes: list[str] = field(default_factory=list)


def apply_metrics(metrics: Sequence[Metric], context: EvaluationContext, *, quiet: bool = False) -> Measured:
    """Every metric's ``per_set`` on ``context``; a metric that raises costs its own figures only."""
    measured = Measured()
    with progress_bar("metrics", quiet=quiet) as bar:
        for done, metric in enumerate(metrics, 1):
            try:
                result = metric.per_set(context)
            except Exception as error:  # a metric's bug costs its figures, not the run's report
                log.warning("metric '%s' failed: %s: %s", metric.name, type(error).__name__, error)
                result = MetricResult({}, notes=[f"Metric '{metric.name}' failed ({type(error).__name__}: {error}); "
                                                 "its figures are empty. Please report it with this run's samples."])
            measured.declared += [(metric.name, figure) for figure in metric.figures]
            measured.values.update({figure.key: result.figures.get(figure.key) for figure in metric.figures})
            if result.details:
                measured.quality[metric.name] = result.details
            measured.plots.update(result.plots)
            measured.notes += result.notes
            bar.update(done / len(metrics), metric.name)
    return measured


def evaluate_samples(folder: Path, context: EvaluationContext, metrics: Sequence[Metric], *, quiet: bool = False) -> dict[str, Any]:
    """The metrics of one folder of samples (a later ``generate``), written to its
    ``metrics.json``: the declared figures, their values, details, plots (in the folder) and notes."""
    measured = apply_metrics(metrics, context, quiet=quiet)
    result = _finite({
        **measured.values,
        "figures": [{**figure.to_dict(), "source": source} for source, figure in measured.declared],
        "quality": measured.quality, "plots": measured.plots, "notes": measured.notes,
    })
    atomic_write_json(folder / "metrics.json", result)
    return result


def _held_out_notes(train: dict[str, Any]) -> list[str]:
    """A warning when the held-out splits are too small to judge the model by."""
    small = {name: train[f"{name}_pieces"] for name in ("val", "test") if train.get(f"{name}_pieces", SMALL_HELD_OUT) < SMALL_HELD_OUT}
    if not small:
        return []
    counts = " and ".join(f"{count} {'validation' if name == 'val' else 'test'} piece{'s' * (count != 1)}"
                          for name, count in small.items())
    return [f"Only {counts}: too few to judge the model by (its held-out loss, and early stopping, rest on them). "
            f"Give it more pieces: more data, or the same data cut into shorter pieces."]


def _check_unique(declared: list[tuple[str, Figure]]) -> None:
    seen: dict[str, str] = {}
    for source, figure in declared:
        if figure.key in seen:
            raise PluginError(f"figure '{figure.key}' is declared by both '{seen[figure.key]}' and '{source}'")
        seen[figure.key] = source


@torch.inference_mode()
def _heatmap(
    model: SequenceModel, representation: Representation, samples: Sequence[Sample], path: Path, device: torch.device
) -> Path | None:
    """Activations of the most active hidden units over the first generated piece,
    each cell labelled by :meth:`Representation.step_labels` (no heatmap without labels)."""
    if not samples:
        return None
    sequence = samples[0].encoded[:HEATMAP_STEPS]
    labels = representation.step_labels(sequence)
    if labels is None:
        return None
    try:
        hidden, _ = model.hidden(sequence[None].to(device))
    except NotImplementedError:
        return None
    activations = hidden[0].float().cpu().numpy()  # (T, H)
    units = sorted(np.argsort(activations.std(axis=0))[-HEATMAP_UNITS:].tolist())
    return plot_activations(activations[:, units], labels, units, path)


def _finite(value: Any) -> Any:
    """JSON has no NaN: replace non-finite floats with None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
