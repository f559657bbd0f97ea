"""DATACARD.md holds what an auditor asks for, from the manifest only, and no row content."""

from __future__ import annotations

import polars as pl

from sluice.curate.ingest import ingest
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.stage import Scorer, Transform


class _Redact(Transform):
    name = "redact_pii"
    rewrites = ("messages",)

    def transform(self, batch):
        self.count("EMAIL_ADDRESS/user", 4)
        return batch

    def describe(self):
        return {"engine": "blank spaCy + patterns", "fallback": "PERSON from name lists only"}


class _Split(Scorer):
    name = "fake_split"
    adds = ("split",)

    def score(self, batch):
        return pl.DataFrame({"split": (["train", "train", "test"] * batch.height)[: batch.height]})


def test_card_of_ingested_version(store, sample_logs):
    raw = ingest([str(sample_logs)], to="raw", store=store, workers=1).version
    card = (raw.path / "DATACARD.md").read_text()
    content = raw.manifest["content"]
    assert content["created_at"]["first"] and content["created_at"]["first"] <= content["created_at"]["last"]
    assert content["sources"] == {"sample_logs.jsonl": raw.num_rows()}
    for text in ("## Sources", "sample_logs.jsonl", "## Row accounting", "quarantined: bad_json",
                 "## Personal data", "No PII redaction ran", "## Intended use and known limits",
                 content["created_at"]["first"]):
        assert text in card, text
    first = raw.read().column("messages").to_pylist()[0][0]["content"]
    assert first[:30] not in card


def test_card_of_curated_version(store, sample_logs):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    from sluice.curate.pii.stage import PiiDetect, RedactPii

    stages = [PiiDetect(nlp="blank"), RedactPii(), _Redact(),
              *Recipe(stages=[{"stage": "length"}, {"stage": "length_filter", "max_turns": 5}]).build(), _Split()]
    version = run(Recipe(name="audit"), stages, store=store, input_ref="raw", output="cur").version
    card = (version.path / "DATACARD.md").read_text()
    for text in ("recipe: `audit`", "## Processing (in order)", '"max_turns": 5', "too_many_turns",
                 "more messages than max_turns", f"Redacted by `sluice.curate.pii.stage:RedactPii v{RedactPii.version}`",
                 "certificate: **weak** against the `default-recipe` standard — WEAK: pattern-only detection",
                 "engine: **pattern-only**", "EMAIL_ADDRESS/user", "blank spaCy",
                 "## Splits", "| train |", "Weaker fallbacks that ran", "PERSON from name lists only"):
        assert text in card, text
    splits = version.manifest["content"]["splits"]
    assert sum(splits.values()) == version.num_rows() and set(splits) == {"train", "test"}
