"""Test-only stages for the kill/resume test: deterministic work that can SIGKILL its process.

``SLUICE_TEST_KILL`` = ``<stage name>:<batch number>`` kills the process when that stage starts
that batch; ``publish`` kills it inside publish, right before the atomic rename. ``SLUICE_TEST_INTERRUPT``
(same form) sends SIGINT instead, as Ctrl-C does.
"""

from __future__ import annotations

import os
import signal

import polars as pl

from sluice.stage import Filter, Scorer


def recipe(name: str) -> str:
    """A recipe over raw@latest with these stages (``plugins: [resume_stages]``), in 50-row batches."""
    return f"""\
name: {name}
input: raw@latest
output: curated
batch_size: 50
plugins: [resume_stages]
stages:
  - stage: normalize
  - stage: resume_stages:Words
  - stage: resume_stages:FewWords
"""


def _maybe_die(where: str) -> None:
    if os.environ.get("SLUICE_TEST_KILL") == where:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("SLUICE_TEST_INTERRUPT") == where:  # what Ctrl-C does: SIGINT to the process
        os.kill(os.getpid(), signal.SIGINT)


class Words(Scorer):
    name = "words"
    adds = ("n_words",)

    def setup(self):
        self.batches = 0

    def score(self, batch):
        self.batches += 1
        _maybe_die(f"words:{self.batches}")
        text = pl.col("messages").list.eval(pl.element().struct.field("content").fill_null("")).list.join(" ")
        return batch.select(text.str.count_matches(r"\S+").cast(pl.Int64).alias("n_words"))


class FewWords(Filter):
    name = "few_words"
    reads = ("n_words",)
    reasons = {"few_words": "fewer than 20 words"}

    def setup(self):
        self.batches = 0

    def decide(self, batch):
        self.batches += 1
        _maybe_die(f"few_words:{self.batches}")
        return batch.select(pl.when(pl.col("n_words") < 20).then(pl.lit("few_words")).alias("reason")).to_series()


class Noisy(Scorer):
    """Behaves like a chatty third-party library: a tqdm bar, a FutureWarning and a log warning."""

    name = "noisy"
    adds = ("noisy",)

    def score(self, batch):
        import logging
        import warnings

        from tqdm import tqdm

        for _ in tqdm(range(batch.height), desc="third-party bar"):
            pass
        warnings.warn("some_arg is deprecated (third-party)", FutureWarning, stacklevel=1)
        logging.getLogger("thirdparty").warning("third-party advice nobody asked for")
        return pl.DataFrame({"noisy": [1] * batch.height})
