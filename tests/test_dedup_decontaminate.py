"""Decontamination on slices of real eval sets (tests/data/decontamination): each rule on its own."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest

from sluice.curate.dedup.decontaminate import Contamination, Decontaminate
from sluice.curate.dedup.evalsets import read_records, record_items
from sluice.errors import DataError

DATA = Path(__file__).parent / "data" / "decontamination"
GSM = [json.loads(line) for line in (DATA / "gsm8k_40.jsonl").read_text().splitlines()]
with gzip.open(DATA / "humaneval_10.jsonl.gz", "rt") as _f:
    HE = [json.loads(line) for line in _f]
CSQA = [json.loads(line) for line in (DATA / "commonsenseqa_20.jsonl").read_text().splitlines()]
CLEAN = [r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
         for r in json.loads((DATA / "alpaca_clean_400.json").read_text())]
SHORT = [{"id": "t1", "prompt": "Do ostriches bury their heads in the sand?"},
         {"id": "t2", "prompt": "Are bats actually blind?"},
         {"id": "t3", "prompt": "Why?"}]


def rows(prompts: list[str]) -> pl.DataFrame:
    return pl.DataFrame([{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "Sure."}]}
                         for p in prompts])


def flag(prompts: list[str], evalsets: list[dict], **decide) -> tuple[list[bool], pl.DataFrame]:
    stage = Contamination(evalsets=evalsets, key="prompts")
    batch = rows(prompts)
    scored = batch.hstack(stage.score(batch))
    decision = Decontaminate(**decide).decide(scored)
    return decision["reason"].is_not_null().to_list(), scored.hstack(decision)


@pytest.fixture
def refs(tmp_path):
    pl.DataFrame(SHORT).write_csv(tmp_path / "short.csv")
    return [{"name": "gsm8k", "path": str(DATA / "gsm8k_40.jsonl"), "fields": ["question", "answer"]},
            {"name": "humaneval", "path": str(DATA / "humaneval_10.jsonl.gz"), "fields": ["prompt"]},
            {"name": "csqa", "path": str(DATA / "commonsenseqa_20.jsonl")},
            {"name": "short", "path": str(tmp_path / "short.csv"), "fields": ["prompt"], "id_field": "id"}]


def test_verbatim_and_light_edits_are_found(refs):
    q = GSM[3]["question"]
    words = q.split()
    edits = {
        "verbatim": q,
        "case": q.upper(),
        "punctuation": q.replace(",", "").replace(".", " ."),
        "whitespace": "  \n".join(words[:5]) + " " + " ".join(words[5:]),
        "word_swap": " ".join(words[:6] + ["banana"] + words[7:]),
        "word_drop": " ".join(words[:6] + words[7:]),
        "question_prefix": "Question: " + q + "\nAnswer:",
        "embedded": f"{CLEAN[0]}\n\nAlso, could you solve this? {q} Thanks a lot!",
    }
    hits, out = flag(list(edits.values()), refs)
    assert dict(zip(edits, hits)) == {k: True for k in edits}
    assert set(out["contam_set"].to_list()) == {"gsm8k"} and set(out["contam_item"].to_list()) == {"3"}
    detail = json.loads(out["detail"][0])
    assert detail == {"set": "gsm8k", "item": "3", "field": "question", "matched": len(words),
                      "words": len(words), "run": len(words)}


def test_short_items_need_whole_containment_and_too_short_ones_are_counted(refs):
    prompts = ["Are bats actually blind? I always wondered.",   # 4 words, whole: found
               "Are bats actually deaf?",                          # one word off a 4-word item: not
               "Do ostriches bury their heads in sand?",          # 8 words, one dropped: found (fuzzy)
               "Why?"]                                             # a 1-word item is never matched
    hits, _ = flag(prompts, refs)
    assert hits == [True, False, True, False]
    stage = Contamination(evalsets=refs)
    ref = stage.describe()["reference"]
    assert ref["too_short_items"] >= 1 and ref["min_words"] == 4  # "Why?" and csqa answer keys


def test_multiple_choice_with_and_without_options(refs):
    q = CSQA[0]["question"]
    options = "\n".join(f"{c['label']}) {c['text']}" for c in q["choices"])
    hits, out = flag([q["stem"], f"{q['stem']}\nOptions:\n{options}"], refs)
    assert hits == [True, True]
    assert out["contam_item"].to_list() == [CSQA[0]["id"]] * 2
    items = record_items({"question": "Which is a fruit? Pick one.", "choices": ["apple", "stone"]}, "s", "0", None)
    assert {i.field for i in items} == {"question", "question+options"}


def test_clean_prompts_are_not_flagged(refs):
    hits, _ = flag(CLEAN, refs)
    assert sum(hits) == 0


def test_code_items_from_humaneval(refs):
    he = HE[2]
    hits, out = flag([f"Complete this function:\n{he['prompt']}"], refs)
    assert hits == [True] and out["contam_item"][0] == he["task_id"]


def test_eval_set_formats(tmp_path):
    """JSONL, JSON, CSV (all columns as text), Parquet and a datasets save_to_disk folder."""
    records = [{"id": "a", "question": "What is the boiling point of water at sea level in Celsius?", "n": 7},
               {"id": "b", "question": "Name the largest planet in the solar system, please.", "n": "x"}]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "s.json").write_text(json.dumps({"test": records}))
    (tmp_path / "s.csv").write_text("id,question,n\na,\"What is the boiling point, in Celsius?\",7\nb,Mixed,x\n")
    pl.DataFrame([{k: str(v) for k, v in r.items()} for r in records]).write_parquet(tmp_path / "s.parquet")
    import datasets

    datasets.Dataset.from_list([{k: str(v) for k, v in r.items()} for r in records]).save_to_disk(str(tmp_path / "hf"))
    for name in ("s.jsonl", "s.json", "s.csv", "s.parquet", "hf"):
        got = read_records(tmp_path / name)
        assert [r["id"] for r in got] == ["a", "b"], name
    hits, _ = flag(["Please: what is the boiling point of water at sea level in celsius"],
                   [{"path": str(tmp_path / "hf"), "fields": ["question"]}])
    assert hits == [True]


def test_eval_set_lines_split_on_newline_only(tmp_path):
    """U+0085 (NEL), U+2028 and a form feed held raw inside a JSON string stay in the item
    (``str.splitlines`` would cut the line there and fail or corrupt it); CRLF files read too."""
    items = [dict(GSM[0], question=GSM[0]["question"].replace(". ", ".\u0085", 1)),
             dict(GSM[1], question=GSM[1]["question"].replace("  ", "\u2028\f", 1)),
             GSM[2]]
    text = "".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in items)
    assert "\u0085" in text and "\u2028" in text  # raw, not escaped
    (tmp_path / "e.jsonl").write_text(text, encoding="utf-8", newline="")
    with gzip.open(tmp_path / "e.jsonl.gz", "wt", encoding="utf-8", newline="") as f:
        f.write(text)
    for name in ("e.jsonl", "e.jsonl.gz"):
        got = read_records(tmp_path / name)
        assert [r["question"] for r in got] == [r["question"] for r in items], name
    hits, _ = flag([items[0]["question"].replace("\u0085", " ")], [{"path": str(tmp_path / "e.jsonl")}])
    assert hits == [True]


def test_bad_eval_sets_name_the_path(tmp_path):
    with pytest.raises(DataError, match="nope.jsonl"):
        Contamination(evalsets=[{"path": str(tmp_path / "nope.jsonl")}]).setup()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json"):
        Contamination(evalsets=[{"path": str(tmp_path / "bad.json")}]).setup()
    with pytest.raises(DataError, match="lacks fields"):
        Contamination(evalsets=[{"path": str(DATA / "gsm8k_40.jsonl"), "fields": ["nope"]}]).setup()


def test_fingerprint_follows_eval_content(tmp_path):
    p = tmp_path / "e.jsonl"
    p.write_text(json.dumps({"q": "one two three four five six seven eight nine ten eleven twelve thirteen"}) + "\n")
    a = Contamination(evalsets=[{"path": str(p)}]).fingerprint("up")
    p.write_text(json.dumps({"q": "another item entirely with enough words to form one thirteen gram ok"}) + "\n")
    assert Contamination(evalsets=[{"path": str(p)}]).fingerprint("up") != a


def test_min_run_catches_a_long_verbatim_excerpt(refs):
    question = GSM[5]["question"].split()
    assert len(question) > 40
    excerpt = " ".join(question[:22])  # half of a 41-word item, verbatim
    hits, _ = flag([f"Here is some text: {excerpt}"], refs)
    assert hits == [True]
    hits, _ = flag([f"Here is some text: {excerpt}"], refs, min_run=None)
    assert hits == [False]


def test_multi_turn_items_match_turn_by_turn(tmp_path):
    """MT-bench keeps turns as a list of strings, Arena-Hard as a list of {content}: each turn is an item."""
    mt = {"question_id": 81, "category": "writing",
          "turns": ["Compose an engaging travel blog post about a recent trip to Iceland, highlighting culture.",
                    "Rewrite your previous response so that every sentence starts with the letter A."]}
    arena = {"question_id": "x1", "turns": [{"content": "Write a bash script that backs up my home folder every night."}]}
    (tmp_path / "mt.jsonl").write_text(json.dumps(mt) + "\n")
    (tmp_path / "arena.jsonl").write_text(json.dumps(arena) + "\n")
    refs = [{"path": str(tmp_path / "mt.jsonl"), "fields": ["turns"]}, {"path": str(tmp_path / "arena.jsonl")}]
    hits, out = flag(["Please: rewrite your previous response so that every sentence starts with the letter A!",
                      "write a bash script that backs up my home folder every night", CLEAN[0]], refs)
    assert hits == [True, True, False]
    assert out["contam_field"].to_list()[:2] == ["turns[1]", "turns[0].content"]


@pytest.mark.slow
def test_semantic_check_finds_a_paraphrase_the_word_test_misses(tmp_path):
    """Embedding neighbours (the embedded all-MiniLM-L6-v2) become candidates; the word test then
    decides with the lower semantic_coverage bar."""
    item = {"id": "p1", "q": "A bakery sells 120 loaves of bread every morning and donates a quarter of them to a "
                             "shelter. How many loaves does the bakery sell each week?"}
    (tmp_path / "e.jsonl").write_text(json.dumps(item) + "\n")
    paraphrase = ("Every morning a bakery sells 120 loaves of bread, and a quarter of them go to a shelter as a "
                  "donation. What is the number of loaves it sells in a week?")
    refs = [{"path": str(tmp_path / "e.jsonl"), "fields": ["q"]}]
    plain, _ = flag([paraphrase], refs)
    stage = Contamination(evalsets=refs, key="prompts", semantic={"threshold": 0.8})
    batch = rows([paraphrase, CLEAN[0]])
    scored = batch.hstack(stage.score(batch))
    assert plain == [False]
    assert scored["contam_similarity"][0] >= 0.8 and scored["contam_similarity"][1] is None
    assert Decontaminate().decide(scored)["reason"].to_list() == ["contaminated", None]
    assert stage.describe()["semantic"]["threshold"] == 0.8
