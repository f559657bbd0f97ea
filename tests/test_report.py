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


# -- example rows and the banner ------------------------------------------------------------------

def _pipeline(store, sample_logs, stages, output, **recipe):
    if not store.versions("raw"):
        ingest([str(sample_logs)], to="raw", store=store, workers=1)
    return run(Recipe(**recipe), Recipe(stages=stages).build(), store=store, input_ref="raw", output=output).version


def test_report_shows_redacted_example_rows_per_stage_and_reason(store, sample_logs):
    from sluice.report import examples

    # a filter before the redaction (its rejected rows hold raw text) and one after it
    version = _pipeline(store, sample_logs, [
        {"stage": "length"}, {"stage": "length_filter", "min_chars": {"user": 2, "assistant": 1}},
        {"stage": "pii_detect", "nlp": "blank"}, {"stage": "redact_pii"},
        {"stage": "heuristics"}, {"stage": "heuristics_filter"}], "cur")
    rows, why = examples(version)
    rejected = pl.from_arrow(version.read("rejected"))
    after = rejected.filter(pl.col("stage") == "heuristics_filter")
    before = rejected.filter(pl.col("stage") == "length_filter")
    assert after.height and before.height and rows
    assert {r["stage"] for r in rows} == {"heuristics_filter"}  # never a row rejected before the redaction
    assert not {r["id"] for r in rows} & set(before["id"].to_list())
    for reason, n in after.group_by("reason").len().iter_rows():
        assert len([r for r in rows if r["reason"] == reason]) == min(n, 3)
    assert "length_filter" in why  # withheld, and the page says so
    text = write_report(version).read_text()
    shown = re.findall(r'<tr data-stage="([^"]+)"', text)
    assert shown == ["heuristics_filter"] * len(rows) and "length_filter are not shown" in text


def test_report_without_redaction_shows_no_rows_and_says_why(store, sample_logs):
    version = _pipeline(store, sample_logs, [{"stage": "length"}, {"stage": "length_filter",
                                                                    "min_chars": {"user": 60}}], "cur")
    assert version.num_rows("rejected") > 0
    text = write_report(version).read_text()
    assert 'id="examples"' not in text and "<tr data-stage=" not in text and "no PII redaction is recorded" in text


def test_report_banner_for_a_nearly_empty_and_an_empty_result(store, sample_logs):
    normal = _pipeline(store, sample_logs, [{"stage": "length"}], "all")
    assert 'id="banner"' not in write_report(normal).read_text()
    lengths = sorted(pl.from_arrow(normal.read(columns=["len_user_chars"]))["len_user_chars"].to_list(), reverse=True)
    def keep_user_longer_than(n):  # only this rule decides
        return [{"stage": "length"}, {"stage": "length_filter", "min_chars": {"user": n, "assistant": 0},
                                      "max_chars": {"user": 10**9, "assistant": 10**9},
                                      "drop_empty_final_answer": False}]

    nearly = _pipeline(store, sample_logs, keep_user_longer_than(lengths[4]), "few")
    acc = nearly.manifest["accounting"]
    assert 0 < acc["kept"] < 0.05 * acc["rows_in"], acc
    assert f"only {acc['kept']:,} of {acc['rows_in']:,} input rows" in write_report(nearly).read_text()
    empty = _pipeline(store, sample_logs, keep_user_longer_than(lengths[0] + 1), "none", allow_empty=True)
    assert empty.manifest["rows"] == 0 and "This version holds no rows" in write_report(empty).read_text()
