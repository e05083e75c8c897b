"""Work on many items (files to read, pieces to encode) spread over forked
processes, one a core, with results in order, and a task that hangs or whose
process dies (a reader that crashes, the memory limit) given up on.

``NOIZENET_WORKERS`` sets the number of processes (default: one a core the
process may run on; 1 does everything in this process).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import torch

from noizenet.errors import ConfigError, DataError

Item = TypeVar("Item")
Outcome = tuple[Any, Any, "str | None"]  # the item, what the work gave, or why it gave nothing

WORKERS_ENV = "NOIZENET_WORKERS"
POOL_MIN_ITEMS = 8  # fewer items are worked on in this process: a pool costs more than it saves
TIMED_TASK_ITEMS = 16  # items a task at most when each has a timeout
FAILED = "\0failed"  # a worker's outcome for an item whose work raised an error it may not skip
POLL_S = 0.5  # seconds between checks that every worker is alive, while a task is awaited


def worker_count() -> int:
    """``$NOIZENET_WORKERS``, else the cores this process may run on."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return len(os.sched_getaffinity(0))
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{WORKERS_ENV}={value!r}: expected a number of processes, 1 or more")
    return int(value)


def map_in_order(items: Sequence[Item], work: Callable[[Item], Any], *, skip: tuple[type[Exception], ...] = (),
                 timeout: float | None = None, hangs: str = "hangs") -> Iterator[Outcome]:
    """``(item, work(item), None)`` for each item, in order. An error of a type in
    ``skip`` gives ``(item, None, str(error))``; any other error is raised, from this
    process (the item is worked on again here, so that the traceback and the
    plugin at fault are the ones a serial run gives). With ``timeout``, an item whose
    work runs longer in a pool gives ``(item, None, "ITEM: gave up on it after T s
    (its HANGS)")``, and so does an item whose worker process dies (``"ITEM: the
    process working on it died ..."``); without ``timeout``, a death is a
    :class:`DataError` that names the item. ``work`` travels to the workers by the
    fork: a closure over data held here will do, and only the items are sent (send
    indices, not big pieces)."""
    workers = min(worker_count(), len(items))
    if workers > 1 and len(items) >= POOL_MIN_ITEMS:
        yield from _in_pool(items, work, skip, workers, timeout, hangs)
    else:
        yield from _here(items, work, skip)


def _here(items: Sequence[Item], work: Callable[[Item], Any], skip: tuple[type[Exception], ...]) -> Iterator[Outcome]:
    for item in items:
        try:
            yield item, work(item), None
        except skip as error:
            yield item, None, str(error)


_work: tuple[Callable[[Any], Any], tuple[type[Exception], ...]] | None = None  # set in each worker


def _start_worker(work: Callable[[Any], Any], skip: tuple[type[Exception], ...]) -> None:
    global _work
    _work = (work, skip)
    torch.set_num_threads(1)  # one process a core already; and OpenMP's threads do not survive a fork


def _work_in_worker(items: list[Any]) -> list[tuple[Any, str | None]]:
    work, skip = _work
    outcomes = []
    for item in items:
        try:
            outcomes.append((work(item), None))
        except skip as error:
            outcomes.append((None, str(error)))
        except Exception:  # noqa: BLE001 - worked on again in the parent, which raises it with its traceback
            outcomes.append((None, FAILED))
    return outcomes


def _in_pool(items: Sequence[Item], work: Callable[[Item], Any], skip: tuple[type[Exception], ...], workers: int,
             timeout: float | None, hangs: str) -> Iterator[Outcome]:
    """:func:`_here` by ``workers`` forked processes, a few items a task (each task
    costs a round trip: an eighth of a worker's share, at most 16 with a timeout),
    at most a few tasks ahead of the one awaited. The task awaited gets ``timeout``
    seconds from when the one before it came back; past that its worker is taken to
    hang: the pool is stopped and a new one works on, the task's items one a task,
    so that the item that hangs is the one given up on. A worker that dies loses its
    task (``multiprocessing.Pool`` starts another and never answers): the pool is
    stopped and the tasks that were running are worked on again one item at a time,
    one task in flight, so that the item whose process dies is the one given up on."""
    context = multiprocessing.get_context("fork")
    most = TIMED_TASK_ITEMS if timeout is not None else len(items)  # a timed task must not outlast its timeout by its size
    size = max(1, min(most, len(items) // (8 * workers)))
    waiting: deque[list[Item]] = deque(list(items[i : i + size]) for i in range(0, len(items), size))
    running: deque[tuple[list[Item], Any]] = deque()  # (items, AsyncResult), in order
    ahead = 4 * workers  # tasks in flight; 1 once a worker has died, to know whose item killed it
    pool = context.Pool(workers, initializer=_start_worker, initargs=(work, skip))
    try:
        clock = time.monotonic()
        while waiting or running:
            while waiting and len(running) < ahead:
                task = waiting.popleft()
                running.append((task, pool.apply_async(_work_in_worker, (task,))))
            task, result = running.popleft()
            try:
                outcomes = _awaited(result, pool, None if timeout is None else clock + timeout)
            except (multiprocessing.TimeoutError, _WorkerDied) as stop:
                pool.terminate()
                pool = context.Pool(workers, initializer=_start_worker, initargs=(work, skip))
                lost = [task] + [t for t, _ in running]
                running.clear()
                clock = time.monotonic()
                died = isinstance(stop, _WorkerDied)
                if died and (ahead > 1 or len(task) > 1):
                    ahead = 1
                    waiting.extendleft(reversed([[item] for t in lost for item in t]))
                    continue
                waiting.extendleft(reversed(lost[1:]))
                if len(task) > 1:
                    waiting.extendleft(reversed([[item] for item in task]))
                    continue
                if died:
                    why = GaveUp(f"{task[0]}: the process working on it died ({stop}; out of memory?)")
                    if timeout is None:  # the caller takes no given-up items
                        raise DataError(why)
                else:
                    why = GaveUp(f"{task[0]}: gave up on it after {timeout:g} s (its {hangs})")
                outcomes = [(None, why)]
            clock = time.monotonic()
            for item, (value, problem) in zip(task, outcomes):
                if problem == FAILED:
                    value, problem = work(item), None  # raises here what it raised there
                yield item, value, problem
    finally:
        pool.terminate()


class GaveUp(str):
    """The problem of an item given up on (its work hung, or its process died): not
    an error its work raised, so perhaps not the item's fault (out of memory)."""


class _WorkerDied(Exception):
    """A worker process of the pool ended while a task was awaited."""


def _awaited(result: Any, pool: Any, deadline: float | None) -> Any:
    """What ``result`` (an AsyncResult of ``pool``) gives; ``multiprocessing.TimeoutError``
    past ``deadline`` (``time.monotonic()``), :class:`_WorkerDied` as soon as one of the
    pool's workers has ended (the pool replaces it within 0.1 s, so its process list
    changes)."""
    workers = list(pool._pool)  # noqa: SLF001 - the Pool API cannot tell that a worker died
    while True:
        wait = POLL_S if deadline is None else min(POLL_S, max(0.0, deadline - time.monotonic()))
        try:
            return result.get(timeout=wait)
        except multiprocessing.TimeoutError:
            if deadline is not None and time.monotonic() >= deadline:
                raise
        ended = [w for w in workers if w.exitcode is not None]
        if ended:
            raise _WorkerDied(f"exit code {ended[0].exitcode}")
