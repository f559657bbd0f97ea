"""Ingest's spawned parser workers import only what parsing needs: polars (imported by the main
process's post-parse checks) cost each of the 2 workers ~0.3 s CPU at start and ingest about a fifth
of its speed at 100k records before issue #34 (BENCHMARKS.md). The speed ratio itself is checked by
scripts/perfcheck.sh (benchmarks/run.py --size quick), not here: a timing is not stable at load 20."""

import subprocess
import sys


def test_parser_worker_imports_no_polars():
    code = ("import sys\nfrom sluice.curate.ingest.run import parse_lines  # what a worker unpickles\n"
            "print(sorted(m for m in ('polars', 'pandas', 'torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stdout


def test_parser_worker_start_skips_pandas_and_builds_the_same_arrays():
    # pyarrow's first pa.array of a list imports pandas (0.3 s CPU) just to ask whether it is there;
    # a parser worker marks it absent. The caller's own process is never changed (checked below).
    code = ("import sys, pyarrow as pa\nfrom sluice.curate.ingest.run import _parser_worker\n_parser_worker()\n"
            "a = pa.array(['x', None, 'y'], pa.string())\n"
            "print('pandas' in sys.modules, a.to_pylist() == ['x', None, 'y'], a.type == pa.string())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert out.stdout.split() == ["False", "True", "True"], out.stdout + out.stderr


def test_small_files_parse_in_process_and_large_ones_in_workers(tmp_path, monkeypatch):
    """A pool only for files of more than PARALLEL_MIN_CHUNKS chunks; the rows are the same either way."""
    import json

    from sluice.curate.ingest import ingest, run
    from sluice.store import Store

    path = tmp_path / "logs.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                     {"role": "assistant", "content": "a"}]}) + "\n"
                            for i in range(200)))
    size = path.stat().st_size
    seen, real = [], run.ordered_map
    monkeypatch.setattr(run, "ordered_map", lambda fn, items, workers=1, **kw: seen.append(workers)
                        or real(fn, items, workers, **kw))
    store = Store(tmp_path / "store")
    small = ingest([str(path)], to="small", store=store, workers=2, chunk_bytes=size // run.PARALLEL_MIN_CHUNKS + 1)
    large = ingest([str(path)], to="large", store=store, workers=2, chunk_bytes=size // (run.PARALLEL_MIN_CHUNKS + 2))
    assert seen == [1, 2]
    assert not any(type(f).__name__ == "_NoPandas" for f in sys.meta_path)  # the caller's process: untouched
    assert small.version.read().equals(large.version.read()) and small.rows_in == large.rows_in == 200


def test_duplicate_key_precheck_agrees_with_the_full_key_count():
    """_may_hide_keys counts key ends with byte counts unless whitespace stands right before a colon;
    it must answer what counting every key end with the regex answers, on any JSON text."""
    import json
    import random

    import orjson

    from sluice.curate.ingest.run import _KEY_SPACED, _count_keys, _may_hide_keys

    def reference(raw, value):
        return b'\\\\"' in raw or len(_KEY_SPACED.findall(raw)) > _count_keys(value)

    rnd = random.Random(0)
    words = ["a", "b", "a b", 'say "hi" :', "x\\", "k :v", "\t:", '":', "line\nbreak", "é", ""]

    def value(depth=0):
        kind = rnd.random()
        if depth < 3 and kind < 0.3:
            return {rnd.choice(words): value(depth + 1) for _ in range(rnd.randint(0, 4))}
        if depth < 3 and kind < 0.45:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        return rnd.choice([rnd.choice(words), rnd.randint(-5, 5), None, True, 1.5])

    seps = [(",", ":"), (", ", ": "), (",", " : "), (" ,", " :"), (",\t", "\t:\t"), (",", ":\n")]
    checked = 0
    for _ in range(4000):
        record = {rnd.choice(words): value() for _ in range(rnd.randint(1, 5))}
        raw = json.dumps(record, separators=rnd.choice(seps), ensure_ascii=rnd.random() < 0.5).encode()
        if rnd.random() < 0.3 and raw.startswith(b'{"'):  # a key given twice
            raw = b'{"dup": 1, "dup" : 2, ' + raw[1:]
        parsed = orjson.loads(raw)
        assert _may_hide_keys(raw, parsed) == reference(raw, parsed), raw
        checked += 1
    assert checked == 4000
