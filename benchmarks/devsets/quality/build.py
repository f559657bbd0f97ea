"""Labelled dev sets for the learned quality scorer, from real data this project did not generate.

Each set is a JSONL of conversations (``messages``) with ``helpful`` (bool: the preferred / helpful
side; ``metadata.helpful`` once ingested) and ``group`` (rows that share a prompt share a group, so a half/half
split never puts one side of a pair in each half):

* ``hh_harmless``  — Anthropic hh-rlhf harmless-base test: chosen (label true) vs rejected
  transcripts of the same dialogue (human preference; MIT).
* ``dpo_en``       — LLaMA-Factory dpo_en_demo: chosen vs rejected answer to one prompt (Apache-2.0).
* ``kto_en``       — LLaMA-Factory kto_en_demo: the published desirable/undesirable label (Apache-2.0).
* ``alpaca_gpt4``  — Alpaca instructions present both in LLaMA-Factory's alpaca_en_demo (GPT-4
  answers, label true) and in the original Alpaca random 9k (text-davinci-003 answers, label
  false): Peng et al. 2023 ("Instruction Tuning with GPT-4") found the GPT-4 answers preferred
  for helpfulness by human and GPT-4 raters.
* ``dpo_zh``       — LLaMA-Factory dpo_zh_demo, the Chinese counterpart of dpo_en (for the CJK check).

    python benchmarks/devsets/quality/build.py [--data /work/shared/data] [--out benchmarks/devsets/quality/out]

The output is rebuilt, not committed (``out/`` is gitignored).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
from pathlib import Path

import sys

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from paths import SHARED  # noqa: E402

HERE = Path(__file__).resolve().parent
_HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def _row(messages: list[dict], label: bool, group: str, source: str) -> dict:
    body = json.dumps([messages, label], sort_keys=True)
    return {"id": f"{source}-{hashlib.sha256(body.encode()).hexdigest()[:16]}", "messages": messages,
            "helpful": bool(label), "group": f"{source}:{group}", "devset": source}


def hh_messages(transcript: str) -> list[dict]:
    parts = _HH_TURN.split("\n\n" + transcript.lstrip("\n"))
    out = []
    for who, text in zip(parts[1::2], parts[2::2]):
        out.append({"role": "user" if who == "Human" else "assistant", "content": text.strip()})
    return out


def hh_harmless(data: Path) -> list[dict]:
    rows = []
    with gzip.open(data / "preferences/hh_rlhf_harmless/harmless-base_test.jsonl.gz", "rt") as f:
        for i, line in enumerate(f):
            rec = json.loads(line)
            for side, label in (("chosen", True), ("rejected", False)):
                msgs = hh_messages(rec[side])
                if msgs and msgs[-1]["role"] == "assistant":
                    rows.append(_row(msgs, label, str(i), "hh_harmless"))
    return rows


def _sharegpt(turns: list[dict]) -> list[dict]:
    role = {"human": "user", "gpt": "assistant", "system": "system"}
    return [{"role": role.get(t["from"], t["from"]), "content": t["value"]} for t in turns]


def dpo(data: Path, name: str, source: str) -> list[dict]:
    rows = []
    for i, rec in enumerate(json.loads((data / f"formats/llamafactory/{name}.json").read_text())):
        prompt = _sharegpt(rec["conversations"])
        for side, label in (("chosen", True), ("rejected", False)):
            rows.append(_row(prompt + _sharegpt([rec[side]]), label, str(i), source))
    return rows


def kto_en(data: Path) -> list[dict]:
    recs = json.loads((data / "formats/llamafactory/kto_en_demo.json").read_text())
    return [_row([{"role": m["role"], "content": m["content"]} for m in rec["messages"]], rec["label"], str(i), "kto_en")
            for i, rec in enumerate(recs)]


def _alpaca_user(rec: dict) -> str:
    return rec["instruction"].strip() + (("\n\n" + rec["input"].strip()) if rec.get("input", "").strip() else "")


def alpaca_gpt4(data: Path) -> list[dict]:
    gpt4 = json.loads((data / "formats/llamafactory/alpaca_en_demo.json").read_text())
    davinci = {(r["instruction"].strip(), r["input"].strip()): r
               for r in json.loads((data / "instructions/alpaca_random_9k/random_9k.json").read_text())}
    rows = []
    for rec in gpt4:
        old = davinci.get((rec["instruction"].strip(), rec["input"].strip()))
        if old is None or old["output"].strip() == rec["output"].strip():
            continue
        user = {"role": "user", "content": _alpaca_user(rec)}
        group = hashlib.sha256(user["content"].encode()).hexdigest()[:12]
        for out, label in ((rec["output"], True), (old["output"], False)):
            rows.append(_row([user, {"role": "assistant", "content": out}], label, group, "alpaca_gpt4"))
    return rows


BUILDERS = {"hh_harmless": hh_harmless, "dpo_en": lambda d: dpo(d, "dpo_en_demo", "dpo_en"), "kto_en": kto_en,
            "alpaca_gpt4": alpaca_gpt4, "dpo_zh": lambda d: dpo(d, "dpo_zh_demo", "dpo_zh")}


def build(data: Path, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fn in BUILDERS.items():
        rows = fn(data)
        paths[name] = out / f"{name}.jsonl"
        with paths[name].open("w") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=HERE / "out")
    a = ap.parse_args()
    for name, p in build(a.data, a.out).items():
        lines = p.read_text().splitlines()
        pos = sum(json.loads(x)["helpful"] for x in lines)
        print(f"{name}: {len(lines)} rows, {pos} labelled true → {p}")


if __name__ == "__main__":
    main()
