"""Record kinds: every kind's validate() accepts a good table and names column and row of a bad one."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from sluice.errors import SchemaValidationError
from sluice.schemas import CONVERSATION, KINDS, KTO, PREFERENCE, QUARANTINE, REJECTED, get

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=timezone.utc)


def msg(role: str, content: str = "hello") -> dict:
    return {"role": role, "content": content, "name": None, "tool_calls": None, "tool_call_id": None, "extra": None}


def chat(*roles: str) -> list[dict]:
    return [msg(r, f"turn {i}") for i, r in enumerate(roles)]


def good_rows(kind: str, n: int = 3) -> list[dict]:
    rows = []
    for i in range(n):
        base = {"id": f"id{i}", "source": "test", "source_id": str(i), "created_at": NOW, "metadata": None}
        if kind == "conversation":
            rows.append({**base, "messages": chat("system", "user", "assistant"), "tools": None,
                         "feedback": {"thumb": [1, -1, None][i % 3], "rating": None, "edited": None, "comment": None}})
        elif kind == "preference":
            rows.append({**base, "prompt": chat("user"), "chosen": chat("assistant"), "rejected": chat("assistant"),
                         "origin": "edit", "score_chosen": 1.0, "score_rejected": 0.0, "source_ids": ["a", "b"]})
        elif kind == "kto":
            rows.append({**base, "prompt": chat("user"), "completion": chat("assistant"), "label": i % 2 == 0,
                         "origin": "rating", "source_ids": ["a"]})
        elif kind == "rejected":
            rows.append({"id": f"id{i}", "stage": "length_filter", "reason": "too_short_user", "detail": None,
                         "duplicate_of": None})
        elif kind == "quarantine":
            rows.append({"source_file": "x.jsonl", "line": i + 1, "row": i, "stage": "ingest",
                         "error_kind": "bad_json", "field": None, "error": "malformed JSON", "raw": b"{",
                         "raw_size": 1, "id": None})
    return rows


def table(kind: str, rows: list[dict] | None = None) -> pa.Table:
    return pa.Table.from_pylist(rows if rows is not None else good_rows(kind), schema=get(kind).schema)


def problems_of(kind: str, t: pa.Table) -> str:
    with pytest.raises(SchemaValidationError) as info:
        get(kind).validate(t)
    err = info.value
    assert err.problems, "a validation error lists its problems"
    return "\n".join(err.problems)


# A required (non-nullable) column of every kind, to null out, and a column to break the type of.
REQUIRED = {"conversation": "source", "preference": "origin", "kto": "label", "rejected": "reason",
            "quarantine": "error_kind"}
MESSAGE_COLUMNS = {"conversation": ["messages"], "preference": ["prompt", "chosen", "rejected"],
                   "kto": ["prompt", "completion"]}
NON_EMPTY = {"conversation": ["messages"], "preference": ["chosen", "rejected"], "kto": ["completion"]}


def test_every_kind_is_covered():
    assert set(KINDS) == set(REQUIRED)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_good_table_passes(kind):
    get(kind).validate(table(kind))
    get(kind).validate(get(kind).empty())


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_extra_stage_columns(kind):
    t = table(kind).append_column("len_user_chars", pa.array([1, 2, 3], pa.int64()))
    if get(kind).extra_columns_allowed:
        get(kind).validate(t)
    else:
        assert "len_user_chars" in problems_of(kind, t)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_missing_column(kind):
    column = REQUIRED[kind]
    t = table(kind).drop_columns([column])
    text = problems_of(kind, t)
    assert f"'{column}'" in text and "missing" in text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wrong_type(kind):
    t = table(kind)
    column = "id" if kind != "quarantine" else "row"
    idx = t.column_names.index(column)
    t = t.set_column(idx, pa.field(column, pa.float64()), pa.array([1.0, 2.0, 3.0]))
    text = problems_of(kind, t)
    assert f"'{column}'" in text and "double" in text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_null_in_required_column(kind):
    column = REQUIRED[kind]
    rows = good_rows(kind)
    rows[2][column] = None
    # Build from a nullable copy of the schema: Arrow itself would refuse the null otherwise.
    schema = get(kind).schema
    loose = pa.schema([f.with_nullable(True) for f in schema])
    t = pa.Table.from_pylist(rows, schema=loose)
    text = problems_of(kind, t)
    assert f"'{column}' row 2" in text and "null" in text


@pytest.mark.parametrize("kind,column", [(k, c) for k, cols in MESSAGE_COLUMNS.items() for c in cols])
def test_unknown_role(kind, column):
    rows = good_rows(kind)
    position = len(rows[1][column])
    rows[1][column] = rows[1][column] + [msg("wizard")]
    text = problems_of(kind, table(kind, rows))
    assert f"'{column}' row 1" in text and f"message {position} has an unknown role" in text
    assert "wizard" not in text  # schema errors never echo row values


@pytest.mark.parametrize("kind", sorted(MESSAGE_COLUMNS))
def test_unknown_role_reports_the_right_row_after_empty_lists(kind):
    # list_parent_indices must map the flattened message back to its row, across rows of different lengths.
    column = MESSAGE_COLUMNS[kind][0]
    rows = good_rows(kind, 5)
    rows[1][column] = chat("user", "assistant", "user", "assistant")
    rows[3][column] = [msg("user"), msg("robot")]
    text = problems_of(kind, table(kind, rows))
    assert f"'{column}' row 3" in text


@pytest.mark.parametrize("kind,column", [(k, c) for k, cols in NON_EMPTY.items() for c in cols])
def test_empty_messages(kind, column):
    rows = good_rows(kind)
    rows[2][column] = []
    text = problems_of(kind, table(kind, rows))
    assert f"'{column}' row 2" in text and "empty" in text


def test_bad_feedback_thumb():
    rows = good_rows("conversation", 4)
    rows[3]["feedback"] = {"thumb": 5, "rating": None, "edited": None, "comment": None}
    text = problems_of("conversation", table("conversation", rows))
    assert "'feedback.thumb' row 3" in text


def test_null_feedback_is_fine():
    rows = good_rows("conversation")
    rows[0]["feedback"] = None
    CONVERSATION.validate(table("conversation", rows))


def test_error_message_names_kind_and_never_quotes_content():
    rows = good_rows("conversation")
    rows[0]["messages"] = [msg("user", "my SSN is 123-45-6789"), msg("narrator", "secret-value-xyz")]
    with pytest.raises(SchemaValidationError) as info:
        CONVERSATION.validate(table("conversation", rows), where="raw@v1")
    text = str(info.value)
    assert "raw@v1" in text and f"conversation v{CONVERSATION.version}" in text
    assert "123-45-6789" not in text and "secret-value-xyz" not in text


def test_several_problems_reported_at_once():
    t = table("preference").drop_columns(["origin", "source"])
    text = problems_of("preference", t)
    assert "'origin'" in text and "'source'" in text


def test_schemas_round_trip_through_kinds():
    for schema in (CONVERSATION, PREFERENCE, KTO, REJECTED, QUARANTINE):
        assert KINDS[schema.kind] is schema
        assert schema.version >= 1
        assert schema.empty().schema == schema.schema


@pytest.mark.parametrize("kind", sorted(MESSAGE_COLUMNS))
def test_null_role_inside_messages(kind):
    column = MESSAGE_COLUMNS[kind][-1]
    rows = good_rows(kind)
    rows[1][column][0]["role"] = None
    text = problems_of(kind, table(kind, rows))
    assert f"'{column}' row 1" in text and "role" in text
