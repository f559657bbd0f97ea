"""`sluice drift --emit uncovered` feeds `sluice label push` against a REAL argilla-server
(tests/argilla_harness.py: argilla-server 2.8 in its own venv, SQLite, the SQL-backed search engine).

The new window is real text redacted by the real pii_detect/redact_pii stages (default NER engine):
held-out English Alpaca instructions plus GSM8K questions (sources: tests/data/reference/SOURCE.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import argilla_harness as harness
import numpy as np
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.curate.ingest import ingest
from sluice.recipe import Recipe
from sluice.runner import run

REF = Path(__file__).parent / "data" / "reference"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from harness.serving(tmp_path_factory.mktemp("argilla"))


def _write(folder: Path, name: str, rows: list[dict]) -> str:
    p = folder / f"{name}.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(p)


@pytest.mark.slow
def test_emitted_uncovered_rows_are_pushed_to_argilla(server, store, tmp_path, monkeypatch):
    harness.use(server, monkeypatch)
    chat = lambda u, a: {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]}  # noqa: E731
    en = [chat((r["instruction"] + "\n" + r["input"]).strip(), r["output"])
          for r in json.loads((REF / "formats" / "llamafactory" / "alpaca_en_demo.json").read_text())]
    gsm = [json.loads(x) for x in (REF / "evalsets" / "gsm8k" / "test.jsonl").read_text().splitlines()][:30]
    order = np.random.default_rng(0).permutation(len(en))
    ingest([_write(tmp_path, "train", [en[i] for i in order[:400]])], to="train", store=store, workers=1)
    window = [en[i] for i in order[400:460]] + [chat(g["question"], g["answer"]) for g in gsm]
    ingest([_write(tmp_path, "raw", window)], to="raw", store=store, workers=1)
    stages = Recipe(stages=[{"stage": "language"}, {"stage": "pii_detect"}, {"stage": "redact_pii"}]).build()
    clean = run(Recipe(), stages, store=store, input_ref="raw", output="day").version

    runner = CliRunner()
    res = runner.invoke(app, ["drift", clean.ref, "--against", "train@v1", "--root", str(store.root), "--json",
                              "--emit", "uncovered", "--to", "next-to-label"])
    assert res.exit_code == 1, res.output  # the math topic crosses
    body = json.loads(res.stdout)
    emitted = store.resolve(body["emitted"])
    assert emitted.manifest["parents"] == [clean.ref]
    uncovered = set(emitted.read(columns=["id"]).column("id").to_pylist())
    questions = {g["question"] for g in gsm}
    raw = store.resolve("raw@v1")  # ids survive the redaction; the text does not (names become placeholders)
    firsts = {r["id"]: r["messages"][0]["content"] for r in raw.read(columns=["id", "messages"]).to_pylist()}
    assert sum(firsts[i] in questions for i in uncovered) >= 24  # most of the 30 planted questions

    res = runner.invoke(app, ["label", "push", emitted.ref, "--dataset", "drift-uncovered", "--root", str(store.root)])
    assert res.exit_code == 0, res.output
    _, ids = harness.records_by_external_id(server, "drift-uncovered")
    assert ids and set(ids) <= uncovered
    assert len(ids) >= 20
