"""The one place work is fanned out to processes: an ordered map with bounded memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def process_pool(workers: int, initializer: Callable[..., Any] | None = None,
                 initargs: tuple = ()) -> ProcessPoolExecutor:
    # spawn, not fork: forking a process whose polars/arrow thread pools hold locks can hang.
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs)


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
