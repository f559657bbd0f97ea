"""Fast checks of the training backend's pieces: config, data conversion, template guard, gate
metrics and rule, QLoRA without CUDA, anti-pattern warnings. No training steps here."""

from __future__ import annotations

import pytest
from train_helpers import ANSWER, conv_rows, memo_prompts, publish

from sluice.errors import RecipeError, SluiceError
from sluice.store import Store

SAMPLE = [{"role": "user", "content": "what is the answer?"}, {"role": "assistant", "content": ANSWER}]


@pytest.fixture(scope="module")
def tokenizer():
    from sluice.tiny import build_tokenizer

    return build_tokenizer()


# -- config ------------------------------------------------------------------------------------

def test_defaults_follow_current_practice():
    from sluice.train.config import load_config

    sft, dpo, kto = (load_config(m) for m in ("sft", "dpo", "kto"))
    assert (sft.lora_r, sft.lora_alpha, sft.lora_dropout, sft.use_dora, sft.target_modules) == (16, 32, 0.05, True,
                                                                                              "all-linear")
    assert sft.learning_rate == 2e-4 and sft.packing and sft.assistant_only_loss and sft.gradient_checkpointing
    assert dpo.learning_rate == kto.learning_rate == 5e-6 and dpo.beta == kto.beta == 0.1
    assert sft.lr_scheduler_type == "cosine" and sft.warmup_ratio > 0 and 1 <= sft.num_train_epochs <= 3


def test_yaml_then_overrides_then_values(tmp_path):
    from sluice.train.config import load_config

    path = tmp_path / "train.yaml"
    path.write_text("train:\n  lora_r: 8\n  learning_rate: 1.0e-4\n  gate: {min_gain: 0.1}\n")
    cfg = load_config("sft", yaml_path=path, overrides=["lora_r=32", "packing=false", "gate.metric=exact_match"],
                      model="m")
    assert (cfg.lora_r, cfg.learning_rate, cfg.packing, cfg.model) == (32, 1e-4, False, "m")
    assert cfg.gate.min_gain == 0.1 and cfg.gate.metric == "exact_match"


def test_config_errors_name_the_key(tmp_path):
    from sluice.train.config import load_config

    with pytest.raises(RecipeError) as e:
        load_config("dpo", overrides=["lora_rank=8", "beta=-1"])
    text = str(e.value)
    assert "lora_rank" in text and "beta" in text and "sluice train options dpo" in text
    (tmp_path / "k.yaml").write_text("method: kto\n")
    with pytest.raises(RecipeError, match="is a kto config"):
        load_config("sft", yaml_path=tmp_path / "k.yaml")
    with pytest.raises(RecipeError, match="key=value"):
        load_config("sft", overrides=["oops"])


# -- data --------------------------------------------------------------------------------------

def test_split_column_and_held_out_fraction(tmp_path):
    import pyarrow as pa

    from sluice.train.data import load_split

    store = Store(tmp_path)
    rows = conv_rows(memo_prompts(0, 10), [ANSWER] * 10, "r")
    for i, r in enumerate(rows):
        r["split"] = ["train"] * 6 + ["validation"] * 2 + ["test"] * 2
        r["split"] = r["split"][i]
    from sluice.schemas import CONVERSATION

    table = CONVERSATION.conform(pa.Table.from_pylist(rows))
    with store.create("s", "conversation") as w:
        w.write(table)
        w.publish({"rows_in": 10, "kept": 10, "rejected_total": 0, "quarantined_total": 0, "rejected": {},
                   "quarantined": {}})
    split = load_split(store, "sft", "s@v1")
    assert (len(split.train), len(split.eval)) == (6, 2)  # test rows never reach training
    assert split.train[0]["messages"] == [{"role": "user", "content": memo_prompts(0, 1)[0]},
                                          {"role": "assistant", "content": ANSWER}]
    publish(store, "plain", "conversation", conv_rows(memo_prompts(0, 40), [ANSWER] * 40, "p"))
    a = load_split(store, "sft", "plain@v1", eval_fraction=0.25, seed=1)
    b = load_split(store, "sft", "plain@v1", eval_fraction=0.25, seed=1)
    assert [r["id"] for r in a.eval] == [r["id"] for r in b.eval] and 3 <= len(a.eval) <= 18
    assert len(a.train) + len(a.eval) == 40 and len(a.lineage[0]["content_sha256"]) == 64


def test_wrong_kind_for_method(tmp_path):
    from sluice.train.data import load_split

    store = Store(tmp_path)
    publish(store, "c", "conversation", conv_rows(["q"], ["a"], "x"))
    with pytest.raises(SluiceError, match="needs preference rows"):
        load_split(store, "dpo", "c@v1")


def test_grpo_rows_prompt_reference_and_tools(tmp_path):
    import json

    from sluice.train.data import load_split

    store = Store(tmp_path)
    rows = conv_rows(memo_prompts(0, 3), [ANSWER] * 3, "g")
    tools = json.dumps([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}])
    rows[1]["tools"] = tools
    rows[1]["messages"][1] = {**rows[1]["messages"][1], "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"id": 7}'}}]}
    rows[2]["messages"] = rows[2]["messages"][:1]  # no assistant turn: nothing to reward
    publish(store, "g", "conversation", rows)
    split = load_split(store, "grpo", "g@v1", eval_fraction=0.0)
    assert [r["id"] for r in split.train] == ["g-0", "g-1"] and split.lineage[0]["no_reference_rows"] == 1
    assert split.train[0]["prompt"] == [{"role": "user", "content": memo_prompts(0, 1)[0]}]
    assert split.train[0]["reference"] == ANSWER and split.train[0]["tools"] is None
    assert split.train[1]["tools"] == tools and split.train[1]["reference"].startswith('<tool_call>{"name": "lookup"')
    from sluice.train.rewards import tool_call

    assert tool_call([split.train[1]["reference"]], [split.train[1]["reference"]], [tools]) == [1.0]


# -- chat-template guard -----------------------------------------------------------------------

def test_guard_patches_a_known_template(tokenizer):
    from sluice.train.template import guard

    result = guard(tokenizer, SAMPLE)
    assert result.patched and "{% generation %}" in result.template
    assert 0 < result.assistant_tokens < result.total_tokens


def test_guard_catches_broken_templates(tokenizer):
    from sluice.train.template import TemplateError, guard

    tok = tokenizer
    original = tok.chat_template
    try:
        tok.chat_template = None
        with pytest.raises(TemplateError, match="no chat template"):
            guard(tok, SAMPLE)
        tok.chat_template = "{% for m in messages %}{{ m['content'] }{% endfor %}"  # syntax error
        with pytest.raises(TemplateError, match="fails to render"):
            guard(tok, SAMPLE)
        tok.chat_template = "{% for m in messages %}{{ m.role }}: {% endfor %}"  # drops the content
        with pytest.raises(TemplateError, match="without its messages"):
            guard(tok, SAMPLE)
        tok.chat_template = "{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"  # unknown, untagged
        with pytest.raises(TemplateError, match="generation") as e:
            guard(tok, SAMPLE)
        assert "assistant_only_loss=false" in e.value.hint
        assert guard(tok, SAMPLE, assistant_only_loss=False).patched is False  # fine without the mask
        tok.chat_template = ("{% for m in messages %}{% generation %}{% endgeneration %}"
                             "<{{ m.role }}>{{ m.content }}{% endfor %}")  # tags around nothing
        with pytest.raises(TemplateError, match="mask is empty"):
            guard(tok, SAMPLE)
    finally:
        tok.chat_template = original


TOOL_TURNS = [
    {"role": "system", "content": "you can look up orders."},
    {"role": "user", "content": "where is order 7?"},
    {"role": "assistant", "content": '<tool_call>{"name": "lookup", "arguments": {"id": 7}}</tool_call>'},
    {"role": "tool", "content": '{"status": "shipped"}'},
    {"role": "assistant", "content": "order 7 has shipped."},
]


def _trl_template(name: str) -> str:
    from pathlib import Path

    import trl

    return (Path(trl.__file__).parent / "chat_templates" / name).read_text()


def test_wrong_family_template_is_refused_naming_both(tokenizer):
    """A Gemma template on a ChatML vocabulary: the turn markers would be fed as plain text."""
    from sluice.train.template import TemplateError, guard

    original = tokenizer.chat_template
    try:
        tokenizer.chat_template = _trl_template("gemma.jinja")
        for only in (True, False):
            with pytest.raises(TemplateError) as e:
                guard(tokenizer, SAMPLE, assistant_only_loss=only)
            assert "chat template is Gemma" in e.value.message and "control tokens are ChatML" in e.value.message
            assert "\n" not in e.value.message
    finally:
        tokenizer.chat_template = original
    assert guard(tokenizer, SAMPLE).family == "ChatML"


def test_preformatted_rows_are_refused_by_row_id():
    from sluice.train.template import TemplateError, preformatted

    plain = {"id": "r1", "messages": SAMPLE}
    preformatted([plain], "ChatML")
    rendered = {"id": "r2", "messages": [{"role": "user", "content": "<start_of_turn>user\nmy secret<end_of_turn>"},
                                         {"role": "assistant", "content": "ok"}]}
    with pytest.raises(TemplateError, match=r"row id r2: message 0 \(user\) is already formatted with Gemma") as e:
        preformatted([plain, rendered], "ChatML")
    assert "the ChatML chat template" in e.value.message and "secret" not in str(e.value)


def test_mask_covers_tool_call_turns_and_nothing_else(tokenizer):
    from sluice.train.template import TemplateError, guard

    result = guard(tokenizer, TOOL_TURNS)  # the patched Qwen2.5 template: both assistant turns, tool call included
    assert result.patched and 0 < result.assistant_tokens < result.total_tokens
    original = tokenizer.chat_template
    try:  # generation tags around every turn: user, system and tool text would be trained on
        tokenizer.chat_template = ("{% for m in messages %}{% generation %}<|im_start|>{{ m.role }}\n{{ m.content }}"
                                   "<|im_end|>\n{% endgeneration %}{% endfor %}")
        # which non-assistant turn is named first differs across transformers versions (4.56.2 names the user's)
        with pytest.raises(TemplateError, match=r"turn [01] \((system|user)\) is inside the assistant-only loss mask"):
            guard(tokenizer, TOOL_TURNS)
        # tags only on turns without a tool call: the tool-call turn would not be learned
        tokenizer.chat_template = ("{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.role == 'assistant' and "
                                   "'<tool_call>' not in m.content %}{% generation %}{{ m.content }}<|im_end|>"
                                   "{% endgeneration %}{% else %}{{ m.content }}<|im_end|>{% endif %}\n{% endfor %}")
        with pytest.raises(TemplateError, match=r"turn 2 \(assistant\) is not fully inside"):
            guard(tokenizer, TOOL_TURNS)
    finally:
        tokenizer.chat_template = original


def test_training_template_must_feed_the_models_tokens(tokenizer, monkeypatch):
    """A training variant that renders other text than the model's template is refused (a faulty patch is
    simulated: TRL's own patches render identically)."""
    import trl.chat_template_utils as ctu

    from sluice.train.template import TemplateError, guard

    good = ctu.get_training_chat_template(tokenizer)
    monkeypatch.setattr(ctu, "get_training_chat_template", lambda tok: good.replace("<|im_start|>", " <|im_start|>"))
    with pytest.raises(TemplateError, match="differ from token 0 on"):
        guard(tokenizer, SAMPLE)


def test_anti_pattern_warnings():
    from sluice.train.config import load_config
    from sluice.train.template import anti_patterns

    cfg = load_config("sft", overrides=["lora_r=64", "num_train_epochs=5"])
    warnings = anti_patterns(cfg, 500, "Qwen/Qwen2.5-0.5B-Instruct")
    assert len(warnings) == 3 and any("lora_r=64" in w for w in warnings)
    assert anti_patterns(load_config("sft"), 5000, "meta-llama/Llama-3.1-8B") == []


# -- QLoRA -------------------------------------------------------------------------------------

def test_load_in_4bit_without_cuda_fails_clearly(tmp_path):
    import torch
    from typer.testing import CliRunner

    from sluice.cli import app

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    store = Store(tmp_path / "store")
    publish(store, "c", "conversation", conv_rows(["q"], ["a"], "x"))
    r = CliRunner().invoke(app, ["train", "sft", "--data", "c@v1", "--model", "no-such/model", "--load-in-4bit",
                                 "--root", str(store.root), "-o", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert "load_in_4bit (QLoRA) needs a CUDA GPU" in r.stderr and "drop --load-in-4bit" in r.stderr
    assert "Traceback" not in r.output and not (tmp_path / "out").exists()



def test_qlora_device_map_is_the_local_rank(monkeypatch):
    """Under a launcher each rank loads its 4-bit model onto its own GPU. The launcher's process state is
    faked here (no GPUs, no second process on this machine); tests/test_train_distributed.py launches for real."""
    import accelerate

    from sluice.train.peft_setup import quantized_device_map

    class Rank3:
        local_process_index = 3

    assert quantized_device_map() == {"": 0}  # one process: GPU 0
    monkeypatch.setattr(accelerate, "PartialState", Rank3)
    assert quantized_device_map() == {"": 3}


def test_launch_the_trainer_does_not_see_is_refused(monkeypatch):
    from sluice.train.run import check_launch

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    with pytest.raises(RecipeError, match="launched as 2 processes with FSDP, but the trainer sees 1") as e:
        check_launch(1)
    assert "ACCELERATE_USE_CPU=true accelerate launch --multi_gpu" in e.value.hint
    check_launch(2)  # a real two-process group passes
    monkeypatch.delenv("WORLD_SIZE")
    check_launch(1)


# -- gate --------------------------------------------------------------------------------------

def test_rouge_l_and_exact_match():
    from sluice.train.gate import exact_match, rouge_l

    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge_l("", "x") == 0.0 and rouge_l("a b", "c d") == 0.0
    # LCS "the cat the mat" (4) of 6 and 6 tokens → P = R = F = 4/6
    assert rouge_l("the cat was on the mat", "the cat sat under the mat") == pytest.approx(4 / 6)
    assert exact_match("  The answer is 42. ", "the answer is 42") == 1.0 and exact_match("42", "41") == 0.0


CATS = ["math"] * 6 + ["chat"] * 6


def test_gate_rule_promotes_only_a_gain_beyond_the_noise():
    from sluice.train.config import GateRule
    from sluice.train.gate import decide

    inc = {"rouge_l": [0.4] * 12}
    ok = decide(inc, {"rouge_l": [0.5 + 0.01 * (i % 3) for i in range(12)]}, CATS, GateRule(metric="rouge_l"))
    assert ok["passed"] and ok["gains"]["rouge_l"]["ci_low"] > 0 and len(ok["reasons"]) == 1
    # Equal scores (a no-op): gain exactly 0, lower bound 0 is not > min_gain 0.
    same = decide(inc, {"rouge_l": [0.4] * 12}, CATS, GateRule(metric="rouge_l"))
    assert not same["passed"] and "no gain beyond the noise" in same["reasons"][0]
    # A mean gain carried by two items: inside the noise.
    noisy = decide(inc, {"rouge_l": [0.4] * 10 + [0.9, 0.1]}, CATS, GateRule(metric="rouge_l"))
    assert not noisy["passed"] and noisy["gains"]["rouge_l"]["ci_low"] <= 0
    small = decide(inc, {"rouge_l": [0.45] * 12}, CATS, GateRule(metric="rouge_l", min_gain=0.1))
    assert not small["passed"]
    regress = decide(inc, {"rouge_l": [0.3] * 6 + [0.9] * 6}, CATS, GateRule(metric="rouge_l"))
    assert not regress["passed"] and any("'math'" in r for r in regress["reasons"])
    floor = decide(inc, {"rouge_l": [0.5] * 12}, CATS, GateRule(metric="rouge_l", min_score=0.9))
    assert not floor["passed"]


def test_gate_fails_closed_on_missing_metrics_and_unparsed_judges():
    from sluice.train.config import GateRule
    from sluice.train.gate import decide

    missing = decide({"loglik": [-2.0] * 12}, {"loglik": [-1.0] * 11 + [None]}, CATS, GateRule())
    assert not missing["passed"] and "loglik: not computed for 1 of 12 items (candidate)" in missing["reasons"]
    nojudge = decide({"loglik": [-2.0] * 12}, {"loglik": [-1.0] * 12}, CATS, GateRule(metric="judge"))
    assert not nojudge["passed"] and "judge" in nojudge["reasons"][0]
    # One parsed judgment per side used to decide the gate alone; now it fails under min_parsed.
    one = [1.0] + [None] * 11
    judged = decide({"judge": [0.0] + [None] * 11}, {"judge": one}, CATS, GateRule(metric="judge"),
                    {"incumbent": {"errors": {"judge_unparseable": 11}}, "candidate": {"errors": {}}})
    assert not judged["passed"]
    assert any("parsed for 1 of 12 items (8%, minimum 90%)" in r for r in judged["reasons"])
    # 11 of 12 parsed on each side clears min_parsed; compared on the items judged on both sides.
    most = decide({"judge": [0.25] * 11 + [None]}, {"judge": [0.75] * 11 + [None]}, CATS, GateRule(metric="judge"))
    assert most["passed"] and most["gains"]["judge"]["n"] == 11


def test_shipped_train_configs_load():
    from pathlib import Path

    import yaml

    from sluice.train.config import load_config

    folder = Path(__file__).resolve().parents[1] / "examples" / "train"
    configs = [p for p in sorted(folder.glob("*.yaml")) if "train" in (yaml.safe_load(p.read_text()) or {})]
    assert {p.stem for p in configs} == {"sft", "dpo", "kto", "orpo", "simpo", "grpo"}
    for path in configs:
        cfg = load_config(path.stem, yaml_path=path)
        assert cfg.model and cfg.data and cfg.output_dir, path
    for name in ("accelerate_fsdp.yaml", "accelerate_deepspeed.yaml"):
        assert yaml.safe_load((folder / name).read_text())["distributed_type"] in ("FSDP", "DEEPSPEED")
