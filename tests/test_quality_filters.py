"""language and heuristics: score columns, then decisions with reason codes; the example recipe."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pyarrow as pa

from sluice.curate.quality.heuristics import Heuristics, HeuristicsFilter
from sluice.curate.quality.language import Language, LanguageFilter
from sluice.schemas import get


def _frame(convs, metadata=None):
    n = len(convs)
    ids = [f"c{i}" for i in range(n)]
    return pl.from_arrow(pa.table(
        {"id": ids, "source": ["t"] * n, "source_id": ids, "created_at": [None] * n, "messages": convs,
         "tools": [None] * n, "feedback": [None] * n, "metadata": metadata or [None] * n},
        schema=get("conversation").schema))


def _chat(user, assistant, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def test_language_per_side_and_decisions():
    df = _frame([
        _chat("What is the capital of France and why is it famous?", "Paris is the capital of France."),
        _chat("Wie spät ist es in Berlin, wenn es in New York Mittag ist?", "In Berlin ist es dann achtzehn Uhr."),
        _chat("What is the weather usually like in Madrid in May?", "En mayo, Madrid suele ser cálido y soleado."),
        [{"role": "user", "content": "Tell me a joke about programmers please."}],
    ])
    stage = Language()
    scored = df.hstack(stage.score(df))
    assert scored["lang_user"].to_list() == ["en", "de", "en", "en"]
    assert scored["lang_assistant"].to_list()[:3] == ["en", "de", "es"]
    assert scored["lang_assistant"][3] is None and scored["lang"][3] == "en"
    assert all(0 < c <= 1 for c in scored["lang_user_conf"])
    decision = LanguageFilter(keep=["en"], drop_mismatch=True).decide(scored)
    assert decision["reason"].to_list() == [None, "wrong_language", "language_mismatch", None]
    assert decision["detail"][1] == "lang=de"
    assert LanguageFilter(min_confidence=1.0).decide(scored)["reason"].null_count() < 4


REFUSAL = "As an AI language model, I cannot provide that information."


def test_heuristics_scores_and_every_reason():
    convs = [
        _chat("How do I sort a list in Python?", "Use sorted(xs) or xs.sort() for in-place sorting."),  # clean
        [{"role": "user", "content": "Hello?"}],  # no final answer
        _chat("Summarize this.", "The report finds that revenue grew while costs"),  # truncated
        _chat("Can you help?", REFUSAL),
        _chat("Give me the order status.", "Your order shipped yesterday.",
              system="You are an API. Respond only with valid JSON."),  # invalid JSON
        _chat("Give me the order status.", '```json\n{"status": "shipped"}\n```',
              system="Return the answer as JSON."),  # valid JSON
        _chat("Tell me something.", " ".join(["I like trains a lot."] * 20)),  # repetitive
        _chat("Draw it.", "◆◆◆◆◆ ■■■■ ★★★★ ☺☺☺ ok."),  # non-text
        _chat("Write a note.", "Dear landlord,\n\nThe heater is broken. Please fix it soon.\n\nBest regards"),
        [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": ""},
         {"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "It is sunny today."}],
        _chat("Write a long story.", "Once upon a time there was a fox, and it kept going",),
    ]
    meta = [None] * (len(convs) - 1) + ['{"finish_reason": "length"}']
    df = _frame(convs, meta)
    scored = df.hstack(Heuristics().score(df))
    assert scored["json_required"].to_list()[4:6] == [True, True]
    assert scored["json_valid"].to_list()[4:6] == [False, True]
    assert scored["json_valid"][0] is None
    assert scored["refusal_pattern"][3] == 0
    assert scored["repetition"][6] > 0.8 and scored["repetition"][0] == 0
    assert scored["non_text_ratio"][7] > 0.4 > scored["non_text_ratio"][0]
    assert scored["truncated"].to_list()[8] is False  # a sign-off is not a cut-off
    reasons = HeuristicsFilter().decide(scored)["reason"].to_list()
    assert reasons == [None, "no_final_answer", "truncated_answer", "boilerplate_refusal", "invalid_json", None,
                       "repetitive", "non_text", None, "empty_answer", "truncated_answer"]
    assert set(r for r in reasons if r) <= set(HeuristicsFilter.reasons)
    words = HeuristicsFilter(min_words={"assistant": 8}, drop_truncated=False).decide(scored)["reason"].to_list()
    assert words[0] == "too_few_words_assistant"
    lenient = HeuristicsFilter(**{k: False for k in ("drop_no_final_answer", "drop_empty_answers", "drop_truncated",
                                                     "drop_refusals", "drop_invalid_json")},
                               max_repetition=None, max_non_text_ratio=None)
    assert lenient.decide(scored)["reason"].null_count() == len(convs)


def test_custom_refusal_patterns():
    df = _frame([_chat("Hi", "Computer says no."), _chat("Hi", REFUSAL)])
    scored = df.hstack(Heuristics(refusal_patterns=[r"computer says no"]).score(df))
    assert scored["refusal_pattern"].to_list() == [0, None]


def test_quality_recipe_runs_on_a_slice_of_the_sample(store, sample_logs, tmp_path):
    from sluice.curate.ingest import ingest
    from sluice.recipe import load_recipe
    from sluice.runner import run

    small = tmp_path / "small.jsonl"
    with open(sample_logs) as src:
        small.write_text("".join(itertools.islice(src, 40)))
    ingest([str(small)], to="raw", store=store)
    recipe, stages = load_recipe(Path(__file__).parents[1] / "examples" / "quality.yaml")
    stages[-1] = type(stages[-1])(budget=10, threshold=0.9)  # the sample recipe's budget is for 600 rows
    result = run(recipe, stages, store=store)
    acc = result.version.manifest["accounting"]
    assert acc["kept"] == 10
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    rejected = pl.from_arrow(result.version.read("rejected"))
    assert rejected["reason"].null_count() == 0 and rejected["stage"].null_count() == 0
    df = pl.from_arrow(result.version.read())
    assert df["embedding"].dtype == pl.Array(pl.Float32, 256)  # static model, stored for dedup and labeling
    assert df["scorer"].unique().to_list() == ["heuristic-v1"]
    totals = df["score_total"].to_list()
    kept_scores = sorted(totals, reverse=True)
    dropped_over_budget = rejected.filter(pl.col("reason") == "over_budget")
    if dropped_over_budget.height:
        assert min(kept_scores) >= dropped_over_budget["score_total"].max()
    configs = {s["stage"]: s for s in result.version.manifest["recipe"]["stages"]}
    assert configs["select"]["threshold"] == 0.9 and configs["embed"]["model"] == "static"
