import pytest
import torch

from noizenet.interfaces import OutputSpec
from noizenet.plugins.recurrent import RecurrentConfig
from noizenet.registry import load_registry


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("init", ["default", "xavier", "kaiming"])
def test_categorical_output_shapes_and_state(name, init):
    spec = OutputSpec("categorical", 50, start=0, stop=1)
    model = load_registry().get("model", name).build(spec, RecurrentConfig(hidden=24, layers=2, embedding=8, init=init))
    x = torch.randint(0, 50, (3, 7))
    y, state = model(x)
    assert y.shape == (3, 7, 50)
    # Feeding the sequence in two parts with the carried state gives the same outputs.
    model.eval()
    whole, _ = model(x)
    first, state = model(x[:, :4])
    second, _ = model(x[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    hidden, _ = model.hidden(x)
    assert hidden.shape == (3, 7, 24)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_continuous_output_shapes(name):
    spec = OutputSpec("continuous", 10)
    model = load_registry().get("model", name).build(spec, RecurrentConfig(hidden=16, layers=1, embedding=8))
    y, _ = model(torch.randn(2, 5, 10))
    assert y.shape == (2, 5, 10)


def test_dropout_sits_between_layers():
    spec = OutputSpec("categorical", 5)
    model = load_registry().get("model", "lstm").build(spec, RecurrentConfig(hidden=8, layers=3, dropout=0.3))
    assert model.rnn.num_layers == 3 and model.rnn.dropout == 0.3
