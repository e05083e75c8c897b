import pytest
import torch

from noizenet.config import TrainConfig
from noizenet.interfaces import OutputSpec
from noizenet.plugins.recurrent import RecurrentConfig, RecurrentNet
from noizenet.registry import load_registry
from noizenet.rundir import RunDir
from noizenet.trainer import Trainer
from noizenet.windows import make_windows


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


def test_reading_the_loss_every_few_steps_trains_the_same(tmp_path):
    """On a GPU the trainer reads the loss (a host sync) every 16 steps; forced on CPU,
    that must not change a step of training."""
    spec = OutputSpec("categorical", 20, start=0, stop=1)
    generator = torch.Generator().manual_seed(0)
    pieces = [torch.randint(2, 20, (int(n),), generator=generator) for n in torch.randint(30, 120, (40,), generator=generator)]
    runs = []
    for every in (1, 4):
        (tmp_path / str(every)).mkdir()
        torch.manual_seed(0)
        model = RecurrentNet("gru", spec, RecurrentConfig(hidden=16, layers=1, embedding=8))
        trainer = Trainer(
            model=model, spec=spec, windows=make_windows("pieces", pieces, batch_size=4, seq_len=16, seed=0),
            val_encoded=pieces[:4], cfg=TrainConfig(epochs=2, max_minutes=60), run_dir=RunDir(tmp_path / str(every)),
            device=torch.device("cpu"), checkpoint_extra={}, quiet=True,
        )
        trainer.read_every = every
        result = trainer.fit()
        runs.append((result.steps, result.best_val_loss, [p.detach().clone() for p in model.parameters()]))
    assert runs[0][:2] == runs[1][:2]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][2], runs[1][2]))
