"""Executors: each stage set up once per worker, the same result on a real 2-node Ray cluster as
locally, and kills (of a Ray worker, of the driver) that never publish a partial version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sluice.curate.ingest import ingest
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.store import Store

from executor_stages import AssignedWords, CountedWords
from sluice.errors import RecipeError, SluiceError

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
COUNTED = """
name: counted
input: raw@latest
output: counted
batch_size: 50
executor: {executor}
plugins: [executor_stages]
stages:
  - stage: normalize
  - stage: executor_stages:CountedWords
  - stage: length
"""


def _raw(root: Path, sample_logs: Path) -> Store:
    store = Store(root)
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    return store


def _lines(folder: Path, name: str) -> list[str]:
    path = folder / name
    return path.read_text().split("\n")[:-1] if path.is_file() else []


def outcome(version) -> dict:
    """Every row's fate and the accounting (what must not depend on the executor)."""
    kept = sorted(version.read().column("id").to_pylist())
    rejected = sorted((r["id"], r["stage"], r["reason"], r["duplicate_of"] or "")
                      for r in version.read("rejected").select(["id", "stage", "reason", "duplicate_of"]).to_pylist())
    quarantine = version.read("quarantine")
    quarantined = sorted(map(str, quarantine.column("id").to_pylist())) if quarantine.num_rows else []
    return {"kept": kept, "rejected": rejected, "quarantined": quarantined,
            "accounting": version.manifest["accounting"]}


# -- local ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_local_executor_sets_each_stage_up_once_per_worker(tmp_path, sample_logs, monkeypatch, workers):
    monkeypatch.setenv("SLUICE_TEST_LOG", str(tmp_path))
    store = _raw(tmp_path / "store", sample_logs)
    result = run(Recipe(batch_size=50, workers=workers), [CountedWords()], store=store, input_ref="raw", output="c")
    batches = _lines(tmp_path, "batches.log")
    setups = [line.split()[0] for line in _lines(tmp_path, "setup.log")]
    assert len(batches) == 12 and result.version.num_rows() == 591  # 591 rows in batches of 50
    assert len(setups) == len(set(setups)) <= workers  # one setup per worker process, never per batch
    assert set(setups) == set(batches)  # the processes that ran batches are the ones set up


def test_killed_driver_resumes_redoing_only_the_batch_in_flight(tmp_path, sample_logs):
    log = tmp_path / "log"
    log.mkdir()
    _hold_after(log, 4)  # four batches finish, the fifth waits: the kill lands mid-stage, whatever the load
    recipe = tmp_path / "counted.yaml"
    recipe.write_text(COUNTED.format(executor="local"))
    _raw(tmp_path / "killed", sample_logs)
    env = {**os.environ, "PYTHONPATH": str(TESTS), "SLUICE_TEST_LOG": str(log)}
    cmd = [sys.executable, "-m", "sluice.cli", "run", str(recipe), "--root", str(tmp_path / "killed"), "--no-report"]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    partial = tmp_path / "killed" / ".checkpoints"
    _wait(lambda: len(list(partial.glob(".partial-*/batches/*.json"))) == 4 and len(_lines(log, "batches.log")) == 5,
          driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert Store(tmp_path / "killed").versions("counted") == []  # nothing published
    finished = len(list(partial.glob(".partial-*/batches/*.json")))
    assert finished == 4
    before = len(_lines(log, "batches.log"))
    (log / "hold").unlink()
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert len(_lines(log, "batches.log")) - before == 12 - finished  # only unfinished batches ran again
    clean = run(Recipe(batch_size=50), _stages(), store=_raw(tmp_path / "clean", sample_logs), input_ref="raw",
                output="counted")
    assert outcome(Store(tmp_path / "killed").resolve("counted")) == outcome(clean.version)


def _stages():
    from sluice.stage import stage_class

    return [stage_class("normalize")(), CountedWords(), stage_class("length")()]


def _wait(ready, driver: subprocess.Popen | None) -> None:
    """Until ``ready()``: the run is held there (``_hold_after``), so only a run that ended early,
    never a slow machine, stops the wait. (The bound is a guard against a hang, not a timing.)"""
    end = time.monotonic() + 900
    while not ready():
        if driver is not None and driver.poll() is not None:
            err = driver.stderr.read() if driver.stderr else ""
            raise AssertionError(f"the run ended (exit {driver.returncode}) before the point of the kill: {err!s:.3000}")
        if time.monotonic() > end:
            raise AssertionError("the run never reached the point of the kill")
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _hold_after(log: Path, n: int) -> None:
    """Let ``n`` batches of CountedWords finish; later ones wait until ``log/hold`` is removed."""
    tmp = log / "hold.tmp"
    tmp.write_text(str(n))
    tmp.rename(log / "hold")  # atomic: a worker never reads half a number


# -- Ray: a real cluster of two nodes with one CPU each, started on this machine ---------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    log = tmp_path_factory.mktemp("ray-log")
    # Ray's workers inherit the environment of the processes that start the nodes
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "SLUICE_TEST_LOG", "RAY_raylet_start_wait_time_s")}
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), *filter(None, [saved["PYTHONPATH"]])])
    os.environ["SLUICE_TEST_LOG"] = str(log)
    os.environ["RAY_raylet_start_wait_time_s"] = "120"  # a loaded CI machine starts nodes slowly
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    try:
        yield nodes.address, log
    finally:
        nodes.shutdown()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _sluice(args: list[str], address: str, **kw):
    env = {**os.environ, "RAY_ADDRESS": address}
    return [sys.executable, "-m", "sluice.cli", *args], env


def _finish(driver: subprocess.Popen) -> tuple[str, str]:
    """The driver's output once it ends. The bound only guards against a hang: the quickstart on the
    two one-CPU nodes took ~12 min at load 8 (a new actor pool per stage, each loading its models),
    past the 600 s this bound once was. A driver still running at the bound is killed, so it does
    not hold the cluster's CPUs under the next test."""
    try:
        return driver.communicate(timeout=1800)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver.communicate()
        raise


def _reset(log: Path, hold: int | None = None) -> None:
    for f in log.iterdir():
        f.unlink()
    if hold is not None:
        _hold_after(log, hold)


def test_quickstart_on_a_two_node_ray_cluster_matches_local(cluster, tmp_path, sample_logs):
    address, log = cluster
    _reset(log)
    ray_store = _raw(tmp_path / "ray", sample_logs)
    cmd, env = _sluice(["run", "examples/quickstart.yaml", "--executor", "ray", "--root", str(ray_store.root),
                        "--no-report", "--json"], address)
    on_ray = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    from sluice.recipe import load_recipe

    spec, stages = load_recipe(REPO / "examples" / "quickstart.yaml")
    cwd = os.getcwd()
    os.chdir(REPO)  # the recipe's eval-set paths are relative to the repository
    try:  # the local run meanwhile, in this process
        local = run(spec, stages, store=_raw(tmp_path / "local", sample_logs))
    finally:
        os.chdir(cwd)
    _, stderr = _finish(on_ray)
    assert on_ray.returncode == 0, stderr[-3000:]
    got, want = outcome(ray_store.resolve("curated")), outcome(local.version)
    assert got == want
    assert want["accounting"]["rejected_total"] > 0 and want["kept"]


def test_ray_sets_each_stage_up_once_per_actor_on_both_nodes(cluster, tmp_path, sample_logs):
    address, log = cluster
    _reset(log)
    recipe = tmp_path / "counted.yaml"
    recipe.write_text(COUNTED.format(executor="ray"))  # `executor: ray` in the recipe
    store = _raw(tmp_path / "ray", sample_logs)
    cmd, env = _sluice(["run", str(recipe), "--root", str(store.root), "--no-report"], address)
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    setups = [line.split() for line in _lines(log, "setup.log")]
    assert len(_lines(log, "batches.log")) == 12
    assert len(setups) == len({pid for pid, _ in setups}) == 2  # two actors, one setup each
    assert len({node for _, node in setups}) == 2  # one on each node
    local = run(Recipe(batch_size=50), _stages(), store=_raw(tmp_path / "local", sample_logs), input_ref="raw",
                output="counted")
    assert outcome(store.resolve("counted")) == outcome(local.version)


def test_killing_a_ray_worker_mid_stage_never_publishes_a_partial_version(cluster, tmp_path, sample_logs):
    address, log = cluster
    _reset(log, hold=3)
    recipe = tmp_path / "counted.yaml"
    recipe.write_text(COUNTED.format(executor="ray"))
    store = _raw(tmp_path / "ray", sample_logs)
    cmd, env = _sluice(["run", str(recipe), "--root", str(store.root), "--no-report"], address)
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait(lambda: len(_lines(log, "batches.log")) >= 4, driver)  # three done, the fourth held in its worker
    victim = int(_lines(log, "batches.log")[3])
    os.kill(victim, signal.SIGKILL)  # a worker dies in the middle of the stage, in the middle of a batch
    (log / "hold").unlink()
    _, stderr = _finish(driver)
    local = run(Recipe(batch_size=50), _stages(), store=_raw(tmp_path / "local", sample_logs), input_ref="raw",
                output="counted")
    if driver.returncode == 0:  # Ray restarted the actor and retried its batches
        assert outcome(store.resolve("counted")) == outcome(local.version)
    else:
        assert "error" in stderr.lower() and "Traceback" not in stderr
        assert store.versions("counted") == []


def test_killed_ray_driver_resumes(cluster, tmp_path, sample_logs):
    address, log = cluster
    _reset(log, hold=4)
    recipe = tmp_path / "counted.yaml"
    recipe.write_text(COUNTED.format(executor="ray"))
    store = _raw(tmp_path / "ray", sample_logs)
    cmd, env = _sluice(["run", str(recipe), "--root", str(store.root), "--no-report"], address)
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = store.root / ".checkpoints"
    # four batches journaled, the next held in flight (the earlier stage is finished: no partial folder of its own)
    _wait(lambda: len(_lines(log, "batches.log")) >= 5 and len(list(partial.glob(".partial-*/batches/*.json"))) == 4,
          driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    # Ray ends the actors of a dead driver (they share its fate); until it has, they stay held, so
    # none finishes its batch behind the resumed run's back: exactly four batches are done
    actors = {int(line.split()[0]) for line in _lines(log, "setup.log")}
    _wait(lambda: all(_gone(pid) for pid in actors), driver=None)
    assert store.versions("counted") == []
    finished = len(list(partial.glob(".partial-*/batches/*.json")))
    assert finished == 4
    _reset(log)
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # finished batches are not redone: the resumed run's own actors run exactly the others
    fresh = {line.split()[0] for line in _lines(log, "setup.log")}
    assert len([p for p in _lines(log, "batches.log") if p in fresh]) == 12 - finished
    local = run(Recipe(batch_size=50), _stages(), store=_raw(tmp_path / "local", sample_logs), input_ref="raw",
                output="counted")
    assert outcome(store.resolve("counted")) == outcome(local.version)


def test_finished_batches_of_another_batch_size_are_not_reused(tmp_path, sample_logs, monkeypatch):
    from sluice.executors.local import LocalExecutor

    monkeypatch.setenv("SLUICE_TEST_LOG", str(tmp_path))
    store = _raw(tmp_path / "store", sample_logs)
    calls = []
    real = LocalExecutor.map

    def dying(self, stage, key, jobs):  # the run dies after three batches of 50
        for i, stats in enumerate(real(self, stage, key, jobs)):
            if i == 3:
                raise KeyboardInterrupt
            calls.append(i)
            yield stats

    monkeypatch.setattr(LocalExecutor, "map", dying)
    with pytest.raises(KeyboardInterrupt):
        run(Recipe(batch_size=50), [CountedWords()], store=store, input_ref="raw", output="c")
    monkeypatch.setattr(LocalExecutor, "map", real)
    result = run(Recipe(batch_size=100), [CountedWords()], store=store, input_ref="raw", output="c")
    clean = run(Recipe(batch_size=100), [CountedWords()], store=_raw(tmp_path / "clean", sample_logs),
                input_ref="raw", output="c")
    assert result.stages[0].rows_in == 591 and outcome(result.version) == outcome(clean.version)


def test_declared_resources_reach_ray_a_gpu_stage_on_a_cpu_cluster_fails_clearly(cluster, tmp_path, sample_logs,
                                                                                 monkeypatch):
    import ray

    from executor_stages import GpuWords
    from sluice.errors import SluiceError

    address, log = cluster
    monkeypatch.setenv("RAY_ADDRESS", address)
    store = _raw(tmp_path / "ray", sample_logs)
    try:
        with pytest.raises(SluiceError, match="needs 1 GPU per worker"):
            run(Recipe(batch_size=50, executor="ray"), [GpuWords()], store=store, input_ref="raw", output="g")
    finally:
        ray.shutdown()
    assert store.versions("g") == []


@pytest.mark.slow  # 35–49 s at load 20–23 (a stage mapped on Ray), beside the cluster's start
def test_recipe_resources_reach_ray_actors_and_cap_their_pool(cluster, tmp_path, sample_logs, monkeypatch):
    """A recipe's ``resources:`` (cpus 0.5, max_workers 1) become the actors' Ray options: each batch
    sees exactly those granted, and one actor (one setup) ran although the cluster fits four."""
    import ray

    address, log = cluster
    _reset(log)
    monkeypatch.setenv("RAY_ADDRESS", address)
    try:
        recipe = Recipe(batch_size=100, executor="ray", input="raw", output="a", plugins=["executor_stages"],
                        stages=[{"stage": "executor_stages:AssignedWords",
                                 "resources": {"cpus": 0.5, "max_workers": 1}}])
        stages = recipe.build()
        assert stages[0].resources.cpus == 0.5 and stages[0].fingerprint("x") == AssignedWords().fingerprint("x")
        store = _raw(tmp_path / "ray", sample_logs)
        result = run(recipe, stages, store=store)
        assert result.stages[0].counters == {"CPU=0.5": 6}  # 591 rows in batches of 100, every one granted 0.5 CPU
        assert len((log / "setup.log").read_text().splitlines()) == 1
    finally:
        ray.shutdown()


def test_a_resource_no_node_has_is_refused_before_any_work(cluster, tmp_path, sample_logs, monkeypatch):
    import ray

    address, log = cluster
    monkeypatch.setenv("RAY_ADDRESS", address)
    recipe = Recipe(batch_size=100, executor="ray", input="raw", output="b",
                    stages=[{"stage": "executor_stages:AssignedWords", "resources": {"custom": {"tpu_slice": 1}}}])
    store = _raw(tmp_path / "ray", sample_logs)
    try:
        with pytest.raises(SluiceError, match=r"stage 'assigned_words' needs 1 'tpu_slice' per worker and the "
                                              r"cluster has 0"):
            run(recipe, recipe.build(), store=store)
    finally:
        ray.shutdown()
    assert store.versions("b") == []


def test_recipe_resources_are_checked_with_the_stage_and_key():
    with pytest.raises(RecipeError) as e:
        Recipe(stages=[{"stage": "length", "resources": {"gpus": -1, "memory": "lots"}}]).build()
    assert "stages[0] (length): resources.gpus: expected a number >= 0" in str(e.value.problems)
    with pytest.raises(RecipeError, match="1 problem"):
        Recipe(stages=[{"stage": "length", "resources": {"ram": "4GiB"}}]).build()
    built = Recipe(stages=[{"stage": "length", "resources": {"gpus": 1, "memory": "4GiB", "custom": {"x": 2}}}]).build()
    assert (built[0].resources.gpus, built[0].resources.memory, built[0].resources.custom) == (1.0, 4 << 30, (("x", 2.0),))
    assert type(built[0]).resources.gpus == 0  # the class's declaration is untouched
