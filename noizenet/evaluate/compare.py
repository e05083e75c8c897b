"""``noizenet compare``: several runs side by side, the comparisons the reports made
by hand (RNN vs LSTM vs GRU, hidden sizes, dropout, optimizers, temperatures).

One table (the settings in which the runs differ, then every figure the runs
declared, headline figures first) as Markdown, HTML and JSON, and one PNG with the
validation loss curves overlaid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from noizenet import config as configuration
from noizenet.evaluate.document import Block, to_html, to_markdown
from noizenet.errors import RunDirError
from noizenet.evaluate.evaluator import CORE_FIGURES, train_figures
from noizenet.plugin.figures import Figure
from noizenet.evaluate.plots import plt, save_figure
from noizenet.evaluate.report import declared_figures
from noizenet.runs.rundir import RunDir, atomic_write_json, atomic_write_text

# What a run that was trained but not evaluated has: its training summary.
TRAINED_FIGURES = (Figure("val_loss", "validation loss (best)", better="lower", headline=True, format="{:.4f}"), *CORE_FIGURES)


def summarize(run_dir: RunDir) -> dict[str, Any]:
    """A run's flattened settings (``section.key``), its declared figures and values,
    and its validation curve."""
    run_dir.require_run()
    settings = {
        f"{section}.{key}": value
        for section, values in configuration.read_toml(run_dir.config).items()
        for key, value in values.items()
    }
    metrics = json.loads(run_dir.metrics.read_text()) if run_dir.metrics.exists() else {}
    declared = [figure for _, figure in declared_figures(metrics)]
    if not declared:  # trained but not evaluated (or evaluated by a noizenet that declared no figures)
        train = metrics.get("train") or run_dir.read_status().get("train", {})
        metrics = {"val_loss": train.get("best_val_loss"), **train_figures(train), **metrics}
        declared = list(TRAINED_FIGURES)
    records = run_dir.read_metrics_log()
    return {"name": run_dir.root.name, "path": str(run_dir.root), "settings": settings,
            "figures": {f.key: metrics.get(f.key) for f in declared}, "declared": [f.to_dict() for f in declared],
            "curve": [(r["epoch"], r["seconds"], r["val_loss"]) for r in records if r.get("val_loss") is not None]}


def compare_runs(run_dirs: Sequence[Path], out: Path) -> dict[str, Path]:
    """Write ``comparison.md``, ``comparison.html``, ``comparison.json`` and ``val_loss.png`` into ``out``."""
    if len(run_dirs) < 2:
        raise RunDirError("compare needs at least two run directories")
    runs = [summarize(RunDir(Path(d))) for d in run_dirs]
    names = _unique_names([r["name"] for r in runs])
    keys = sorted({k for r in runs for k in r["settings"]})
    differing = [k for k in keys if len({json.dumps(r["settings"].get(k), sort_keys=True) for r in runs}) > 1]
    shown = [k for k in differing if k not in ("run.data",)] or ["run.model"]

    rows = [[key, *(_cell(r["settings"].get(key)) for r in runs)] for key in shown]
    figures = {f["key"]: Figure(**f) for r in runs for f in r["declared"]}  # every run's, in order
    for figure in sorted(figures.values(), key=lambda f: not f.headline):
        values = [r["figures"].get(figure.key) for r in runs]
        if any(v is not None for v in values):
            rows.append([f"**{figure.key}**", *(figure.show(v) for v in values)])
    best = min((r for r in runs if r["figures"].get("val_loss") is not None), key=lambda r: r["figures"]["val_loss"],
               default=None)
    blocks = [Block("heading", "Comparison", level=1), Block("table", header=["", *names], rows=rows)]
    if best is not None:
        blocks.append(Block("text", f"Lowest validation loss: **{names[runs.index(best)]}**."))
    blocks += [Block("text", "Runs: " + ", ".join(f"`{r['path']}`" for r in runs)),
               Block("image", "validation loss", link="val_loss.png")]

    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / "comparison.md", "html": out / "comparison.html", "json": out / "comparison.json",
             "plot": out / "val_loss.png"}
    atomic_write_text(paths["table"], to_markdown(blocks))
    atomic_write_text(paths["html"], to_html("noizenet comparison", blocks))
    atomic_write_json(paths["json"], {"differing_settings": shown, "runs": runs})
    _plot(runs, names, paths["plot"])
    return paths


def _plot(runs: list[dict[str, Any]], names: list[str], path: Path) -> Path:
    fig, (by_epoch, by_time) = plt.subplots(1, 2, figsize=(11, 4))
    for run, name in zip(runs, names):
        if run["curve"]:
            epochs, seconds, losses = zip(*run["curve"])
            by_epoch.plot(epochs, losses, marker="o", markersize=3, label=name)
            by_time.plot([s / 60 for s in seconds], losses, marker="o", markersize=3, label=name)
    by_epoch.set_xlabel("epoch")
    by_time.set_xlabel("training minutes")
    for ax in (by_epoch, by_time):
        ax.set_ylabel("validation loss")
        ax.grid(alpha=0.3)
    by_epoch.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)  # the Markdown renderer escapes table bars


def _unique_names(names: list[str]) -> list[str]:
    return [name if names.count(name) == 1 else f"{name} ({i + 1})" for i, name in enumerate(names)]
