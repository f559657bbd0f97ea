"""The Ray executor: Ray Data ``map_batches`` over callable-class actors holding set-up stages.

Each job (sluice/executors/batch.py) is one row of a Ray dataset; an actor pool maps
:func:`run_job` over them. An actor is one worker process: it sets the stage up once, on
its first job (``sluice.apply.live_stage``), and keeps it for every later job. Jobs read
their rows from the store and write their outputs under the store root themselves; only
small stats records come back to the driver. The stage's ``resources`` (declared by its class,
or set per stage in the recipe: sluice/stage.py ``Resources``) become the actors' ``num_cpus`` /
``num_gpus`` / ``memory`` / custom ``resources``, and cap the actor pool (what the cluster fits,
and ``max_workers``). A resource no node has is refused before any work. Stage code never imports Ray.

The cluster: ``RAY_ADDRESS`` (Ray's own convention) names one to join; without it Ray starts
a local one. The store root must be reachable by every node under the same path or URI
(a shared filesystem, or an object store through ``pyarrow.fs``).

A worker killed mid-stage: Ray restarts its actor and retries its jobs (a few times); a job
writes its outputs under temporary names and marks itself done last, so a retried job
replaces a half-written one. When retries run out the run fails with a clear error and
nothing is published; the finished batches stay for the next run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

from sluice.errors import SluiceError
from sluice.stage import Stage

from .batch import Job, run_job

RETRIES = 3  # restarts of a dead actor, and retries of its jobs, before the run fails


class _StageActor:
    """A Ray Data callable class: one set-up stage per actor process."""

    def __init__(self, stage: Stage, key: str):
        self.stage, self.key = stage, key

    def __call__(self, batch: dict) -> dict:
        import json

        import numpy as np

        stats = [json.dumps(run_job(self.stage, self.key, Job.from_json(j))) for j in batch["job"]]
        return {"stats": np.array(stats, dtype=object)}


class RayExecutor:
    name = "ray"

    def __init__(self, workers: int | None = None):
        try:
            import ray
        except ImportError:
            from sluice.errors import MissingDependency

            raise MissingDependency("the ray executor needs Ray", hint="pip install 'sluice[ray]'") from None
        if not ray.is_initialized():
            # RAY_ADDRESS joins that cluster; without it a local one starts
            ray.init(address=os.environ.get("RAY_ADDRESS") or None, log_to_driver=False,
                     include_dashboard=False, configure_logging=False)
        import logging

        import ray.data

        ray.data.DataContext.get_current().enable_progress_bars = False  # the runner reports progress
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        self.ray = ray
        self.workers = workers

    def _actors(self, stage: Stage, jobs: int) -> int:
        """How many actors the stage gets: as many as the cluster fits by every resource a worker
        declares, at most ``max_workers`` and the job count. A resource the cluster lacks entirely
        is refused here, before any work, instead of Ray waiting forever for a node that never comes."""
        res = stage.resources
        total = self.ray.cluster_resources()
        fit = jobs
        wants = [("CPU", res.cpus), ("GPU", res.gpus), *res.custom]
        if res.memory:
            wants.append(("memory", float(res.memory)))
        for resource, amount in wants:
            if not amount:
                continue
            fit = min(fit, int(total.get(resource, 0) // amount))
            if not fit:
                has = total.get(resource, 0)
                if resource == "GPU":
                    what = f"needs {amount:g} GPU per worker and the cluster has {'none' if not has else f'{has:g}'}"
                elif resource == "memory":
                    what = (f"needs {amount / 2**30:.1f} GiB of memory per worker and the cluster has "
                            f"{has / 2**30:.1f} GiB")
                else:
                    what = f"needs {amount:g} {resource!r} per worker and the cluster has {has:g}"
                raise SluiceError(f"stage {stage.name!r} {what}",
                                  hint="add nodes that have it to the Ray cluster, lower the stage's `resources:` in "
                                       "the recipe, or run the stage with the local executor")
        if res.max_workers:
            fit = min(fit, res.max_workers)
        return max(1, fit)

    def remote_args(self, stage: Stage) -> dict:
        """Ray's per-actor options for the stage's declared resources."""
        res = stage.resources
        # SPREAD: a stage's actors go to as many nodes as they can, not first-fit onto the head node
        args = {"num_cpus": res.cpus, "num_gpus": res.gpus or None, "memory": res.memory,
                "scheduling_strategy": "SPREAD"}
        if res.custom:
            args["resources"] = dict(res.custom)
        return args

    def map(self, stage: Stage, key: str, jobs: Iterable[Job]) -> Iterator[dict]:
        import json

        import ray.data

        jobs = list(jobs)
        if not jobs:
            return
        remote = self.remote_args(stage)
        ds = ray.data.from_items([{"job": j.as_json()} for j in jobs], override_num_blocks=len(jobs))
        pool = ray.data.ActorPoolStrategy(size=self._actors(stage, len(jobs)))
        ds = ds.map_batches(_StageActor, fn_constructor_args=(stage, key), batch_size=1, batch_format="numpy",
                            compute=pool, ray_remote_args_fn=_retries, **remote)
        try:
            for row in ds.iter_rows():
                yield json.loads(row["stats"])
        except ray.exceptions.RayError as e:
            cause = _sluice_error(e)
            if cause is not None:
                raise cause from None
            raise SluiceError(f"stage {stage.name!r} failed on the Ray cluster: {_first_line(e)}",
                              hint="finished batches are kept; run again to resume") from None

    def close(self) -> None:
        pass  # the cluster outlives the run (a local one ends with this process)


def _retries() -> dict:
    return {"max_restarts": RETRIES, "max_task_retries": RETRIES}


def _sluice_error(e: BaseException) -> SluiceError | None:
    """The stage's own SluiceError (bad data, broken contract) inside Ray's wrapping, if any."""
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, SluiceError):
            return e
        e = getattr(e, "cause", None) or e.__cause__
        seen += 1
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[-1][:300] if text else type(e).__name__

