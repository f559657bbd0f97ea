"""DEITA scoring end to end on a tiny Llama built here: local logprobs, an OpenAI-compatible
server on 127.0.0.1 returning real logprobs, and the offline heuristic scorer's labelling.

`transformers serve` (5.x) rejects ``logprobs``/``top_logprobs`` on both /v1/completions and
/v1/chat/completions (transformers/cli/serving/completion.py, chat_completion.py: "not yet
supported"), so the endpoint test runs a minimal real OpenAI-compatible HTTP server wrapping the
same tiny model (``_serve`` below) — the request/response shapes are vLLM's.
"""

from __future__ import annotations

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import polars as pl
import pyarrow as pa
import pytest

from sluice.curate.quality import deita
from sluice.curate.quality.score import QualityScore
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.schemas import get

CONVS = [
    [{"role": "user", "content": "Explain how a hash map handles collisions, step by step."},
     {"role": "assistant", "content": "Each bucket holds a list. On a collision the new key is appended..."},
     {"role": "user", "content": "And open addressing?"},
     {"role": "assistant", "content": "It probes the next free slot instead."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
     {"role": "assistant", "content": "Hello! How can I help?"}],
    [{"role": "user", "content": "Write a function that reverses a list in Python."},
     {"role": "assistant", "content": "def rev(xs):\n    return xs[::-1]"}],
]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("tiny-scorer")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [deita.complexity_prompt(m[0]["content"]) for m in CONVS] + ["1 2 3 4 5 6 quality score"] * 3
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(path)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                      bos_token_id=1, eos_token_id=2, pad_token_id=2)
    LlamaForCausalLM(cfg).save_pretrained(path)
    return str(path)


def test_expected_score_is_the_mean_over_the_six_digits():
    assert deita.expected_score([0.0] * 6) == pytest.approx(3.5)
    assert deita.expected_score([None, None, 0.0, None, None, None]) == 3.0
    assert deita.expected_score([math.log(0.5), None, None, None, None, math.log(0.5)]) == pytest.approx(3.5)
    assert deita.expected_score([None] * 6) is None


def test_prompts_are_the_reference_ones():
    assert deita.complexity_prompt("Q") == ("You are a helpful assistant. Please identify the complexity score of the "
                                            "following user query. \n##Query: Q  \n##Complexity: ")
    assert deita.quality_prompt("Q", "A").endswith("\n #Question#:\nQ\n#Response#:\nA \n##Quality: ")


def test_transformers_backend_scores_in_range_and_deterministically(tiny_model):
    prompts = [deita.complexity_prompt(c[0]["content"]) for c in CONVS]
    one = deita.TransformersBackend(tiny_model, batch_size=1, device="cpu")
    many = deita.TransformersBackend(tiny_model, batch_size=3, device="cpu")
    a, b = one.score(prompts), many.score(prompts)
    assert all(1.0 <= s <= 6.0 for s in a)
    assert len(set(round(s, 6) for s in a)) > 1  # the prompt matters
    assert a == pytest.approx(b, abs=1e-5)  # left padding + position ids: batch composition does not matter
    assert one.score(prompts) == a  # repeatable


def _scored_dataset(store, convs):
    ids = [f"c{i}" for i in range(len(convs))]
    n = len(convs)
    table = pa.table({"id": ids, "source": ["t"] * n, "source_id": ids, "created_at": [None] * n, "messages": convs,
                      "tools": [None] * n, "feedback": [None] * n, "metadata": [None] * n},
                     schema=get("conversation").schema)
    with store.create("raw", "conversation") as w:
        w.write(table)
        w.publish({"rows_in": n, "kept": n, "rejected_total": 0, "rejected": {}, "quarantined_total": 0,
                   "quarantined": {}})


def test_deita_stage_multi_turn_evol_score(store, tiny_model):
    _scored_dataset(store, CONVS)
    stage = QualityScore(complexity_model=tiny_model, quality_model=tiny_model, device="cpu")
    assert stage.config.scorer == "deita"
    result = run(Recipe(input="raw", output="scored"), [stage], store=store)
    df = pl.from_arrow(result.version.read())
    assert df["scorer"].unique().to_list() == ["deita-transformers"]
    assert df["score_complexity"].list.len().to_list() == [2, 1, 1]  # one score per user turn
    for c, q, total in df.select("score_complexity", "score_quality", "score_total").rows():
        assert all(1 <= x <= 6 for x in c + q)
        assert total == pytest.approx(sum(a * b for a, b in zip(c, q)) / len(c))  # mean over turns, not the sum
    stage_cfg = next(s for s in result.version.manifest["recipe"]["stages"] if s["stage"] == "quality_score")
    assert stage_cfg["scorer"] == "deita" and stage_cfg["quality_model"] == tiny_model


def _http(answer):
    """A real HTTP server on 127.0.0.1: each POST is answered by ``answer(path, body) -> (status, json)``."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            status, reply = answer(self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            out = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _choice(i: int, tops: dict[str, float]) -> dict:
    first = max(tops, key=tops.get)
    return {"index": i, "text": first, "finish_reason": "length",
            "logprobs": {"tokens": [first], "token_logprobs": [tops[first]], "top_logprobs": [tops],
                         "text_offset": [0]}}


def _completion(choices: list[dict], model: str) -> dict:
    return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": model, "choices": choices,
            "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1}}


def _serve(model_path: str):
    """A minimal OpenAI-compatible /v1/completions server returning real top logprobs of a local model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    lock = threading.Lock()

    def answer(path: str, body: dict):
        if path != "/v1/completions" or not body.get("logprobs"):
            return 400, {"error": {"message": "only /v1/completions with logprobs"}}
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = []
        for i, prompt in enumerate(prompts):
            with lock, torch.inference_mode():
                ids = tok(prompt, return_tensors="pt")["input_ids"]
                logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), -1)
            top = torch.topk(logp, min(int(body["logprobs"]), logp.numel()))
            choices.append(_choice(i, {tok.decode([int(t)]): float(v) for v, t in zip(top.values, top.indices)}))
        return 200, _completion(choices, body["model"])

    return _http(answer)


def test_openai_compatible_endpoint_matches_local_scores(store, tiny_model):
    server = _serve(tiny_model)
    try:
        url = f"http://127.0.0.1:{server.server_port}/v1"
        prompts = [deita.quality_prompt(c[0]["content"], c[1]["content"]) for c in CONVS]
        remote = deita.OpenAIBackend(url, "tiny", batch_size=2, top_logprobs=400).score(prompts)
        local = deita.TransformersBackend(tiny_model, device="cpu").score(prompts)
        assert remote == pytest.approx(local, abs=1e-4)
        assert all(1 <= s <= 6 for s in remote)

        _scored_dataset(store, CONVS)
        stage = QualityScore(endpoint=url, complexity_model="tiny", quality_model="tiny", top_logprobs=400)
        df = pl.from_arrow(run(Recipe(input="raw", output="scored"), [stage], store=store).version.read())
        assert df["scorer"].unique().to_list() == ["deita-openai"]
        assert df["score_total"].is_not_null().all()

        second = _serve(tiny_model)  # vLLM serves one model per server: complexity from its own URL
        try:
            url2 = f"http://127.0.0.1:{second.server_port}/v1"
            split = QualityScore(endpoint=url, complexity_endpoint=url2, complexity_model="tiny", quality_model="tiny",
                                 top_logprobs=400)
            assert split.remote_endpoints() == [url, url2]
            df2 = pl.from_arrow(run(Recipe(input="raw", output="scored2"), [split], store=store).version.read())
            assert df2["score_total"].to_list() == pytest.approx(df["score_total"].to_list(), abs=1e-6)
        finally:
            second.shutdown()
    finally:
        server.shutdown()


def test_remote_endpoint_needs_explicit_consent():
    with pytest.raises(Exception, match="not on this machine"):
        QualityScore(endpoint="https://api.example.com/v1", complexity_model="a", quality_model="b")
    with pytest.raises(Exception, match="needs complexity_model and quality_model"):
        QualityScore(scorer="deita")


def test_heuristic_scorer_is_never_reported_as_deita(store, caplog):
    _scored_dataset(store, CONVS)
    stage = QualityScore()
    assert stage.config.scorer == "heuristic"
    with caplog.at_level("WARNING"):
        result = run(Recipe(input="raw", output="scored"), [stage], store=store)
    assert "not DEITA" in caplog.text  # the weaker fallback is announced
    df = pl.from_arrow(result.version.read())
    assert df["scorer"].unique().to_list() == ["heuristic-v1"]
    assert not [c for c in df.columns if "deita" in c.lower()]
    manifest = result.version.manifest
    stage_cfg = next(s for s in manifest["recipe"]["stages"] if s["stage"] == "quality_score")
    assert stage_cfg["scorer"] == "heuristic"
    assert "deita" not in json.dumps(stage_cfg).lower()
    assert "deita" not in json.dumps(manifest["stages"]).lower()
    for c, q, total in df.select("score_complexity", "score_quality", "score_total").rows():
        assert all(1 <= x <= 6 for x in c + q) and total == pytest.approx(sum(a * b for a, b in zip(c, q)) / len(c))


def test_a_two_turn_chat_does_not_score_double():
    one = [{"role": "user", "content": "Explain how a hash map handles collisions."},
           {"role": "assistant", "content": "Each bucket holds a list; a colliding key is appended to it."}]
    stage = QualityScore()
    df = stage.score(pl.DataFrame({"messages": [one, one + one]}))
    assert df["score_total"][0] == pytest.approx(df["score_total"][1])


def test_heuristic_counts_chinese_and_japanese_characters_as_words():
    assert deita.word_count("机器学习很有趣。") == 7 and deita.word_count("Machine learning is fun.") == 4
    zh = deita.heuristic_quality("解释哈希表。", "哈希表把键映射到桶里；冲突时，新的键被追加到同一个桶的列表中，查找时逐个比较。")
    en = deita.heuristic_quality("Explain hash maps.", "A hash map maps keys to buckets; on a collision the new key "
                                 "is appended to that bucket's list and lookups compare one by one.")
    assert abs(zh - en) < 1.0  # the same answer in Chinese no longer scores at the bottom of the scale


def _scripted(statuses: list[int]):
    """A real HTTP server on 127.0.0.1 answering /v1/completions with ``statuses`` in turn (then 200):
    an error status, or one choice whose next-token logprobs favour "5" (no model: the retry rules are
    what is tested, the scores are tested above against a real model)."""
    calls: list[int] = []

    def answer(path: str, body: dict):
        status = statuses[len(calls)] if len(calls) < len(statuses) else 200
        calls.append(status)
        if status != 200:
            return status, {"error": {"message": "scripted", "type": "x"}}
        return 200, _completion([_choice(0, {"5": -0.1, " 4": -2.5})], body["model"])

    return _http(answer), calls


def test_the_endpoint_scorer_follows_the_llm_clients_retry_and_fatal_rules():
    from sluice.errors import SluiceError

    server, calls = _scripted([503, 429])  # transient twice, then an answer: retried with backoff
    try:
        backend = deita.OpenAIBackend(f"http://127.0.0.1:{server.server_port}/v1", "m")
        backend.client.spec = backend.client.spec.model_copy(update={"backoff_s": 0.01})
        [score] = backend.score(["prompt"])
        assert calls == [503, 429, 200] and backend.client.usage.retries == 2
        assert 4 < score < 5  # Σ k·p over "5" and " 4"
    finally:
        server.shutdown()
    server, calls = _scripted([401])  # refused credentials: every further call would fail too — stop
    try:
        with pytest.raises(SluiceError, match="refused the credentials"):
            deita.OpenAIBackend(f"http://127.0.0.1:{server.server_port}/v1", "m").score(["prompt"])
        assert calls == [401]
    finally:
        server.shutdown()


def test_a_remote_scorer_endpoint_without_a_key_is_refused_before_any_request(monkeypatch):
    from sluice.errors import SluiceError

    monkeypatch.delenv("SLUICE_TEST_NO_SUCH_KEY", raising=False)
    with pytest.raises(SluiceError, match="no API key for http://scorer.example:8000/v1"):
        deita.OpenAIBackend("http://scorer.example:8000/v1", "m", api_key_env="SLUICE_TEST_NO_SUCH_KEY")
