"""The local runner and recipes: exact accounting, checkpoints, quarantine, checks before work."""

from __future__ import annotations

import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import ClassVar

import polars as pl
import pyarrow.parquet as pq
import pytest
from pydantic import Field

from sluice.errors import MissingDependency, RecipeError, SluiceError
from sluice.recipe import Recipe, load_recipe
from sluice.runner import run
from sluice.stage import Filter, Requirement, Scorer, StageConfig, Transform, stage_class

REPO = Path(__file__).resolve().parents[1]
# Recipes below name test-only stages as `test_runner:Class`; make that importable in any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
BASIC = """
name: basic
input: raw@latest
output: curated
batch_size: {batch_size}
stages:
  - stage: normalize
  - stage: length
  - stage: length_filter
    min_chars: {{user: {min_user}, assistant: 2}}
    max_chars: {{user: 20000, assistant: 50000}}
    max_turns: {max_turns}
"""


# -- test-only stages (referenced from recipes as test_runner:Class) ---------------------------

class FlakyConfig(StageConfig):
    ids: list[str] = Field(default_factory=list, description="ids of the rows that fail")


class Flaky(Transform):
    """Upper-cases nothing; fails (``_error``) on the rows whose id it is given."""

    name = "flaky"
    Config = FlakyConfig
    reads = ("messages", "id")
    rewrites = ("messages",)

    def transform(self, batch: pl.DataFrame) -> pl.DataFrame:
        bad = pl.col("id").is_in(self.config.ids)
        return batch.with_columns(
            pl.when(bad).then(pl.lit("could not redact")).otherwise(pl.lit(None, pl.String)).alias("_error"),
            pl.when(bad).then(pl.lit("redaction_failed")).otherwise(pl.lit(None, pl.String)).alias("_error_kind"),
        )


class NeedsPii(Scorer):
    name = "needs_pii"
    adds = ("pii_count",)
    requires = (Requirement("not_a_real_pkg", "pii"),)

    def setup(self) -> None:
        raise AssertionError("setup() ran although a requirement is missing")

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        raise AssertionError("score() ran although a requirement is missing")


class LangFilter(Filter):
    name = "lang_filter"
    reads = ("lang",)
    reasons = {"wrong_lang": "not the wanted language"}

    def decide(self, batch: pl.DataFrame) -> pl.Series:
        raise AssertionError("decide() ran although its column is missing")


class FirstUserDedup(Filter):
    """Whole-dataset stage: keep the first conversation per first user message."""

    name = "first_user_dedup"
    whole_dataset = True
    reads = ("messages", "id")
    reasons = {"duplicate": "same first user message as an earlier row"}
    seen_rows: ClassVar[list[int]] = []

    def decide(self, batch: pl.DataFrame) -> pl.DataFrame:
        FirstUserDedup.seen_rows.append(batch.height)
        key = pl.col("messages").list.eval(
            pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content")).list.first()
        df = batch.select(key.alias("key"), pl.col("id"))
        first = df.group_by("key", maintain_order=True).agg(pl.col("id").first().alias("kept"))
        df = df.join(first, on="key", how="left", maintain_order="left")
        dup = pl.col("id") != pl.col("kept")
        return df.select(pl.when(dup).then(pl.lit("duplicate")).alias("reason"),
                         pl.when(dup).then(pl.col("kept")).alias("duplicate_of"),
                         pl.when(dup).then(pl.lit("first user message")).alias("detail"))


class WordCount(Scorer):
    name = "word_count"
    adds = ("n_words",)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        words = pl.element().struct.field("content").str.split(" ").list.len()
        return batch.select(pl.col("messages").list.eval(words).list.sum().cast(pl.Int64).alias("n_words"))


class Boom(Filter):
    """Fails while ``fail`` is set (not part of its config, so its fingerprint stays the same)."""

    name = "boom"
    reads = ("id",)
    reasons = {"never": "never used"}
    fail: ClassVar[bool] = True

    def decide(self, batch: pl.DataFrame) -> pl.Series:
        if Boom.fail:
            raise RuntimeError("stage crashed")
        return pl.Series("reason", [None] * batch.height, dtype=pl.String)


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture
def raw(store, sample_logs):
    from sluice.curate.ingest import ingest

    return ingest([str(sample_logs)], "raw", store=store).version


def recipe_file(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def basic(tmp_path: Path, *, min_user: int = 2, max_turns: int = 64, batch_size: int = 20000):
    return load_recipe(recipe_file(tmp_path, BASIC.format(min_user=min_user, max_turns=max_turns,
                                                          batch_size=batch_size)))


class Recorder:
    def __init__(self):
        self.events = []

    def stage_started(self, index, name, total):
        self.events.append(("start", index, name, total))

    def advanced(self, index, rows):
        self.events.append(("advance", index, rows))

    def stage_finished(self, index, stats):
        self.events.append(("finish", index, stats.name, stats.cached))


def assert_accounting(result, rows_in: int) -> dict:
    m = result.version.manifest
    acc = m["accounting"]
    assert acc["rows_in"] == rows_in == result.input.num_rows()
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    assert acc["kept"] == result.version.num_rows() == m["rows"]
    assert acc["rejected_total"] == sum(sum(r.values()) for r in acc["rejected"].values())
    assert acc["rejected_total"] == result.version.num_rows("rejected")
    assert acc["quarantined_total"] == sum(sum(q.values()) for q in acc["quarantined"].values())
    assert acc["quarantined_total"] == result.version.num_rows("quarantine")
    prev_kept = rows_in
    for s in result.stages:  # every stage's own books balance and chain into the next stage
        assert s.rows_in == prev_kept
        assert s.rows_in == s.kept + sum(s.rejected.values()) + sum(s.quarantined.values())
        prev_kept = s.kept
    assert prev_kept == acc["kept"]
    return acc


# -- the run -----------------------------------------------------------------------------------

def test_run_accounting_and_rejected_rows(store, raw, tmp_path):
    recipe, stages = basic(tmp_path)
    progress = Recorder()
    result = run(recipe, stages, store=store, progress=progress)
    assert result.version.ref == "curated@v1" and not result.reused
    assert result.input.ref == raw.ref == "raw@v1"
    acc = assert_accounting(result, 591)
    assert set(acc["rejected"]) == {"length_filter"}
    assert acc["rejected"]["length_filter"].get("empty_final_answer", 0) > 0
    assert acc["quarantined"] == {}
    assert [s.name for s in result.stages] == ["normalize", "length", "length_filter"]
    assert not any(s.cached for s in result.stages)

    m = result.version.manifest
    assert m["parents"] == ["raw@v1"]
    assert m["recipe"]["name"] == "basic"
    assert [s["stage"] for s in m["recipe"]["stages"]] == ["normalize", "length", "length_filter"]
    assert m["recipe"]["stages"][2]["min_chars"] == {"user": 2, "assistant": 2}
    assert "empty_final_answer" in m["reasons"]["length_filter"]
    assert m["fingerprint"] and [s["name"] for s in m["stages"]] == ["normalize", "length", "length_filter"]

    data = result.version.read()
    for col in ("id", "messages", "len_user_chars", "len_assistant_chars", "len_final_chars", "n_turns"):
        assert col in data.column_names
    rejected = result.version.read("rejected")
    assert set(rejected.column("stage").to_pylist()) == {"length_filter"}
    assert Counter(rejected.column("reason").to_pylist()) == Counter(acc["rejected"]["length_filter"])
    # a rejected row keeps every column it had, including the scores that decided it
    raw_rows = {r["id"]: r for r in raw.read().to_pylist()}
    for row in rejected.to_pylist():
        original = raw_rows[row["id"]]
        for col in ("source", "source_id", "created_at", "feedback", "metadata", "tools"):
            assert row[col] == original[col]
        assert [m["role"] for m in row["messages"]] == [m["role"] for m in original["messages"]]
        assert row["len_final_chars"] is not None
        if row["reason"] == "empty_final_answer":
            assert row["len_final_chars"] == 0
    assert set(data.column("id").to_pylist()).isdisjoint(rejected.column("id").to_pylist())
    assert len(set(data.column("id").to_pylist()) | set(rejected.column("id").to_pylist())) == 591

    # normalize really rewrote the text: no message has leading/trailing whitespace left
    contents = [m["content"] for row in data.column("messages").to_pylist() for m in row if m["content"]]
    assert all(c == c.strip() for c in contents)

    # progress: each stage started and finished, in order
    starts = [e for e in progress.events if e[0] == "start"]
    assert [(e[1], e[2]) for e in starts] == [(0, "normalize"), (1, "length"), (2, "length_filter")]
    assert starts[0][3] == 591


def test_rerun_is_a_noop(store, raw, tmp_path):
    recipe, stages = basic(tmp_path)
    first = run(recipe, stages, store=store)
    recipe, stages = basic(tmp_path)  # fresh objects: nothing is remembered in memory
    progress = Recorder()
    again = run(recipe, stages, store=store, progress=progress)
    assert again.reused and again.version.ref == first.version.ref
    assert all(s.cached for s in again.stages)
    assert [(s.kept, dict(s.rejected)) for s in again.stages] == [(s.kept, dict(s.rejected)) for s in first.stages]
    assert [v.ref for v in store.versions("curated")] == ["curated@v1"]
    assert not any(e[0] == "advance" for e in progress.events)
    assert all(e[3] for e in progress.events if e[0] == "finish")


def test_threshold_change_reruns_only_the_filter(store, raw, tmp_path):
    recipe, stages = basic(tmp_path)
    first = run(recipe, stages, store=store)
    recipe, stages = basic(tmp_path, min_user=40, max_turns=6)
    second = run(recipe, stages, store=store)
    assert not second.reused and second.version.ref == "curated@v2"
    assert [s.cached for s in second.stages] == [True, True, False]
    assert [s.fingerprint for s in second.stages[:2]] == [s.fingerprint for s in first.stages[:2]]
    assert second.stages[2].fingerprint != first.stages[2].fingerprint
    acc = assert_accounting(second, 591)
    reasons = acc["rejected"]["length_filter"]
    assert reasons.get("too_short_user", 0) > 0 and reasons.get("too_many_turns", 0) > 0
    assert second.version.num_rows() < first.version.num_rows()
    # going back to the first thresholds finds every checkpoint again and publishes v3 (same content as v1)
    recipe, stages = basic(tmp_path)
    third = run(recipe, stages, store=store)
    assert all(s.cached for s in third.stages) and not third.reused
    assert third.version.ref == "curated@v3"
    assert third.version.read().equals(first.version.read())


def test_batch_size_does_not_change_the_result(store, raw, tmp_path):
    recipe, stages = basic(tmp_path)
    one = run(recipe, stages, store=store)
    recipe, stages = basic(tmp_path, batch_size=50)
    many = run(recipe, stages, store=store)
    assert many.reused and many.version.ref == one.version.ref


def test_workers_give_the_same_output(tmp_path, sample_logs):
    from sluice.curate.ingest import ingest
    from sluice.store import Store

    results = []
    for workers in (1, 2):
        store = Store(tmp_path / f"w{workers}")
        ingest([str(sample_logs)], "raw", store=store)
        recipe, stages = basic(tmp_path, batch_size=64)
        recipe.workers = workers
        results.append(run(recipe, stages, store=store))
    one, two = results
    for part in ("data", "rejected", "quarantine"):
        assert one.version.read(part).equals(two.version.read(part)), part
    assert one.version.manifest["accounting"] == two.version.manifest["accounting"]
    assert one.version.manifest["fingerprint"] == two.version.manifest["fingerprint"]


def test_transform_errors_quarantine_exactly_those_rows(store, raw, tmp_path):
    ids = raw.read().column("id").to_pylist()
    bad = [ids[3], ids[100], ids[590]]
    path = recipe_file(tmp_path, f"""
        input: raw@latest
        output: redacted
        batch_size: 100
        plugins: [test_runner]
        stages:
          - stage: test_runner:Flaky
            ids: {bad}
          - stage: length
    """)
    recipe, stages = load_recipe(path)
    result = run(recipe, stages, store=store)
    acc = assert_accounting(result, 591)
    assert acc["quarantined"] == {"flaky": {"redaction_failed": 3}}
    assert acc["rejected_total"] == 0
    q = result.version.read("quarantine")
    assert sorted(q.column("id").to_pylist()) == sorted(bad)
    assert set(q.column("stage").to_pylist()) == {"flaky"}
    assert sorted(q.column("row").to_pylist()) == [3, 100, 590]  # the row index within the stage's input
    assert q.column("raw").null_count == 3  # no copy of the (possibly sensitive) row
    kept = set(result.version.read().column("id").to_pylist())
    assert kept == set(ids) - set(bad)
    assert "_error" not in result.version.read().column_names
    assert "_error_kind" not in result.version.read().column_names


def test_transform_without_error_kind_gets_a_default(store, raw):
    ids = raw.read().column("id").to_pylist()

    class NoKind(Flaky):
        name = "nokind"

        def transform(self, batch):
            return super().transform(batch).drop("_error_kind")

    result = run(Recipe(input="raw", output="x"), [NoKind(ids=ids[:2])], store=store)
    assert result.version.manifest["accounting"]["quarantined"] == {"nokind": {"nokind_failed": 2}}


def test_whole_dataset_filter_sees_every_row(store, raw, tmp_path):
    FirstUserDedup.seen_rows.clear()
    recipe = Recipe(input="raw@v1", output="dedup", batch_size=50)
    stages = [stage_class("normalize")(), FirstUserDedup()]
    result = run(recipe, stages, store=store)
    assert FirstUserDedup.seen_rows == [591]
    acc = assert_accounting(result, 591)
    rejected = result.version.read("rejected").to_pylist()
    assert len(rejected) == acc["rejected"]["first_user_dedup"]["duplicate"] > 0
    kept_ids = set(result.version.read().column("id").to_pylist())
    for row in rejected:
        assert row["duplicate_of"] in kept_ids and row["detail"] == "first user message"


def test_everything_rejected_still_publishes_columns(store, raw, tmp_path):
    recipe, stages = basic(tmp_path, min_user=10**9)
    recipe.allow_empty = True  # an empty result fails a run unless the recipe allows it (test_outcomes.py)
    result = run(recipe, stages, store=store)
    assert_accounting(result, 591)
    assert result.version.num_rows() == 0
    assert "len_user_chars" in result.version.read().column_names
    # the empty version is a valid input for the next run
    nxt = run(Recipe(input=result.version.ref, output="after"), [FirstUserDedup(), WordCount()], store=store)
    assert nxt.version.num_rows() == 0 and nxt.version.manifest["accounting"]["rows_in"] == 0
    assert {"len_user_chars", "n_words"} <= set(nxt.version.read().column_names)


def test_interrupted_run_resumes_from_checkpoints(store, raw, tmp_path):
    def stages():
        return [stage_class("normalize")(), stage_class("length")(), Boom()]

    recipe = Recipe(input="raw", output="cur")
    Boom.fail = True
    try:
        with pytest.raises(RuntimeError, match="stage crashed"):
            run(recipe, stages(), store=store)
    finally:
        Boom.fail = False
    assert store.versions("cur") == []
    ckpts = store.root / ".checkpoints"
    assert len([p for p in ckpts.iterdir() if not p.name.startswith(".")]) == 2
    # the crashed stage keeps only its finished batches (for resume), never a half-written file
    assert [p.name[:9] for p in ckpts.iterdir() if p.name.startswith(".")] == [".partial-"]
    assert not [p for p in ckpts.rglob("*") if ".tmp-" in p.name]
    result = run(recipe, stages(), store=store)
    assert [s.cached for s in result.stages] == [True, True, False]
    assert_accounting(result, 591)


# -- checks before any work ------------------------------------------------------------------

def test_missing_package_fails_before_work(store, raw):
    stages = [stage_class("length")(), NeedsPii()]
    with pytest.raises(MissingDependency) as e:
        run(Recipe(input="raw", output="pii"), stages, store=store)
    text = str(e.value)
    assert "not_a_real_pkg" in text and "needs_pii" in text
    assert e.value.hint == "pip install 'sluice[pii]'"
    assert not (store.root / ".checkpoints").exists()
    assert store.versions("pii") == []


def test_missing_column_fails_before_work(store, raw):
    with pytest.raises(RecipeError) as e:
        run(Recipe(input="raw", output="x"), [stage_class("normalize")(), LangFilter()], store=store)
    text = str(e.value)
    assert "stages[1]" in text and "lang_filter" in text and "lang" in text
    assert not (store.root / ".checkpoints").exists()
    # the filter before the scorer that feeds it
    with pytest.raises(RecipeError) as e:
        run(Recipe(input="raw", output="x"), [stage_class("length_filter")(), stage_class("length")()], store=store)
    assert "stages[0] (length_filter)" in str(e.value) and "len_user_chars" in str(e.value)
    assert not (store.root / ".checkpoints").exists()


def test_wrong_record_kind_fails_before_work(store):
    from sluice.schemas import PREFERENCE

    msgs = [{"role": "user", "content": "q"}]
    row = {"id": "p1", "source": "t", "prompt": msgs, "chosen": [{"role": "assistant", "content": "a"}],
           "rejected": [{"role": "assistant", "content": "b"}], "origin": "edit"}
    import pyarrow as pa

    with store.create("prefs", "preference") as w:
        w.write(pa.Table.from_pylist([row], schema=PREFERENCE.schema))
        w.publish({"rows_in": 1, "kept": 1, "rejected_total": 0, "rejected": {}, "quarantined_total": 0,
                   "quarantined": {}})
    with pytest.raises(RecipeError) as e:
        run(Recipe(input="prefs", output="x"), [stage_class("length")()], store=store)
    assert "conversation" in str(e.value) and "preference" in str(e.value)
    assert not (store.root / ".checkpoints").exists()


def test_missing_input_and_output(store, raw):
    with pytest.raises(RecipeError):
        run(Recipe(output="x"), [], store=store)
    with pytest.raises(RecipeError):
        run(Recipe(input="raw"), [], store=store)
    with pytest.raises(SluiceError) as e:
        run(Recipe(input="nope@v1", output="x"), [], store=store)
    assert "nope" in str(e.value)


# -- recipes -----------------------------------------------------------------------------------

def test_recipe_reports_every_problem_at_once(tmp_path):
    path = recipe_file(tmp_path, """
        name: broken
        inptu: raw@latest
        output: curated
        stages:
          - stage: normalize
            form: NFX
          - stage: no_such_stage
          - stage: length_filter
            max_turns: lots
            min_charz: {user: 1}
          - form: NFC
    """)
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    problems = e.value.problems
    text = "\n".join(problems)
    assert all(str(path) in p for p in problems), problems
    assert any("inptu" in p for p in problems)                                       # unknown top-level key
    assert any("stages[0] (normalize)" in p and "form" in p for p in problems)         # bad value
    assert any("stages[1] (no_such_stage)" in p and "unknown stage" in p for p in problems)
    assert any("stages[2] (length_filter)" in p and "max_turns" in p for p in problems)  # wrong type
    assert any("stages[2] (length_filter)" in p and "min_charz" in p for p in problems)  # unknown key
    assert any("stages[3]" in p and "stage" in p for p in problems)                    # no stage name
    assert len(problems) == 6, text
    assert "sluice stages" in e.value.hint


def test_recipe_top_level_type_errors_and_stage_errors_together(tmp_path):
    path = recipe_file(tmp_path, """
        batch_size: many
        stages:
          - stage: length_filter
            drop_empty_final_answer: maybe
    """)
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    text = "\n".join(e.value.problems)
    assert "batch_size" in text and "stages[0] (length_filter): drop_empty_final_answer" in text


@pytest.mark.parametrize("text,needle", [
    ("stages: [\n  - stage: x\n", "not valid YAML"),
    ("- just\n- a list\n", "mapping"),
    ("stages: {stage: normalize}\n", "stages"),
])
def test_recipe_shape_errors(tmp_path, text, needle):
    with pytest.raises(RecipeError) as e:
        load_recipe(recipe_file(tmp_path, text))
    assert needle in str(e.value)


def test_missing_recipe_file(tmp_path):
    with pytest.raises(RecipeError) as e:
        load_recipe(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(e.value)


def test_custom_stage_by_path(tmp_path):
    recipe, stages = load_recipe(recipe_file(tmp_path, """
        plugins: [test_runner]
        stages:
          - stage: test_runner:Flaky
            ids: [a]
    """))
    assert isinstance(stages[0], Flaky) and stages[0].config.ids == ["a"]
    with pytest.raises(RecipeError) as e:
        load_recipe(recipe_file(tmp_path, "plugins: [test_runner]\nstages:\n  - stage: test_runner:Recorder\n"))
    assert "not a sluice" in "\n".join(e.value.problems)
    with pytest.raises(RecipeError) as e:
        load_recipe(recipe_file(tmp_path, "plugins: [no_such_module_xyz]\nstages:\n  - stage: no_such_module_xyz:Stage\n"))
    assert "cannot load stage" in "\n".join(e.value.problems)


def test_every_example_recipe_loads():
    paths = sorted(p for ext in ("*.yaml", "*.yml") for p in (REPO / "examples").rglob(ext))
    recipes = [p for p in paths if "stages" in p.read_text()]
    assert recipes, "examples/ holds at least one recipe"
    for path in recipes:
        recipe, stages = load_recipe(path)
        assert stages and len(stages) == len(recipe.stages), path


def test_quickstart_recipe_runs(store, raw):
    recipe, stages = load_recipe(REPO / "examples" / "quickstart.yaml")
    result = run(recipe, stages, store=store)
    assert result.version.ref == "curated@v1"
    assert_accounting(result, 591)
    raw_columns = raw.read().column_names
    assert pq.read_schema(result.version.files()[0]).names[:len(raw_columns)] == raw_columns


def test_recipe_entry_that_is_not_a_mapping_keeps_its_index(tmp_path):
    path = recipe_file(tmp_path, """
        stages:
          - normalize
          - stage: nope
    """)
    with pytest.raises(RecipeError) as e:
        load_recipe(path)
    problems = e.value.problems
    assert len(problems) == 2, problems
    assert "stages[0]" in problems[0] and "mapping" in problems[0]
    assert "stages[1] (nope)" in problems[1]


def test_transform_cannot_change_undeclared_columns(store, raw):
    class Sneaky(Transform):
        name = "sneaky"
        rewrites = ("messages",)

        def transform(self, batch):
            return batch.with_columns(pl.lit("changed").alias("source"))

    result = run(Recipe(input="raw", output="x"), [Sneaky()], store=store)
    assert result.version.read().column("source").to_pylist() == raw.read().column("source").to_pylist()

    class Ghost(Transform):
        name = "ghost"
        rewrites = ("redacted_text",)

        def transform(self, batch):
            return batch

    with pytest.raises(RecipeError) as e:
        run(Recipe(input="raw", output="y"), [Ghost()], store=store)
    assert "redacted_text" in str(e.value)


def test_stale_checkpoint_folders_of_dead_runs_are_removed(store, raw, tmp_path):
    stale = store.root / ".checkpoints" / ".tmp-0123abcd-999999999"
    stale.mkdir(parents=True)
    (stale / "stats.json").write_text("{}")
    recipe, stages = basic(tmp_path)
    run(recipe, stages, store=store)
    assert not stale.exists()
    assert not list((store.root / ".checkpoints").glob(".tmp-*"))


# -- counters and facts a stage reports for the manifest ---------------------------------------

class _CountingScorer(Scorer):
    name = "counting"
    adds = ("n_messages",)

    def score(self, batch):
        import polars as pl

        n = batch["messages"].list.len()
        self.count("messages", int(n.sum()))
        self.count("rows", batch.height)
        return pl.DataFrame({"n_messages": n.cast(pl.Int64)})

    def describe(self):
        return {"model": "none", "fallback": False}


@pytest.mark.parametrize("workers", [1, 2])
def test_stage_counters_and_facts_reach_the_manifest(store, sample_logs, workers):
    from sluice.curate.ingest import ingest as run_ingest

    raw = run_ingest([str(sample_logs)], to="raw", store=store, workers=1).version
    recipe = Recipe(batch_size=100, workers=workers)
    result = run(recipe, [_CountingScorer()], store=store, input_ref="raw", output="counted")
    (stage,) = result.version.manifest["stages"]
    expected = int(sum(len(m) for m in raw.read().column("messages").to_pylist()))
    assert stage["counters"] == {"messages": expected, "rows": raw.num_rows()}
    assert stage["info"] == {"model": "none", "fallback": False}
