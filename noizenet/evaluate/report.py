"""report.md and report.html: a short summary of a run that links, plays and shows
its files. It lists the figures the run declared (metrics.json["figures"]),
knowing none by name, and every later ``generate``."""

from __future__ import annotations

import json
import threading
from typing import Any

from noizenet.config import Config
from noizenet.evaluate.document import Block, to_html, to_markdown
from noizenet.plugin.figures import Figure
from noizenet.runs.rundir import SAMPLES_MANIFEST, RunDir, atomic_write_text

REFRESHING = threading.Lock()


def declared_figures(metrics: dict[str, Any]) -> list[tuple[str, Figure]]:
    """(source, figure) for every figure metrics.json declares, in order."""
    return [(f["source"], Figure(**{k: v for k, v in f.items() if k != "source"})) for f in metrics.get("figures", [])]


def write_report(run_dir: RunDir, metrics: dict[str, Any], config: Config) -> None:
    """report.md and report.html from ``metrics`` and the run's generations."""
    title = f"noizenet run: {config.run.repr} + {config.run.model}"
    blocks = [Block("heading", title, level=1), *_summary(metrics, config), *_figures(metrics)]
    blocks += [block for title, file in metrics.get("plots", {}).items()
               for block in (Block("heading", title), Block("image", title, link=file))]
    if metrics.get("samples"):
        blocks += [Block("heading", "Samples"), Block("samples", rows=metrics["samples"], link="samples")]
    blocks += [Block("text", note) for note in metrics.get("notes", [])]
    blocks += _generations(run_dir)
    atomic_write_text(run_dir.report, to_markdown(blocks))
    atomic_write_text(run_dir.report_html, to_html(title, blocks))


def refresh_report(run_dir: RunDir, config: Config) -> None:
    """Write the report again from metrics.json (after a ``generate``), if the run has
    one. One at a time: of two generations finishing together (``noizenet serve``),
    the report written last lists both."""
    with REFRESHING:
        if run_dir.metrics.exists():
            write_report(run_dir, json.loads(run_dir.metrics.read_text()), config)


def _summary(metrics: dict[str, Any], config: Config) -> list[Block]:
    train = metrics.get("train", {})
    data = f"Data: `{config.dataset_name}`{' from `' + config.run.data + '`' if config.run.data else ''}; "
    pieces = f"{train.get('train_pieces', '?')}/{train.get('val_pieces', '?')}/{train.get('test_pieces', '?')}"
    return [
        Block("text", f"{data}pieces train/val/test: {pieces}; seed {config.run.seed}."),
        Block("text", f"Training: {train.get('epochs', '?')} epochs, {train.get('steps', '?')} steps in "
                      f"{train.get('seconds', '?')} s (stopped: {train.get('stop_reason', train.get('stopped', '?'))}); "
                      f"{train.get('parameters', 0):,} parameters."),
        Block("text", "Config: [config.toml](config.toml) (rerun with `noizenet run --config config.toml`); "
                      "per-validation log: [metrics.jsonl](metrics.jsonl); all figures: [metrics.json](metrics.json)."),
    ]


def _figures(metrics: dict[str, Any]) -> list[Block]:
    declared = declared_figures(metrics)
    headline = [figure for _, figure in declared if figure.headline]
    blocks = [Block("table", header=["figure", "value"], rows=[[_label(f), f.show(metrics.get(f.key))] for f in headline])]
    others = [(source, figure) for source, figure in declared if not figure.headline]
    if others:
        rows = [[source, _label(f), f.show(metrics.get(f.key))] for source, f in others]
        blocks += [Block("heading", "More figures"), Block("table", header=["from", "figure", "value"], rows=rows)]
    return blocks


def _generations(run_dir: RunDir) -> list[Block]:
    """A section for every later ``generate`` (generations/*/samples.json)."""
    blocks = []
    for manifest in sorted(run_dir.generations.glob(f"*/{SAMPLES_MANIFEST}")):
        folder = manifest.parent.relative_to(run_dir.root).as_posix()
        samples = json.loads(manifest.read_text()).get("samples", [])
        blocks += [Block("heading", f"Generated later: {folder}"),
                   Block("text", f"{len(samples)} samples ([{SAMPLES_MANIFEST}]({folder}/{SAMPLES_MANIFEST})).")]
        measured = manifest.parent / "metrics.json"
        if measured.exists():  # noizenet evaluate RUN --generations NAME
            figures = json.loads(measured.read_text())
            blocks += _figures(figures)[:1]
        blocks.append(Block("samples", rows=samples, link=folder))
    return blocks


def _label(figure: Figure) -> str:
    better = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(figure.better, "")
    return f"{figure.label}{f', {figure.unit}' if figure.unit else ''}{better}"
