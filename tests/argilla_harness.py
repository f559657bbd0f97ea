"""A real argilla-server for tests and benchmarks (helpers, not a test module).

`scripts/argilla-server.sh` creates `.argilla-venv/` (argilla-server 2.8, its own pins), starts a
Debian redis-server and argilla-server on 127.0.0.1 with SQLite. The ONE replaced part is the
search engine: Elasticsearch/OpenSearch cannot be installed here, so the server runs with the
SQL-backed engine in `scripts/argilla_sqlsearch.py`, registered through argilla-server's own
``SearchEngine.register`` hook. Everything else — REST API, auth, bulk upsert, responses,
distribution — is the real server.

Annotators are simulated the way a browser would act: a user created by the owner, a token from
``POST /api/v1/token`` (username + password), responses posted to
``/api/v1/records/{id}/responses`` with that bearer token.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "argilla-server.sh"
OWNER_KEY = "sluice-test-owner-key"  # a throwaway key of a throwaway local server


class Impossible(RuntimeError):
    """This machine cannot run the server (exit code 3 of the setup script)."""


@dataclass
class Server:
    url: str
    home: Path
    owner_key: str = OWNER_KEY

    def stop(self) -> None:
        subprocess.run(["bash", str(SCRIPT), "stop", str(self.home)], check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout: float = 900) -> None:
    """Wait until a server started as ``proc`` answers 200 at ``url``; its log tail on failure.

    The condition is the server: it answers, or it exits (an error at once, with its log). The
    timeout only guards against a hang, so it is generous: on a loaded 2-core machine (load 30) a
    model server took over 120 s to load, and a wall-clock limit near the quiet start time made
    the test flaky."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{Path(log).read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s:\n{Path(log).read_text()[-3000:]}")


def serving(home: Path):
    """A server for a pytest fixture (``yield from``): the test is skipped, with the reason, where
    argilla-server cannot run on this machine; CI fails on that skip (.ci/check-skips)."""
    import pytest

    try:
        srv = start(home)
    except Impossible as e:
        pytest.skip(f"argilla-server cannot run on this machine: {e}")
    yield srv
    srv.stop()


def start(home: Path) -> Server:
    """Start a server in ``home``; ports are chosen here and tried again when one was taken between
    choosing and binding it (exit 4 of the script: redis did not answer on its port)."""
    errors = []
    for _ in range(3):
        port, redis_port = free_port(), free_port()
        if port == redis_port:
            continue
        env = {**os.environ, "ARGILLA_OWNER_KEY": OWNER_KEY}
        proc = subprocess.run(["bash", str(SCRIPT), "start", str(home), str(port), str(redis_port)],
                              capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode == 3:
            raise Impossible(proc.stderr.strip())
        if proc.returncode == 4:
            subprocess.run(["bash", str(SCRIPT), "stop", str(home)], check=False)
            errors.append(proc.stderr.strip()[-500:])
            continue
        if proc.returncode != 0:
            raise RuntimeError(f"argilla-server.sh start failed:\n{proc.stderr[-3000:]}")
        server = Server(proc.stdout.strip().splitlines()[-1], home)
        atexit.register(server.stop)  # also when a pytest-xdist worker exits without fixture teardown
        return server
    raise RuntimeError("argilla-server.sh: redis did not start on three port choices:\n" + "\n".join(errors))


class Annotator:
    """One simulated annotator: a real user who logs in with a password and submits responses."""

    def __init__(self, server: Server, username: str, password: str = "annotator-pass-1"):
        owner = httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": server.owner_key}, timeout=30)
        found = owner.get("/api/v1/users").json()["items"]
        user = next((u for u in found if u["username"] == username), None)
        if user is None:
            r = owner.post("/api/v1/users", json={"username": username, "password": password,
                                                   "first_name": username, "role": "annotator"})
            r.raise_for_status()
            user = r.json()
        self.id = user["id"]
        self.owner = owner
        token = httpx.post(f"{server.url}/api/v1/token", data={"username": username, "password": password},
                           timeout=30)
        token.raise_for_status()
        self.http = httpx.Client(base_url=server.url, timeout=30,
                                 headers={"Authorization": f"Bearer {token.json()['access_token']}"})

    def join(self, workspace_id: str) -> None:
        r = self.owner.post(f"/api/v1/workspaces/{workspace_id}/users", json={"user_id": self.id})
        if r.status_code not in (200, 201, 409):
            r.raise_for_status()

    def respond(self, record_uuid: str, values: dict | None, status: str = "submitted") -> None:
        body = {"status": status, "values": {k: {"value": v} for k, v in (values or {}).items() if v is not None}}
        if status == "discarded" and not values:
            body.pop("values")
        r = self.http.post(f"/api/v1/records/{record_uuid}/responses", json=body)
        if r.status_code >= 400:
            raise AssertionError(f"response rejected ({r.status_code}): {r.text[:500]}")


def records_by_external_id(server: Server, dataset_name: str) -> tuple[dict, dict[str, str]]:
    """(the dataset JSON, {sluice id: Argilla record UUID}) through the owner's REST API."""
    owner = httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": server.owner_key}, timeout=60)
    ds = next(d for d in owner.get("/api/v1/me/datasets").json()["items"] if d["name"] == dataset_name)
    ids, offset = {}, 0
    while True:
        page = owner.get(f"/api/v1/datasets/{ds['id']}/records", params={"offset": offset, "limit": 1000}).json()
        for item in page["items"]:
            ids[item["external_id"]] = item["id"]
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return ds, ids


def dataset_names(server: Server) -> list[str]:
    owner = httpx.Client(base_url=server.url, headers={"X-Argilla-Api-Key": server.owner_key}, timeout=60)
    return [d["name"] for d in owner.get("/api/v1/me/datasets").json()["items"]]


def use(server: Server, monkeypatch) -> Server:
    """Point the sluice Argilla client at ``server`` for one test (ARGILLA_API_URL / _KEY)."""
    monkeypatch.setenv("ARGILLA_API_URL", server.url)
    monkeypatch.setenv("ARGILLA_API_KEY", server.owner_key)
    return server
