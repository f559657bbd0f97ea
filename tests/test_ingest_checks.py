"""Ingest warnings (curate/ingest/checks.py): per-row flags and manifest counts, nothing dropped."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from sluice.curate.ingest import ingest
from sluice.curate.ingest.checks import CheckOptions

DATA = Path(__file__).parent / "data"


def _flags(version) -> list:
    return pl.from_arrow(version.read())["ingest_flags"].to_list()


def test_cookbook_toy_chat_matches_the_cookbook_checker(store):
    """The counts OpenAI's own checker printed for its sample (4,096-token limit, its notebook's)."""
    expected = json.loads((DATA / "ingest_checks/EXPECTED_from_cookbook_notebook.json").read_text())["stored_outputs"]
    result = ingest([str(DATA / "ingest_checks/toy_chat_fine_tuning.jsonl")], "toy", store=store,
                    check=CheckOptions(max_tokens=4096))
    warnings = result.version.manifest["ingest"]["warnings"]
    assert warnings["missing_system"] == expected["num_examples_missing_system_message"] == 1
    assert warnings["no_user_turn"] == expected["num_examples_missing_user_message"] == 1
    assert warnings["over_token_limit"] == expected["examples_over_4096_token_limit"] == 1
    assert result.kept == 5  # warnings keep the rows
    flags = _flags(result.version)
    assert flags[3] == ["no_user_turn"] and flags[2] == ["missing_system"] and flags[4] == ["over_token_limit"]
    assert flags[0] is None and flags[1] is None
    assert result.version.manifest["stages"][0]["counters"]["no_user_turn"] == 1
    card = (result.version.path / "DATACARD.md").read_text()
    assert "## Ingest warnings" in card and "| over_token_limit |" in card


def test_consecutive_roles_and_tool_flows(store, tmp_path):
    rows = [
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                      {"role": "assistant", "content": "Anything else?"}]},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"},
                      {"role": "assistant", "content": "Yes?"}]},
        # an agent's call, the tool's result and the final answer: the normal shape, no flag
        {"messages": [{"role": "system", "content": "You call tools."}, {"role": "user", "content": "Weather?"},
                      {"role": "assistant", "content": None, "tool_calls": [
                          {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
                      {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                      {"role": "assistant", "content": "It is sunny."}]},
    ]
    path = tmp_path / "chats.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = ingest([str(path)], "chats", store=store)
    assert _flags(result.version) == [["consecutive_same_role", "missing_system"],
                                      ["consecutive_same_role", "missing_system"], None]
    assert result.version.manifest["ingest"]["warnings"] == {"consecutive_same_role": 2, "missing_system": 2}


def test_preference_empty_answers_and_token_estimate(store, tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": "Pick one."}], "chosen": [{"role": "assistant", "content": "  "}],
         "rejected": [{"role": "assistant", "content": "B"}]},
        {"prompt": [{"role": "user", "content": "x " * 500}], "chosen": [{"role": "assistant", "content": "A"}],
         "rejected": [{"role": "assistant", "content": ""}]},
    ]
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = ingest([str(path)], "prefs", store=store, check=CheckOptions(max_tokens=200))
    flags = _flags(result.version)
    assert "empty_chosen" in flags[0] and "empty_rejected" not in flags[0]
    assert {"empty_rejected", "over_token_limit"} <= set(flags[1])  # 1,000 chars / 4 > 200 tokens
    assert result.version.manifest["ingest"]["warnings"]["missing_system"] == 2


def test_token_limit_with_a_tokenizer_built_here(store, tmp_path):
    """A tokenizer given by path counts real tokens: one token per word with this word-level vocab."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "a": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]").save_pretrained(tmp_path / "tok")
    rows = [{"messages": [{"role": "user", "content": "a " * 30}, {"role": "assistant", "content": "a"}]},
            {"messages": [{"role": "user", "content": "aaaaaaaaaa " * 5}, {"role": "assistant", "content": "a"}]}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = ingest([str(path)], "c", store=store, check=CheckOptions(max_tokens=20, tokenizer=str(tmp_path / "tok")))
    flags = _flags(result.version)
    assert "over_token_limit" in flags[0]  # 31 tokens
    assert "over_token_limit" not in flags[1]  # 55 characters, but 6 tokens


def test_cli_ingest_prints_the_warnings(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from sluice.cli import app, common

    monkeypatch.setattr(common.console, "_width", 200)
    out = CliRunner().invoke(app, ["ingest", str(DATA / "ingest_checks/toy_chat_fine_tuning.jsonl"), "--to", "toy",
                                   "--root", str(tmp_path / "store")])
    assert out.exit_code == 0, out.output
    assert "warnings: no_user_turn 1, missing_system 1" in out.output
