"""Raw values at rest have a lifetime: checkpoints of stages before PII redaction go when the run
publishes (or stay only when asked), and `sluice gc` removes stale checkpoints."""

from __future__ import annotations

import json
import os
import time

import polars as pl
import pytest
from typer.testing import CliRunner

from sluice.checkpoints import RAW
from sluice.cli import app
from sluice.curate.ingest import ingest
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.stage import Scorer, stage_class


@pytest.fixture
def small(store, sample_logs, tmp_path):
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"".join(sample_logs.read_bytes().splitlines(keepends=True)[:40]))
    ingest([str(head)], to="raw", store=store, workers=1)
    return store


def stages():
    return [stage_class("normalize")(), stage_class("pii_detect")(nlp="blank"), stage_class("redact_pii")(),
            stage_class("length")()]


def finished(store):
    return sorted(p for p in (store.root / ".checkpoints").iterdir() if not p.name.startswith("."))


def test_checkpoints_before_redaction_are_removed_when_the_run_publishes(small):
    recipe = Recipe(input="raw", output="clean", batch_size=10)
    result = run(recipe, stages(), store=small)
    left = finished(small)
    fingerprints = [s.fingerprint for s in result.stages]
    assert [p.name for p in left] == sorted(fingerprints[2:])  # redact_pii and later stay
    assert not any((p / RAW).exists() for p in left)
    again = run(recipe, stages(), store=small)  # a repeated run is still a no-op
    assert again.reused and again.version.ref == result.version.ref


def test_kept_raw_checkpoints_are_marked_and_gc_removes_them(small):
    run(Recipe(input="raw", output="clean", batch_size=10), stages(), store=small, keep_raw_checkpoints=True)
    raw = [p for p in finished(small) if (p / RAW).exists()]
    assert len(finished(small)) == 4 and len(raw) == 2
    cli = CliRunner()
    dry = cli.invoke(app, ["gc", "--raw", "--dry-run", "--json", "--root", str(small.root)])
    assert dry.exit_code == 0, dry.output
    assert sorted(r["path"] for r in json.loads(dry.stdout)["removed"]) == sorted(map(str, raw))
    assert len(finished(small)) == 4  # a dry run removes nothing
    done = cli.invoke(app, ["gc", "--raw", "--root", str(small.root)])
    assert done.exit_code == 0, done.output
    assert len(finished(small)) == 2 and not any((p / RAW).exists() for p in finished(small))


def test_gc_removes_unused_checkpoints_and_dead_partials_but_not_a_live_run(small):
    run(Recipe(input="raw", output="clean", batch_size=10), stages()[:1], store=small)
    folder = small.root / ".checkpoints"
    (used,) = finished(small)
    dead = folder / ".partial-dead"
    (dead / "batches").mkdir(parents=True)
    (dead / "owner").write_text("999999999")
    live = folder / ".partial-live"
    live.mkdir()
    (live / "owner").write_text(str(os.getppid()))  # a process that is running
    old = time.time() - 30 * 86400
    for p in (dead, dead / "owner"):
        os.utime(p, (old, old))
    result = CliRunner().invoke(app, ["gc", "--json", "--root", str(small.root)])
    assert [r["path"] for r in json.loads(result.stdout)["removed"]] == [str(dead)]
    assert used.exists() and live.exists()
    CliRunner().invoke(app, ["gc", "--all", "--root", str(small.root)])
    assert not used.exists() and live.exists()


class _CountWords(Scorer):
    name = "size"
    adds = ("size",)

    def score(self, batch):
        text = pl.col("messages").list.eval(pl.element().struct.field("content").fill_null("")).list.join(" ")
        return batch.select(text.str.count_matches(r"\S+").cast(pl.Int64).alias("size"))


class _CountChars(_CountWords):  # the same name, version and config: only the class differs
    def score(self, batch):
        text = pl.col("messages").list.eval(pl.element().struct.field("content").fill_null("")).list.join(" ")
        return batch.select(text.str.len_chars().cast(pl.Int64).alias("size"))


def test_a_name_that_comes_to_mean_another_class_does_not_reuse_its_checkpoints(small):
    recipe = Recipe(input="raw", output="sized", batch_size=10)
    words = run(recipe, [_CountWords()], store=small)
    chars = run(recipe, [_CountChars()], store=small)
    assert _CountWords().fingerprint("up") != _CountChars().fingerprint("up")
    assert not chars.reused and chars.stages[0].fingerprint != words.stages[0].fingerprint
    w, c = (pl.from_arrow(r.version.read()).sort("id")["size"].to_list() for r in (words, chars))
    assert len(w) == len(c) == 40 and all(b >= a for a, b in zip(w, c)) and c != w  # chars, not the words' checkpoint
