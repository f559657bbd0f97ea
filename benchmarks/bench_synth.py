"""Requests/s against a local OpenAI-compatible server: bounded concurrency vs sequential.

Starts `transformers serve` on 127.0.0.1 with a tiny random model (built here, nothing is
downloaded), then sends the same chat requests through sluice's distilabel OpenAI backend
with ``max_concurrency=1`` (sequential) and ``max_concurrency=C``, interleaved over several
rounds in the same run, and reports the median requests/s of each and their ratio.

    python benchmarks/bench_synth.py --requests 32 --concurrency 8 --rounds 3 --max-new-tokens 32
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


async def _burst(backend, n: int, max_new_tokens: int) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(backend.chat([{"role": "user", "content": f"question {i}: how do I reset it?"}],
                                        max_new_tokens=max_new_tokens) for i in range(n)))
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--continuous-batching", action="store_true", help="start the server with --continuous-batching")
    args = ap.parse_args()

    from test_synth_serve import free_port, start_server

    from sluice.synth.guard import egress_guard
    from sluice.synth.llm import LLMSpec, build_backend
    from sluice.synth.tiny import build_tiny_chat_model

    with tempfile.TemporaryDirectory() as tmp:
        model = str(build_tiny_chat_model(Path(tmp) / "model"))
        port = free_port()
        proc = start_server(model, port, Path(tmp) / "serve.log",
                            ("--continuous-batching",) if args.continuous_batching else ())
        try:
            base = f"http://127.0.0.1:{port}/v1"
            seq = build_backend(LLMSpec(model=model, base_url=base, max_concurrency=1))
            par = build_backend(LLMSpec(model=model, base_url=base, max_concurrency=args.concurrency))
            with egress_guard(["127.0.0.1"]):
                asyncio.run(_burst(par, 4, 4))  # warm-up: model load and first-request costs
                rates: dict[str, list[float]] = {"sequential": [], "concurrent": []}
                for _ in range(args.rounds):
                    rates["sequential"].append(asyncio.run(_burst(seq, args.requests, args.max_new_tokens)))
                    rates["concurrent"].append(asyncio.run(_burst(par, args.requests, args.max_new_tokens)))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    s, c = statistics.median(rates["sequential"]), statistics.median(rates["concurrent"])
    print(f"{args.requests} requests x {args.rounds} rounds, max_new_tokens={args.max_new_tokens}, "
          f"tiny model on `transformers serve` (CPU{', continuous batching' if args.continuous_batching else ''}), "
          "127.0.0.1\n")
    print("| mode | requests/s (median) | rounds |")
    print("|---|---:|---|")
    print(f"| sequential (max_concurrency=1) | {s:.1f} | {', '.join(f'{r:.1f}' for r in rates['sequential'])} |")
    print(f"| bounded concurrency (max_concurrency={args.concurrency}) | {c:.1f} | "
          f"{', '.join(f'{r:.1f}' for r in rates['concurrent'])} |")
    print(f"| **ratio** | **{c / s:.2f}x** | |")
    print(f"\ncalls: sequential {seq.usage.calls}, concurrent {par.usage.calls}; "
          f"failed: {seq.usage.failed_calls + par.usage.failed_calls}")


if __name__ == "__main__":
    main()
