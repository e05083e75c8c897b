"""The docs are real: the README's and the guide's plugin examples run end to end,
every hook is documented and exercised, and a third-party plugin package installed
through its entry point works through the CLI."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import TINY, TINY_ANY_REPR

from noizenet import hookspecs

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
GUIDE = REPO / "docs" / "writing-plugins.md"
THIRD_PARTY = Path(__file__).parent / "third_party_plugin"
HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("noizenet_"))


def example(doc: Path, folder: Path) -> Path:
    """Write the doc's ``# my_plugins/NAME.py`` example into ``folder``; return its path."""
    match = re.search(r"```python\n# my_plugins/(\w+\.py)\n(.*?)```", doc.read_text(), re.DOTALL)
    assert match, f"{doc.name} lost its plugin example"
    folder.mkdir(exist_ok=True)
    path = folder / match.group(1)
    path.write_text(match.group(2))
    return path


def test_readme_plugin_example_runs_end_to_end(cli, tunes_file, tmp_path):
    module = example(README, tmp_path / "my_plugins")
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", module.parent, "--model", "wide-gru", "--data", tunes_file, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["model"] == "wide-gru"
    listing = cli("plugins", "--plugins-dir", module.parent)
    assert "wide-gru" in listing.output and module.name in listing.output


def test_guide_example_representation_runs_end_to_end(cli, tunes_file, tmp_path):
    module = example(GUIDE, tmp_path / "my_plugins")
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", module.parent, "--repr", "pitches", "--data", tunes_file, "--out", out,
                 *TINY_ANY_REPR, "--prime", "start,song")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["representation"] == "pitches" and "pitches_valid_rate" in metrics
    samples = sorted((out / "samples").glob("*.abc"))
    assert len(samples) == 4 and all(s.read_text().startswith("X:1") for s in samples)
    again = cli("generate", out, "--plugins-dir", module.parent, "-n", "1", "-q")  # from the checkpoint alone
    assert again.exit_code == 0, again.output


def test_every_hook_is_documented_and_implemented_by_a_tested_example(tmp_path):
    for hook in HOOKS:
        assert f"`{hook}()`" in GUIDE.read_text(), f"{hook} missing from docs/writing-plugins.md"
    sources = [example(README, tmp_path / "a"), example(GUIDE, tmp_path / "b"), THIRD_PARTY / "noizenet_scales" / "__init__.py"]
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
    assert "scales           noizenet-scales 0.1.0 (entry point 'scales')" in listing.stdout, listing.stdout + listing.stderr
    out = tmp_path / "run"
    run = subprocess.run(
        [*noizenet, "run", "--set", "run.dataset=scales", "--prime", "scale", "--out", str(out), *TINY],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "scales" and {s["prime"] for s in metrics["samples"]} == {"scale"}
