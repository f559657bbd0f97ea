"""GRPO's verifiable rewards on hand-written completions (no model), and the judge reward through a real
OpenAI-compatible server on 127.0.0.1 is covered by the judge's own tests; here its guard is checked."""

from __future__ import annotations

import json

import pytest

TOOLS = json.dumps([{"type": "function", "function": {
    "name": "lookup", "parameters": {"type": "object", "properties": {"id": {"type": "integer"}},
                                     "required": ["id"], "additionalProperties": False}}}])
CALL = '<tool_call>{"name": "lookup", "arguments": {"id": 7}}</tool_call>'


def msg(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_exact_match_on_text_rows_only():
    from sluice.train.rewards import exact_match

    got = exact_match([msg("The answer is  42."), "no", msg(CALL)], reference=["the answer is 42.", "yes", CALL])
    assert got == [1.0, 0.0, None]  # a tool-call row is the tool-call reward's


def test_tool_call_reward_checks_schema_and_reference():
    from sluice.train.rewards import tool_call

    completions = [
        msg(CALL),                                                                   # the reference call
        msg('<tool_call>{"name": "lookup", "arguments": {"id": 8}}</tool_call>'),   # valid, other call
        msg('<tool_call>{"name": "lookup", "arguments": {"id": "7"}}</tool_call>'),  # schema: id is an integer
        msg('<tool_call>{"name": "delete", "arguments": {"id": 7}}</tool_call>'),   # tool not offered
        msg('<tool_call>{"name": "lookup", "arguments": {"id": 7}</tool_call>'),    # broken JSON
        msg("order 7 has shipped"),                                                  # no call at all
        msg('<tool_call>{"name": "lookup", "arguments": "{\\"id\\": 7}"}</tool_call>'),  # arguments as JSON string
        msg("plain"),                                                                # text row: not applicable
    ]
    refs = [CALL] * 7 + ["plain"]
    assert tool_call(completions, reference=refs, tools=[TOOLS] * 8) == [1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 1.0, None]


def test_format_reward():
    from sluice.train.rewards import format_reward

    refs = [CALL, CALL, "text", "text", "text", CALL]
    completions = [msg(CALL), msg("sure"), msg("fine"), msg(""), msg("fine<|im_end|><|im_start|>user"),
                   msg('<tool_call>{"name": "lookup"')]
    assert format_reward(completions, reference=refs) == [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_judge_reward_needs_a_judge_and_checks_weights(tmp_path):
    from sluice.errors import RecipeError
    from sluice.train.config import load_config
    from sluice.train.grpo import reward_funcs

    cfg = load_config("grpo", model="m", data="d@v1", overrides=["rewards=[exact_match, judge]"])
    with pytest.raises(RecipeError, match="judge reward needs judge_llm"):
        reward_funcs(cfg, store=None)
    cfg = load_config("grpo", model="m", data="d@v1", overrides=["reward_weights=[1.0]"])
    with pytest.raises(RecipeError, match="1 reward_weights for 3 rewards"):
        reward_funcs(cfg, store=None)
    assert [f.__name__ for f in reward_funcs(load_config("grpo"), store=None)] == ["exact_match", "tool_call",
                                                                                  "format"]


def test_remote_judge_reward_refused_on_unredacted_data(tmp_path):
    """The judge reward goes through the same privacy guard as the eval gate: a non-loopback judge does not
    see a dataset without redaction in its lineage (refused before any request or weight load)."""
    from train_helpers import ANSWER, conv_rows, memo_prompts, publish

    from sluice.privacy import NotRedacted
    from sluice.store import Store
    from sluice.train.config import load_config
    from sluice.train.grpo import reward_funcs

    store = Store(tmp_path / "store")
    publish(store, "memo", "conversation", conv_rows(memo_prompts(0, 2), [ANSWER] * 2, "m"))
    llm = tmp_path / "llm.yaml"
    llm.write_text("llm:\n  backend: openai\n  model: judge\n  base_url: https://judge.example.com/v1\n")
    cfg = load_config("grpo", model="m", data="memo@v1", overrides=["rewards=[judge]", f"judge_llm={llm}"])
    with pytest.raises(NotRedacted, match="refusing to send memo@v1"):
        reward_funcs(cfg, store)
