import torch

from noizenet.generator import draw, generate
from noizenet.interfaces import OutputSpec
from noizenet.plugins.recurrent import RecurrentConfig, RecurrentNet

SPEC = OutputSpec("categorical", 12, start=0, stop=1)


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
    cold = draw(logits, torch.full((4000,), 0.2), g)
    hot = draw(logits, torch.full((4000,), 5.0), g)
    assert (cold == 0).float().mean() > 0.95
    assert 0.25 < (hot == 2).float().mean() < 0.40
    assert torch.equal(draw(logits[:2], torch.zeros(2), g), torch.tensor([0, 0]))
