"""Work spread over processes: in order, the same as in one process, errors as a serial run raises them."""

import os
import time

import pytest
import torch

from noizenet.errors import ConfigError, DataError
from noizenet.plugin.interfaces import Piece
from noizenet.plugins.abc.representation import AbcConfig, AbcRepresentation
from noizenet.data.pool import map_in_order, worker_count
from noizenet.plugin.registry import plugin_at_fault
from noizenet.runs.pipeline import encode_all

TUNE = "X:{n}\nM:6/8\nL:1/8\nK:D\nA|dfa afd|g{n}e cAG|\n"


def _square_or_refuse(n: int) -> int:
    if n == 13:
        raise DataError("13 is unlucky")
    return n * n


def test_a_pool_gives_what_one_process_gives_in_order_and_skips_what_it_may(monkeypatch):
    items = list(range(200))
    monkeypatch.setenv("NOIZENET_WORKERS", "1")
    alone = list(map_in_order(items, _square_or_refuse, skip=(DataError,)))
    monkeypatch.setenv("NOIZENET_WORKERS", "2")
    pooled = list(map_in_order(items, lambda n: (os.getpid(), _square_or_refuse(n)), skip=(DataError,)))
    assert [(item, value[1] if value else None, problem) for item, value, problem in pooled] == alone
    assert alone[13] == (13, None, "13 is unlucky") and alone[12] == (12, 144, None)
    assert os.getpid() not in {value[0] for _, value, _ in pooled if value}  # the work ran in the workers


def test_an_item_whose_worker_process_dies_is_given_up_on_at_once_and_named(monkeypatch):
    """A reader that crashes its process (a segfault, the memory limit) loses the
    pool's task; the item is named well before the hang timeout and the rest still come."""
    monkeypatch.setenv("NOIZENET_WORKERS", "2")
    parent = os.getpid()

    def crash_on_seven(n: int) -> int:
        if n == 7 and os.getpid() != parent:
            os._exit(9)
        return n * n

    started = time.monotonic()
    outcomes = list(map_in_order(list(range(40)), crash_on_seven, timeout=300.0))
    assert time.monotonic() - started < 60
    assert [item for item, _, _ in outcomes] == list(range(40))
    assert outcomes[7][1] is None and outcomes[7][2].startswith("7: the process working on it died (exit code 9")
    assert all(value == item * item and problem is None for item, value, problem in outcomes if item != 7)
    with pytest.raises(DataError, match="7: the process working on it died"):  # no timeout: no given-up items
        list(map_in_order(list(range(40)), crash_on_seven))


class Refuses(AbcRepresentation):
    """A plugin (not noizenet's own module) whose encode fails on one tune."""

    name = "refuses"

    def encode(self, piece):
        if piece.id == "t17":
            raise ValueError("cannot encode t17")
        return super().encode(piece)


def test_encoding_by_a_pool_is_encoding_in_one_process_and_a_plugin_error_names_the_plugin(monkeypatch):
    pieces = [Piece(f"t{n}", TUNE.format(n=n % 7), {}) for n in range(40)]
    representation = AbcRepresentation(AbcConfig())
    representation.fit(pieces)
    monkeypatch.setenv("NOIZENET_WORKERS", "1")
    alone = encode_all(representation, pieces)
    monkeypatch.setenv("NOIZENET_WORKERS", "2")
    assert all(torch.equal(a, b) for a, b in zip(alone, encode_all(representation, pieces), strict=True))
    refuses = Refuses(AbcConfig())
    refuses.fit(pieces)
    with pytest.raises(ValueError, match="cannot encode t17") as caught:
        encode_all(refuses, pieces)
    assert plugin_at_fault(caught.value).startswith("representation 'refuses' (") and "failed in encode()" in \
        plugin_at_fault(caught.value)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_one_clear_error(monkeypatch, value):
    monkeypatch.setenv("NOIZENET_WORKERS", value)
    with pytest.raises(ConfigError, match="NOIZENET_WORKERS"):
        worker_count()
