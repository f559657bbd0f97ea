"""Decontamination against the real gsm8k and HumanEval test sets: planted items are found."""

from __future__ import annotations

import gzip
import json
import random

import polars as pl
import pytest

from sluice.curate.dedup.decontaminate import Contamination, Decontaminate
from sluice.errors import DataError


def conv(user: str, assistant: str) -> dict:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]}


def edit(text: str, rng: random.Random) -> str:
    """A light edit: two words replaced (13-grams survive in the stretches between edits)."""
    words = text.split()
    for i in rng.sample(range(len(words)), min(2, len(words))):
        words[i] = "something"
    return " ".join(words)


@pytest.fixture(scope="module")
def evalsets(shared_data):
    gsm = [json.loads(line) for line in (shared_data / "evalsets/gsm8k/test.jsonl").read_text().splitlines()]
    with gzip.open(shared_data / "evalsets/humaneval/HumanEval.jsonl.gz", "rt") as f:
        he = [json.loads(line) for line in f]
    return gsm, he


def test_planted_contamination_recall(shared_data, evalsets):
    gsm, he = evalsets
    rng = random.Random(0)
    alpaca = json.loads((shared_data / "formats/llamafactory/alpaca_en_demo.json").read_text())
    clean = len(alpaca)
    rows = [conv(r["instruction"] + " " + r["input"], r["output"]) for r in alpaca]
    planted = []  # (row index, set, item id, verbatim?)
    for i in rng.sample(range(len(gsm)), 300):
        text = gsm[i]["question"]
        rows.append(conv("Please help: " + (text if i % 2 else edit(text, rng)), "Sure, let's see."))
        planted.append((len(rows) - 1, "gsm8k", str(i), bool(i % 2)))
    for i in rng.sample(range(len(he)), 60):
        rows.append(conv("Complete this function.", he[i]["prompt"] + he[i]["canonical_solution"] if i % 2
                         else edit(he[i]["canonical_solution"] + he[i]["prompt"], rng)))
        planted.append((len(rows) - 1, "humaneval", he[i]["task_id"], bool(i % 2)))
    batch = pl.DataFrame(rows)
    score = Contamination(evalsets=[
        {"name": "gsm8k", "path": str(shared_data / "evalsets/gsm8k/test.jsonl"), "fields": ["question", "answer"]},
        {"name": "humaneval", "path": str(shared_data / "evalsets/humaneval/HumanEval.jsonl.gz"),
         "fields": ["prompt", "canonical_solution"]},
    ])
    score.setup()
    scored = batch.hstack(score.score(batch))
    decision = Decontaminate().decide(scored)
    flagged = decision["reason"].eq("contaminated").fill_null(False).to_list()

    def recall(verbatim: bool) -> float:
        sel = [p for p in planted if p[3] == verbatim]
        return sum(flagged[r] for r, *_ in sel) / len(sel)

    print(f"\nverbatim recall {recall(True):.3f}, lightly edited (2 words changed) recall {recall(False):.3f}, "
          f"false positives on alpaca {sum(flagged[:clean])}/{clean}")
    assert recall(True) >= 0.99
    assert sum(flagged[:clean]) <= 3  # clean instruction data stays
    for r, name, item, verbatim in planted:  # the matched set and item are named
        if verbatim:
            assert scored["contam_set"][r] == name
            # HumanEval/56 and /61 differ only in punctuation: either is a correct match
            assert scored["contam_item"][r] == item or name == "humaneval"
            assert json.loads(decision["detail"][r]) == {"set": name, "item": item, "ngrams": scored["contam_ngrams"][r]}
    assert decision["reason"].drop_nulls().unique().to_list() == ["contaminated"]


def test_missing_eval_file_names_the_path(tmp_path):
    stage = Contamination(evalsets=[{"path": str(tmp_path / "nope.jsonl")}])
    with pytest.raises(DataError, match="nope.jsonl"):
        stage.setup()


def test_fingerprint_follows_eval_content(tmp_path):
    path = tmp_path / "golden.jsonl"
    path.write_text(json.dumps({"id": "a", "q": "one two three four five six seven eight nine ten eleven twelve thirteen"}) + "\n")
    first = Contamination(evalsets=[{"path": str(path)}]).fingerprint("up")
    path.write_text(json.dumps({"id": "a", "q": "something else entirely"}) + "\n")
    assert Contamination(evalsets=[{"path": str(path)}]).fingerprint("up") != first
