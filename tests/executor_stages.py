"""Test-only stages for the executor tests: they record each setup() and each batch.

``SLUICE_TEST_LOG`` names a folder; a stage appends ``<pid> <node>`` to ``setup.log`` on every
setup() and its pid to ``batches.log`` on every batch, and sleeps the seconds written in the
folder's ``slow`` file per batch (so a test can kill a worker or the driver mid-stage; a file,
not an environment variable, because Ray workers keep the environment of their cluster).
"""

from __future__ import annotations

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


class CountedWords(Scorer):
    name = "counted_words"
    adds = ("n_words",)

    def setup(self):
        _log("setup.log", f"{os.getpid()} {_node()}")

    def score(self, batch):
        _log("batches.log", str(os.getpid()))
        slow = Path(os.environ.get("SLUICE_TEST_LOG", "/nonexistent")) / "slow"
        time.sleep(float(slow.read_text()) if slow.is_file() else 0)
        text = pl.col("messages").list.eval(pl.element().struct.field("content").fill_null("")).list.join(" ")
        return batch.select(text.str.count_matches(r"\S+").cast(pl.Int64).alias("n_words"))


class GpuWords(CountedWords):
    """Declares one GPU per worker (the executor maps it to Ray's num_gpus)."""

    name = "gpu_words"
    resources = Resources(cpus=1, gpus=1)
