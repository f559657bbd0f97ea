#!/usr/bin/env python3
"""Does curation make a real model better? SmolLM2-135M + LoRA on curated vs raw logs vs base.

    python benchmarks/model_experiment.py --work /tmp/exp/run --model /tmp/exp/smollm2   # all phases
    python benchmarks/model_experiment.py --work ... --phase eval                          # one phase again

Phases (each writes under --work; every product step is the CLI a user runs):
  build   real conversations — Alpaca 9k (/work/shared/data/instructions) and FastChat's ShareGPT
          sample (/work/shared/data/formats) — written as an OpenAI gateway log (request/response
          JSONL) with production defects planted by a seeded, documented procedure (``plant``), plus
          a golden set of held-out Alpaca items that is in neither the logs nor any training data.
  curate  ``sluice ingest logs.jsonl --to raw``, ``sluice ingest golden --to golden`` and
          ``sluice run recipe.yaml``: the quickstart recipe (examples/quickstart.yaml) with its
          contamination stage pointed at this golden set (and gsm8k), nothing else changed.
  train   ``sluice train sft`` twice with one config and the same number of optimizer steps:
          on ``curated@latest`` (its train split) and on ``raw@latest`` (a 5% held-out fraction).
  eval    per golden item, for base / raw-trained / curated-trained: mean log-prob per reference
          token (``train.scoring.reference_loglik``), ROUGE-L and exact match of a batched greedy
          answer (``train.gate``), exact match only on items whose reference is <= 4 words;
          paired 95% bootstrap CIs (``train.stats.paired_bootstrap``).
  report  results.json + results.md (the table BENCHMARKS.md shows), with the machine's load.

Defects planted on the Alpaca rows (seed --seed; one draw per row, so a row carries at most one):
  refusal 12%      the answer becomes a boilerplate refusal ("I'm sorry, but I can't ...")
  truncated 8%     the answer is cut at 30-70% of its words; the gateway records finish_reason "length"
  boilerplate 10%  "As an AI language model, " before the answer (2/3) or a "hope this helps"
                   sign-off after it (1/3; nothing in the quickstart looks for that one)
  pii 10%          the user introduces themselves with a name and an e-mail; the answer greets by name
then 6% of rows are logged again 2-6 times (exact duplicates: retries) and 3% once more with one
word changed (near duplicates). The ShareGPT sample (FastChat's identity set: 500 templated
"who are you" chats, itself near-duplicate-heavy) is mixed in as-is (--sharegpt rows).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the project's shared data beside the checkout (../shared), or $SLUICE_SHARED
SHARED_DATA = Path(os.environ.get("SLUICE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
ALPACA = SHARED_DATA / "instructions/alpaca_random_9k/random_9k.json"
SHAREGPT = SHARED_DATA / "formats/sharegpt_fastchat/fastchat_dummy_conversation.json"
GSM8K = ROOT / "examples" / "evalsets" / "gsm8k_test_200.jsonl"

REFUSALS = [
    "I'm sorry, but I can't help with that request.",
    "I'm sorry, but I cannot assist with that.",
    "I apologize, but I am not able to provide that information.",
    "I can't help with that. Is there anything else I can do for you?",
]
AI_PREFIX = ["As an AI language model, ", "As an AI model, I can say that "]
SIGN_OFF = "\n\nI hope this helps! Let me know if you have any other questions."
FIRST = ["James", "Maria", "Wei", "Aisha", "Lukas", "Sofia", "Daniel", "Priya", "Omar", "Emma", "Kenji", "Fatima"]
LAST = ["Miller", "Garcia", "Chen", "Khan", "Schmidt", "Rossi", "Johnson", "Patel", "Haddad", "Brown", "Sato"]
RATES = {"refusal": 0.12, "truncated": 0.08, "boilerplate": 0.10, "pii": 0.10}
DUP_RATE, NEAR_RATE = 0.06, 0.03


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _prompt(item: dict) -> str:
    return item["instruction"].strip() + (("\n\n" + item["input"].strip()) if item["input"].strip() else "")


def _gateway(rid: str, ts: int, messages: list[dict], answer: str, finish: str = "stop") -> dict:
    return {"request_id": rid, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts)),
            "request": {"model": "assistant-v1", "messages": messages, "temperature": 0.7},
            "response": {"id": "chatcmpl-" + rid, "object": "chat.completion", "created": ts, "model": "assistant-v1",
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                      "finish_reason": finish}]}}


def plant(answer: str, prompt: str, kind: str, rng: random.Random) -> tuple[str, str, str]:
    """(prompt, answer, finish_reason) with one defect of ``kind`` planted."""
    if kind == "refusal":
        return prompt, rng.choice(REFUSALS), "stop"
    if kind == "truncated":
        words = answer.split(" ")
        if len(words) < 6:
            return prompt, answer, "stop"
        cut = max(2, int(len(words) * rng.uniform(0.3, 0.7)))
        return prompt, " ".join(words[:cut]), "length"
    if kind == "boilerplate":
        if rng.random() < 2 / 3:
            head = rng.choice(AI_PREFIX)
            return prompt, head + answer[:1].lower() + answer[1:], "stop"
        return prompt, answer + SIGN_OFF, "stop"
    if kind == "pii":
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@{rng.choice(['gmail.com', 'outlook.com', 'acme.io'])}"
        return f"Hi, this is {first} {last} ({email}). {prompt}", f"Hi {first}! {answer}", "stop"
    return prompt, answer, "stop"


def build(work: Path, n_logs: int, n_golden: int, n_sharegpt: int, seed: int, *,
          alpaca_path: Path = ALPACA, sharegpt_path: Path = SHAREGPT) -> dict:
    rng = random.Random(seed)
    alpaca = json.loads(alpaca_path.read_text())
    order = list(range(len(alpaca)))
    rng.shuffle(order)
    golden, seen = [], set()
    for i in order:  # golden: short, self-contained answers (cheap to score; ROUGE-L meaningful at 64 tokens)
        it = alpaca[i]
        key = _norm(_prompt(it))
        if key in seen or not it["output"].strip() or len(it["output"].split()) > 60:
            continue
        seen.add(key)
        golden.append(i)
        if len(golden) == n_golden:
            break
    golden_keys = {_norm(_prompt(alpaca[i])) for i in golden}
    pool = [i for i in order if i not in set(golden) and _norm(_prompt(alpaca[i])) not in golden_keys][:n_logs]

    counts = {k: 0 for k in RATES} | {"clean": 0, "exact_duplicate_copies": 0, "near_duplicates": 0,
                                      "sharegpt": 0}
    records, ts, kinds = [], 1767225600, {}
    for n, i in enumerate(pool):
        it = alpaca[i]
        u, acc, kind = rng.random(), 0.0, "clean"
        for k, rate in RATES.items():
            acc += rate
            if u < acc:
                kind = k
                break
        prompt, answer, finish = plant(it["output"].strip(), _prompt(it), kind, rng)
        if kind == "truncated" and finish != "length":  # answers under 6 words are left whole
            kind = "clean"
        counts[kind] += 1
        kinds[f"req{n:06d}"] = ("boilerplate_sign_off" if answer.endswith(SIGN_OFF) else "boilerplate_ai_prefix") \
            if kind == "boilerplate" else kind
        records.append(_gateway(f"req{n:06d}", ts + n * 37, [{"role": "user", "content": prompt}], answer, finish))
    base = list(records)
    for rec in base:
        r = rng.random()
        if r < DUP_RATE:
            for c in range(rng.randint(2, 6)):
                records.append({**rec, "request_id": f"{rec['request_id']}r{c}"})
                counts["exact_duplicate_copies"] += 1
        elif r < DUP_RATE + NEAR_RATE:
            msgs = [dict(m) for m in rec["request"]["messages"]]
            words = msgs[-1]["content"].split(" ")
            j = rng.randrange(len(words))
            words.insert(j, rng.choice(["please", "quickly", "now", "kindly"]))
            msgs[-1]["content"] = " ".join(words)
            near = json.loads(json.dumps(rec))
            near["request_id"] += "n"
            near["request"]["messages"] = msgs
            records.append(near)
            counts["near_duplicates"] += 1
    sharegpt = json.loads(sharegpt_path.read_text())
    rng.shuffle(sharegpt)
    role = {"human": "user", "gpt": "assistant"}
    for k, conv in enumerate(sharegpt[:n_sharegpt]):
        msgs = [{"role": role[t["from"]], "content": t["value"]} for t in conv["conversations"]]
        if msgs[-1]["role"] != "assistant":
            continue
        records.append(_gateway(f"sg{k:05d}", ts + k * 53, msgs[:-1], msgs[-1]["content"]))
        counts["sharegpt"] += 1
    rng.shuffle(records)

    work.mkdir(parents=True, exist_ok=True)
    with open(work / "logs.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(work / "planted.jsonl", "w") as f:  # request id -> defect (copies: "<id>r<k>", near: "<id>n")
        for rec in records:
            rid = rec["request_id"]
            m = re.fullmatch(r"(req\d{6})(r\d+|n)?", rid)
            kind = kinds[m.group(1)] if m else "sharegpt"
            copy = ("original" if not (m and m.group(2)) else "near_copy" if m.group(2) == "n" else "exact_copy")
            f.write(json.dumps({"request_id": rid, "defect": kind, "copy": copy}) + "\n")
    with open(work / "golden_eval.jsonl", "w") as f, open(work / "golden_chat.jsonl", "w") as g:
        for n, i in enumerate(golden):
            it = alpaca[i]
            q, a = _prompt(it), it["output"].strip()
            f.write(json.dumps({"id": f"g{n:03d}", "question": q, "answer": a}) + "\n")
            g.write(json.dumps({"id": f"g{n:03d}", "messages": [{"role": "user", "content": q},
                                                               {"role": "assistant", "content": a}]}) + "\n")
    info = {"seed": seed, "alpaca_rows": len(pool), "golden": len(golden), "log_records": len(records),
            "planted": counts, "rates": RATES, "duplicate_rate": DUP_RATE, "near_duplicate_rate": NEAR_RATE}
    (work / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def _sluice(*args: str, work: Path, log: str) -> dict:
    cmd = [str(Path(sys.executable).parent / "sluice"), *args, "--root", str(work / "store"), "--json"]
    t = time.perf_counter()
    with open(work / f"{log}.stderr", "w") as err:
        out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    took = time.perf_counter() - t
    if out.returncode != 0:
        tail = (work / f"{log}.stderr").read_text()[-3000:]
        raise SystemExit(f"{' '.join(cmd)} failed (exit {out.returncode}):\n{tail}")
    try:
        result = json.loads(out.stdout)
    except ValueError:
        result = {"stdout": out.stdout[-2000:]}
    return {"seconds": round(took, 1), "result": result}


def curate(work: Path) -> dict:
    import yaml

    recipe = yaml.safe_load((ROOT / "examples" / "quickstart.yaml").read_text())
    recipe["name"] = "model-experiment"
    for st in recipe["stages"]:
        if st["stage"] == "contamination":
            st["evalsets"] = [
                {"name": "golden", "path": str(work / "golden_eval.jsonl"), "fields": ["question"], "id_field": "id"},
                {"name": "gsm8k", "path": str(GSM8K), "fields": ["question", "answer"]}]
    (work / "recipe.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    out = {"ingest_raw": _sluice("ingest", str(work / "logs.jsonl"), "--to", "raw", work=work, log="ingest_raw"),
           "ingest_golden": _sluice("ingest", str(work / "golden_chat.jsonl"), "--to", "golden", work=work,
                                    log="ingest_golden"),
           "run": _sluice("run", str(work / "recipe.yaml"), work=work, log="run")}
    (work / "curate.json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    return out


def train_config(work: Path, steps: int, max_length: int, batch: int, lr: float, seed: int = 42) -> Path:
    import yaml

    cfg = {"use_dora": False, "lora_r": 16, "lora_alpha": 32, "max_steps": steps, "max_length": max_length,
           "per_device_train_batch_size": batch, "gradient_accumulation_steps": 1, "learning_rate": lr,
           "gradient_checkpointing": False, "eval_steps": steps, "early_stopping_patience": None,
           "save_total_limit": 1, "logging_steps": 5, "eval_fraction": 0.02, "seed": seed}
    path, text = work / "train.yaml", yaml.safe_dump(cfg, sort_keys=False)
    if not path.exists() or path.read_text() != text:  # arms may be trained by parallel processes
        path.write_text(text)
    return path


def train(work: Path, model: str, steps: int, max_length: int, batch: int, lr: float, arms: list[str],
          seed: int = 42) -> dict:
    cfg = train_config(work, steps, max_length, batch, lr, seed)
    out = {}
    for arm in arms:
        data = {"curated": "curated@latest", "raw": "raw@latest"}[arm]
        out[arm] = _sluice("train", "sft", "--model", model, "--data", data, "--config", str(cfg),
                           "--golden", "golden@latest", "-o", str(work / f"adapter-{arm}"), work=work,
                           log=f"train_{arm}")
        (work / f"train_{arm}.json").write_text(json.dumps(out[arm], indent=2, default=str) + "\n")
    return out


def evaluate(work: Path, model_dir: str, arms: list[str], max_new_tokens: int, gen_batch: int,
             generate_answers: bool = True) -> dict:
    """Score each arm into WORK/eval_<arm>.json: the log-likelihood first (saved at once), then the
    greedy answers. An arm already scored on the same golden references is skipped, so arms can be
    scored by separate processes as their adapters appear."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from sluice.train.gate import exact_match, generate, rouge_l
    from sluice.train.scoring import reference_loglik

    items = [json.loads(line) for line in open(work / "golden_eval.jsonl")]
    prompts = [[{"role": "user", "content": it["question"]}] for it in items]
    refs = [it["answer"] for it in items]
    scores = {}
    for arm in arms:
        path = work / f"eval_{arm}.json"
        s = json.loads(path.read_text()) if path.exists() else {}
        if s.get("references") != refs:
            s = {"references": refs}
        if "rouge_l" in s or ("loglik" in s and not generate_answers):
            scores[arm] = s
            continue
        t = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        if arm != "base":
            model = PeftModel.from_pretrained(model, str(work / f"adapter-{arm}"))
        model.eval()
        if "loglik" not in s:
            s["loglik"] = reference_loglik(model, tok, prompts, refs, batch_size=8, max_length=512)
            s["seconds_loglik"] = round(time.perf_counter() - t, 1)
            path.write_text(json.dumps(s, indent=1) + "\n")
            print(f"eval {arm}: loglik {sum(s['loglik']) / len(refs):.4f} ({s['seconds_loglik']} s)",
                  file=sys.stderr, flush=True)
        if not generate_answers:
            scores[arm] = s
            continue
        t = time.perf_counter()
        preds = generate(model, tok, prompts, max_new_tokens=max_new_tokens, batch_size=gen_batch)
        s.update({"rouge_l": [rouge_l(p, r) for p, r in zip(preds, refs)],
                  "exact_match": [exact_match(p, r) for p, r in zip(preds, refs)], "predictions": preds,
                  "max_new_tokens": max_new_tokens, "seconds_generate": round(time.perf_counter() - t, 1)})
        path.write_text(json.dumps(s, indent=1) + "\n")
        print(f"eval {arm}: rouge_l {sum(s['rouge_l']) / len(refs):.4f} ({s['seconds_generate']} s)",
              file=sys.stderr, flush=True)
        scores[arm] = s
    return scores


def report(work: Path) -> dict:
    from sluice.train.stats import paired_bootstrap

    items = [json.loads(line) for line in open(work / "golden_eval.jsonl")]
    scores = {a: json.loads((work / f"eval_{a}.json").read_text()) for a in ("base", "raw", "curated")
              if (work / f"eval_{a}.json").exists()}
    refs = [it["answer"] for it in items]
    scores = {a: s for a, s in scores.items() if s.get("references") == refs and "loglik" in s}
    checkable = [i for i, it in enumerate(items) if len(it["answer"].split()) <= 4]
    arms = [a for a in ("base", "raw", "curated") if a in scores]
    rows, pairs = {}, {}

    def per_item(arm: str, metric: str) -> list[float] | None:
        vals = scores[arm].get(metric)
        if vals is None:
            return None  # not computed (an interrupted run): shown as "—", never as a number
        return [vals[i] for i in checkable] if metric == "exact_match" else vals

    for arm in arms:
        rows[arm] = {m: (None if (v := per_item(arm, m)) is None or not v else sum(v) / len(v))
                     for m in ("loglik", "rouge_l", "exact_match")}
    for a, b in (("base", "raw"), ("base", "curated"), ("raw", "curated")):
        if a in scores and b in scores:
            pairs[f"{b} - {a}"] = {m: paired_bootstrap(per_item(a, m), per_item(b, m)).as_dict()
                                   for m in ("loglik", "rouge_l", "exact_match")
                                   if per_item(a, m) is not None and per_item(b, m) is not None}
    build_info = json.loads((work / "build.json").read_text())
    trains = {}
    for a in ("raw", "curated"):  # what `sluice train sft` recorded beside its adapter
        info_path = work / f"adapter-{a}" / "sluice_train.json"
        if info_path.exists():
            info = json.loads(info_path.read_text())
            trains[a] = {"metrics": info["metrics"], "datasets": info["datasets"], "golden": info["golden"],
                         "train_loss": info["curves"]["train_loss"], "config": info["config"]}
    curate_info = json.loads((work / "curate.json").read_text()) if (work / "curate.json").exists() else {}
    accounting = defect_accounting(work) if (work / "planted.jsonl").exists() else {}
    res = {"defects": accounting, "n_golden": len(items), "n_exact_match_items": len(checkable), "means": rows, "paired": pairs,
           "build": build_info, "train": trains, "curate": curate_info,
           "load_average": os.getloadavg(), "uptime": subprocess.run(["uptime"], capture_output=True,
                                                                       text=True).stdout.strip()}
    (work / "results.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    lines = ["| model | ref. log-lik / token | ROUGE-L | exact match (n={}) |".format(len(checkable)),
             "|---|---:|---:|---:|"]
    for arm in arms:
        r = {m: "—" if v is None else f"{v:.4f}" for m, v in rows[arm].items()}
        lines.append(f"| {arm} | {r['loglik']} | {r['rouge_l']} | {r['exact_match']} |")
    lines += ["", "| paired difference (95% bootstrap CI) | log-lik / token | ROUGE-L | exact match |",
              "|---|---|---|---|"]
    for name, p in pairs.items():
        cells = [f"{p[m]['mean']:+.4f} [{p[m]['ci_low']:+.4f}, {p[m]['ci_high']:+.4f}]" if m in p else "—"
                 for m in ("loglik", "rouge_l", "exact_match")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "| trained on | train rows | steps | seconds | final train loss | validation loss |",
              "|---|---:|---:|---:|---:|---:|"]
    for a, t in trains.items():
        m, last = t["metrics"], (t["train_loss"][-1] if t["train_loss"] else None)
        last_loss = last[1] if last else None  # (step, loss)
        lines.append(f"| {a} | {m['train_rows']} | {m['global_step']} | {m['seconds']:.0f} | "
                     f"{last_loss if last_loss is None else round(last_loss, 3)} | "
                     f"{m['last_eval_loss'] if m['last_eval_loss'] is None else round(m['last_eval_loss'], 3)} |")
    if accounting:
        lines += ["", "| planted | raw rows (exact copies) | curated rows (exact copies) | curated train | "
                  "rows with an e-mail, raw / curated |", "|---|---:|---:|---:|---:|"]
        for kind, r in sorted(accounting.items()):
            lines.append(f"| {kind} | {r['raw']} ({r['surplus_raw']}) | {r['curated']} ({r['surplus_curated']}) | "
                         f"{r['curated_train']} | {r['email_raw']} / {r['email_curated']} |")
    (work / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return res


def defect_accounting(work: Path) -> dict:
    """Planted defect -> rows in the raw logs, rows left in curated (any split) and in its train split;
    and rows of either that still hold an e-mail address."""
    from sluice.store import Store

    planted = {json.loads(x)["request_id"]: json.loads(x) for x in open(work / "planted.jsonl")}
    store = Store(work / "store")
    email = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
    table: dict = {}
    origins: dict = {}
    for name in ("raw", "curated"):
        for r in store.resolve(f"{name}@latest").read().to_pylist():
            p = planted.get(r["source_id"])
            if p is None:
                continue
            row = table.setdefault(p["defect"], {"raw": 0, "curated": 0, "curated_train": 0, "surplus_raw": 0,
                                                 "surplus_curated": 0, "email_raw": 0, "email_curated": 0})
            seen = origins.setdefault((name, p["defect"]), set())
            origin = p["request_id"] if p["copy"] == "near_copy" else re.sub(r"r\d+$", "", p["request_id"])
            text = " ".join(m.get("content") or "" for m in r["messages"])
            row[name] += 1
            row[f"surplus_{name}"] += origin in seen  # a second row of one logged exchange (exact copy)
            seen.add(origin)
            row[f"email_{name}"] += bool(email.search(text))
            if name == "curated" and r.get("split") == "train":
                row["curated_train"] += 1
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path("/tmp/sluice-model-experiment"))
    ap.add_argument("--model", default=None, help="SmolLM2 folder (default: `sluice models get` into WORK/model)")
    ap.add_argument("--phase", default="all", choices=["all", "build", "curate", "train", "eval", "report"])
    ap.add_argument("--arms", default="raw,curated")
    ap.add_argument("--no-base", dest="with_base", action="store_false", help="eval: skip the base model")
    ap.add_argument("--loglik-only", action="store_true", help="eval: the reference log-likelihood only (no "
                    "generation: ROUGE-L and exact match are then shown as not computed)")
    ap.add_argument("--n-logs", type=int, default=1500, help="Alpaca rows in the logs (before duplicates)")
    ap.add_argument("--n-golden", type=int, default=120)
    ap.add_argument("--sharegpt", type=int, default=250)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--gen-batch", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0, help="seed of the planted defects and the golden draw")
    ap.add_argument("--train-seed", type=int, default=42, help="training seed (data order, LoRA init)")
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    arms = [x for x in a.arms.split(",") if x]
    phases = ["build", "curate", "train", "eval", "report"] if a.phase == "all" else [a.phase]
    model = a.model
    if model is None:
        from sluice.named_models import get
        model = str(get("smollm2-135m", a.work / "model"))
    t0 = time.perf_counter()
    timings = {}
    for ph in phases:
        t = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] phase {ph} (load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
        if ph == "build":
            print(json.dumps(build(a.work, a.n_logs, a.n_golden, a.sharegpt, a.seed)["planted"]), file=sys.stderr)
        elif ph == "curate":
            curate(a.work)
        elif ph == "train":
            train(a.work, model, a.steps, a.max_length, a.batch, a.lr, arms, a.train_seed)
        elif ph == "eval":
            evaluate(a.work, model, ["base", *arms] if a.with_base else arms, a.max_new_tokens, a.gen_batch,
                     generate_answers=not a.loglik_only)
        elif ph == "report":
            report(a.work)
        timings[ph] = round(time.perf_counter() - t, 1)
    timings["total"] = round(time.perf_counter() - t0, 1)
    prev = json.loads((a.work / "timings.json").read_text()) if (a.work / "timings.json").exists() else {}
    (a.work / "timings.json").write_text(json.dumps({**prev, **timings}, indent=2) + "\n")
    print(json.dumps(timings), file=sys.stderr)


if __name__ == "__main__":
    main()
