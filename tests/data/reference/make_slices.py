"""Cut the small reference slices in this folder from the full sample files.

The full files come from public repositories (each SOURCE.md names repository, path, commit
and license). The tests read only these slices, so they run from a plain clone:

    python tests/data/reference/make_slices.py /path/to/shared/data

Slices are the first N records of each file (order kept), so a slice is reproducible from the
named commit. Files small enough are copied whole.
"""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# relative path → records kept (None: the whole file)
SLICES = {
    "formats/llamafactory/alpaca_en_demo.json": 600,
    "formats/llamafactory/alpaca_zh_demo.json": 100,
    "formats/llamafactory/dpo_en_demo.json": 20,
    "formats/llamafactory/dpo_zh_demo.json": 20,
    "formats/llamafactory/glaive_toolcall_en_demo.json": 60,
    "formats/llamafactory/identity.json": None,
    "formats/llamafactory/kto_en_demo.json": 30,
    "formats/llamafactory/v1_dpo_demo.jsonl": None,
    "formats/llamafactory/v1_sft_demo.jsonl": 100,
    "formats/llamafactory/dataset_info.json": None,
    "formats/llamafactory/LICENSE": None,
    "formats/openai_cookbook/drone_training.jsonl": 20,
    "formats/openai_cookbook/toy_chat_fine_tuning.jsonl": None,
    "formats/openai_cookbook/LICENSE": None,
    "formats/sharegpt_fastchat/fastchat_dummy_conversation.json": 100,
    "formats/sharegpt_fastchat/LICENSE_FastChat": None,
    "instructions/alpaca_seed_tasks/seed_tasks.jsonl": 20,
    "instructions/alpaca_seed_tasks/DATA_LICENSE": None,
    "preferences/hh_rlhf_harmless/harmless-base_test.jsonl.gz": 300,
    "preferences/hh_rlhf_harmless/LICENSE": None,
    "evalsets/gsm8k/test.jsonl": 400,
    "evalsets/gsm8k/LICENSE": None,
    "evalsets/humaneval/HumanEval.jsonl.gz": None,
    "evalsets/humaneval/LICENSE": None,
}


def cut(src: Path, dst: Path, n: int | None) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if n is None:
        shutil.copyfile(src, dst)
    elif src.name.endswith(".json"):
        records = json.loads(src.read_text(encoding="utf-8"))[:n]
        dst.write_text(json.dumps(records, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    elif src.name.endswith(".jsonl.gz"):
        with gzip.open(src, "rb") as f:
            lines = [next(f) for _ in range(n)]
        dst.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    else:
        with open(src, "rb") as f:
            lines = [next(f) for _ in range(n)]
        dst.write_bytes(b"".join(lines))


def main(shared: str) -> None:
    for rel, n in SLICES.items():
        cut(Path(shared) / rel, HERE / rel, n)
        print(f"{rel}: {'whole file' if n is None else f'first {n} records'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(HERE.parents[3] / "shared" / "data"))
