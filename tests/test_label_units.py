"""Pieces of the review loop that need no server: agreement, sampling, settings checks."""

from __future__ import annotations

import polars as pl
import pytest

from sluice.labeling.agreement import krippendorff_alpha
from sluice.labeling.client import ArgillaError, settings
from sluice.labeling.sampling import sample


def test_krippendorff_alpha_known_values():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example: alpha = 0.743
    data = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
            [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1], [None, None, 3, None]]
    assert round(krippendorff_alpha(dict(enumerate(data)), "nominal"), 3) == 0.743
    assert krippendorff_alpha({"a": [1, 1], "b": [5, 5]}, "interval") == 1.0
    assert krippendorff_alpha({"a": [1, 5], "b": [5, 1]}, "interval") < 0
    assert krippendorff_alpha({"a": [3]}, "interval") is None


def test_strategies_and_their_clear_fallbacks():
    frame = pl.DataFrame({"id": [f"r{i}" for i in range(10)], "quality_score": [float(i) for i in range(10)],
                          "messages": [[]] * 10})
    low = sample(frame, 3, "lowest-score")
    assert low.frame["id"].to_list() == ["r0", "r1", "r2"] and low.strategy == "lowest-score"
    mid = sample(frame, 2, "uncertain")
    assert set(mid.frame["id"].to_list()) <= {"r4", "r5"}
    plain = frame.drop("quality_score")
    fallback = sample(plain, 3, "lowest-score")
    assert fallback.strategy == "random" and "fell back to random" in fallback.note and fallback.frame.height == 3
    assert "dup_" in sample(plain, 3, "near-duplicate-boundary").note
    assert "no rejected rows" in sample(plain, 3, "rejected").note
    dup = frame.with_columns(pl.Series("dup_similarity", [0.1 * i for i in range(10)]))
    assert sample(dup, 2, "near-duplicate-boundary").frame["id"].to_list() == ["r9", "r8"]
    assert sample(frame, 4, "random", seed=1).frame["id"].to_list() == sample(frame, 4, "random", seed=1).frame["id"].to_list()


def test_key_is_required_and_never_echoed(monkeypatch):
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    with pytest.raises(ArgillaError, match="no Argilla API key"):
        settings("http://x")
    monkeypatch.setenv("ARGILLA_API_KEY", "k-123")
    assert settings(None, None)[1] == "k-123"


def test_stratified_sample_keeps_the_language_mix():
    import random

    from sluice.labeling.sampling import allocate

    rng = random.Random(0)
    langs = ["en"] * 620 + ["zh"] * 40 + ["ja"] * 40 + ["de"] * 150 + ["ru"] * 150
    rows = [{"id": f"r{i}", "lang": lang, "source": rng.choice(["chat", "support", "api"]),
             # the score is biased against CJK text, as the heuristic score is
             "score_total": rng.random() - (0.8 if lang in ("zh", "ja") else 0.0)} for i, lang in enumerate(langs)]
    frame = pl.DataFrame(rows)
    skewed = sample(frame, 30, "lowest-score")
    assert skewed.frame.filter(pl.col("lang").is_in(["zh", "ja"])).height > 15  # the bias the issue saw
    for strategy in ("stratified", "stratified-lowest-score", "stratified-uncertain"):
        s = sample(frame, 30, strategy)
        assert s.frame.height == 30 and s.frame["id"].n_unique() == 30
        data, got = s.how["language_mix"]["data"], s.how["language_mix"]["sample"]
        assert max(abs(data[k] - got.get(k, 0)) for k in data) <= 0.05, (strategy, data, got)
        assert s.how["stratify_by"] == ["lang", "source"] and sum(s.how["strata"].values()) == 30
    low = sample(frame, 30, "stratified-lowest-score").frame
    en = frame.filter(pl.col("lang") == "en")
    assert low.filter(pl.col("lang") == "en")["score_total"].mean() < en["score_total"].mean()
    assert allocate({"a": 5, "b": 3, "c": 2}, 5) == {"a": 3, "b": 1, "c": 1}  # 2.5, 1.5, 1.0: remainder to a
    assert allocate({"a": 1, "b": 100}, 10) == {"a": 0, "b": 10}


def test_placeholders_render_safe_and_map_back():
    from sluice.labeling import render

    stored = "Hi <PERSON_1>, mail <EMAIL_ADDRESS_1> or <EMAIL_ADDRESS:3fa2b1c9> — a <b> tag stays"
    shown = render.to_display(stored)
    assert shown == "Hi [PERSON_1], mail [EMAIL_ADDRESS_1] or [EMAIL_ADDRESS:3fa2b1c9] — a <b> tag stays"
    known = render.placeholders(stored)
    assert known == {"PERSON_1", "EMAIL_ADDRESS_1", "EMAIL_ADDRESS:3fa2b1c9"}
    typed = "Dear [PERSON_1], see [NOTE_1] and [PERSON_2]"
    assert render.from_display(typed, known) == "Dear <PERSON_1>, see [NOTE_1] and [PERSON_2]"
    chat = render.chat([{"role": "user", "content": "weather in <LOCATION_1>?"},
                        {"role": "assistant", "content": None,
                         "tool_calls": [{"function": {"name": "weather", "arguments": '{"city": "<LOCATION_1>"}'}}]},
                        {"role": "tool", "content": '{"temp": 3}'}])
    assert [m["role"] for m in chat] == ["user", "tool call", "tool result"]
    assert "[LOCATION_1]" in chat[0]["content"] and 'weather({"city": "[LOCATION_1]"})' in chat[1]["content"]


def test_coverage_refuses_languages_and_fields_not_redacted():
    from types import SimpleNamespace

    from sluice.labeling import guard

    msgs = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    call = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "{}"}, {"role": "assistant", "content": "a"}]
    frame = pl.DataFrame([
        {"id": "en", "lang": "en", "messages": msgs, "feedback": {"edited": None}},
        {"id": "ja", "lang": "ja", "messages": msgs, "feedback": {"edited": None}},
        {"id": "none", "lang": None, "messages": msgs, "feedback": {"edited": None}},
        {"id": "edit", "lang": "en", "messages": msgs, "feedback": {"edited": "better"}},
        {"id": "tool", "lang": "en", "messages": call, "feedback": {"edited": None}},
    ])
    red = SimpleNamespace(redacted=True, by="x@v1", strong=False, engine="presidio", languages=("en",),
                          fields=("content", "name"))
    got = guard.coverage_refusals(frame, "conversation", red)
    assert got == {"ja": (guard.LANGUAGE_NOT_COVERED, "ja"), "none": (guard.LANGUAGE_UNKNOWN, got["none"][1]),
                   "edit": (guard.FIELD_NOT_COVERED, "feedback"),
                   "tool": (guard.FIELD_NOT_COVERED, "tool_calls,tool_results")}
    assert guard.summarize(got)[guard.FIELD_NOT_COVERED] == {"feedback": 1, "tool_calls,tool_results": 1}
    everything = SimpleNamespace(languages=("en", "ja"), fields=("content", "tool_calls", "tool_results", "feedback"))
    assert set(guard.coverage_refusals(frame, "conversation", everything)) == {"none"}
    detailed = SimpleNamespace(languages=("*",), fields=("content", "tool_calls.arguments", "tool_results",
                                                         "feedback.edited"))
    assert guard.coverage_refusals(frame, "conversation", detailed) == {}
    unknown = SimpleNamespace(redacted=True, by="x@v1")  # a record that does not say what it covered
    assert {r for r, _ in guard.coverage_refusals(frame, "conversation", unknown).values()} == {guard.COVERAGE_UNKNOWN}


def test_suggestions_are_absolute_typed_and_never_contradict():
    from sluice.labeling.suggest import Agent, Suggester

    s = Suggester({"*": Agent("model", "sluice quality_score", "m fp:abc sluice:0.1")})
    two_turns = [{"role": "user"}, {"role": "assistant"}, {"role": "user"}, {"role": "assistant"}]
    deita = {"scorer": "deita-transformers", "score_quality": [2.0, 6.0], "messages": two_turns}
    assert s.row(deita)["quality"][0] == 5  # DEITA 6 → 5, whatever the rest of the sample scored
    assert s.row({**deita, "score_quality": [6.0, 1.0]})["quality"][0] == 1
    assert s.rating({"scorer": "learned:helpful", "score_total": 0.5})[0] == 3  # calibrated P(good)
    assert "quality" not in s.row({"scorer": "heuristic-v1", "score_quality": [6.0, 6.0], "messages": two_turns})
    got = s.row({**deita, "feedback": {"thumb": -1}})  # quality 5 and verdict bad: not both
    assert set(got) == {"verdict"} and got["verdict"][1].type == "human"
    assert s.counts["quality_dropped_contradicts_thumb"] == 1
    q = s.row(deita)["quality"][1]
    assert q.type == "model" and "deita-transformers" in q.label() and "fp:abc" in q.label()


def test_ties_give_no_pair_and_one_row_per_record():
    from sluice.labeling.convert import Thresholds
    from sluice.labeling.pull import TIE, Judgment, Outputs, _convert, _first_ranked

    assert _first_ranked([{"value": "answer", "rank": 1}, {"value": "alternative", "rank": 1}]) == TIE
    assert _first_ranked([{"value": "answer", "rank": 2}, {"value": "alternative", "rank": 1}]) == "alternative"
    src = {"id": "c1", "source": "s", "created_at": None, "feedback": {"edited": "Use <PERSON_1>'s fix."},
           "messages": [{"role": "user", "content": "Ask <PERSON_1>"}, {"role": "assistant", "content": "No."}]}
    tie = [{"value": "answer", "rank": 1}, {"value": "alternative", "rank": 1}]
    out = Outputs()
    rec = {"id": "c1", "dataset": "d-compare", "fields": {}, "metadata": {}, "judgments": [
        Judgment("ann-a", "submitted", {"quality": 1, "verdict": "bad", "preference": tie}),
        Judgment("ann-b", "submitted", {"quality": 1, "verdict": "bad", "preference": tie})]}
    _convert(rec, 0, src, Thresholds(), "mean", out)
    assert out.dpo == [] and out.dpo_rej[0][1] == "ranking_tied" and len(out.kto) == 1
    out = Outputs()
    rec["judgments"] = [Judgment("ann-a", "submitted", {"quality": 2, "corrected_answer": "Ask [PERSON_1] again.",
                                                        "preference": [{"value": "alternative", "rank": 1},
                                                                       {"value": "answer", "rank": 2}]}),
                        Judgment("ann-b", "submitted", {"quality": 2, "corrected_answer": "Something else.",
                                                        "preference": [{"value": "alternative", "rank": 1},
                                                                       {"value": "answer", "rank": 2}]})]
    _convert(rec, 0, src, Thresholds(), "mean", out)
    assert len(out.dpo) == 1 and out.dpo[0]["origin"] == "edit"  # one row per record: rows_in = records
    assert out.dpo[0]["chosen"][0]["content"] == "Ask <PERSON_1> again."  # mapped back; ties by text order
    assert out.counts["corrections_not_used"] == 1 and out.counts["ranking_superseded_by_edit"] == 1
    out = Outputs()
    rec["judgments"] = [Judgment("ann-a", "submitted", {"quality": 3, "personal_data": "yes"})]
    _convert(rec, 4, src, Thresholds(), "mean", out)
    assert out.kto == out.dpo == [] and out.quarantined[0]["error_kind"] == "personal_data_reported"
    assert out.quarantined[0]["raw"] is None and "PERSON" not in out.quarantined[0]["error"]


def test_payload_scan_counts_pii_but_not_placeholders():
    from sluice.labeling.guard import PayloadScan

    # a deny-list recognizer stands in for a NER that reads placeholder names as places
    scan = PayloadScan({"nlp": "blank", "recognizers": [{"entity": "LOCATION", "deny_list": ["LOCATION_1", "Paris"]}]})
    assert scan.findings(["Flights to [LOCATION_1] on Monday"]) == {}
    assert scan.findings(["Flights to Paris, or mail jane.doe@example.com"]) == {"LOCATION": 1, "EMAIL_ADDRESS": 1}
