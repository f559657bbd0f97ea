"""Every text-bearing field is redacted by default; an opt-out is explicit and recorded."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("presidio_analyzer")

import pyarrow as pa  # noqa: E402

from sluice.apply import apply_stage  # noqa: E402
from sluice.curate.pii.stage import PiiDetect, RedactPii  # noqa: E402
from sluice.schemas import CONVERSATION  # noqa: E402

EMAIL, PHONE, CARD = "maria.gonzalez@example.org", "+44 20 7946 0958", "4111 1111 1111 1111"
NAME, IBAN, ADDRESS = "Maria Gonzalez", "DE89370400440532013000", "Calle de Alcalá 42"
TOOLS = [{"type": "function", "function": {
    "name": "lookup_customer", "description": f"Look up a customer, e.g. {EMAIL}",
    "parameters": {"type": "object", "properties": {
        "email": {"type": "string", "description": "customer email", "default": EMAIL, "examples": [PHONE]},
        "tier": {"type": "string", "enum": ["gold", "platinum"]}}}}}]
ROW = {
    "id": "c1", "source": "t", "source_id": "1",
    "messages": [
        {"role": "user", "content": f"Hi, I'm {NAME}. Update my IBAN to {IBAN}.", "name": "maria_g"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "lookup_customer", "arguments": json.dumps({"email": EMAIL, "filters": {"phone": PHONE}})}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "lookup_customer",
         "content": json.dumps({"customer": NAME, "shipping_address": ADDRESS, "card": CARD, "id": 12})},
        {"role": "assistant", "content": "Done, your details are updated."}],
    "tools": json.dumps(TOOLS),
    "feedback": {"thumb": 1, "rating": None, "edited": f"Done {NAME}, card {CARD} noted.",
                 "comment": f"call me on {PHONE}"},
    "metadata": json.dumps({"user": {"email": EMAIL, "contacts": [PHONE]}, "app": "support-bot", "note": IBAN}),
}
VALUES = (EMAIL, PHONE, CARD, NAME, IBAN, ADDRESS, "maria_g")


def _redact(detect: PiiDetect, row: dict = ROW) -> tuple[dict, dict]:
    table = pa.Table.from_pylist([row], schema=CONVERSATION.schema)
    detected = apply_stage(detect, f"f-{id(detect)}", table, 0)[0]
    out, _, quarantined, _ = apply_stage(RedactPii(), f"r-{id(detect)}", detected, 0)
    assert quarantined is None or quarantined.num_rows == 0
    return out.to_pylist()[0], detect.describe()


def test_pii_in_every_field_is_gone_and_structure_kept():
    row, info = _redact(PiiDetect())
    text = json.dumps(row, ensure_ascii=False)
    assert not [v for v in VALUES if v in text]
    tools = json.loads(row["tools"])  # still valid JSON, keys and tool names kept
    assert tools[0]["function"]["name"] == "lookup_customer"
    assert set(tools[0]["function"]["parameters"]["properties"]) == {"email", "tier"}
    assert tools[0]["function"]["parameters"]["properties"]["tier"]["enum"] == ["gold", "platinum"]  # schema, kept
    result = json.loads(row["messages"][2]["content"])
    assert result["id"] == 12 and set(result) == {"customer", "shipping_address", "card", "id"}
    assert json.loads(row["messages"][1]["tool_calls"][0]["function"]["arguments"])["filters"]["phone"].startswith("<")
    meta = json.loads(row["metadata"])
    assert meta["app"] == "support-bot" and set(meta["user"]) == {"email", "contacts"}
    assert info["fields"] == ["content", "tool_results", "name", "tool_calls", "extra", "tools", "feedback", "metadata",
                              "source"]


def test_opting_out_is_explicit_and_recorded():
    """Opted-out fields are not analyzed (values found elsewhere are still swept from them)."""
    tools = [{"type": "function", "function": {"name": "escalate", "description": "write to ops.lead@corp.example"}}]
    meta = {"note": "+49 30 12345678", "user": {"email": EMAIL}}
    row, info = _redact(PiiDetect(skip_fields=["tools", "metadata/note"]),
                        {**ROW, "tools": json.dumps(tools), "metadata": json.dumps(meta)})
    assert "ops.lead@corp.example" in row["tools"] and "+49 30 12345678" in row["metadata"]  # what was opted out stays
    assert EMAIL not in row["metadata"]  # … and nothing else does
    assert "tools" not in info["fields"] and info["skipped_fields"] == ["tools", "metadata/note"]
