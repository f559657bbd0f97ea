"""Structure-aware redaction of tools (curate/pii/tools.py): tool schemas are never rewritten,
schema-constrained arguments keep their values, format-typed ones get typed surrogates shared with
the tool result, and every call that validated before redaction still validates after it."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import polars as pl
import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii import tools as pii_tools  # noqa: E402
from sluice.curate.pii.tools import named_parts  # noqa: E402
from sluice.curate.pii.fields import texts  # noqa: E402
from sluice.curate.pii.stage import PiiDetect, RedactPii  # noqa: E402
from sluice.curate.stages.trace_check import trace_problems  # noqa: E402

REFERENCE = Path(__file__).parent / "data" / "reference" / "formats"

TOOLS = [{"type": "function", "function": {
    "name": "update_order", "description": "Update an order for the customer Jane Doe asked about",
    "parameters": {"type": "object", "required": ["order_id", "status", "customer_email"], "properties": {
        "order_id": {"type": "integer"},
        "status": {"type": "string", "enum": ["Paris", "shipped", "cancelled"]},
        "customer_email": {"type": "string", "format": "email", "description": "e-mail of the customer"},
        "gift": {"type": "boolean"},
        "description": {"type": "string", "description": "free-text note for the courier"}}}}}]
ARGS = {"order_id": 4412093, "status": "Paris", "customer_email": "jane.doe@gmail.com", "gift": True,
        "description": "Leave it with Jane Doe at 12 Rue de Rivoli, Paris"}


def _row() -> dict:
    return {"messages": [
        {"role": "user", "content": "I'm Jane Doe (jane.doe@gmail.com), please update order 4412093 for Paris.",
         "name": None, "tool_calls": None, "tool_call_id": None, "extra": None},
        {"role": "assistant", "content": None, "name": None, "tool_call_id": None, "extra": None,
         "tool_calls": [{"id": "call_1", "type": "function",
                         "function": {"name": "update_order", "arguments": json.dumps(ARGS)}}]},
        {"role": "tool", "content": json.dumps({"ok": True, "confirmation_sent_to": "jane.doe@gmail.com"}),
         "name": None, "tool_calls": None, "tool_call_id": "call_1", "extra": None},
        {"role": "assistant", "content": "Done, Jane Doe: a confirmation went to jane.doe@gmail.com.",
         "name": None, "tool_calls": None, "tool_call_id": None, "extra": None}],
        "tools": json.dumps(TOOLS), "feedback": None, "metadata": None}


def test_only_descriptions_and_unconstrained_arguments_are_text():
    row = _row()
    keys = {k for k, _, _ in texts(row)}
    tools = json.loads(row["tools"])  # fields' paths are positional (#i: an object's i-th key): name them
    tool_keys = {"/".join(["tools", *named_parts(tools, k[len("tools"):])[0]]) for k in keys if k.startswith("tools/")}
    assert tool_keys == {"tools/0/function/description",  # descriptions only: names, enum, types are schema
                         "tools/0/function/parameters/properties/customer_email/description",
                         "tools/0/function/parameters/properties/description/description"}
    args = {"/".join(named_parts(ARGS, "/" + k.split("/", 1)[1])[0]) for k in keys if ".tc0.args" in k}
    assert args == {"customer_email", "description"}  # enum, integer, boolean: schema-constrained


def _redact(rows: list[dict]) -> pl.DataFrame:
    df = pl.DataFrame(rows)
    df = pl.concat([df, PiiDetect({"nlp": "auto"}).score(df)], how="horizontal")
    return RedactPii({"default": "placeholder"}).transform(df)


def test_redaction_keeps_schema_types_the_email_and_the_call_valid():
    out = _redact([_row()]).to_dicts()[0]
    assert out["_error"] is None
    tools = json.loads(out["tools"])
    params = tools[0]["function"]["parameters"]
    assert tools[0]["function"]["name"] == "update_order"
    assert params["properties"]["status"]["enum"] == ["Paris", "shipped", "cancelled"]  # enum values kept
    assert params["required"] == ["order_id", "status", "customer_email"]
    assert "Jane Doe" not in tools[0]["function"]["description"]  # the free-text description is redacted
    msgs = out["messages"]
    args = json.loads(msgs[1]["tool_calls"][0]["function"]["arguments"])
    assert args["status"] == "Paris" and args["order_id"] == 4412093 and args["gift"] is True
    email = args["customer_email"]
    assert email != "jane.doe@gmail.com" and "<" not in email
    jsonschema.validate(args, params, format_checker=jsonschema.FormatChecker())  # a valid e-mail, valid call
    assert "Jane Doe" not in args["description"]
    assert json.loads(msgs[2]["content"])["confirmation_sent_to"] == email  # same surrogate in the result
    assert email in msgs[3]["content"] and "jane.doe@gmail.com" not in json.dumps(out)
    assert not trace_problems(msgs, out["tools"])


def test_real_tool_traces_keep_valid_calls_and_untouched_schemas():
    """LLaMA-Factory's glaive demo, first 40 (real tool schemas and calls): redaction leaves every tool
    definition but its descriptions untouched and every valid call valid."""
    from sluice.curate.ingest import ingest
    from sluice.store import Store

    import tempfile

    store = Store(Path(tempfile.mkdtemp()) / "s")
    version = ingest([str(REFERENCE / "llamafactory" / "glaive_toolcall_en_demo.json")], "raw", store=store).version
    rows = version.read().to_pylist()[:40]
    out = _redact(rows).to_dicts()
    assert all(r["_error"] is None for r in out)
    for before, after in zip(rows, out):
        valid_before = not trace_problems(before["messages"], before["tools"])
        if valid_before:
            assert not trace_problems(after["messages"], after["tools"]), before["id"]
        if before["tools"]:
            b, a = json.loads(before["tools"]), json.loads(after["tools"])
            strip = lambda t: json.loads(json.dumps(t), object_hook=lambda d: {  # noqa: E731
                k: v for k, v in d.items() if k != "description"})
            assert strip(b) == strip(a)
    assert len(out) == 40


def test_typed_surrogates_follow_format_and_are_stable():
    s = {"type": "string", "format": "email"}
    assert pii_tools.typed_surrogate(s, "a@b.com") == pii_tools.typed_surrogate(s, "a@b.com")
    assert pii_tools.typed_surrogate(s, "a@b.com") != pii_tools.typed_surrogate(s, "c@d.com")
    checker = jsonschema.FormatChecker()
    for fmt, original in (("date", "1984-03-02"), ("uuid", "a"), ("ipv4", "10.0.0.1"), ("uri", "http://x.y")):
        value = pii_tools.typed_surrogate({"format": fmt}, original)
        jsonschema.validate(value, {"type": "string", "format": fmt}, format_checker=checker)
    shaped = pii_tools.typed_surrogate({"pattern": r"^[A-Z]{2}\d{6}$"}, "AB123456")
    assert shaped != "AB123456" and jsonschema.Draft202012Validator({"pattern": r"^[A-Z]{2}\d{6}$"}).is_valid(shaped)
