import dataclasses
from pathlib import Path

import pytest

from noizenet import config as configuration
from noizenet.errors import ConfigError, PluginError
from noizenet.plugin.registry import load_registry

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_defaults_resolve_to_abc_lstm(registry):
    config = configuration.resolve({}, registry)
    assert (config.run.repr, config.run.model, config.dataset_name) == ("abc", "lstm", "music21-abc")
    assert config.model.hidden > 0 and config.train.clip > 0


def test_shipped_abc_lstm_config_is_the_code_default(registry):
    from_file = configuration.resolve(configuration.read_toml(REPO / "configs" / "abc-lstm.toml"), registry)
    assert from_file.to_dict() == configuration.resolve({}, registry).to_dict()


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_config_resolves(registry, path):
    configuration.resolve(configuration.read_toml(path), registry)


def test_override_parses_toml_values_and_falls_back_to_strings():
    assert configuration.parse_override("train.lr=1e-3") == ("train", "lr", 0.001)
    assert configuration.parse_override("generate.temperature=[0.5, 1]") == ("generate", "temperature", [0.5, 1])
    assert configuration.parse_override("run.device=cpu") == ("run", "device", "cpu")


def test_override_wins_over_file(registry, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nlr = 0.01\nepochs = 3\n")
    raw = configuration.merge(configuration.read_toml(path), {"train": {"lr": 0.002}}, "test")
    config = configuration.resolve(raw, registry)
    assert (config.train.lr, config.train.epochs) == (0.002, 3)


def test_resolved_config_round_trips_through_toml(registry, tmp_path):
    config = configuration.resolve({"model": {"hidden": 64}, "generate": {"temperature": [0.5, 1.0]}}, registry)
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml())
    again = configuration.resolve(configuration.read_toml(path), registry)
    assert again.to_dict() == config.to_dict()


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"train": {"lrr": 0.1}}, "unknown key 'train.lrr' (did you mean 'lr'?)"),
        ({"model": {"hiden": 3}}, "unknown key 'model.hiden'"),
        ({"train": {"lr": "fast"}}, "train.lr must be float"),
        ({"train": {"lr": -1.0}}, "train.lr must be a positive number"),
        ({"train": {"batch_size": 0}}, "train.batch_size must be >= 1"),
        ({"generate": {"temperature": [-0.5]}}, "generate.temperature must be >= 0"),
        ({"train": {"optimizer": "adamm"}}, "did you mean 'adam'"),
        ({"train": {"epochs": True}}, "train.epochs must be int"),
    ],
)
def test_bad_values_are_rejected_with_the_key(registry, raw, message):
    with pytest.raises(ConfigError) as error:
        configuration.resolve(raw, registry)
    assert message in str(error.value)


def test_unknown_section_is_rejected():
    with pytest.raises(ConfigError, match="unknown section 'trian'.*did you mean 'train'"):
        configuration.merge({}, {"trian": {"lr": 1}}, "test")


def test_unknown_plugin_in_config_is_a_plugin_error(registry):
    with pytest.raises(PluginError, match="unknown representation 'abd'"):
        configuration.resolve({"run": {"repr": "abd"}}, registry)


def test_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nlr = = 3\n")
    with pytest.raises(ConfigError, match="line 2"):
        configuration.read_toml(path)


def test_core_sections_have_defaults_for_every_field():
    for cls in configuration.CORE_SECTIONS.values():
        cls()  # raises if a field has no default
        assert all(f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING for f in dataclasses.fields(cls))
