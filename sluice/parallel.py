"""The one place work is fanned out to processes: an ordered map with bounded memory."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def process_pool(workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process whose polars/arrow thread pools hold locks can hang.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                               initargs=(os.getpid(), initializer, initargs))


def _worker_start(parent: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    """In each worker: die with the parent. A SIGKILLed parent runs no cleanup, and a worker
    blocked on its queue would live on (150-250 MB each). A thread watches the parent pid (the
    worker is re-parented when it dies). Not PR_SET_PDEATHSIG: that fires when the *thread* that
    spawned the worker ends, and the pool spawns from whichever thread submits."""
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="sluice-parent-watch").start()
    if initializer is not None:
        initializer(*initargs)


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


_WATCH_SECONDS = 0.2


def ordered_map(fn: Callable[..., R], items: Iterable[tuple], workers: int = 1,
                initializer: Callable[..., Any] | None = None, initargs: tuple = (),
                pool: ProcessPoolExecutor | None = None) -> Iterator[R]:
    """``fn(*item)`` for each item, results in input order.

    With ``workers > 1`` (or a ``pool`` to reuse) items run in worker processes, at most two
    per worker in flight, so a large input streams through in constant memory. ``fn`` must
    be importable (picklable). A pool passed in is left running for the caller to reuse.
    """
    if pool is None and workers <= 1:
        if initializer:
            initializer(*initargs)
        for item in items:
            yield fn(*item)
        return
    own = pool is None
    pool = pool or process_pool(workers, initializer, initargs)
    limit = 2 * pool._max_workers
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, *item))
            if len(pending) >= limit:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
        else:
            for future in pending:
                future.cancel()
