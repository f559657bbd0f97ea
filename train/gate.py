"""The eval gate: base vs tuned on a frozen golden set, a promotion rule, a decision.

``evaluate(adapter_dir, golden_ref, store)`` generates greedily with the base model (adapter
disabled — same weights in memory) and the tuned model for every golden prompt, scores both with
exact match and ROUGE-L F1 (and an LLM judge — distilabel's PrometheusEval through sluice's
LLM backends, behind the privacy guard, see ``sluice.synth.grader`` — when ``judge`` is given), applies the promotion rule (``GateRule`` in config.py) overall and per
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


def judge_scores(items, predictions: list[str], spec, *, rubric: str = "helpfulness", backend=None):
    """0-1 scores from an LLM judge (PrometheusEval with the golden answer as reference; see
    ``sluice.synth.grader``), None where a judgment failed — counted in the returned Judgments."""
    from sluice.synth.grader import judge

    questions = ["\n".join(f"{m['role']}: {m['content']}" for m in it.prompt) for it in items]
    return judge([{"instruction": q, "generation": p, "reference": it.reference}
                  for q, p, it in zip(questions, predictions, items)], spec, rubric=rubric, backend=backend)


def score(items, predictions: list[str], judged=None) -> dict:
    """Mean metrics overall and per category. Failed judgments are left out of the judge mean and
    reported under ``judge_errors`` — never scored 0."""
    per = [{"exact_match": exact_match(p, it.reference), "rouge_l": rouge_l(p, it.reference)}
           for it, p in zip(items, predictions)]
    if judged is not None:
        for row, j in zip(per, judged.scores):
            row["judge"] = j

    def mean(rows):
        out = {}
        for k in rows[0]:
            values = [r[k] for r in rows if r[k] is not None]
            if values:
                out[k] = sum(values) / len(values)
        return out

    cats: dict[str, list] = {}
    for it, row in zip(items, per):
        cats.setdefault(it.category, []).append(row)
    result = {"overall": mean(per), "by_category": {c: mean(rows) for c, rows in sorted(cats.items())}}
    if judged is not None:
        result["judge_errors"] = judged.report()
    return result


# -- decision ----------------------------------------------------------------------------------

def decide(base: dict, tuned: dict, rule: GateRule) -> dict:
    """Apply the promotion rule to base and tuned scores; every failed condition is a reason."""
    m = rule.metric
    if m not in tuned["overall"] or m not in base["overall"]:
        failed = (tuned.get("judge_errors") or {}).get("errors")
        raise DataError(f"the gate rule compares {m!r}, which was not computed"
                        + (f": every judgment failed ({failed})" if failed else ""),
                        hint="pass --judge-url/--judge-model (or --judge-llm) for the judge metric, "
                             "or set gate.metric=rouge_l")
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
    for side in (base, tuned):
        errors = (side.get("judge_errors") or {}).get("errors")
        if errors and m == "judge":
            reasons.append(f"judge: {sum(errors.values())} judgment(s) failed and were left out ({errors})")
    for cat, vals in tuned["by_category"].items():
        if m not in vals or m not in base["by_category"][cat]:
            continue
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
             max_new_tokens: int = 64, judge=None, judge_rubric: str = "helpfulness",
             allow_unredacted: bool = False, base_model: str | None = None, judge_backend=None,
             calibration: dict | None = None) -> dict:
    """Generate, score, decide; record the result beside the adapter and in its model card.

    ``judge`` is an ``LLMSpec`` (``sluice.synth.llm``); a non-loopback judge is refused before any
    work unless the golden set's lineage shows PII redaction (or ``allow_unredacted``).
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import data as D
    from .card import write_card
    from .run import INFO_FILE, read_info

    items, golden = D.load_golden(store, golden_ref)
    privacy = None
    if judge is not None:
        from sluice.synth.grader import guard

        privacy = guard(judge, store, version=store.resolve(golden["ref"]), what=f"golden set {golden['ref']}",
                        allow_unredacted=allow_unredacted)
    folder = Path(adapter_dir)
    info = read_info(folder)
    rule = rule or GateRule(**info["config"].get("gate", {}))
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
    def judged(preds):
        return judge_scores(items, preds, judge, rubric=judge_rubric, backend=judge_backend) if judge else None

    result = {
        "golden": golden, "rule": rule.model_dump(),
        "base": score(items, base_pred, judged(base_pred)),
        "tuned": score(items, tuned_pred, judged(tuned_pred)),
    }
    for side in ("base", "tuned"):  # a metric one side lacks (all its judgments failed) is compared on neither
        other = result["tuned" if side == "base" else "base"]["overall"]
        for k in [k for k in result[side]["overall"] if k not in other]:
            result[side]["overall"].pop(k)
    if judge is not None:
        result["judge"] = {**judge.identity(), "rubric": judge_rubric, "task": "distilabel PrometheusEval",
                           "privacy": privacy}
    if calibration is not None:
        result["calibration"] = calibration
    result["decision"] = decide(result["base"], result["tuned"], rule)
    # Predictions stay beside the adapter (they can echo PII from prompts); the card holds only metrics.
    (folder / "eval_results.json").write_text(json.dumps(
        {**result, "predictions": [{"id": it.id, "base": b, "tuned": t}
                                   for it, b, t in zip(items, base_pred, tuned_pred)]}, indent=2) + "\n")
    info["eval"] = result
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    write_card(folder, info)
    return result
