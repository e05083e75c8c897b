import pytest
import torch

from noizenet.errors import DataError
from noizenet.interfaces import OutputSpec, Piece
from noizenet.plugins.recurrent import RecurrentConfig, RecurrentNet
from noizenet.scoring import score_pieces
from noizenet.splits import split_pieces
from noizenet.windows import StreamWindows


def test_split_is_by_piece_disjoint_and_fixed_by_seed():
    pieces = [Piece(f"p{i}", str(i)) for i in range(50)]
    train, val, test = split_pieces(pieces, [0.8, 0.1, 0.1], seed=1)
    ids = [p.id for p in train + val + test]
    assert sorted(ids) == sorted(p.id for p in pieces)
    assert (len(train), len(val), len(test)) == (40, 5, 5)
    assert split_pieces(list(reversed(pieces)), [0.8, 0.1, 0.1], seed=1) == (train, val, test)
    assert split_pieces(pieces, [0.8, 0.1, 0.1], seed=2)[1] != val


def test_tiny_corpus_still_gets_validation_and_test():
    train, val, test = split_pieces([Piece(str(i), "") for i in range(3)], [0.8, 0.1, 0.1], seed=0)
    assert (len(train), len(val), len(test)) == (1, 1, 1)
    with pytest.raises(DataError, match="at least 3 pieces"):
        split_pieces([Piece("a", ""), Piece("b", "")], [0.8, 0.1, 0.1], seed=0)


def test_windows_are_teacher_forcing_pairs_and_continue_each_stream():
    pieces = [torch.arange(i * 100, i * 100 + 97) for i in range(10)]
    windows = StreamWindows(pieces, batch_size=4, seq_len=8, seed=0)
    batches = list(windows.epoch(0))
    assert len(batches) == windows.windows_per_epoch
    for x, y in batches:
        assert x.shape == y.shape == (4, 8)
    # y is x shifted by one, and window i+1 continues window i in every stream
    stream = torch.cat([x for x, _ in batches], 1)
    targets = torch.cat([y for _, y in batches], 1)
    assert torch.equal(stream[:, 1:], targets[:, :-1])
    assert list(windows.epoch(0, start=2))[0][0].tolist() == batches[2][0].tolist()
    assert not torch.equal(list(windows.epoch(1))[0][0], batches[0][0])  # new order each epoch


def test_distributed_ranks_get_disjoint_streams():
    pieces = [torch.arange(i * 1000, i * 1000 + 500) for i in range(8)]
    a = next(StreamWindows(pieces, batch_size=2, seq_len=16, seed=0, rank=0, world_size=2).epoch(0))[0]
    b = next(StreamWindows(pieces, batch_size=2, seq_len=16, seed=0, rank=1, world_size=2).epoch(0))[0]
    assert not set(a.flatten().tolist()) & set(b.flatten().tolist())


def test_seq_len_longer_than_the_data_is_a_clear_error():
    with pytest.raises(DataError, match="seq_len=500 is longer than the whole training data"):
        StreamWindows([torch.arange(100)], batch_size=4, seq_len=500, seed=0)


def test_padded_batch_scoring_equals_scoring_each_piece_alone():
    spec = OutputSpec("categorical", 9, start=0, stop=1)
    torch.manual_seed(0)
    model = RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4))
    pieces = [torch.randint(0, 9, (n,)) for n in (5, 17, 9, 30)]
    together = score_pieces(model, pieces, spec, torch.device("cpu"))
    alone = [score_pieces(model, [p], spec, torch.device("cpu")) for p in pieces]
    steps = sum(a["steps"] for a in alone)
    assert together["steps"] == steps == sum(len(p) - 1 for p in pieces)
    assert together["loss"] == pytest.approx(sum(a["loss"] * a["steps"] for a in alone) / steps, rel=1e-5)
    assert together["accuracy"] == pytest.approx(sum(a["accuracy"] * a["steps"] for a in alone) / steps)
