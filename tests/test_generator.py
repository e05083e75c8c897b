import numpy as np
import pytest
import torch

from noizenet.generate.generator import generate
from noizenet.plugin.interfaces import OutputSpec, TokenRule
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugin.kinds.categorical import softmax_draw, truncate
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet
from noizenet.plugins.models.sampler import RecurrentWeights

SPEC = OutputSpec(Categorical(), 12, start=0, stop=1)


def model() -> RecurrentNet:
    torch.manual_seed(0)
    return RecurrentNet("lstm", SPEC, RecurrentConfig(hidden=16, layers=2, embedding=8)).eval()


def test_argmax_matches_rereading_the_whole_prefix():
    """Stateful generation = what the model predicts from the full prefix each step."""
    net = model()
    prime = torch.tensor([0, 5, 7])
    out = generate(net, SPEC, [prime], [0.0], max_length=20, seed=0, device=torch.device("cpu")).sequences[0]
    assert torch.equal(out[:3], prime)
    for t in range(3, len(out)):
        logits, _ = net(out[None, :t])
        assert int(logits[0, -1].argmax()) == int(out[t])


def test_rows_with_different_primes_and_temperatures_match_one_by_one():
    net = model()
    primes = [torch.tensor([0]), torch.tensor([0, 4, 4, 9]), torch.tensor([0, 3])]
    batched = generate(net, SPEC, primes, [0.0, 0.0, 0.0], max_length=15, seed=0, device=torch.device("cpu"))
    for prime, row in zip(primes, batched.sequences):
        alone = generate(net, SPEC, [prime], [0.0], max_length=15, seed=0, device=torch.device("cpu")).sequences[0]
        assert torch.equal(row, alone)


def test_same_seed_same_samples_other_seed_other_samples():
    net = model()
    primes = [torch.tensor([0])] * 4
    a = generate(net, SPEC, primes, [1.0] * 4, max_length=30, seed=3, device=torch.device("cpu")).sequences
    b = generate(net, SPEC, primes, [1.0] * 4, max_length=30, seed=3, device=torch.device("cpu")).sequences
    c = generate(net, SPEC, primes, [1.0] * 4, max_length=30, seed=4, device=torch.device("cpu")).sequences
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(len(x) == len(z) and torch.equal(x, z) for x, z in zip(a, c))


def test_stops_at_the_stop_token_and_respects_max_length():
    net = model()
    with torch.no_grad():
        net.head.bias.zero_()
        net.head.bias[1] = 50.0  # the stop token dominates
    out = generate(net, SPEC, [torch.tensor([0, 4])], [1.0], max_length=10, seed=0, device=torch.device("cpu"))
    assert out.sequences[0].tolist() == [0, 4, 1]
    with torch.no_grad():
        net.head.bias[1] = -50.0
    out = generate(net, SPEC, [torch.tensor([0, 4])], [1.0], max_length=10, seed=0, device=torch.device("cpu"))
    assert len(out.sequences[0]) == 12 and out.new_steps == 10


def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([[2.0, 1.0, 0.0]]).repeat(4000, 1)
    g = torch.Generator().manual_seed(0)
    cold = softmax_draw(logits, torch.full((4000,), 0.2), g)
    hot = softmax_draw(logits, torch.full((4000,), 5.0), g)
    assert (cold == 0).float().mean() > 0.95
    assert 0.25 < (hot == 2).float().mean() < 0.40
    assert torch.equal(softmax_draw(logits[:2], torch.zeros(2), g), torch.tensor([0, 0]))


# -- the compiled sampler (numba) -------------------------------------------------------
AUDIO_SPEC = OutputSpec(Categorical(), 256)
CPU = torch.device("cpu")


def audio_model(cell: str) -> RecurrentNet:
    torch.manual_seed(1)
    return RecurrentNet(cell, AUDIO_SPEC, RecurrentConfig(hidden=24, layers=2, embedding=8)).eval()


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_compiled_step_computes_the_eager_models_logits(cell):
    net = audio_model(cell)
    tokens = torch.randint(0, 256, (3, 40))
    weights = RecurrentWeights.from_modules(cell, net.input, net.rnn, net.head)
    eager, _ = net(tokens)
    np.testing.assert_allclose(weights.logits(tokens.numpy()), eager.detach().numpy(), atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_compiled_argmax_generation_equals_the_eager_one(cell):
    net = audio_model(cell)
    primes = [torch.tensor([128, 130, 127]), torch.tensor([128])]
    runs = [
        generate(net, AUDIO_SPEC, primes, [0.0, 0.0], max_length=200, seed=0, device=CPU, compiled=compiled)
        for compiled in (True, False)
    ]
    for fast, eager in zip(*(r.sequences for r in runs)):
        assert torch.equal(fast, eager)


def test_compiled_sampling_draws_from_the_models_softmax_and_is_seeded():
    net = audio_model("gru")
    rows = 4000
    out = np.zeros((rows, 3), np.int64)
    out[:, :2] = [128, 140]
    weights = RecurrentWeights.from_modules("gru", net.input, net.rnn, net.head)
    weights.sample(out, np.full(rows, 2), np.full(rows, 3), np.ones(rows, np.float32), stop=-1, noise=0.0, seed=3)
    drawn = torch.from_numpy(out[:, 2])
    primes = [torch.tensor([128, 140])] * rows
    logits, _ = net(primes[0][None])
    expected = torch.softmax(logits[0, -1], -1)
    observed = torch.bincount(drawn, minlength=256).float() / rows
    assert (observed - expected).abs().sum() < 0.25  # total variation of a 4000-draw histogram
    again = generate(net, AUDIO_SPEC, primes[:5], [1.0] * 5, max_length=300, seed=3, device=CPU).sequences
    other = generate(net, AUDIO_SPEC, primes[:5], [1.0] * 5, max_length=300, seed=4, device=CPU).sequences
    same = generate(net, AUDIO_SPEC, primes[:5], [1.0] * 5, max_length=300, seed=3, device=CPU).sequences
    assert all(torch.equal(a, b) for a, b in zip(again, same))
    assert not all(torch.equal(a, b) for a, b in zip(again, other))
    assert net.compiled_sampler(5) is not None and net.compiled_sampler(4000) is None  # many rows: batched PyTorch


def outside_kept(net, sequences, prime_length, temperature, top_k, top_p) -> int:
    """How many drawn tokens lie outside what top-k / top-p keep of the model's
    teacher-forced prediction (top-p checked a hair wide: float32 against float64)."""
    outside = 0
    for sequence in sequences:
        logits, _ = net(sequence[None, :-1])
        rows = logits[0, prime_length - 1 :]
        kept = truncate(rows, torch.full((len(rows),), temperature), top_k, min(1.0, top_p + 1e-3)) > -torch.inf
        outside += int((~kept[torch.arange(len(rows)), sequence[prime_length:]]).sum())
    return outside


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(("top_k", "top_p"), [(5, 1.0), (0, 0.5), (12, 0.5)])
def test_top_k_and_top_p_draw_only_among_the_tokens_they_keep(compiled, top_k, top_p):
    net = audio_model("gru")
    primes, temperature = [torch.tensor([128, 130])] * 4, 1.5

    def sample(k, p):
        return generate(net, AUDIO_SPEC, primes, [temperature] * 4, max_length=150, seed=0, device=CPU,
                        compiled=compiled, top_k=k, top_p=p).sequences

    assert outside_kept(net, sample(top_k, top_p), 2, temperature, top_k, top_p) == 0
    assert outside_kept(net, sample(0, 1.0), 2, temperature, top_k, top_p) > 50  # without them: many are drawn
    greedy = generate(net, AUDIO_SPEC, primes, [0.0] * 4, max_length=150, seed=0, device=CPU, compiled=compiled)
    assert all(torch.equal(a, b) for a, b in zip(sample(1, 1.0), greedy.sequences))  # top-1 is the argmax


def test_a_compiled_sampler_without_top_k_and_top_p_leaves_them_to_the_eager_path():
    class OldSampler(RecurrentNet):
        def compiled_sampler(self, rows):
            def sampler(out, lengths, ends, temperatures, *, stop, noise, seed, scale):
                raise AssertionError("a sampler that cannot truncate was used with top_k")
            return sampler

    torch.manual_seed(1)
    net = OldSampler("gru", AUDIO_SPEC, RecurrentConfig(hidden=24, layers=2, embedding=8)).eval()
    primes = [torch.tensor([128, 130])] * 3
    drawn = generate(net, AUDIO_SPEC, primes, [1.5] * 3, max_length=100, seed=0, device=CPU, top_k=4).sequences
    assert outside_kept(net, drawn, 2, 1.5, 4, 1.0) == 0
    with pytest.raises(AssertionError, match="cannot truncate"):
        generate(net, AUDIO_SPEC, primes, [1.5] * 3, max_length=10, seed=0, device=CPU)  # without: it is used


@pytest.mark.parametrize("compiled", [True, False])
def test_injected_noise_replaces_a_share_of_the_tokens(compiled):
    net = audio_model("gru")
    prime = [torch.tensor([128])]
    plain = generate(net, AUDIO_SPEC, prime, [0.0], max_length=400, seed=0, device=CPU, compiled=compiled).sequences[0]
    noisy = generate(
        net, AUDIO_SPEC, prime, [0.0], max_length=400, seed=0, device=CPU, inject_noise=0.5, compiled=compiled
    ).sequences[0]
    assert len(torch.unique(noisy)) > 2 * len(torch.unique(plain))


def test_continuous_generation_samples_around_the_prediction_at_the_given_spread():
    spec = OutputSpec(Continuous(), 3)
    torch.manual_seed(0)
    net = RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4)).eval()
    prime = [torch.zeros(2, 3)]
    scale = torch.tensor([0.0, 1.0, 2.0])
    still = generate(net, spec, prime, [0.0], max_length=50, seed=0, device=CPU, calibration=scale).sequences[0]
    loose = generate(net, spec, prime * 2, [1.0, 1.0], max_length=400, seed=0, device=CPU, calibration=scale).sequences[0]
    steps = np.diff(loose[2:].numpy(), axis=0).std(axis=0)
    assert torch.isfinite(still).all() and np.diff(still[-10:].numpy(), axis=0).std() < 0.05
    assert steps[0] < 0.5 < steps[1] < steps[2]


def test_compiled_frames_follow_the_eager_model_and_its_spread():
    spec = OutputSpec(Continuous(), 6)
    torch.manual_seed(2)
    net = RecurrentNet("lstm", spec, RecurrentConfig(hidden=12, layers=2, embedding=5)).eval()
    frames = torch.randn(2, 30, 6)
    weights = RecurrentWeights.from_modules("lstm", net.input, net.rnn, net.head)
    np.testing.assert_allclose(weights.logits(frames.numpy()), net(frames)[0].detach().numpy(), atol=1e-5)
    prime = [torch.randn(4, 6)]
    runs = [generate(net, spec, prime, [0.0], max_length=40, seed=0, device=CPU, compiled=c).sequences[0] for c in (True, False)]
    torch.testing.assert_close(runs[0], runs[1], atol=1e-4, rtol=1e-4)
    scale = torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    loose = generate(net, spec, prime * 64, [1.0] * 64, max_length=1, seed=0, device=CPU, calibration=scale).sequences
    last = torch.stack([s[-1] for s in loose])
    assert last[:, :3].std(0).max() < 1e-5 and 0.7 < float(last[:, 3:].std(0).mean()) < 1.3


@pytest.mark.parametrize("compiled", [True, False])
def test_progress_is_reported_from_start_to_finish(compiled):
    net = audio_model("gru")
    seen: list[float] = []
    generate(net, AUDIO_SPEC, [torch.tensor([128])] * 2, [1.0, 1.0], max_length=1000, seed=0, device=CPU,
             compiled=compiled, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)
    assert len(seen) >= (2 if compiled else 4)  # the step loop reports along the way


def test_a_token_rule_decides_what_each_row_may_draw():
    """Rows draw only what their rule allows, though the model has a compiled sampler;
    a row without a rule draws freely; every rule reads its whole row."""

    class Only(TokenRule):
        def __init__(self, tokens):
            self.tokens, self.read = tokens, []

        def feed(self, token):
            self.read.append(token)

        def allowed(self):
            mask = np.zeros(SPEC.size, dtype=bool)
            mask[list(self.tokens)] = True
            return mask

    net = model()
    assert net.compiled_sampler(3) is not None
    rules = [Only({5, 7}), None, Only({9})]
    primes = [torch.tensor([0, 3]), torch.tensor([0]), torch.tensor([0])]
    out = generate(net, SPEC, primes, [1.0] * 3, max_length=40, seed=0, device=torch.device("cpu"), rules=rules)
    first, free, third = out.sequences
    assert set(first[2:].tolist()) <= {5, 7} and set(third[1:].tolist()) == {9}
    assert not set(free[1:].tolist()) <= {5, 7, 9}
    assert rules[0].read[: len(first)] == first.tolist()
