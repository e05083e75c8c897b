import json
import time

import pytest
import torch

from noizenet.config import TrainConfig
from noizenet.plugin.interfaces import OutputSpec
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet, recur
from noizenet.plugin.registry import load_registry
from noizenet.runs.rundir import RunDir
from noizenet.train.trainer import Trainer
from noizenet.train.windows import make_windows


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("init", ["default", "xavier", "kaiming"])
def test_categorical_output_shapes_and_state(name, init):
    spec = OutputSpec(Categorical(), 50, start=0, stop=1)
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


@pytest.mark.parametrize("kind", [Categorical(), Continuous()])
@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_one_step_at_a_time_matches_the_fused_call(name, kind):
    """Generation steps one position at a time (through the cell kernels on CPU):
    outputs and final state must be those of one fused call over the sequence."""
    spec = OutputSpec(kind, 12)
    model = load_registry().get("model", name).build(spec, RecurrentConfig(hidden=32, layers=3, embedding=8)).eval()
    x = torch.randint(0, 12, (4, 9)) if kind.tokens else torch.randn(4, 9, 12)
    with torch.inference_mode():
        whole, whole_state = model(x)
        steps, state = [], None
        for t in range(9):
            out, state = model(x[:, t : t + 1], state)
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), whole)
    for ours, fused in zip(state if name == "lstm" else [state], whole_state if name == "lstm" else [whole_state]):
        assert ours.shape == fused.shape == (3, 4, 32)
        torch.testing.assert_close(ours, fused)


@pytest.mark.parametrize(
    "rnn",
    [torch.nn.RNN(5, 7, 2, batch_first=True, nonlinearity="relu"), torch.nn.LSTM(5, 7, 2, batch_first=True, proj_size=3),
     torch.nn.GRU(5, 7, 1, batch_first=True, bias=False)],
    ids=["relu-rnn", "lstm-projections", "gru-no-bias"],
)
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_recur_steps_any_recurrent_layer_like_the_layer_itself(rnn):
    x = torch.randn(3, 1, 5)
    rnn.eval()
    with torch.inference_mode():
        torch.testing.assert_close(recur(rnn, x)[0], rnn(x)[0])


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_continuous_output_shapes(name):
    spec = OutputSpec(Continuous(), 10)
    model = load_registry().get("model", name).build(spec, RecurrentConfig(hidden=16, layers=1, embedding=8))
    y, _ = model(torch.randn(2, 5, 10))
    assert y.shape == (2, 5, 10)


def test_dropout_sits_between_layers():
    spec = OutputSpec(Categorical(), 5)
    model = load_registry().get("model", "lstm").build(spec, RecurrentConfig(hidden=8, layers=3, dropout=0.3))
    assert model.rnn.num_layers == 3 and model.rnn.dropout == 0.3


def test_reading_the_loss_every_few_steps_trains_the_same(tmp_path):
    """On a GPU the trainer reads the loss (a host sync) every 16 steps; forced on CPU,
    that must not change a step of training."""
    spec = OutputSpec(Categorical(), 20, start=0, stop=1)
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


def test_patience_cannot_stop_training_in_the_first_half_of_its_budget(tmp_path, monkeypatch):
    """A small held-out set can look worse at once: patience stops training only after
    train.early_stop_after of the budget (by default half: 10 of 20 epochs), and only
    once the validations without a new best span train.patience_share of it."""
    spec = OutputSpec(Categorical(), 20, start=0, stop=1)
    pieces = [torch.randint(2, 20, (40,), generator=torch.Generator().manual_seed(i)) for i in range(8)]
    for settings, stopped_at in (({}, 10), ({"early_stop_after": 0.0, "patience_share": 0.0}, 2),
                                 ({"early_stop_after": 0.0, "patience_share": 0.125}, 4)):
        worse = iter(range(1, 100))  # every validation after the first is worse
        monkeypatch.setattr("noizenet.train.trainer.score_pieces", lambda *args, **kwargs: {"loss": float(next(worse)), "steps": 1})
        folder = tmp_path / str(stopped_at)
        folder.mkdir()
        trainer = Trainer(
            model=RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4)), spec=spec,
            windows=make_windows("pieces", pieces, batch_size=4, seq_len=16, seed=0), val_encoded=pieces[:2],
            cfg=TrainConfig(epochs=20, max_minutes=60, patience=1, **settings),
            run_dir=RunDir(folder), device=torch.device("cpu"), checkpoint_extra={}, quiet=True,
        )
        result = trainer.fit()
        assert (result.stopped, result.epochs) == ("early-stop", stopped_at)
        assert result.reason.startswith("early stop: the validation loss rose") and "epoch 1.0" in result.reason


def test_a_plateau_of_the_validation_loss_trains_on(tmp_path, monkeypatch):
    """Patience stops on a rise (2% above the best), never on a loss that only stalls."""
    spec = OutputSpec(Categorical(), 20, start=0, stop=1)
    pieces = [torch.randint(2, 20, (40,), generator=torch.Generator().manual_seed(i)) for i in range(8)]
    stalled = iter([1.0] + [1.01, 1.005] * 50)
    monkeypatch.setattr("noizenet.train.trainer.score_pieces", lambda *args, **kwargs: {"loss": next(stalled), "steps": 1})
    trainer = Trainer(
        model=RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4)), spec=spec,
        windows=make_windows("pieces", pieces, batch_size=4, seq_len=16, seed=0), val_encoded=pieces[:2],
        cfg=TrainConfig(epochs=12, max_minutes=60, patience=1, early_stop_after=0.0, patience_share=0.0),
        run_dir=RunDir(tmp_path), device=torch.device("cpu"), checkpoint_extra={}, quiet=True,
    )
    result = trainer.fit()
    assert (result.stopped, result.epochs) == ("epochs", 12) and result.reason.startswith("ran its 12 epochs in ")


def test_without_an_epoch_limit_a_small_corpus_trains_for_its_minutes(tmp_path):
    """train.epochs = 0 (the default): the minutes alone end training, however many
    epochs a small corpus makes of them."""
    spec = OutputSpec(Categorical(), 20, start=0, stop=1)
    pieces = [torch.randint(2, 20, (40,), generator=torch.Generator().manual_seed(i)) for i in range(4)]
    trainer = Trainer(
        model=RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4)), spec=spec,
        windows=make_windows("pieces", pieces, batch_size=4, seq_len=16, seed=0), val_encoded=pieces[:1],
        cfg=TrainConfig(max_minutes=0.05, patience=0), run_dir=RunDir(tmp_path), device=torch.device("cpu"),
        checkpoint_extra={}, quiet=True,
    )
    result = trainer.fit()
    assert result.stopped == "time" and 2.0 <= result.seconds <= 4.5 and result.epochs >= 1  # the 3 s, by steps
    assert result.steps == result.step_budget > 20
    assert result.reason.startswith(f"used its 0.05 minutes: {result.step_budget} steps, fixed at step 20 ")


def small_gru_trainer(folder, cfg: TrainConfig) -> Trainer:
    """A tiny GRU on four random pieces, seeded alike every time it is made."""
    torch.manual_seed(0)
    spec = OutputSpec(Categorical(), 20, start=0, stop=1)
    pieces = [torch.randint(2, 20, (40,), generator=torch.Generator().manual_seed(i)) for i in range(4)]
    return Trainer(
        model=RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4)), spec=spec,
        windows=make_windows("pieces", pieces, batch_size=4, seq_len=16, seed=0), val_encoded=pieces[:1],
        cfg=cfg, run_dir=RunDir(folder), device=torch.device("cpu"), checkpoint_extra={}, quiet=True,
    )


def test_a_run_budgeted_in_minutes_repeats_exactly_with_its_recorded_steps(tmp_path, monkeypatch):
    """The minutes become a step count after 20 steps; validations, the cosine and
    patience follow steps from then on. A machine running at another speed (here:
    every step slowed) would have fixed another count, and given that count, a rerun
    takes the same path to the same weights and the same best model."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    timed = small_gru_trainer(tmp_path / "a", TrainConfig(max_minutes=0.02, patience=2, early_stop_after=0.3))
    first = timed.fit()
    assert first.stopped in ("time", "early-stop") and first.step_budget > 20
    slow_step = Trainer._train_step

    def slower(self, window):  # another machine: each step takes longer, the path must not change
        time.sleep(0.002)
        return slow_step(self, window)

    monkeypatch.setattr(Trainer, "_train_step", slower)
    again = small_gru_trainer(tmp_path / "b", TrainConfig(max_minutes=0.02, patience=2, early_stop_after=0.3,
                                                           max_steps=first.step_budget))
    second = again.fit()
    assert (second.steps, second.best_val_loss) == (first.steps, first.best_val_loss)
    assert all(torch.equal(a, b) for a, b in zip(timed.model.state_dict().values(), again.model.state_dict().values()))
    records = [[(r["step"], r["val_loss"]) for r in map(json.loads, (tmp_path / f / "metrics.jsonl").read_text().splitlines())]
               for f in ("a", "b")]
    assert records[0] == records[1] and len(records[0]) >= 5  # validated at the same steps, to the same losses




def test_a_validation_longer_than_a_tenth_of_the_budget_does_not_start_another_at_once(tmp_path, monkeypatch):
    """Validations at each tenth of the minutes: one that lasts past the next tenth
    (a long held-out piece) used to set off another after every step."""
    spec = OutputSpec(Categorical(), 20, start=0, stop=1)
    pieces = [torch.randint(2, 20, (400,), generator=torch.Generator().manual_seed(i)) for i in range(4)]

    def slow_score(*args, **kwargs):
        time.sleep(0.5)  # a fifth of the 2.4 s budget
        return {"loss": 1.0, "steps": 1}

    monkeypatch.setattr("noizenet.train.trainer.score_pieces", slow_score)
    trainer = Trainer(
        model=RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4)), spec=spec,
        windows=make_windows("pieces", pieces, batch_size=4, seq_len=4, seed=0), val_encoded=pieces[:1],
        cfg=TrainConfig(max_minutes=0.04, patience=0, val_every=1000), run_dir=RunDir(tmp_path),
        device=torch.device("cpu"), checkpoint_extra={}, quiet=True,
    )
    result = trainer.fit()
    validations = len((tmp_path / "metrics.jsonl").read_text().splitlines())
    assert result.stopped == "time" and validations <= 6 and result.steps > 3 * validations
