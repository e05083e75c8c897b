"""The README's plugin example is real: extract it, load it with --plugins-dir, run it."""

import json
import re
from pathlib import Path

from conftest import TINY

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_plugin_example_runs_end_to_end(cli, tunes_file, tmp_path):
    match = re.search(r"```python\n# my_plugins/(\w+\.py)\n(.*?)```", README.read_text(), re.S)
    assert match, "README lost its plugin example"
    folder = tmp_path / "my_plugins"
    folder.mkdir()
    (folder / match.group(1)).write_text(match.group(2))
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", folder, "--model", "wide-gru", "--data", tunes_file, "--out", out, *TINY)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "metrics.json").read_text())["model"] == "wide-gru"
    listing = cli("plugins", "--plugins-dir", folder)
    assert "wide-gru" in listing.output and match.group(1) in listing.output
