"""The local executor: jobs in this process, or in a pool of spawned worker processes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sluice.parallel import ordered_map, process_pool
from sluice.stage import Stage

from .batch import Job, run_job


class LocalExecutor:
    name = "local"

    def __init__(self, workers: int = 1):
        self.workers = workers
        self._pool = None  # started on first use; one pool serves every stage of the run

    def map(self, stage: Stage, key: str, jobs: Iterable[Job]) -> Iterator[dict]:
        if self.workers > 1 and self._pool is None:
            self._pool = process_pool(self.workers)
        yield from ordered_map(run_job, ((stage, key, job) for job in jobs), self.workers, pool=self._pool)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
