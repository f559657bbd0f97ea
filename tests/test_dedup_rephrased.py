"""Semantic decontamination (issue #32 item 5): reworded eval items found by embedding + a verifier.

Eval items are real (tests/data/decontamination: GSM8K and HumanEval slices, MIT); the rewordings
below were written by hand for these tests; the clean rows are 400 real Alpaca prompts."""

from __future__ import annotations

import json
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread

import polars as pl
import pytest

from sluice.curate.dedup.decontaminate import Contamination, Decontaminate
from sluice.curate.dedup.rephrased import Fingerprints, nearest, numbers, parse_judge, verify_offline

DATA = Path(__file__).parent / "data" / "decontamination"
CLEAN = [r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
         for r in json.loads((DATA / "alpaca_clean_400.json").read_text())]

REFS = [{"name": "gsm8k", "path": str(DATA / "gsm8k_40.jsonl"), "fields": ["question"]},
        {"name": "humaneval", "path": str(DATA / "humaneval_10.jsonl.gz"), "fields": ["prompt"]}]
# hand-written rewordings of gsm8k_40 items 0, 2, 3 and HumanEval/3
REWORDED = [
    "Every day Janet's ducks produce 16 eggs; 3 of them she has for breakfast and 4 go into muffins she bakes for "
    "friends. The rest she sells at the farmers' market, charging $2 for each egg. What does she earn daily there?",
    "After paying $80,000 for a house, Josh spends another $50,000 fixing it up, which raises its value by 150%. "
    "What was his profit from flipping it?",
    "Three times a week, James runs three sprints of 60 meters apiece. What distance does he cover in a week?",
    "Write below_zero(ops): ops holds deposits and withdrawals on an account whose balance starts at 0; give back "
    "True as soon as the balance drops under zero, else False.",
]


def test_numbers_reads_digits_and_number_words():
    assert numbers("She eats three and bakes with four; 16 eggs at $2.50, 1,200 in all") == \
        {"3": 1, "4": 1, "16": 1, "2.5": 1, "1200": 1}
    assert numbers("twenty five people, two hundred chairs, a dozen") == {"25": 1, "200": 1, "12": 1}
    # other languages' separators and small number words (translated items)
    assert numbers("80.000 $ und 50,000; 1,2 fois; 5 000 ou 8 000; trois, cuatro, zwölf") == \
        {"80000": 1, "50000": 1, "1.2": 1, "5000": 1, "8000": 1, "3": 1, "4": 1, "12": 1}


def test_fingerprints_find_a_translation_but_not_common_numbers():
    items = ["Josh buys a house for $80,000 and then puts in $50,000 in repairs. This increased the value of the "
             "house by 150%. How much profit did he make?",
             "James decides to run 3 sprints 3 times a week. He runs 60 meters each sprint. How many meters?",
             "def below_zero(operations):\n    \"\"\" balance \"\"\"", "def add(x, y):\n    \"\"\" Add \"\"\"",
             "    def helper_fn(n):\n        return n * 2\n    return helper_fn(x)"]  # a solution body: no key
    keys = Fingerprints(items)
    german = ("Josh kauft ein Haus für 80.000 $ und steckt dann 50.000 $ in Reparaturen. Dadurch steigt der Wert "
              "des Hauses um 150 %. Wie viel Gewinn hat er gemacht?")
    assert keys.candidates(german) == {0}
    assert keys.candidates("James läuft 3 Sprints 3 Mal pro Woche, je 60 Meter.") == set()  # no 2 specific numbers
    assert keys.candidates("Prices: 80,000, 50,000, 150, 20, 30 and 45") == set()  # too many other numbers
    assert keys.candidates("Schreibe below_zero(operations) für ein Konto") == {2}
    assert keys.candidates("def below_zero(xs): return min(xs) < 0") == set()  # no parameter of it: a shared name
    assert keys.candidates("def add(x, y): return x + y") == set()  # an English word is no fingerprint


def test_offline_verifier_rules():
    item = "Josh buys a house for $80,000 and puts in $50,000 in repairs. How much profit did he make?"
    assert verify_offline("A man pays 80000 for a home and 50000 for repairs; his profit?", item, 0.7, 0.95) == "numbers"
    assert verify_offline("A man pays 80000 for a home and 40000 for repairs; his profit?", item, 0.7, 0.95) is None
    recipe = "2 cups flour, 80,000 grains, 50,000 seeds, 3 eggs, 4 spoons, 5 pans, 6 cups milk, 7 figs, 9 nuts"
    assert verify_offline(recipe, item, 0.7, 0.95) is None  # a list of other numbers is another text
    code = "def below_zero(operations: List[int]) -> bool:\n    \"\"\" balance falls below zero \"\"\""
    assert verify_offline("implement below_zero for a bank account", code, 0.7, 0.95) == "signature"
    code2 = "def median(l: list):\n    \"\"\"Return median of elements in the list l.\"\"\""
    assert verify_offline("Predict the median age of London.", code2, 0.7, 0.95) is None  # an English word
    assert verify_offline("Write median(xs) returning the middle value", code2, 0.7, 0.95) == "signature"
    assert verify_offline("Is the sky blue?", "Why is the sky blue today?", 0.9, 0.95) is None
    assert verify_offline("Is the sky blue?", "Why is the sky blue today?", 0.96, 0.95) == "embedding"


def test_nearest_keeps_top_k_above_threshold():
    import numpy as np

    items = np.eye(3, dtype=np.float32)
    got = nearest(np.array([[0.8, 0.6, 0.0]], np.float32), items, 2, 0.7)
    assert got == [[(0, pytest.approx(0.8))]]


def test_parse_judge_fails_closed():
    assert parse_judge("True") is True and parse_judge("false.") is False
    assert parse_judge("True or False, hard to say") is None and parse_judge("maybe") is None


def test_reworded_items_are_caught_and_clean_prompts_kept():
    stage = Contamination(evalsets=REFS, key="prompts", semantic={})
    batch = rows(REWORDED + CLEAN)
    out = Decontaminate().decide(batch.hstack(stage.score(batch)))
    word = Decontaminate().decide(batch.hstack(Contamination(evalsets=REFS, key="prompts").score(batch)))
    assert word["reason"].to_list()[:4] == [None] * 4  # the word test alone misses every rewording
    assert out["reason"].to_list()[:4] == ["contaminated_semantic"] * 4
    details = [json.loads(d) for d in out["detail"].to_list()[:4]]
    assert [d["item"] for d in details] == ["gsm8k:0", "gsm8k:2", "gsm8k:3", "humaneval:HumanEval/3"]
    assert [d["verifier"] for d in details] == ["numbers"] * 3 + ["signature"]
    assert out["reason"][4:].null_count() == len(CLEAN)  # no clean Alpaca prompt flagged


def rows(prompts: list[str]) -> pl.DataFrame:
    return pl.DataFrame([{"messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "Sure."}]}
                         for p in prompts])


@pytest.fixture
def judge_server():
    """A stand-in for an LLM endpoint (no LLM runs here): an OpenAI-compatible /v1/chat/completions on
    127.0.0.1 that answers True when Part 2 mentions Janet, gibberish when it mentions Josh, else False."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            prompt = body["messages"][-1]["content"]
            part2 = prompt.split("Part 2:")[1]
            text = "True" if "Janet" in part2 else "I cannot say" if "Josh" in part2 else "False"
            reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                     "choices": [{"index": 0, "finish_reason": "stop",
                                  "message": {"role": "assistant", "content": text}}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            data = json.dumps(reply).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_llm_judge_decides_and_unparsed_replies_fall_back_to_offline(judge_server):
    llm = {"backend": "openai", "model": "judge", "base_url": judge_server, "max_retries": 0}
    stage = Contamination(evalsets=REFS, key="prompts", semantic={"verifier": "llm", "llm": llm, "top_k": 1})
    batch = rows(REWORDED)
    out = Decontaminate().decide(batch.hstack(stage.score(batch)))
    # Janet: judged True; Josh: unparsed -> the offline verdict (numbers); James, below_zero: judged False
    assert out["reason"].to_list() == ["contaminated_semantic", "contaminated_semantic", None, None]
    assert [json.loads(d)["verifier"] for d in out["detail"].to_list()[:2]] == ["llm", "numbers"]
    assert stage.counters["judge_unparsed"] == 1 and stage.counters["judge_calls"] == 4


def test_llm_verifier_needs_a_model():
    with pytest.raises(ValueError, match="verifier: llm needs llm"):
        Contamination(evalsets=REFS, semantic={"verifier": "llm"})


def test_llm_verifier_endpoint_is_declared_for_the_privacy_guard():
    remote = {"backend": "openai", "model": "judge", "base_url": "https://judge.example.com/v1"}
    stage = Contamination(evalsets=REFS, semantic={"verifier": "llm", "llm": remote})
    assert stage.remote_endpoints() == ["https://judge.example.com/v1"]
    assert Contamination(evalsets=REFS, semantic={}).remote_endpoints() == []
