import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY

from noizenet.plugin import compat
from noizenet.deferred import deferred, import_all
from noizenet.errors import PluginError
from noizenet.plugin.interfaces import Representation
from noizenet.plugins.abc.representation import AbcRepresentation
from noizenet.plugin.registry import KINDS, load_registry


def test_builtins_come_through_entry_points():
    registry = load_registry()
    assert registry.names("representation") == ["abc", "chroma", "codebook", "fft", "harmonic", "midi", "pianoroll", "waveform"]
    assert registry.names("model") == ["crnn", "gru", "lstm", "rnn", "samplernn"]
    assert registry.names("prime") == ["crossed", "noise", "perlin", "song", "start"]
    assert registry.names("dataset") == ["abc-files", "audio-files", "bach-chorales", "midi-files", "music21-abc",
                                         "music21-audio", "pianoroll-mat"]
    assert registry.names("metric") == ["abc-validity", "audio-quality", "chords", "collapse", "header-kept",
                                        "instruments", "motion", "music-statistics", "novelty", "polyphony", "tonality"]
    for entry in registry.entries():
        assert "entry point" in entry.origin


def test_unknown_name_lists_known_and_closest():
    with pytest.raises(PluginError) as error:
        load_registry().get("model", "lstn")
    message = str(error.value)
    assert "unknown model 'lstn'" in message and "gru, lstm, rnn" in message and "did you mean 'lstm'" in message


def _write_model_plugin(folder: Path, module: str, name: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / f"{module}.py").write_text(
        "import noizenet\n"
        "from noizenet.plugin.interfaces import ModelPlugin\n"
        "from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet\n"
        "@noizenet.hookimpl\n"
        "def noizenet_models():\n"
        f"    return [ModelPlugin('{name}', RecurrentConfig, lambda spec, cfg: RecurrentNet('gru', spec, cfg))]\n"
    )


def test_plugins_dir_adds_a_plugin_with_its_file_as_origin(tmp_path):
    _write_model_plugin(tmp_path / "p", "mine", "tinygru")
    registry = load_registry([tmp_path / "p"])
    assert "tinygru" in registry.names("model")
    origin = next(e.origin for e in registry.entries("model") if e.name == "tinygru")
    assert origin.endswith("mine.py")


def test_two_plugins_with_one_name_is_an_error_naming_both(tmp_path):
    _write_model_plugin(tmp_path / "p", "one", "twin")
    _write_model_plugin(tmp_path / "p", "two", "twin")
    with pytest.raises(PluginError) as error:
        load_registry([tmp_path / "p"])
    assert "two model plugins named 'twin'" in str(error.value)
    assert "one.py" in str(error.value) and "two.py" in str(error.value)


def test_a_name_clashing_with_a_builtin_is_an_error(tmp_path):
    _write_model_plugin(tmp_path / "p", "clash", "lstm")
    with pytest.raises(PluginError, match="two model plugins named 'lstm'"):
        load_registry([tmp_path / "p"])


def test_every_kind_has_a_hook():
    from noizenet.plugin import hookspecs

    for hook in KINDS.values():
        assert callable(getattr(hookspecs, hook))


def test_a_representation_with_an_outdated_method_signature_is_one_clear_line(tmp_path, cli):
    plugin = tmp_path / "old_style.py"
    plugin.write_text(
        "import noizenet\nfrom noizenet.plugins.abc.representation import AbcRepresentation\n\n"
        "class Old(AbcRepresentation):\n    name = 'old'\n\n"
        "    def decode(self, encoded):\n        return super().decode(encoded)\n\n"
        "@noizenet.hookimpl\ndef noizenet_representations():\n    return [Old]\n"
    )
    result = cli("run", "--plugins-dir", tmp_path, "--repr", "old", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 2
    assert "representation 'old'" in result.output and "decode() must accept the keyword argument(s) prime_steps" in result.output


def test_a_plugin_raising_in_its_own_code_is_one_line_naming_it_and_its_method(cli, tunes_file, tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "broken.py").write_text(
        "import noizenet\n"
        "from noizenet.plugins.abc.representation import AbcRepresentation\n\n\n"
        "class Broken(AbcRepresentation):\n"
        "    name = 'broken'\n\n"
        "    def encode(self, piece):\n"
        "        raise ValueError(f'cannot read {piece.id}')\n\n\n"
        "@noizenet.hookimpl\n"
        "def noizenet_representations():\n"
        "    return [Broken]\n"
    )
    out = tmp_path / "run"
    result = cli("run", "--plugins-dir", folder, "--repr", "broken", "--data", tunes_file, "--out", out, *TINY)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("noizenet: error: representation 'broken' (") and "broken.py) failed in encode(): " \
        "ValueError: cannot read tunes.abc#" in lines[0]
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "ValueError" in status["error"]
    assert (out / "config.toml").exists()  # the run's own files stay, to look at


def test_a_plugin_for_a_newer_api_or_without_an_abstract_method_is_refused_when_it_loads():
    class Future(AbcRepresentation):
        name = "future"
        api_version = compat.API_VERSION + 1

    newer = rf"representation 'future' \(here\) is written for plugin API {compat.API_VERSION + 1}"
    with pytest.raises(PluginError, match=newer):
        compat.check("representation", "future", Future, "here")

    class Unfinished(Representation):
        name = "unfinished"

    with pytest.raises(PluginError, match=r"representation 'unfinished' \(here\) does not define decode, encode"):
        compat.check("representation", "unfinished", Unfinished, "here")
    compat.check("representation", "abc", AbcRepresentation, "here")  # today's plugins pass


def test_loading_every_plugin_leaves_the_heavy_libraries_for_when_they_are_used():
    """A warm run on prepared ABC never calls music21, numba, pyplot or scipy's linear
    algebra: loading the CLI and the registry must not import them (about a second)."""
    heavy = ["music21", "numba", "matplotlib.pyplot", "matplotlib.image", "scipy.linalg", "scipy.io"]
    script = ("import sys; import noizenet.cli; from noizenet.plugin.registry import load_registry; load_registry(); "
              f"print([name for name in {heavy!r} if name in sys.modules])")
    found = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"


def test_a_deferred_module_is_imported_when_an_attribute_is_first_read():
    module = deferred("json.tool")
    assert "not imported yet" in repr(module)
    assert module.main is importlib.import_module("json.tool").main
    assert "imported" in repr(module) and "not" not in repr(module)


def test_import_all_imports_every_deferred_module():
    module = deferred("json.decoder")
    import_all()
    assert "not" not in repr(module)
