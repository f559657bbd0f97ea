"""The embed stage builds its texts with one polars expression; it must say what conversation_text says."""

import polars as pl

from sluice.curate.quality.text import conversation_text, conversation_text_expr

ROWS = [
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
     {"role": "assistant", "content": "hello"}, {"role": "user", "content": "again\nand"}],
    [{"role": "user", "content": ""}, {"role": "assistant", "content": None}, {"role": "tool", "content": "42"}],
    [{"role": None, "content": "orphan"}, {"role": "assistant", "content": "only me"}],
    [],
    None,
]


def test_expression_matches_conversation_text():
    df = pl.DataFrame({"messages": ROWS}, schema={"messages": pl.List(pl.Struct(
        {"role": pl.String, "content": pl.String}))})
    for roles in [("user",), ("user", "assistant"), ("assistant", "tool")]:
        got = df.select(conversation_text_expr(roles)).to_series().to_list()
        assert got == [conversation_text(m, roles) for m in df["messages"].to_list()]
    assert df.select(conversation_text_expr()).to_series().to_list()[0] == "hi\nhello\nagain\nand"
