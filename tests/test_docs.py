"""The docs are real: the README's and the guide's plugin examples run end to end,
every hook is documented and exercised, and a third-party plugin package installed
through its entry point works through the CLI."""

import dataclasses
import json
import logging
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile
from conftest import TINY, TINY_ANY_REPR

from noizenet import config as configuration
from noizenet.plugin import hookspecs
from noizenet.serve import server
from noizenet.cli import join_list_options
from noizenet.evaluate.evaluator import CORE_FIGURES
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugins.abc.text import midi_bytes, split_tunes
from noizenet.plugin.registry import load_registry

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "writing-plugins.md"
THIRD_PARTY = Path(__file__).parent / "third_party_plugin"
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("noizenet_"))


def examples(doc: Path, folder: Path, marker: str = "my_plugins") -> list[Path]:
    """Write each of the doc's ``# MARKER/NAME.py`` examples into ``folder``; return their paths."""
    found = re.findall(rf"```python\n# {marker}/(\w+\.py)\n(.*?)```", doc.read_text(), re.DOTALL)
    assert found, f"{doc.name} lost its plugin examples"
    folder.mkdir(exist_ok=True)
    for name, code in found:
        (folder / name).write_text(code)
    return [folder / name for name, _ in found]


def example(doc: Path, folder: Path) -> Path:
    """The doc's first plugin example, written into ``folder``."""
    return examples(doc, folder)[0]


def test_readme_plugin_example_runs_end_to_end(cli, tunes_file, tmp_path):
    module = example(README, tmp_path / "my_plugins")
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", module.parent, "--model", "wide-gru", "--data", tunes_file, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["model"] == "wide-gru"
    listing = cli("plugins", "--plugins-dir", module.parent)
    assert "wide-gru" in listing.output and module.name in listing.output


def test_guide_examples_a_representation_and_its_metric_run_end_to_end(cli, tunes_file, tmp_path):
    folder = examples(GUIDE, tmp_path / "my_plugins")[0].parent
    runs = []
    for seed in ("0", "1"):
        out = tmp_path / f"run{seed}"
        result = cli("run", "--plugins-dir", folder, "--repr", "pitches", "--data", tunes_file, "--out", out,
                     *TINY_ANY_REPR, "--prime", "start,song", "--seed", seed)
        assert result.exit_code == 0, result.output
        runs.append(out)
    metrics = json.loads((runs[0] / "metrics.json").read_text())
    assert metrics["representation"] == "pitches" and metrics["leap_share_training"] < 0.2
    assert {"notes", "leap_share"} <= set(metrics["samples"][0])
    assert "melodic steps wider than a fifth" in (runs[0] / "report.md").read_text()
    samples = sorted((runs[0] / "samples").glob("*.abc"))
    assert len(samples) == 4 and all(s.read_text().startswith("X:1") for s in samples)
    again = cli("generate", runs[0], "-n", "1", "-q")  # from the run directory alone
    assert again.exit_code == 0, again.output
    compared = cli("compare", *runs, "--out", tmp_path / "compared")
    assert compared.exit_code == 0 and "**leap_share_training**" in compared.output


def test_guide_example_output_kind_trains_and_generates(cli, tunes_file, tmp_path):
    folder = examples(GUIDE, tmp_path / "my_plugins")[0].parent
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", folder, "--repr", "pitch-classes", "--data", tunes_file, "--out", out,
                 *TINY_ANY_REPR, "--prime", "start,song", "-t", "0,1")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [json.loads(line)["val_loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] and metrics["test_loss"] > 0
    assert {f["unit"] for f in metrics["figures"] if f["key"] == "val_loss"} == {"nats/frame"}
    written = sorted((out / "samples").glob("*.abc"))
    assert len(written) == 8 and all(p.read_text().startswith("X:1") for p in written)
    assert cli("generate", out, "-q").exit_code == 0


def test_every_hook_is_documented_and_implemented_by_a_tested_example(tmp_path):
    for hook in HOOKS:
        assert f"`{hook}()`" in GUIDE.read_text(), f"{hook} missing from docs/writing-plugins.md"
    sources = [example(README, tmp_path / "a"), *examples(GUIDE, tmp_path / "b"), THIRD_PARTY / "noizenet_scales" / "__init__.py"]
    implemented = {hook for source in sources for hook in HOOKS if f"def {hook}(" in source.read_text()}
    assert implemented == set(HOOKS)


def test_third_party_package_installs_through_its_entry_point_and_runs(tmp_path):
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(THIRD_PARTY)],
        capture_output=True, text=True,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    noizenet = [sys.executable, "-m", "noizenet"]
    listing = subprocess.run([*noizenet, "plugins"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert "scales           API 2  noizenet-scales 0.1.0 (entry point 'scales')" in listing.stdout, listing.stdout + listing.stderr
    doctor = subprocess.run([*noizenet, "doctor"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert doctor.returncode == 0 and "abcm2ps for scales: " in doctor.stdout, doctor.stdout + doctor.stderr
    out = tmp_path / "run"
    run = subprocess.run(
        [*noizenet, "run", "--set", "run.dataset=scales", "--prime", "scale", "--out", str(out), *TINY],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "scales" and {s["prime"] for s in metrics["samples"]} == {"scale"}


def test_reference_lists_every_config_key_and_every_built_in_figure():
    text = (REPO / "docs" / "reference.md").read_text()
    registry = load_registry()
    sections = [(name, cls) for name, cls in configuration.CORE_SECTIONS.items()]
    for kind, section in (("representation", "repr"), ("model", "model"), ("dataset", "data")):
        sections += [(section, entry.plugin.Config) for entry in registry.entries(kind)]
    for section, cls in sections:
        for field in dataclasses.fields(cls):
            assert f"`{section}.{field.name}`" in text, f"{section}.{field.name} missing from docs/reference.md"
    figures = [f for kind in (Categorical(), Continuous()) for f in kind.figures()] + list(CORE_FIGURES)
    figures += [f for entry in registry.entries("metric") for f in entry.plugin.figures]
    for figure in figures:
        assert f"`{figure.key}`" in text, f"figure {figure.key} missing from docs/reference.md"


def test_guide_migration_an_api_1_plugin_runs_with_warnings_or_is_refused_before_any_data(cli, tunes_file, tmp_path,
                                                                                          caplog):
    caplog.set_level(logging.WARNING, logger="noizenet")
    adapted, refused = examples(GUIDE, tmp_path / "old", marker="old_plugins")
    (tmp_path / "refused").mkdir()
    refused = refused.rename(tmp_path / "refused" / refused.name)
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", adapted.parent, "--repr", "old-chars", "--data", tunes_file, "--out", out,
                 *[a for a in TINY_ANY_REPR if a != "-q"])
    assert result.exit_code == 0, result.output
    warnings = sorted(r.getMessage() for r in caplog.records if r.getMessage().startswith("deprecated:"))
    assert len(warnings) == 2, warnings  # each once, naming the fix
    assert "write OutputSpec(Categorical(), ...)" in warnings[0] and "rename it step_labels()" in warnings[1]
    assert (out / "heatmap.png").exists()  # the old labels still label the heatmap
    listing = cli("plugins", "--plugins-dir", adapted.parent)
    assert "old-chars        API 2" in listing.output
    gone = cli("run", "--plugins-dir", refused.parent, "--repr", "old-facts", "--data", tmp_path / "no-such-data")
    lines = [line for line in gone.output.splitlines() if line.strip()]
    assert gone.exit_code == 2 and len(lines) == 1, gone.output
    assert "representation 'old-facts'" in lines[0] and refused.name in lines[0] and "describe()" in lines[0]
    assert "per_sample" in lines[0] and "no-such-data" not in lines[0]


def readme_commands() -> list[str]:
    """Every ``noizenet`` command of the README's shell blocks, comments cut off."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith("noizenet ")]


def test_every_readme_command_runs(cli, tunes_file, tmp_path, monkeypatch):
    """Each README command, in order, on small stand-ins for the user's files, with
    tiny model and data options added (and the bundled corpora cut down)."""
    monkeypatch.chdir(tmp_path)
    tunes = split_tunes(tunes_file.read_text(encoding="utf-8"))
    for folder, suffix in (("my_tunes", ".abc"), ("my_midi", ".mid"), ("my_music", ".wav")):
        (tmp_path / folder).mkdir()
    for number, tune in enumerate(tunes[:24]):
        (tmp_path / "my_tunes" / f"tune{number}.abc").write_text(tune, encoding="utf-8")
    for number, tune in enumerate(tunes[:8]):
        (tmp_path / "my_midi" / f"tune{number}.mid").write_bytes(midi_bytes(tune)[0])
    rate = 16000
    for number in range(4):
        pitches = 220.0 * 2 ** (np.random.default_rng(number).integers(0, 12, 24) / 12)
        audio = np.concatenate([0.3 * np.sin(2 * np.pi * f * np.arange(rate // 4) / rate) for f in pitches])
        soundfile.write(tmp_path / "my_music" / f"song{number}.wav", audio.astype(np.float32), rate)
    (tmp_path / "my_tune.abc").write_text(tunes[30], encoding="utf-8")
    commands = readme_commands()
    assert len(commands) >= 15
    for command in commands:
        words = shlex.split(command.replace("RUN RUN ...", "runs/mine runs/mine-audio").replace("RUN", "runs/mine")
                            .replace("configs/", f"{REPO / 'configs'}/"))[1:]
        if words[0] in ("run", "train") and "--print-config" not in words:
            abc = "--config" not in words and ("--repr" not in words or words[words.index("--repr") + 1] == "abc")
            words += TINY if abc else TINY_ANY_REPR
            if abc and "--data" not in words:
                words += ["--data", str(tunes_file)]
            words += {"pianoroll": ["--set", "data.chorales=12"]}.get(words[words.index("--repr") + 1] if "--repr" in words else "", [])
            if "--config" in words:  # the codebook config's bundled audio, cut down
                words += ["--set", "data.tunes=6"]
        elif words[0] == "generate":
            words += ["--set", "generate.max_length=300", "-n", "2", "-q"]
        elif words[0] == "serve":  # all but the serving itself, which tests/test_serve.py does with the real server
            served = []
            monkeypatch.setattr(server, "serve", lambda composer, *args, **kwargs: served.append(composer.runs()))
        result = cli(*join_list_options(words))  # as the console script does: --prime song noise
        assert result.exit_code == 0, f"{command}\n{result.output}"
        if words[0] == "serve":
            assert served and served[0], f"{command}: no runs to serve"


def test_guide_conditioned_example_trains_and_follows_an_asked_key(cli, tunes_file, tmp_path):
    """The guide's conditions example, added to its worked example, trains with
    conditions and generates with --key and --guidance."""
    folder = examples(GUIDE, tmp_path / "my_plugins")[0].parent
    (added,) = re.findall(r"```python\n# added to my_plugins/noizenet_pitches.py\n(.*?)```", GUIDE.read_text(), re.DOTALL)
    pitches = folder / "noizenet_pitches.py"
    pitches.write_text(pitches.read_text() + "\n" + added)
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", folder, "--repr", "keyed-pitches", "--data", tunes_file, "--out", out,
                 *TINY_ANY_REPR, "--prime", "start,song")
    assert result.exit_code == 0, result.output
    generated = cli("generate", out, "--key", "E minor", "--guidance", "2", "-n", "2", "--out", tmp_path / "keyed", "-q")
    assert generated.exit_code == 0, generated.output
    rows = json.loads((tmp_path / "keyed" / "samples.json").read_text())["samples"]
    assert len(rows) == 4 and all(row["asked"] == {"key": "E minor"} for row in rows)  # start and song, 2 each
    refused = cli("generate", out, "--meter", "6/8", "-n", "1", "--out", tmp_path / "meter")
    assert refused.exit_code == 2 and "cannot be steered by --meter" in refused.output
