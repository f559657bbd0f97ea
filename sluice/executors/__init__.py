"""Executors: how a stage is mapped over batches — and nothing else.

The runner (sluice/runner.py) plans the batches, owns checkpoints, accounting, the privacy
guard and publishing. An executor only runs :func:`sluice.executors.batch.run_job` for each
job, on some worker, and yields each job's small stats record as the job finishes. Every job
reads its rows from the store and writes its outputs back under the store root itself
(through ``pyarrow.fs``), so no row travels through the driver.

* ``local`` — this process (``workers: 1``) or a pool of worker processes;
* ``ray`` — Ray Data ``map_batches`` over callable-class actors, each holding set-up stages;
  joins the cluster named by ``RAY_ADDRESS`` or starts a local one.

Either way each worker process (or actor) sets a stage up once (``sluice.apply.live_stage``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from sluice.errors import RecipeError
from sluice.stage import Stage

from .batch import Job

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    def map(self, stage: Stage, key: str, jobs: Iterable[Job]) -> Iterator[dict]:
        """Run every job (in any order); yield each one's stats record when it is done."""
        ...

    def close(self) -> None: ...


def executor(name: str, workers: int = 1) -> Executor:
    if name == "local":
        from .local import LocalExecutor

        return LocalExecutor(workers)
    if name == "ray":
        from .ray import RayExecutor

        return RayExecutor(workers)
    raise RecipeError(f"unknown executor {name!r}", hint=f"use one of: {', '.join(EXECUTORS)}")
