"""The one place work is fanned out to processes: an ordered map with bounded memory."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(fn: Callable[..., R], items: Iterable[tuple], workers: int = 1,
                initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> Iterator[R]:
    """``fn(*item)`` for each item, results in input order.

    With ``workers > 1`` items run in a process pool, at most two per worker in flight, so
    a large input streams through in constant memory. ``fn`` must be importable (picklable).
    """
    if workers <= 1:
        if initializer:
            initializer(*initargs)
        for item in items:
            yield fn(*item)
        return
    # spawn, not fork: forking a process whose polars/arrow thread pools hold locks can hang.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs)
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, *item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)
