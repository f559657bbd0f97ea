"""The eval gate: base vs tuned on a frozen golden set, a promotion rule, a decision.

``evaluate(adapter_dir, golden_ref, store)`` generates greedily with the base model (adapter
disabled — same weights in memory) and the tuned model for every golden prompt, scores both with
exact match and ROUGE-L F1 (and an LLM judge through an OpenAI-compatible endpoint when
``judge_url`` is given), applies the promotion rule (``GateRule`` in config.py) overall and per
category, writes ``eval_results.json`` and re-renders the model card. The CLI exits 1 when the
gate fails.

The golden set is frozen: if the run recorded one at training time, its content hash must match
now. If it did not, the recorded training datasets are checked for overlap here instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from sluice.errors import DataError

from .config import GateRule

_WORD = re.compile(r"\w+", re.UNICODE)


# -- metrics -----------------------------------------------------------------------------------

def _norm(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .!")


def exact_match(prediction: str, reference: str) -> float:
    return float(_norm(prediction) == _norm(reference))


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (longest common subsequence, O(n*m) DP)."""
    p, r = _WORD.findall(prediction.lower()), _WORD.findall(reference.lower())
    if not p or not r:
        return float(p == r)
    prev = [0] * (len(r) + 1)
    for a in p:
        cur = [0]
        for j, b in enumerate(r, 1):
            cur.append(prev[j - 1] + 1 if a == b else max(prev[j], cur[j - 1]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def judge_scores(items, predictions: list[str], url: str, model: str, api_key: str = "none") -> list[float]:
    """0-1 scores from an LLM judge on an OpenAI-compatible endpoint (vLLM, Ollama, TGI, OpenAI)."""
    from openai import OpenAI

    client = OpenAI(base_url=url, api_key=api_key)
    scores = []
    for item, pred in zip(items, predictions):
        question = "\n".join(f"{m['role']}: {m['content']}" for m in item.prompt)
        reply = client.chat.completions.create(model=model, temperature=0, max_tokens=8, messages=[{
            "role": "user", "content": "Rate the ANSWER to the CONVERSATION against the REFERENCE from 1 (wrong) "
            f"to 10 (as good as the reference). Reply with the number only.\n\nCONVERSATION:\n{question}\n\n"
            f"REFERENCE:\n{item.reference}\n\nANSWER:\n{pred}"}])
        m = re.search(r"\d+", reply.choices[0].message.content or "")
        scores.append(min(10, max(1, int(m.group()))) / 10 if m else 0.0)
    return scores


def score(items, predictions: list[str], judge: list[float] | None = None) -> dict:
    per = [{"exact_match": exact_match(p, it.reference), "rouge_l": rouge_l(p, it.reference)}
           for it, p in zip(items, predictions)]
    if judge is not None:
        for row, j in zip(per, judge):
            row["judge"] = j

    def mean(rows):
        return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}

    cats: dict[str, list] = {}
    for it, row in zip(items, per):
        cats.setdefault(it.category, []).append(row)
    return {"overall": mean(per), "by_category": {c: mean(rows) for c, rows in sorted(cats.items())}}


# -- decision ----------------------------------------------------------------------------------

def decide(base: dict, tuned: dict, rule: GateRule) -> dict:
    """Apply the promotion rule to base and tuned scores; every failed condition is a reason."""
    m = rule.metric
    if m not in tuned["overall"]:
        raise DataError(f"the gate rule compares {m!r}, which was not computed",
                        hint="pass --judge-url/--judge-model for the judge metric, or set gate.metric=rouge_l")
    reasons, passed = [], True
    b, t = base["overall"][m], tuned["overall"][m]
    if t >= b + rule.min_gain:
        reasons.append(f"{m}: tuned {t:.4f} ≥ base {b:.4f} + {rule.min_gain}")
    else:
        passed = False
        reasons.append(f"{m}: tuned {t:.4f} < base {b:.4f} + {rule.min_gain}")
    if rule.min_score is not None and t < rule.min_score:
        passed = False
        reasons.append(f"{m}: tuned {t:.4f} below the floor {rule.min_score}")
    for cat, vals in tuned["by_category"].items():
        drop = base["by_category"][cat][m] - vals[m]
        if drop > rule.max_category_regression:
            passed = False
            reasons.append(f"category {cat!r}: {m} fell {drop:.4f} (limit {rule.max_category_regression})")
    text = f"tuned {m} ≥ base + {rule.min_gain}; no category drops more than {rule.max_category_regression}" + (
        f"; tuned ≥ {rule.min_score}" if rule.min_score is not None else "")
    return {"passed": passed, "reasons": reasons, "rule_text": text}


# -- generation --------------------------------------------------------------------------------

def generate(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, batch_size: int = 8) -> list[str]:
    import torch

    tokenizer.padding_side = "left"
    outputs = []
    for i in range(0, len(prompts), batch_size):
        texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                 for p in prompts[i:i + batch_size]]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        outputs += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [o.strip() for o in outputs]


def evaluate(adapter_dir: str | Path, golden_ref: str, store, *, rule: GateRule | None = None,
             max_new_tokens: int = 64, judge_url: str | None = None, judge_model: str | None = None,
             base_model: str | None = None) -> dict:
    """Generate, score, decide; record the result beside the adapter and in its model card."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import data as D
    from .card import write_card
    from .run import INFO_FILE, read_info

    folder = Path(adapter_dir)
    info = read_info(folder)
    rule = rule or GateRule(**info["config"].get("gate", {}))
    items, golden = D.load_golden(store, golden_ref)
    recorded = info.get("golden")
    if recorded and recorded["content_sha256"] != golden["content_sha256"]:
        raise DataError(f"golden set {golden['ref']} differs from the one recorded at training time "
                        f"({recorded['ref']}, sha256 {recorded['content_sha256'][:16]}…)",
                        hint="a golden set is frozen: evaluate with the recorded version, or retrain against the "
                             "new one")
    if not recorded:  # not checked at training time: check the recorded training data now
        for d in info["datasets"]:
            rows, _ = D.to_records(store.resolve(d["ref"]), info["method"])
            D.check_no_overlap(D.Split(train=rows, eval=[]), items, golden["ref"])
    tokenizer = AutoTokenizer.from_pretrained(folder)
    base = AutoModelForCausalLM.from_pretrained(base_model or info["base_model"])
    model = PeftModel.from_pretrained(base, str(folder)).eval()
    prompts = [it.prompt for it in items]
    with model.disable_adapter():
        base_pred = generate(model, tokenizer, prompts, max_new_tokens)
    tuned_pred = generate(model, tokenizer, prompts, max_new_tokens)
    judge = (lambda preds: judge_scores(items, preds, judge_url, judge_model or "judge")) if judge_url else None
    result = {
        "golden": golden, "rule": rule.model_dump(),
        "base": score(items, base_pred, judge(base_pred) if judge else None),
        "tuned": score(items, tuned_pred, judge(tuned_pred) if judge else None),
    }
    result["decision"] = decide(result["base"], result["tuned"], rule)
    # Predictions stay beside the adapter (they can echo PII from prompts); the card holds only metrics.
    (folder / "eval_results.json").write_text(json.dumps(
        {**result, "predictions": [{"id": it.id, "base": b, "tuned": t}
                                   for it, b, t in zip(items, base_pred, tuned_pred)]}, indent=2) + "\n")
    info["eval"] = result
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    write_card(folder, info)
    return result
