"""Synth requests/s: sluice vs distilabel's own Pipeline, same local server, same requests.

Starts `transformers serve` on 127.0.0.1 (``--continuous-batching`` by default, CPU) with a tiny
random model (built here, nothing is downloaded) and generates answers to the same N prompts
two (or three) ways, interleaved over several rounds in one run, the order alternating per round:

- ``sluice``: ``synthesize("responses", …)`` end to end — distilabel's TextGeneration task through
  sluice's OpenAI backend with ``max_concurrency=C``, per-row journal, publishing a version;
- ``sluice sequential`` (``--sequential``): the same with ``max_concurrency=1`` (what concurrency buys);
- ``distilabel``: a distilabel ``Pipeline`` (LoadDataFromDicts >> TextGeneration on OpenAILLM,
  ``input_batch_size=C``, so at most C requests in flight too), ``pipeline.run(use_cache=False)``.

Both count end-to-end wall time for the same requests (startup, writing results included) and
report the median successful requests/s, failed requests and the ratio.

    python benchmarks/bench_synth.py --requests 32 --concurrency 8 --rounds 4 --max-new-tokens 32
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

TIMEOUT_S = 300  # both clients: a loaded shared machine makes slow responses, not failures
QUESTIONS = ["how do I reset my password?", "where is my order?", "what is the capital of France?",
             "please summarize this order.", "can I change my delivery address?"]


def prompts(n: int) -> list[str]:
    return [f"{QUESTIONS[i % len(QUESTIONS)]} (ticket {i})" for i in range(n)]


def run_sluice(model: str, base_url: str, seeds: Path, store_root: Path, name: str, concurrency: int,
               max_new_tokens: int) -> float:
    from sluice.store import Store
    from sluice.synth.runner import LLMFile, synthesize

    llm = LLMFile(llm={"backend": "openai", "model": model, "base_url": base_url, "max_concurrency": concurrency,
                       "timeout_s": TIMEOUT_S, "max_retries": 0, "generation": {"max_new_tokens": max_new_tokens}})
    start = time.perf_counter()
    res = synthesize("responses", source=str(seeds), to=name, llm=llm, store=Store(store_root), allow_empty=True)
    seconds = time.perf_counter() - start
    kept = res.versions[0].manifest["accounting"]["kept"]
    return kept / seconds, res.calls - kept


def run_distilabel(model: str, base_url: str, texts: list[str], cache: Path, concurrency: int,
                   max_new_tokens: int) -> float:
    from distilabel.models.llms import OpenAILLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps import LoadDataFromDicts
    from distilabel.steps.tasks import TextGeneration

    from sluice.synth.guard import quiet_distilabel
    from sluice.synth.llm import NO_KEY

    quiet_distilabel()  # no citation fetches from the network at the end of run()
    start = time.perf_counter()
    with Pipeline(name="bench-synth", cache_dir=str(cache)) as pipeline:
        load = LoadDataFromDicts(data=[{"instruction": t} for t in texts], batch_size=len(texts))
        gen = TextGeneration(llm=OpenAILLM(model=model, base_url=base_url, api_key=NO_KEY, max_retries=0,
                                           timeout=TIMEOUT_S,
                                           generation_kwargs={"max_new_tokens": max_new_tokens}),
                             input_batch_size=concurrency)
        load >> gen
    distiset = pipeline.run(use_cache=False)
    seconds = time.perf_counter() - start
    rows = distiset["default"]["train"]
    ok = sum(g is not None for g in rows["generation"])
    return ok / seconds, len(texts) - ok


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--no-continuous-batching", action="store_true", help="start the server without it")
    ap.add_argument("--sequential", action="store_true", help="also run sluice with max_concurrency=1")
    args = ap.parse_args()

    from test_synth_serve import free_port, start_server

    from sluice.tiny import build_tiny_chat_model

    texts = prompts(args.requests)
    rates: dict[str, list[float]] = {"sluice": [], "distilabel": [], "sluice sequential": []}
    failures = {name: 0 for name in rates}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = str(build_tiny_chat_model(tmp / "model"))
        seeds = tmp / "seeds.jsonl"
        seeds.write_text("".join(json.dumps({"instruction": t}) + "\n" for t in texts))
        port = free_port()
        # a bounded paged KV cache: by default continuous batching sizes it from free memory, which on
        # a CPU host is most of the machine's RAM
        extra = () if args.no_continuous_batching else ("--continuous-batching", "--cb-block-size", "32",
                                                         "--cb-num-blocks", "512", "--cb-max-batch-tokens", "2048")
        proc = start_server(model, port, tmp / "serve.log", extra)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            run_sluice(model, base, seeds, tmp / "store", "warmup", args.concurrency, 4)  # model load, first request
            runs = {
                "sluice": lambda r: run_sluice(model, base, seeds, tmp / "store", f"c{r}", args.concurrency,
                                               args.max_new_tokens),
                "distilabel": lambda r: run_distilabel(model, base, texts, tmp / f"cache{r}", args.concurrency,
                                                       args.max_new_tokens),
            }
            if args.sequential:
                runs["sluice sequential"] = lambda r: run_sluice(model, base, seeds, tmp / "store", f"s{r}", 1,
                                                                 args.max_new_tokens)
            for r in range(args.rounds):  # the order alternates per round: neither side always goes first
                for name in (list(runs) if r % 2 == 0 else list(reversed(runs))):
                    rate, failed = runs[name](r)
                    if proc.poll() is not None:
                        raise SystemExit(f"the server exited ({proc.returncode}) during {name} round {r}: "
                                         "the results would be meaningless; see its log")
                    rates[name].append(rate)
                    failures[name] += failed
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    med = {k: statistics.median(v) for k, v in rates.items() if v}
    print(f"{args.requests} requests x {args.rounds} rounds (interleaved), max_new_tokens={args.max_new_tokens}, "
          f"concurrency {args.concurrency}, tiny model on `transformers serve` (CPU"
          f"{'' if args.no_continuous_batching else ', --continuous-batching'}), 127.0.0.1\n")
    print("| run | successful requests/s (median) | rounds | failed requests | vs distilabel |")
    print("|---|---:|---|---:|---:|")
    for k in med:
        print(f"| {k} | {med[k]:.2f} | {', '.join(f'{r:.2f}' for r in rates[k])} | {failures[k]} | "
              f"{med[k] / med['distilabel']:.2f}x |")


if __name__ == "__main__":
    main()
