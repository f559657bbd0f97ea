"""The eval gate: candidate adapter vs incumbent on a frozen golden set, per item, paired.

``evaluate(adapter_dir, golden_ref, store)`` scores every golden item with the *incumbent* — the
adapter currently promoted in the lineage (``sluice models promote``), else the adapter a second
round started from (``init_adapter``), else the base model — and with the candidate, all on the
same base weights in memory. Metrics: ``loglik`` (mean log-prob per reference token,
``train/scoring.py``; no generation, the default), ``rouge_l`` and ``exact_match`` on greedy
generations, and ``judge`` (distilabel's PrometheusEval through sluice's LLM backends, behind the
privacy guard, see ``sluice.synth.grader``).

The rule (``GateRule`` in config.py) promotes only a real gain: the lower bound of the paired
bootstrap CI (``train/stats.py``) of the mean per-item gain must exceed ``min_gain``; no category's
mean may fall more than its limit; every required metric must be computed for every item (a judge
with fewer than ``min_parsed`` parsed judgments on either side fails). Anything missing → "no".

Every result is appended to ``eval_history.jsonl`` (beside the adapter and in the store's
registry, never overwritten); ``eval_results.json`` holds the latest with per-item scores, and the
model card is re-rendered. The CLI exits 1 when the gate fails.

The golden set is frozen: if the run recorded one at training time, its content hash must match
now. If it did not, the recorded training datasets are checked for overlap here instead.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from sluice.errors import DataError

from .config import GateRule

_WORD = re.compile(r"\w+", re.UNICODE)
METRICS = ("loglik", "exact_match", "rouge_l", "judge")
GENERATED = frozenset({"exact_match", "rouge_l", "judge"})


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


def side_scores(model, tokenizer, items, metrics, *, max_new_tokens: int = 64, judge=None,
                judge_rubric: str = "helpfulness", judge_backend=None) -> dict:
    """Per-item scores of one model: ``{"scores": {metric: [float | None]}, "predictions", "judge"}``.

    None marks an item whose metric could not be computed (a failed judgment, an empty reference)."""
    from .scoring import reference_loglik

    out: dict = {"scores": {}, "predictions": None, "judge": None}
    if "loglik" in metrics:
        values = reference_loglik(model, tokenizer, [it.prompt for it in items], [it.reference for it in items])
        out["scores"]["loglik"] = [None if math.isnan(v) else v for v in values]
    if GENERATED & set(metrics):
        preds = generate(model, tokenizer, [it.prompt for it in items], max_new_tokens)
        out["predictions"] = preds
        if "exact_match" in metrics:
            out["scores"]["exact_match"] = [exact_match(p, it.reference) for it, p in zip(items, preds)]
        if "rouge_l" in metrics:
            out["scores"]["rouge_l"] = [rouge_l(p, it.reference) for it, p in zip(items, preds)]
        if "judge" in metrics:
            if judge is None:
                out["scores"]["judge"] = [None] * len(items)
                out["judge"] = {"judged": 0, "errors": {"no_judge_configured": len(items)}, "error_details": {}}
            else:
                judged = judge_scores(items, preds, judge, rubric=judge_rubric, backend=judge_backend)
                out["scores"]["judge"] = judged.scores
                out["judge"] = judged.report()
    return out


# -- decision ----------------------------------------------------------------------------------

def _finite(x: float) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _ci(ci) -> dict:
    return {k: (_finite(v) if isinstance(v, float) else v) for k, v in ci.as_dict().items()}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def compare(incumbent: list, candidate: list, rule: GateRule) -> tuple[list[int], object]:
    """Items scored on both sides and the paired bootstrap CI of candidate − incumbent over them."""
    from .stats import paired_bootstrap

    idx = [i for i, (a, b) in enumerate(zip(incumbent, candidate)) if a is not None and b is not None]
    return idx, paired_bootstrap([incumbent[i] for i in idx], [candidate[i] for i in idx],
                                 confidence=rule.confidence)


def decide(incumbent: dict, candidate: dict, categories: list[str], rule: GateRule,
           judge_errors: dict | None = None) -> dict:
    """Apply the promotion rule to per-item scores ``{metric: [float | None]}`` of both sides.

    Fails closed: a required metric missing on any item (or a judge parsed on fewer than
    ``min_parsed`` of the items) fails, and so does a gain whose CI lower bound is not above
    ``min_gain``. Every failed condition is a reason; gains of every metric computed on both sides
    are reported with their CIs.
    """
    n = len(categories)
    reasons: list[str] = []
    passed = True
    m = rule.metric
    for metric in [m] + [r for r in rule.required if r != m]:
        for side, scores in (("incumbent", incumbent), ("candidate", candidate)):
            values = scores.get(metric)
            missing = n if values is None else sum(v is None for v in values)
            if metric == "judge":
                parsed = (n - missing) / n if n else 0.0
                if parsed < rule.min_parsed:
                    passed = False
                    errors = (judge_errors or {}).get(side, {}) or {}
                    reasons.append(f"judge: {side} judgments parsed for {n - missing} of {n} items ({parsed:.0%}, "
                                   f"minimum {rule.min_parsed:.0%})"
                                   + (f"; failed: {errors.get('errors')}" if errors.get("errors") else ""))
                elif missing:
                    reasons.append(f"judge: {missing} {side} judgment(s) failed; compared on items judged on "
                                   "both sides")
            elif missing:
                passed = False
                reasons.append(f"{metric}: not computed for {missing} of {n} items ({side})"
                               + ("; pass --judge-url/--judge-model or --judge-llm" if values is None
                                  and metric == "judge" else ""))
    gains: dict = {}
    for metric in sorted(set(incumbent) & set(candidate)):
        idx, ci = compare(incumbent[metric], candidate[metric], rule)
        gains[metric] = {"incumbent": _mean([incumbent[metric][i] for i in idx]),
                         "candidate": _mean([candidate[metric][i] for i in idx]), **_ci(ci)}
    by_category: dict = {}
    if m in incumbent and m in candidate:
        idx, ci = compare(incumbent[m], candidate[m], rule)
        if not idx:
            passed = False
            reasons.append(f"{m}: no item was scored on both sides")
        elif ci.low > rule.min_gain:
            reasons.append(f"{m}: gain {ci}; lower bound {ci.low:+.4f} > min_gain {rule.min_gain}")
        else:
            passed = False
            reasons.append(f"{m}: gain {ci}; lower bound not above min_gain {rule.min_gain} "
                           "(no gain beyond the noise)")
        cand_mean = _mean([candidate[m][i] for i in idx])
        if rule.min_score is not None and (cand_mean is None or cand_mean < rule.min_score):
            passed = False
            reasons.append(f"{m}: candidate mean {cand_mean} below the floor {rule.min_score}")
        cats: dict[str, list[int]] = {}
        for i in idx:
            cats.setdefault(categories[i], []).append(i)
        for cat, ids in sorted(cats.items()):
            inc = _mean([incumbent[m][i] for i in ids])
            cand = _mean([candidate[m][i] for i in ids])
            by_category[cat] = {"incumbent": inc, "candidate": cand, "gain": cand - inc, "n": len(ids)}
            if inc - cand > rule.max_category_regression:
                passed = False
                reasons.append(f"category {cat!r}: {m} fell {inc - cand:.4f} (limit {rule.max_category_regression})")
    elif passed:  # unreachable in practice: a missing gate metric fails above
        passed = False
    text = (f"lower bound of the {rule.confidence:.0%} CI of the per-item {m} gain over the incumbent > "
            f"{rule.min_gain}; no category falls more than {rule.max_category_regression}"
            + (f"; candidate ≥ {rule.min_score}" if rule.min_score is not None else "")
            + (f"; judge parsed on ≥ {rule.min_parsed:.0%} of items"
               if "judge" in [m, *rule.required] else ""))
    return {"passed": passed, "reasons": reasons, "rule_text": text, "gains": gains, "by_category": by_category}


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


def resolve_incumbent(store, folder: Path, info: dict, explicit: str | None = None,
                      lineage: str | None = None) -> dict:
    """What the candidate would replace: ``{"kind": "base"|"adapter", "path", "adapter_sha256", "why"}``.

    ``explicit``: ``"base"`` or an adapter folder. Otherwise the lineage's promoted adapter (not the
    candidate itself), else the adapter this round started from, else the base model.
    """
    from . import registry as R

    if explicit == "base":
        return {"kind": "base", "why": "--incumbent base"}
    if explicit:
        path = Path(explicit)
        return {"kind": "adapter", "path": str(path.resolve()), "adapter_sha256": R.adapter_hash(path),
                "why": "--incumbent"}
    name = R.lineage_of(info, lineage)
    promoted = R.current(store, name, exclude_sha256=R.adapter_hash(folder))
    if promoted is not None:
        if not Path(promoted["adapter"]).is_dir():
            raise DataError(f"the promoted adapter of lineage {name!r} ({promoted['adapter']}) is gone",
                            hint="restore it, roll back with `sluice models rollback`, or pass --incumbent DIR|base")
        return {"kind": "adapter", "path": promoted["adapter"], "adapter_sha256": promoted["adapter_sha256"],
                "why": f"promoted in lineage {name!r}"}
    init = (info.get("config") or {}).get("init_adapter")
    if init:
        if not Path(init).is_dir():
            raise DataError(f"the adapter this round started from ({init}) is gone, and lineage {name!r} has no "
                            "promoted adapter to compare with",
                            hint="pass --incumbent DIR (or --incumbent base to compare with the base model)")
        return {"kind": "adapter", "path": str(Path(init).resolve()), "adapter_sha256": R.adapter_hash(init),
                "why": "the adapter this round started from (init_adapter)"}
    return {"kind": "base", "why": f"lineage {name!r} has no promoted adapter"}


def evaluate(adapter_dir: str | Path, golden_ref: str, store, *, rule: GateRule | None = None,
             max_new_tokens: int = 64, judge=None, judge_rubric: str = "helpfulness",
             allow_unredacted: bool = False, base_model: str | None = None, judge_backend=None,
             calibration: dict | None = None, incumbent: str | None = None, lineage: str | None = None,
             metrics: list[str] | None = None) -> dict:
    """Score incumbent and candidate, decide; record the result beside the adapter, in the store's
    history and in the model card.

    ``judge`` is an ``LLMSpec`` (``sluice.synth.llm``); a non-loopback judge is refused before any
    work unless the golden set's lineage shows PII redaction (or ``allow_unredacted``).
    ``metrics``: further metrics to report besides the rule's.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import data as D
    from . import registry as R
    from .card import write_card
    from .run import INFO_FILE, read_info

    items, golden = D.load_golden(store, golden_ref)
    privacy = None
    if judge is not None:  # before anything else is read: the golden set may not reach a remote judge
        from sluice.synth.grader import guard

        privacy = guard(judge, store, version=store.resolve(golden["ref"]), what=f"golden set {golden['ref']}",
                        allow_unredacted=allow_unredacted)
    folder = Path(adapter_dir)
    info = read_info(folder)
    rule = rule or GateRule(**info["config"].get("gate", {}))
    extra = [*rule.required, *(metrics or []), *(["judge"] if judge is not None else [])]
    wanted = [rule.metric] + sorted({m for m in extra if m != rule.metric})
    unknown = [m for m in wanted if m not in METRICS]
    if unknown:
        raise DataError(f"unknown metric(s) {unknown}", hint=f"use {', '.join(METRICS)}")
    recorded = info.get("golden")
    if recorded and recorded["content_sha256"] != golden["content_sha256"]:
        raise DataError(f"golden set {golden['ref']} differs from the one recorded at training time "
                        f"({recorded['ref']}, sha256 {recorded['content_sha256'][:16]}…)",
                        hint="a golden set is frozen: evaluate with the recorded version, or retrain against the "
                             "new one")
    if not recorded:  # not checked at training time: check the recorded training data now
        for d in info["datasets"]:
            rows, _ = D.to_records(store.resolve(d["ref"]), info["method"])
            D.check_no_overlap(D.Split(train=rows, eval=[]), golden["ref"], store)
    inc = resolve_incumbent(store, folder, info, incumbent, lineage)
    candidate_sha = R.adapter_hash(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    base = AutoModelForCausalLM.from_pretrained(base_model or info["base_model"])
    verify_before_load(folder, store)
    model = PeftModel.from_pretrained(base, str(folder), adapter_name="candidate").eval()
    kw = dict(max_new_tokens=max_new_tokens, judge=judge, judge_rubric=judge_rubric, judge_backend=judge_backend)
    if inc["kind"] == "adapter":
        verify_before_load(inc["path"], store)
        model.load_adapter(inc["path"], adapter_name="incumbent")
        model.set_adapter("incumbent")
        inc_side = side_scores(model, tokenizer, items, wanted, **kw)
        model.set_adapter("candidate")
    else:
        with model.disable_adapter():
            inc_side = side_scores(model, tokenizer, items, wanted, **kw)
    cand_side = side_scores(model, tokenizer, items, wanted, **kw)
    judge_errors = {"incumbent": inc_side["judge"], "candidate": cand_side["judge"]} if "judge" in wanted else None
    decision = decide(inc_side["scores"], cand_side["scores"], [it.category for it in items], rule, judge_errors)
    result = {"at": R.now(), "adapter": str(folder.resolve()), "adapter_sha256": candidate_sha,
              "base_model": base_model or info["base_model"], "lineage": R.lineage_of(info, lineage),
              "golden": golden, "rule": rule.model_dump(), "incumbent": inc, "metrics": wanted,
              "decision": decision}
    if judge_errors is not None:
        result["judge_errors"] = judge_errors
    if judge is not None:
        result["judge"] = {**judge.identity(), "rubric": judge_rubric, "task": "distilabel PrometheusEval",
                           "privacy": privacy}
    if calibration is not None:
        result["calibration"] = calibration
    R.record_eval(store, folder, result)
    # Per-item scores and predictions stay beside the adapter (predictions can echo PII from prompts);
    # the history and the card hold only aggregates.
    per_item = [{"id": it.id, "category": it.category,
                 "incumbent": {k: v[i] for k, v in inc_side["scores"].items()},
                 "candidate": {k: v[i] for k, v in cand_side["scores"].items()}}
                for i, it in enumerate(items)]
    if cand_side["predictions"] is not None:
        for row, a, b in zip(per_item, inc_side["predictions"], cand_side["predictions"]):
            row["predictions"] = {"incumbent": a, "candidate": b}
    (folder / "eval_results.json").write_text(json.dumps({**result, "items": per_item}, indent=2) + "\n")
    info["eval"] = result
    (folder / INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    write_card(folder, info)
    return result


def verify_before_load(folder: str | Path, store=None) -> None:
    """Refuse a signed adapter whose signature does not verify (``registry.verify_if_signed``)."""
    from .registry import verify_if_signed

    verify_if_signed(folder, store)
