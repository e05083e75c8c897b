"""report.md: a short human-readable summary of a run that links its files."""

from __future__ import annotations

from typing import Any

from noizenet.config import Config
from noizenet.rundir import RunDir, atomic_write_text

HEADLINE = [
    ("val_loss", "validation loss", "{:.4f}"),
    ("val_accuracy", "validation next-token accuracy", "{:.4f}"),
    ("test_loss", "test loss", "{:.4f}"),
    ("test_accuracy", "test next-token accuracy", "{:.4f}"),
    ("bits_per_token", "test bits per token", "{:.4f}"),
    ("train_tokens_per_s", "training speed (tokens/s)", "{:,.0f}"),
    ("generate_tokens_per_s", "generation speed (tokens/s, all samples)", "{:,.0f}"),
]


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
        "| metric | value |",
        "| --- | --- |",
    ]
    for key, label, fmt in HEADLINE:
        if metrics.get(key) is not None:
            lines.append(f"| {label} | {fmt.format(metrics[key])} |")
    for key, value in metrics.items():
        if key.endswith("_valid_rate") and value is not None:
            lines.append(f"| {key} | {value:.3f} |")
    lines.append("")
    quality = {k: v for k, v in metrics.get("quality", {}).items() if isinstance(v, (bool, int, float, str))}
    if quality:
        lines += ["## Sample quality against held-out pieces", "", "| measure | value |", "| --- | --- |"]
        lines += [f"| {key} | {_figure(value)} |" for key, value in quality.items()]
        lines.append("")
    plots = metrics.get("plots", {})
    titles = {"loss": "Loss per epoch", "heatmap": "Hidden units over a generated piece"}
    for name, file in plots.items():
        title = titles.get(name, name.replace("_", " ").capitalize())
        lines += [f"## {title}", "", f"![{title}]({file})", ""]
    samples = metrics.get("samples", [])
    if samples:
        lines += ["## Samples", "", "| sample | prime | temperature | files | quality |", "| --- | --- | --- | --- | --- |"]
        for s in samples:
            files = " ".join(f"[{f.rsplit('.', 1)[-1]}](samples/{f})" for f in s.get("files", []))
            facts = ", ".join(
                f"{k}: {v}" for k, v in s.items()
                if k not in {"name", "prime", "temperature", "files", "prime_steps", "steps", "renderer"} and v is not None
            )
            lines.append(f"| {s['name']} | {s['prime']} | {s['temperature']:g} | {files} | {facts.replace('|', '/')} |")
        lines.append("")
        failed = [s for s in samples if s.get("error")]
        if failed:
            lines += ["Samples that failed a check keep their text files; the reasons are in the quality column.", ""]
    for renderer in sorted({s["renderer"] for s in samples if s.get("renderer")}):
        lines += [f"Audio rendered with: {renderer}.", ""]
    atomic_write_text(run_dir.report, "\n".join(lines))


def _figure(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
