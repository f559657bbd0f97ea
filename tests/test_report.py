"""The run report: every figure a version supports is drawn, as PNG and in the HTML page."""

from __future__ import annotations

import json
import re

import polars as pl

from sluice.curate.ingest import ingest
from sluice.recipe import Recipe
from sluice.report import write_report
from sluice.runner import run
from sluice.stage import Filter, Scorer, Transform

PNG = b"\x89PNG\r\n\x1a\n"


class _Redact(Transform):
    """Test-only stand-in for the PII stage: reports counters under its name."""

    name = "redact_pii"
    rewrites = ("messages",)

    def transform(self, batch):
        self.count("EMAIL_ADDRESS/user", 3)
        self.count("PERSON/assistant", 2)
        return batch


class _Lang(Scorer):
    name = "fake_lang"
    adds = ("lang_user", "quality_score")

    def score(self, batch):
        n = batch.height
        return pl.DataFrame({"lang_user": (["en", "de", "fr"] * n)[:n],
                             "quality_score": [i / max(n, 1) for i in range(n)]})


class _Dups(Filter):
    """Marks every third row as a duplicate of the row before it."""

    name = "fake_dedup"
    reads = ("id",)
    reasons = {"near_duplicate": "test"}

    def decide(self, batch):
        ids = batch["id"].to_list()
        reason = [("near_duplicate" if i % 3 == 2 else None) for i in range(len(ids))]
        dup_of = [(ids[i - 1] if i % 3 == 2 else None) for i in range(len(ids))]
        return pl.DataFrame({"reason": reason, "duplicate_of": dup_of})


def _figures(page):
    return set(re.findall(r'data-plot="([a-z]+)"', page.read_text()))


def test_report_draws_every_supported_figure(store, sample_logs):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    version = run(Recipe(), [_Redact(), _Lang(), _Dups()], store=store, input_ref="raw", output="cur").version
    page = write_report(version)
    assert page.parent == version.path.parent / "reports" / "v1"
    expected = {"funnel", "lengths", "languages", "pii", "scores", "duplicates"}
    assert _figures(page) == expected
    for slug in expected:
        assert (page.parent / f"{slug}.png").read_bytes().startswith(PNG)
    text = page.read_text()
    acc = version.manifest["accounting"]
    assert f"rejected {acc['rejected_total']:,}" in text and "fake_dedup" in text
    meta = json.loads(re.search(r'data-version="([^"]+)"', text).group(1).replace("&quot;", '"'))
    assert meta["ref"] == version.ref and meta["parents"] == ["raw@v1"]


def test_report_of_an_ingested_version_and_no_row_content(store, sample_logs):
    raw = ingest([str(sample_logs)], to="raw", store=store, workers=1).version
    page = write_report(raw)
    assert _figures(page) == {"funnel", "lengths"}
    text = page.read_text()
    first = raw.read().column("messages").to_pylist()[0][0]["content"]
    assert first[:40] not in text  # figures and tables show counts, never row content
