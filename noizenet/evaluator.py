"""The shared evaluation stage: held-out loss and accuracy, sample quality,
plots and the run's report."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noizenet.config import Config
from noizenet.interfaces import Representation, SequenceModel
from noizenet.plots import plot_activations, plot_losses
from noizenet.progress import progress_bar
from noizenet.report import write_report
from noizenet.rundir import RunDir, atomic_write_json
from noizenet.scoring import score_pieces

HEATMAP_UNITS = 8
HEATMAP_STEPS = 240


def evaluate_run(
    *,
    run_dir: RunDir,
    model: SequenceModel,
    representation: Representation,
    val: Sequence[torch.Tensor],
    test: Sequence[torch.Tensor],
    device: torch.device,
    config: Config,
    quality: dict[str, Any] | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Write metrics.json, loss.png, heatmap.png and report.md; return the metrics.

    ``quality``: the representation's comparison of samples with held-out pieces.
    """
    spec = representation.spec
    share = sum(len(p) for p in val) / max(1, sum(len(p) for p in val) + sum(len(p) for p in test))
    with progress_bar("score held-out pieces", quiet=quiet) as bar:
        val_score = score_pieces(model, val, spec, device, progress=lambda f: bar.update(share * f, "validation"))
        test_score = score_pieces(model, test, spec, device, progress=lambda f: bar.update(share + (1 - share) * f, "test"))
    status = run_dir.read_status()
    train = status.get("train", {})
    manifest = _read_manifest(run_dir)
    samples = manifest.get("samples", [])

    metrics: dict[str, Any] = {
        "representation": config.run.repr,
        "model": config.run.model,
        "dataset": config.dataset_name,
        "seed": config.run.seed,
        "val_loss": val_score["loss"],
        "test_loss": test_score["loss"],
    }
    if spec.kind == "categorical":
        metrics["val_accuracy"] = val_score.get("accuracy")
        metrics["test_accuracy"] = test_score.get("accuracy")
        metrics["bits_per_token"] = test_score["loss"] / math.log(2)
    metrics["val_steps"] = val_score["steps"]
    metrics["test_steps"] = test_score["steps"]
    metrics["train_tokens_per_s"] = train.get("tokens_per_s")
    metrics["generate_tokens_per_s"] = manifest.get("generate_tokens_per_s")
    validity = [s["valid"] for s in samples if "valid" in s]
    if validity:
        metrics[f"{representation.name}_valid_rate"] = sum(validity) / len(validity)
        by_temperature: dict[str, list[bool]] = {}
        for s in samples:
            if "valid" in s:
                by_temperature.setdefault(f"{s['temperature']:g}", []).append(s["valid"])
        metrics["valid_rate_by_temperature"] = {t: sum(v) / len(v) for t, v in by_temperature.items()}
    if quality:
        metrics["quality"] = quality
    metrics["train"] = train
    metrics["samples"] = samples

    plots = {}
    records = run_dir.read_metrics_log()
    if records:
        unit = "nats/token" if spec.kind == "categorical" else "MSE"
        plots["loss"] = plot_losses(records, run_dir.root / "loss.png", unit=unit).name
    heatmap = _heatmap(model, representation, run_dir, samples, device)
    if heatmap:
        plots["heatmap"] = heatmap.name
    plots.update((quality or {}).pop("plots", {}))
    metrics["plots"] = plots
    atomic_write_json(run_dir.metrics, _finite(metrics))
    write_report(run_dir, metrics, config)
    return metrics


def _read_manifest(run_dir: RunDir) -> dict[str, Any]:
    try:
        return json.loads(run_dir.samples_manifest.read_text())
    except (OSError, ValueError):
        return {}


@torch.inference_mode()
def _heatmap(model: SequenceModel, representation: Representation, run_dir: RunDir, samples: list, device: torch.device) -> Path | None:
    """Activations of the most active hidden units over the first valid sample."""
    path = run_dir.samples / "sequences.pt"
    if not samples or not path.exists():
        return None
    sequences = torch.load(path, weights_only=True)
    pick = next((i for i, s in enumerate(samples) if s.get("valid")), 0)
    sequence = sequences[pick][:HEATMAP_STEPS]
    labels = representation.token_labels(sequence)
    try:
        hidden, _ = model.hidden(sequence[None].to(device))
    except NotImplementedError:
        return None
    if labels is None:
        return None
    activations = hidden[0].float().cpu().numpy()  # (T, H)
    units = sorted(np.argsort(activations.std(axis=0))[-HEATMAP_UNITS:].tolist())
    return plot_activations(activations[:, units], labels, units, run_dir.root / "heatmap.png")


def _finite(value: Any) -> Any:
    """JSON has no NaN: replace non-finite floats with None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
