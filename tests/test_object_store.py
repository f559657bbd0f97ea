"""A store on an object store: ``SLUICE_HOME=s3://bucket/prefix`` against a real S3 API server.

The server is moto's standalone one (``moto[server]``), started by the test on 127.0.0.1 on a
free port; sluice reaches it the standard way, through the ``AWS_*`` variables
(``AWS_ENDPOINT_URL`` included), read alike by s3fs and Arrow. Nothing is mocked inside sluice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.store import Store

pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
pytest.importorskip("upath")

TESTS = Path(__file__).resolve().parent
SMALL = """
name: small
input: raw@latest
output: curated
batch_size: 100
stages:
  - stage: normalize
  - stage: length
  - stage: length_filter
    min_chars: {user: 1, assistant: 1}
  - stage: exact_hash
  - stage: exact_dedup
  - stage: minhash            # a bounded whole-dataset stage: its partials spill to the store
  - stage: near_dedup
"""


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on a free port with one bucket; the AWS_* variables point at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="lake")
    try:
        yield env
    finally:
        server.stop()
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def _cli(args: list[str], root: str):
    result = CliRunner().invoke(app, [*args, "--root", root])
    assert result.exit_code == 0, result.output
    return result


def _rows(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows:  # where the row was published is the only thing allowed to differ
        row.get("sluice", {}).pop("root", None)
    return rows


@pytest.mark.slow  # 29–35 s at load 15–23: hundreds of S3 requests to the in-process server for the run alone
def test_a_run_on_s3_publishes_the_rows_of_a_local_root(s3, tmp_path, sample_logs):
    """The fast check: the Python API over both roots, with a bounded whole-dataset stage."""
    from sluice.curate.ingest import ingest
    from sluice.recipe import Recipe
    from sluice.runner import run

    recipe = Recipe(batch_size=1000, input="raw", output="curated",
                    stages=[{"stage": "exact_hash"}, {"stage": "exact_dedup"}])
    got = {}
    for label, root in (("s3", "s3://lake/stores/fast"), ("local", str(tmp_path / "local"))):
        store = Store(root)
        ingest([str(sample_logs)], to="raw", store=store, workers=1)
        got[label] = run(recipe, recipe.build(), store=store).version
    a, b = got["s3"], got["local"]
    assert str(a.path) == "s3://lake/stores/fast/curated/v1" and a.num_rows() == b.num_rows() == 570
    assert a.read().equals(b.read()) and a.read("rejected").equals(b.read("rejected"))
    assert a.manifest["accounting"] == b.manifest["accounting"]
    assert [s["sha256"] for s in a.manifest["parts"]["data"]["shards"]] == \
           [s["sha256"] for s in b.manifest["parts"]["data"]["shards"]]


@pytest.mark.slow  # 107–121 s at load 14–23 (the CLI three times per root, seven stages)
def test_ingest_run_export_on_s3_give_the_rows_of_a_local_root(s3, tmp_path, sample_logs):
    recipe = tmp_path / "small.yaml"
    recipe.write_text(SMALL)
    results = {}
    for label, root in (("s3", "s3://lake/stores/a"), ("local", str(tmp_path / "local"))):
        _cli(["ingest", str(sample_logs), "--to", "raw"], root)
        _cli(["run", str(recipe), "--no-report"], root)
        out = tmp_path / f"{label}.jsonl"
        _cli(["datasets", "export", "curated@latest", "--allow-unredacted", "--out", str(out)], root)
        results[label] = (Store(root), _rows(out))
    (remote, s3_rows), (local, local_rows) = results["s3"], results["local"]
    assert len(s3_rows) == 551 and s3_rows == local_rows
    for ref in ("raw@v1", "curated@v1"):
        a, b = remote.resolve(ref), local.resolve(ref)
        assert a.path.__class__.__name__ == "S3Path" and str(a.path) == f"s3://lake/stores/a/{ref.replace('@', '/')}"
        assert [s["sha256"] for s in a.manifest["parts"]["data"]["shards"]] == \
               [s["sha256"] for s in b.manifest["parts"]["data"]["shards"]]  # byte-identical shards
        assert a.manifest["accounting"] == b.manifest["accounting"]
        assert a.read("rejected").sort_by("id").equals(b.read("rejected").sort_by("id"))
    # the datasets list reads the object store too
    listed = json.loads(_cli(["datasets", "list", "--json"], "s3://lake/stores/a").stdout)
    assert {d["ref"] for d in listed} >= {"raw@v1", "curated@v1"}


def test_racing_publishers_on_s3_each_get_their_own_version(s3, sample_logs):
    """Publish is a write-once claim (If-None-Match: *): writers racing for v<N> never share it."""
    import pyarrow as pa

    from sluice.schemas import get

    store = Store("s3://lake/stores/race")
    table = get("conversation").schema.empty_table()
    barrier = threading.Barrier(4)
    published, errors = [], []

    def publish():
        try:
            with store.create("d", "conversation") as w:
                w.write(table)
                barrier.wait()
                published.append(w.publish({"rows_in": 0, "kept": 0}).number)
        except Exception as e:  # noqa: BLE001 — reported below
            errors.append(e)

    threads = [threading.Thread(target=publish) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(published) == [1, 2, 3, 4]
    assert [v.number for v in store.versions("d")] == [1, 2, 3, 4]
    # a claim whose writer died (no manifest) is no version, and the next writer skips it
    from sluice import fs

    assert fs.put_if_absent(store.root / "d" / "v5" / ".claim", "dead\n")
    assert not fs.put_if_absent(store.root / "d" / "v5" / ".claim", "again\n")
    assert [v.number for v in store.versions("d")] == [1, 2, 3, 4]
    with store.create("d", "conversation") as w:
        w.write(pa.Table.from_pylist([], schema=table.schema))
        assert w.publish({"rows_in": 0, "kept": 0}).number == 6


@pytest.mark.slow  # 99–148 s at load 14–23 (three `sluice` processes)
def test_a_run_killed_mid_stage_on_s3_resumes_from_its_checkpoints(s3, tmp_path, sample_logs):
    """The stage's finished batches live in the object store; a killed driver's rerun redoes only the rest."""
    from test_executors import COUNTED, _hold_after, _lines, _wait

    root = "s3://lake/stores/killed"
    _cli(["ingest", str(sample_logs), "--to", "raw"], root)
    log = tmp_path / "log"
    log.mkdir()
    _hold_after(log, 4)  # four batches finish, the fifth waits: the kill lands mid-stage
    recipe = tmp_path / "counted.yaml"
    recipe.write_text(COUNTED.format(executor="local"))
    env = {**os.environ, "PYTHONPATH": str(TESTS), "SLUICE_TEST_LOG": str(log), "SLUICE_HOME": root}
    cmd = [sys.executable, "-m", "sluice.cli", "run", str(recipe), "--no-report"]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = Store(root)
    partial = store.root / ".checkpoints"

    def finished() -> int:
        return sum(1 for p in partial.glob(".partial-*/batches/*.json"))

    _wait(lambda: len(_lines(log, "batches.log")) == 5 and finished() == 4, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    assert store.versions("counted") == [] and finished() == 4  # nothing published, four batches kept
    before = len(_lines(log, "batches.log"))
    (log / "hold").unlink()
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(_lines(log, "batches.log")) - before == 12 - 4  # 591 rows in batches of 50: only the rest ran
    local = tmp_path / "local"
    _cli(["ingest", str(sample_logs), "--to", "raw"], str(local))
    subprocess.run([*cmd, "--root", str(local)], env=env, check=True, capture_output=True)
    a, b = store.resolve("counted"), Store(local).resolve("counted")
    assert a.read().sort_by("id").equals(b.read().sort_by("id"))
    assert a.manifest["accounting"] == b.manifest["accounting"]
