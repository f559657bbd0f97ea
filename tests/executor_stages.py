"""Test-only stages for the executor tests: they record each setup() and each batch.

``SLUICE_TEST_LOG`` names a folder; a stage appends ``<pid> <node>`` to ``setup.log`` on every
setup() and its pid to ``batches.log`` on every batch. While the folder holds a ``hold`` file
with a number N, every batch after the N-th waits until the file is gone: a test reaches "N
batches done, the next ones in flight" as a condition, kills a worker or the driver there, and
removes the file (a file, not an environment variable, because Ray workers keep the environment
of their cluster). No test depends on how long anything takes.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import polars as pl

from sluice.stage import Resources, Scorer


def _log(name: str, line: str) -> None:
    folder = os.environ.get("SLUICE_TEST_LOG")
    if folder:
        with open(Path(folder) / name, "a") as f:
            f.write(line + "\n")


def _node() -> str:
    try:  # only to tell the test which Ray node ran the setup; sluice's own stages never import Ray
        import ray

        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
    except ImportError:
        return "local"


def _count_batch(folder: Path) -> int:
    """Append this process's pid to ``batches.log``; the line's number (exact under concurrency: the
    append and the count hold one lock, shared by every process on this machine)."""
    with open(folder / "batches.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with open(folder / "batches.log", "a") as f:
            f.write(f"{os.getpid()}\n")
        return len((folder / "batches.log").read_text().splitlines())


def _hold(folder: Path, number: int) -> None:
    hold = folder / "hold"
    while True:
        try:
            limit = int(hold.read_text())
        except (FileNotFoundError, ValueError):  # no hold (or the file is being written: look again)
            if not hold.exists():
                return
            time.sleep(0.01)
            continue
        if number <= limit:
            return
        time.sleep(0.02)


class CountedWords(Scorer):
    name = "counted_words"
    adds = ("n_words",)

    def setup(self):
        _log("setup.log", f"{os.getpid()} {_node()}")

    def score(self, batch):
        folder = os.environ.get("SLUICE_TEST_LOG")
        if folder:
            _hold(Path(folder), _count_batch(Path(folder)))
        text = pl.col("messages").list.eval(pl.element().struct.field("content").fill_null("")).list.join(" ")
        return batch.select(text.str.count_matches(r"\S+").cast(pl.Int64).alias("n_words"))


class GpuWords(CountedWords):
    """Declares one GPU per worker (the executor maps it to Ray's num_gpus)."""

    name = "gpu_words"
    resources = Resources(cpus=1, gpus=1)


class AssignedWords(CountedWords):
    """Counts, per batch, the resources Ray assigned to the actor that ran it (``CPU=0.5``, ``slot=1``)."""

    name = "assigned_words"

    def score(self, batch):
        import ray  # test-only: which resources did Ray grant this actor?

        for resource, amount in ray.get_runtime_context().get_assigned_resources().items():
            self.count(f"{resource}={amount:g}")
        return super().score(batch)
