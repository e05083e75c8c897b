"""report.md: a short human-readable summary of a run that links its files. It
lists the figures the run declared (metrics.json["figures"]), knowing none by name."""

from __future__ import annotations

from typing import Any

from noizenet.config import Config
from noizenet.figures import Figure
from noizenet.interfaces import Sample
from noizenet.rundir import RunDir, atomic_write_text


def declared_figures(metrics: dict[str, Any]) -> list[tuple[str, Figure]]:
    """(source, figure) for every figure metrics.json declares, in order."""
    return [(f["source"], Figure(**{k: v for k, v in f.items() if k != "source"})) for f in metrics.get("figures", [])]


def write_report(run_dir: RunDir, metrics: dict[str, Any], config: Config) -> None:
    train = metrics.get("train", {})
    lines = [
        f"# noizenet run: {config.run.repr} + {config.run.model}",
        "",
        f"Data: `{config.dataset_name}`{' from `' + config.run.data + '`' if config.run.data else ''}; "
        f"pieces train/val/test: {train.get('train_pieces', '?')}/{train.get('val_pieces', '?')}/{train.get('test_pieces', '?')}; "
        f"seed {config.run.seed}.",
        f"Training: {train.get('epochs', '?')} epochs, {train.get('steps', '?')} steps in {train.get('seconds', '?')} s "
        f"(stopped by: {train.get('stopped', '?')}); {train.get('parameters', 0):,} parameters.",
        "Config: [config.toml](config.toml) (rerun with `noizenet run --config config.toml`); "
        "per-validation log: [metrics.jsonl](metrics.jsonl); all figures: [metrics.json](metrics.json).",
        "",
    ]
    declared = declared_figures(metrics)
    headline = [figure for _, figure in declared if figure.headline]
    lines += _table(["figure", "value"], [[_label(f), f.show(metrics.get(f.key))] for f in headline])
    others = [(source, figure) for source, figure in declared if not figure.headline]
    if others:
        lines += ["## More figures", ""]
        lines += _table(["from", "figure", "value"], [[source, _label(f), f.show(metrics.get(f.key))] for source, f in others])
    for title, file in metrics.get("plots", {}).items():
        lines += [f"## {title}", "", f"![{title}]({file})", ""]
    samples = metrics.get("samples", [])
    if samples:
        rows = []
        for s in samples:
            files = " ".join(f"[{f.rsplit('.', 1)[-1]}](samples/{f})" for f in s.get("files", []))
            facts = ", ".join(f"{k}: {v}" for k, v in s.items() if k not in Sample.ROW_KEYS and v is not None)
            rows.append([s["name"], s["prime"], f"{s['temperature']:g}", files, facts])
        lines += ["## Samples", ""] + _table(["sample", "prime", "temperature", "files", "facts"], rows)
    lines += [note + "\n" for note in metrics.get("notes", [])]
    atomic_write_text(run_dir.report, "\n".join(lines))


def _label(figure: Figure) -> str:
    better = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(figure.better, "")
    return f"{figure.label}{f', {figure.unit}' if figure.unit else ''}{better}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "/") for cell in row) + " |" for row in rows]
    return lines + [""]
