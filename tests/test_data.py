import json
import logging
import os
import signal
import time

import numpy as np
import pytest
import torch

from noizenet.data.cache import cached_arrays
from noizenet.datasets.abc_files import AbcFiles, AbcFilesConfig
from noizenet.datasets.paths import files_under, not_readable, read_each
from noizenet.errors import DataError
from noizenet.plugin.interfaces import OutputSpec, Piece
from noizenet.plugin.kinds import Categorical, Continuous
from noizenet.plugins.abc.text import split_tunes
from noizenet.plugins.models.recurrent import RecurrentConfig, RecurrentNet
from noizenet.train.scoring import score_pieces
from noizenet.data.splits import split_pieces
from noizenet.train.windows import PieceWindows, StreamWindows, Window


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


def test_stream_windows_are_teacher_forcing_pairs_and_continue_each_stream():
    pieces = [torch.arange(i * 100, i * 100 + 97) for i in range(10)]
    windows = StreamWindows(pieces, batch_size=4, seq_len=8, seed=0)
    batches = list(windows.epoch(0))
    assert len(batches) == windows.windows_per_epoch
    assert [bool(w.fresh.all()) for w in batches] == [True] + [False] * (len(batches) - 1)
    for w in batches:
        assert w.x.shape == w.y.shape == (4, 8) and w.mask is None
    # y is x shifted by one, and window i+1 continues window i in every stream
    stream = torch.cat([w.x for w in batches], 1)
    targets = torch.cat([w.y for w in batches], 1)
    assert torch.equal(stream[:, 1:], targets[:, :-1])
    assert torch.equal(list(windows.epoch(0, start=2))[0].x, batches[2].x)
    assert not torch.equal(next(windows.epoch(1)).x, batches[0].x)  # new order each epoch


def _played(windows: PieceWindows, epoch: int) -> tuple[list[int], list[Window]]:
    """Every target step of ``epoch`` and its windows, checking each window's pairs
    and that a row not fresh continues its previous window."""
    seen, played, last = [], list(windows.epoch(epoch)), None
    for w in played:
        mask = w.mask if w.mask is not None else torch.ones(w.x.shape, dtype=torch.bool)
        assert torch.equal(w.y[mask], w.x[mask] + 1)  # targets are the next step of the same piece
        assert bool(w.fresh[w.x[:, 0] % 1000 == 0].all())  # every piece begins from a zero state
        if last is not None:  # a row that is not fresh goes on where it stopped
            assert torch.equal(w.x[~w.fresh, 0], last[~w.fresh] + 1)
        last = w.x[:, -1]
        seen += w.y[mask].tolist()
    assert len(seen) == len(set(seen))  # no step twice
    return seen, played


def test_piece_windows_start_every_piece_fresh_and_cover_each_step_once():
    lengths = np.random.default_rng(0).integers(5, 60, 48).tolist()
    pieces = [torch.arange(i * 1000, i * 1000 + n) for i, n in enumerate(lengths)]
    windows = PieceWindows(pieces, batch_size=3, seq_len=8, seed=0)
    assert windows.batch_size == 3 and windows.part_windows == max(windows.windows)  # enough pieces: none is cut
    assert windows.count(0) == len(list(windows.epoch(0)))
    seen, played = _played(windows, 0)
    for w in played:  # a row is fresh exactly when it sits at a piece's first step
        assert torch.equal(w.fresh, w.x[:, 0] % 1000 == 0)
    covered = {v // 1000 for v in seen}
    starts = sum(int(w.fresh.sum()) for w in played)
    assert starts == len(covered) >= len(pieces) - 3  # only the tails of the longest rows wait
    cut = [i for i in covered if not set(range(i * 1000 + 1, i * 1000 + lengths[i])) <= set(seen)]
    assert len(cut) <= 3  # at most the last piece of each row is cut short
    assert [w.x.tolist() for w in windows.epoch(0, start=3)] == [w.x.tolist() for w in played[3:]]
    assert not torch.equal(next(windows.epoch(1)).x, next(windows.epoch(0)).x)  # new order each epoch


def test_a_few_long_recordings_train_on_every_window_at_the_full_batch():
    """Three long pieces and a batch of 8: each is cut into parts (each from a zero
    state), the batch is not lowered to the number of pieces, and an epoch trains
    on nearly every window of every piece, not on the first part of each."""
    lengths = [800, 500, 650]
    pieces = [torch.arange(i * 1000, i * 1000 + n) for i, n in enumerate(lengths)]
    windows = PieceWindows(pieces, batch_size=8, seq_len=8, seed=0)
    assert windows.batch_size == 8 and windows.part_windows < min(windows.windows)
    steps = sum(n - 1 for n in lengths)
    seen, played = _played(windows, 0)
    assert len(seen) >= 0.9 * steps
    assert all(w.x.shape == (8, 8) for w in played)
    later, _ = _played(windows, 1)
    assert len(set(seen) | set(later)) >= 0.98 * steps  # what one epoch leaves out, the next trains on
    starts = {tuple(w.x[w.fresh, 0].tolist()) for w in played}
    assert starts != {tuple(w.x[w.fresh, 0].tolist()) for w in windows.epoch(1)}  # the cuts move


def test_reset_state_zeroes_only_the_chosen_rows():
    spec = OutputSpec(Categorical(), 9)
    model = RecurrentNet("lstm", spec, RecurrentConfig(hidden=4, layers=2, embedding=3))
    _, state = model(torch.randint(0, 9, (3, 5)))
    h, c = model.reset_state(state, torch.tensor([False, True, False]))
    assert h[:, 1].abs().sum() == 0 and c[:, 1].abs().sum() == 0
    assert torch.equal(h[:, 0], state[0][:, 0]) and torch.equal(c[:, 2], state[1][:, 2])
    assert model.reset_state(None, torch.tensor([True, False, False])) is None


def test_masked_loss_ignores_padding():
    spec = OutputSpec(Categorical(), 4)
    y = torch.randn(2, 3, 4)
    target = torch.tensor([[1, 2, 3], [0, 1, 1]])
    mask = torch.tensor([[True, True, True], [True, False, False]])
    expected = spec.kind.loss(torch.cat([y[0], y[1, :1]])[None], torch.tensor([[1, 2, 3, 0]]))
    assert torch.allclose(spec.kind.loss(y, target, mask), expected)
    frames = OutputSpec(Continuous(), 4)
    assert torch.allclose(frames.kind.loss(y, y + mask[..., None].logical_not() * 5.0, mask), torch.tensor(0.0))


def test_seq_len_longer_than_the_data_is_a_clear_error():
    with pytest.raises(DataError, match="seq_len=500 is longer than the whole training data"):
        StreamWindows([torch.arange(100)], batch_size=4, seq_len=500, seed=0)


def test_padded_batch_scoring_equals_scoring_each_piece_alone():
    spec = OutputSpec(Categorical(), 9, start=0, stop=1)
    torch.manual_seed(0)
    model = RecurrentNet("gru", spec, RecurrentConfig(hidden=8, layers=1, embedding=4))
    pieces = [torch.randint(0, 9, (n,)) for n in (5, 17, 9, 30)]
    together = score_pieces(model, pieces, spec, torch.device("cpu"))
    alone = [score_pieces(model, [p], spec, torch.device("cpu")) for p in pieces]
    steps = sum(a["steps"] for a in alone)
    assert together["steps"] == steps == sum(len(p) - 1 for p in pieces)
    assert together["loss"] == pytest.approx(sum(a["loss"] * a["steps"] for a in alone) / steps, rel=1e-5)
    assert together["accuracy"] == pytest.approx(sum(a["accuracy"] * a["steps"] for a in alone) / steps)
    seen: list[float] = []
    in_batches = score_pieces(model, pieces, spec, torch.device("cpu"), max_batch_values=40 * 9, progress=seen.append)
    assert in_batches["loss"] == pytest.approx(together["loss"], rel=1e-5)
    assert len(seen) > 1 and seen == sorted(seen) and seen[-1] == 1.0  # reported batch by batch


def test_broken_tunes_are_skipped_with_a_count_and_the_rest_used(tmp_path, tunes_file, caplog):
    caplog.set_level(logging.WARNING, logger="noizenet")
    good = split_tunes(tunes_file.read_text())[:3]
    broken = ["X:90\nT:no key field, no body\n", "X:91\nT:header only\nM:4/4\nK:G\n", "X:92\nK:D\n%only a comment\n"]
    path = tmp_path / "mixed.abc"
    path.write_text("\n".join([good[0], broken[0], good[1], broken[1], broken[2], good[2]]))
    pieces = list(AbcFiles(AbcFilesConfig(), path).pieces())
    assert [p.data.strip() for p in pieces] == [g.strip() for g in good]
    assert "skipped 3 tune(s)" in caplog.text


def test_data_may_be_a_manifest_of_files_with_or_without_their_split(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="noizenet")
    folder = tmp_path / "tunes"
    folder.mkdir()
    for i in range(4):
        (folder / f"t{i}.abc").write_text(f"X:{i}\nM:4/4\nL:1/8\nK:D\nDFAF DFAF|GBdB GBdB|\n")
    (folder / "notes.txt").write_text("not a tune")
    listed = tmp_path / "some.txt"
    listed.write_text("# a curated subset\ntunes/t2.abc\n\ntunes/t0.abc  # the first\ntunes/notes.txt\n")
    pieces = list(AbcFiles(AbcFilesConfig(), listed).pieces())
    assert [p.id for p in pieces] == ["tunes/t2.abc#1", "tunes/t0.abc#1"] and "1 listed file(s) are not" in caplog.text
    with_splits = tmp_path / "given.jsonl"
    rows = [{"path": str(folder / f"t{i}.abc"), "split": split} for i, split in enumerate(["train", "train", "valid", "test"])]
    with_splits.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    train, val, test = split_pieces(list(AbcFiles(AbcFilesConfig(), with_splits).pieces()), [0.8, 0.1, 0.1], seed=0)
    assert ([p.id for p in train], [p.id for p in val], [p.id for p in test]) == (
        ["tunes/t0.abc#1", "tunes/t1.abc#1"], ["tunes/t2.abc#1"], ["tunes/t3.abc#1"])
    (tmp_path / "gone.txt").write_text("tunes/t9.abc\n")
    with pytest.raises(DataError, match=r"gone.txt:1: .*t9.abc is not a file"):
        list(AbcFiles(AbcFilesConfig(), tmp_path / "gone.txt").pieces())
    (tmp_path / "bad.jsonl").write_text('{"path": "tunes/t0.abc", "split": "dev"}\n')
    with pytest.raises(DataError, match="split 'dev' is not one of"):
        list(AbcFiles(AbcFilesConfig(), tmp_path / "bad.jsonl").pieces())


def test_a_txt_file_of_tunes_is_read_as_tunes_not_as_a_list_of_files(tmp_path):
    tunes = tmp_path / "tunes.txt"
    tunes.write_text("X:1\nM:4/4\nL:1/8\nK:D\nDFAF DFAF|GBdB GBdB|\n")
    assert [p.id for p in AbcFiles(AbcFilesConfig(), tunes).pieces()] == ["tunes.txt#1"]


def _read_slowly(path):
    """A reader that hangs on one file, refuses another and reads the rest."""
    if path.name == "hangs.mid":
        time.sleep(3600)
    if path.name == "broken.mid":
        raise DataError(f"{path}: not readable MIDI")
    return path.name.upper()


def test_a_folder_is_read_by_a_pool_in_order_and_a_file_that_hangs_its_reader_is_named_and_skipped(
        tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="noizenet")
    monkeypatch.setenv("NOIZENET_WORKERS", "2")
    names = [f"{i:02d}.mid" for i in range(40)]
    names[3], names[7] = "hangs.mid", "broken.mid"
    files = [tmp_path / name for name in names]
    started = time.perf_counter()
    read = list(read_each(files, _read_slowly, "MIDI", tmp_path, timeout=1.0))
    assert time.perf_counter() - started < 30
    assert read == [(f, f.name.upper()) for f in files if f.name not in ("hangs.mid", "broken.mid")]
    assert "hangs.mid: gave up on it after 1 s" in caplog.text and "broken.mid: not readable MIDI" in caplog.text
    assert "skipped 2 of 40 files" in caplog.text


def _die_or_refuse(path):
    """A reader whose process dies on the first file (as when memory runs out) and
    that refuses the rest."""
    if path.name == "00.mid":
        os.kill(os.getpid(), signal.SIGKILL)
    raise DataError(f"{path}: not readable MIDI")


def test_when_no_file_is_read_the_one_line_names_the_file_whose_reading_process_died(tmp_path, monkeypatch):
    monkeypatch.setenv("NOIZENET_WORKERS", "2")
    files = [tmp_path / f"{i:02d}.mid" for i in range(8)]
    with pytest.raises(DataError, match=r"none of its 8 file\(s\) is readable MIDI; given up on: .*00.mid: the "
                                        r"process working on it died .*out of memory\?"):
        list(read_each(files, _die_or_refuse, "MIDI", tmp_path, timeout=30))


def test_cached_arrays_are_made_once_per_key_and_made_again_when_the_file_is_damaged(tmp_path, monkeypatch):
    monkeypatch.setenv("NOIZENET_CACHE", str(tmp_path))
    made = []

    def make():
        made.append(1)
        return {"counts": np.arange(len(made) + 2), "seconds": np.array(1.5)}

    first = cached_arrays("things", b"key 1", make)
    again = cached_arrays("things", b"key 1", make)
    assert len(made) == 1 and np.array_equal(again["counts"], first["counts"]) and float(again["seconds"]) == 1.5
    assert len(cached_arrays("things", b"key 2", make)["counts"]) == 4 and len(made) == 2  # another key: made
    for kept in (tmp_path / "things").glob("*.npz"):
        kept.write_bytes(kept.read_bytes()[:40])  # truncated
    assert len(cached_arrays("things", b"key 1", make)["counts"]) == 5 and len(made) == 3
    assert len(cached_arrays("things", b"key 1", make)["counts"]) == 5 and len(made) == 3  # kept again


def test_a_folder_s_files_are_found_in_path_order_and_linked_folders_not_entered(tmp_path):
    for name in ("b/2.abc", "a-b/1.abc", "a/z/3.abc", "a/9.ABC", "a/notes.txt", "c.abc"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("X:1\n")
    (tmp_path / "a" / "z" / "loop").symlink_to(tmp_path / "a")  # a linked folder that leads back up
    (tmp_path / "linked.abc").symlink_to(tmp_path / "c.abc")
    found = files_under(tmp_path, lambda file: file.suffix.lower() == ".abc")
    assert [f.relative_to(tmp_path).as_posix() for f in found] == [
        "a/9.ABC", "a/z/3.abc", "a-b/1.abc", "b/2.abc", "c.abc", "linked.abc"]
    assert found == sorted(p for p in tmp_path.rglob("*") if p.is_file() and p.suffix.lower() == ".abc")


def test_a_listed_folder_is_walked_again_only_when_a_folder_under_it_changes(tmp_path, monkeypatch):
    data = tmp_path / "tunes"
    for name in ("a/1.abc", "b/2.abc"):
        (data / name).parent.mkdir(parents=True, exist_ok=True)
        (data / name).write_text("X:1\n")

    def settle() -> None:  # as if the folders were written a while ago
        old = time.time_ns() - 10**10
        for folder in (data, data / "a", data / "b"):
            os.utime(folder, ns=(old, old))

    def names() -> list[str]:
        return [f.relative_to(data).as_posix() for f in files_under(data, lambda file: file.suffix == ".abc")]

    walked = []
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda folder: walked.append(folder) or scandir(folder))
    settle()
    assert names() == ["a/1.abc", "b/2.abc"] and walked
    walked.clear()
    assert names() == ["a/1.abc", "b/2.abc"] and not walked  # the kept listing, no walk
    (data / "b" / "3.abc").write_text("X:3\n")
    assert names() == ["a/1.abc", "b/2.abc", "b/3.abc"] and walked  # b changed: walked again
    walked.clear()
    assert names() == ["a/1.abc", "b/2.abc", "b/3.abc"] and walked  # changed just now: not kept yet
    settle()
    names()
    (data / "a" / "1.abc").unlink()
    walked.clear()
    assert names() == ["b/2.abc", "b/3.abc"] and walked


def test_a_reading_library_that_fails_without_an_error_is_taken_for_memory_not_a_broken_file():
    with pytest.raises(MemoryError, match="out of memory"):
        not_readable("a.wav", "not readable audio", SystemError("error return without exception set"))
    assert "(bad header)" in str(not_readable("a.wav", "not readable audio", ValueError("bad header")))
