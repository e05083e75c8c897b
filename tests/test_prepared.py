"""Prepared corpora: encoded once, memory-mapped after, never stale or half-written."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing

import numpy as np
import pytest
import torch
from conftest import TINY

from noizenet.data import prepared
from noizenet.data.conditioning import corpus_conditions
from noizenet.datasets.abc_files import AbcFiles
from noizenet.plugin.interfaces import Piece
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation
from noizenet.train.windows import make_windows

TUNES = ["X:1\nM:6/8\nL:1/8\nK:G\nGAB cBA|BGG G2D|GAB cBA|BGE E2D|\n",
         "X:2\nM:4/4\nL:1/8\nK:D\nDFAF DFAF|GBdB GBdB|AFDF AFDF|E2E2 D4|\n",
         "X:3\nM:3/4\nL:1/8\nK:Am\nA2 c2 e2|a4 g2|e2 d2 c2|B4 A2|\n"]


@pytest.fixture(autouse=True)
def cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("NOIZENET_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / prepared.FOLDER


def splits(tunes=TUNES) -> dict[str, list[Piece]]:
    pieces = [Piece(f"t{i}", text) for i, text in enumerate(tunes)]
    return {"train": pieces[:-2], "val": pieces[-2:-1], "test": pieces[-1:]}


def prepare(parts, calls=None, fail_after=None, representation=None):
    representation = representation or AbcRepresentation(AbcConfig(transpose=[]))

    def encode():
        if calls is not None:
            calls.append(1)
        representation.fit(parts["train"])
        encoded = {}
        for name, pieces in parts.items():
            if fail_after == name:
                raise KeyboardInterrupt  # Ctrl-C in the middle of preparing
            encoded[name] = [representation.encode(p) for p in pieces]
        ids = {name: [p.id for p in pieces] for name, pieces in parts.items()}
        return prepared.Encoded(ids, encoded, len(parts["train"]), "test")

    digest = prepared.pieces_digest(parts)
    return representation, prepared.prepare(representation, digest, encode, describe={"test": True})


def test_a_corpus_is_prepared_once_in_the_smallest_dtype_and_mapped_after(cache_root):
    calls = []
    representation, corpus = prepare(splits(), calls)
    again_representation, again = prepare(splits(), calls)
    assert len(calls) == 1  # the second run encoded nothing
    assert again_representation.chars == representation.chars  # the fitted state travels with the corpus
    (folder,) = [p for p in cache_root.iterdir() if p.is_dir()]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["splits"]["train"]["dtype"] == "|u1" and (folder / "train.steps").stat().st_size == len(corpus.train[0])
    for name in prepared.SPLITS:
        mapped = getattr(again, name)
        assert isinstance(mapped, prepared.MappedSplit)
        for piece, original in zip(mapped, splits()[name]):
            assert torch.equal(piece[:], representation.encode(original)) and piece[2:5].dtype == torch.int64


class CountedConditions(AbcRepresentation):
    """ABC with a 2-value condition per piece (its length, its first token), counting the pieces it reads."""

    read = 0

    @property
    def spec(self):
        return dataclasses.replace(super().spec, condition=2)

    def condition(self, encoded):
        CountedConditions.read += 1
        return np.array([len(encoded), float(encoded[0])], np.float32)


def test_each_pieces_condition_is_made_once_and_kept_with_the_prepared_corpus(cache_root):
    CountedConditions.read = 0
    representation, corpus = prepare(splits(), representation=CountedConditions(AbcConfig(transpose=[])))
    first = corpus_conditions(representation, corpus, "train")
    assert CountedConditions.read == len(corpus.train) == 1 and first.tolist() == [[len(corpus.train[0]), 0.0]]
    again_representation, again = prepare(splits(), representation=CountedConditions(AbcConfig(transpose=[])))
    kept = corpus_conditions(again_representation, again, "train")
    assert CountedConditions.read == 1 and torch.equal(kept, first)  # a later run reads no piece for them
    (again.folder / "conditions-train.pt").write_bytes(b"damaged")
    assert torch.equal(corpus_conditions(again_representation, again, "train"), first) and CountedConditions.read == 2


def test_changed_data_or_options_give_another_corpus(cache_root):
    prepare(splits())
    changed = splits([TUNES[0].replace("GAB", "GAG"), *TUNES[1:]])
    prepare(changed)
    prepare(splits(), representation=AbcRepresentation(AbcConfig(transpose=[], drop_comments=True)))
    assert len([p for p in cache_root.iterdir() if p.is_dir()]) == 3


def test_an_interrupted_preparation_leaves_nothing_a_later_run_would_trust(cache_root):
    with pytest.raises(KeyboardInterrupt):
        prepare(splits(), fail_after="test")
    assert not [p for p in cache_root.iterdir() if p.is_dir()]  # the temporary folder is gone too
    calls = []
    prepare(splits(), calls)
    assert calls == [1]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_corpus_is_named_and_prepared_again(cache_root, caplog, damage):
    caplog.set_level(logging.WARNING, logger="noizenet")
    representation, _ = prepare(splits())
    (folder,) = [p for p in cache_root.iterdir() if p.is_dir()]
    steps = folder / "train.steps"
    data = bytearray(steps.read_bytes())
    if damage == "truncate":
        steps.write_bytes(data[:-3])
    elif damage == "flip":
        data[5] ^= 0xFF
        steps.write_bytes(bytes(data))
    else:
        (folder / "manifest.json").unlink()
    calls = []
    _, corpus = prepare(splits(), calls)
    assert calls == [1] and f"prepared corpus {folder} is damaged" in caplog.text
    assert torch.equal(corpus.train[0][:], representation.encode(splits()["train"][0]))


def _prepare_in_process(cache: str, queue) -> None:
    import os

    os.environ["NOIZENET_CACHE"] = cache
    calls = []
    _, corpus = prepare(splits(), calls)
    queue.put((len(calls), corpus.train[0][:].tolist()))


def test_two_runs_started_at_once_on_a_new_corpus_both_succeed_and_one_prepares(cache_root):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_prepare_in_process, args=(str(cache_root.parent), queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sorted(calls for calls, _ in results) == [0, 1] and results[0][1] == results[1][1]


def test_stream_windows_read_the_same_steps_from_maps_as_from_memory():
    generator = torch.Generator().manual_seed(0)
    pieces = [torch.randint(0, 200, (int(n),), generator=generator) for n in torch.randint(5, 90, (30,), generator=generator)]
    flat = np.concatenate([p.numpy() for p in pieces]).astype(np.uint8)
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in pieces])])
    mapped = prepared.MappedSplit(flat, offsets, torch.int64)
    for layout in ("stream", "pieces"):
        a = make_windows(layout, pieces, batch_size=4, seq_len=16, seed=3)
        b = make_windows(layout, mapped, batch_size=4, seq_len=16, seed=3)
        for wa, wb in zip(a.epoch(1), b.epoch(1), strict=True):
            assert torch.equal(wa.x, wb.x) and torch.equal(wa.y, wb.y) and torch.equal(wa.fresh, wb.fresh)


def test_a_run_from_the_cache_trains_exactly_as_one_without(cli, tunes_file, tmp_path, cache_root):
    losses = []
    for name, extra in (("first", []), ("mapped", []), ("memory", ["--no-cache"])):
        out = tmp_path / name
        result = cli("train", "--data", tunes_file, "--out", out, *TINY, *extra)
        assert result.exit_code == 0, result.output
        losses.append([json.loads(line)["val_loss"] for line in (out / "metrics.jsonl").read_text().splitlines()])
    assert losses[0] == losses[1] == losses[2]
    listing = cli("cache", "list")
    assert listing.exit_code == 0 and "1 prepared corpora" in listing.output and "abc-files" in listing.output
    key = listing.output.split()[0]
    assert cli("cache", "remove", "nosuchkey").exit_code == 2
    removed = cli("cache", "remove", key[:6])
    assert removed.exit_code == 0 and "removed 1" in removed.output
    assert not [p for p in cache_root.iterdir() if p.is_dir()]


def test_a_prepared_corpus_is_trained_on_without_reading_a_piece_and_a_changed_file_prepares_anew(
        cli, tunes_file, tmp_path, cache_root, monkeypatch):
    data = tmp_path / "tunes.abc"
    data.write_text(tunes_file.read_text(encoding="utf-8"), encoding="utf-8")
    first = cli("train", "--data", data, "--out", tmp_path / "first", *TINY)
    assert first.exit_code == 0, first.output
    reads = []
    original = AbcFiles.pieces
    monkeypatch.setattr(AbcFiles, "pieces", lambda self, **kw: (reads.append(1), original(self, **kw))[1])
    warm = cli("train", "--data", data, "--out", tmp_path / "warm", *TINY)
    assert warm.exit_code == 0, warm.output
    assert reads == []  # mapped: the data's files were listed and stat'ed, never read
    assert (tmp_path / "warm" / "splits.json").read_text() == (tmp_path / "first" / "splits.json").read_text()
    assert [json.loads(line)["val_loss"] for line in (tmp_path / "warm" / "metrics.jsonl").read_text().splitlines()] == \
        [json.loads(line)["val_loss"] for line in (tmp_path / "first" / "metrics.jsonl").read_text().splitlines()]
    data.write_text(data.read_text(encoding="utf-8").replace("K:", "K:", 1) + "\n", encoding="utf-8")  # one byte more
    changed = cli("train", "--data", data, "--out", tmp_path / "changed", *TINY)
    assert changed.exit_code == 0, changed.output
    assert reads and len([p for p in cache_root.iterdir() if p.is_dir()]) == 2


def test_noizenet_prepare_writes_the_corpus_that_train_then_maps_without_reading(
        cli, tunes_file, tmp_path, cache_root, monkeypatch):
    same = ["--seed", "0", "--set", "repr.transpose=[]"]  # what TINY sets of the data and the representation
    ahead = cli("prepare", "--data", tunes_file, *same)
    assert ahead.exit_code == 0, ahead.output
    (folder,) = [p for p in cache_root.iterdir() if p.is_dir()]
    assert f"prepared corpus {folder.name}: " in ahead.output
    assert cli("prepare", "--data", tunes_file, *same).exit_code == 0  # found, not prepared again
    assert [p for p in cache_root.iterdir() if p.is_dir()] == [folder]
    reads = []
    original = AbcFiles.pieces
    monkeypatch.setattr(AbcFiles, "pieces", lambda self, **kw: (reads.append(1), original(self, **kw))[1])
    run = cli("train", "--data", tunes_file, "--out", tmp_path / "run", *TINY)
    assert run.exit_code == 0, run.output
    assert reads == [] and [p for p in cache_root.iterdir() if p.is_dir()] == [folder]
    refused = cli("prepare", "--data", tunes_file, "--set", "run.cache=false")
    assert refused.exit_code == 2 and "nothing to prepare" in refused.output
