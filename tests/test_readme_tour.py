"""The README's CLI tour runs as written: every command of its code block, in order, on the
bundled sample, with the tiny local model and a real local Argilla server.

The commands are read from README.md itself, so the tour and this test cannot drift apart. The
one step a person does in between — answering records in Argilla's UI — is done by two
simulated annotators through Argilla's REST API (tests/argilla_harness.py).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import argilla_harness as harness

REPO = Path(__file__).resolve().parents[1]
SLUICE = Path(sys.executable).parent / "sluice"
# Commands whose non-zero exit is a documented outcome with the tiny random model: synthesis that
# keeps nothing, an eval gate that does not promote and a calibration whose judge gave no usable
# judgment all exit 1 with a one-line reason.
MAY_DECLINE = ("sluice synth", "sluice train eval", "sluice pii scan")  # a scan finding residual PII exits 1


def tour_commands(readme: str) -> list[str]:
    """The command lines of the first bash block under "## CLI tour", comments removed."""
    section = readme.split("## CLI tour", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = []
    for line in block.splitlines():
        line = re.split(r"\s#", line, maxsplit=1)[0].strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


# `export ARGILLA_API_URL=$(bash scripts/argilla-server.sh start HOME PORT) ARGILLA_API_KEY=KEY`
ARGILLA_START = re.compile(r"^export ARGILLA_API_URL=\$\(bash scripts/argilla-server\.sh start (\S+) (\d+)\) "
                           r"ARGILLA_API_KEY=(\S+)$")


def test_tour_is_parsed():
    commands = tour_commands((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(commands) >= 20 and all(
        c.startswith(("sluice ", "transformers serve ", "kill ", "bash scripts/argilla-server.sh "))
        or ARGILLA_START.match(c) for c in commands), commands
    assert not [c for c in commands if "..." in c or "PATH_OR" in c], "the tour has placeholders"
    # runs top to bottom: Argilla is started before the first `label` command, the judge server
    # (the only background job) is stopped portably, and every output goes under ./tour/
    start = next(i for i, c in enumerate(commands) if ARGILLA_START.match(c))
    assert start < min(i for i, c in enumerate(commands) if c.startswith("sluice label"))
    background = [i for i, c in enumerate(commands) if c.endswith("&")]
    assert len(background) == 1 and commands.index("kill $!") > background[0]
    for c in commands:
        for flag in ("--out", "-o", "--model", "--init-adapter", "--adapter"):
            args = c.split()
            if flag in args and c.startswith("sluice "):
                assert args[args.index(flag) + 1].startswith("tour/"), c
    assert "--split train" in next(c for c in commands if c.startswith("sluice datasets export"))


def annotate(server, dataset: str) -> None:
    """What a reviewer does in the UI: rate and judge a few records, correct one answer."""
    ds, ids = harness.records_by_external_id(server, dataset)
    a, b = harness.Annotator(server, "tour-a"), harness.Annotator(server, "tour-b")
    for who in (a, b):
        who.join(ds["workspace_id"])
    for n, uuid in enumerate(sorted(ids.values())[:4]):
        good = n % 2 == 0
        a.respond(uuid, {"quality": 5 if good else 1, "verdict": "good" if good else "bad",
                         "corrected_answer": None if good else "A clearer, correct answer."})
        b.respond(uuid, {"quality": 4 if good else 2, "verdict": "good" if good else "bad"})


@pytest.mark.slow  # ~3 min alone on 2 cores (tiny-model training, a real Argilla server): CI's slow suite
def test_readme_tour_runs_as_written(tmp_path):
    """From a temporary working folder, with SLUICE_HOME unset: the default ./sluice-data."""
    work = tmp_path / "work"
    work.mkdir()
    for shared in ("examples", "scripts"):  # paths as in the repository root; outputs stay here
        (work / shared).symlink_to(REPO / shared)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": f"{SLUICE.parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "ARGILLA_VENV": os.environ.get("ARGILLA_VENV") or str(REPO / ".argilla-venv"),
           "ARGILLA_OWNER_KEY": harness.OWNER_KEY}
    for name in ("SLUICE_HOME", "ARGILLA_API_URL", "ARGILLA_API_KEY"):
        env.pop(name, None)
    port = str(harness.free_port())  # the tour's judge port, 8000, may be taken on this machine
    jobs: list[subprocess.Popen] = []
    argilla: list[harness.Server] = []
    try:
        for command in tour_commands((REPO / "README.md").read_text(encoding="utf-8")):
            command = command.replace("--port 8000", f"--port {port}").replace("127.0.0.1:8000", f"127.0.0.1:{port}")
            if m := ARGILLA_START.match(command):  # the shell's $(...) and export, done here
                argilla.append(start_argilla(work, env, m.group(1)))
                env["ARGILLA_API_URL"], env["ARGILLA_API_KEY"] = argilla[-1].url, m.group(3)
                continue
            if command.endswith("&"):  # a background job, as the shell runs it
                log = tmp_path / f"job{len(jobs) + 1}.log"
                jobs.append(subprocess.Popen(shlex.split(command[:-1]), cwd=work, env=env,
                                             stdout=log.open("wb"), stderr=subprocess.STDOUT))
                harness.wait_healthy(jobs[-1], f"http://127.0.0.1:{port}/health", log)
                continue
            if command == "kill $!":  # the shell's last background job
                stop(jobs[-1])
                continue
            run_tour_command(command, work, env, argilla)
    finally:
        for job in jobs:
            stop(job)
        for server in argilla:
            server.stop()
    assert (work / "sluice-data" / "curated" / "v1" / "manifest.json").is_file()  # the default root
    exported = [json.loads(line) for line in (work / "tour" / "train.jsonl").read_text().splitlines()]
    assert exported and {row["sluice"]["split"] for row in exported} == {"train"}
    assert (work / "tour" / "runs" / "sft" / "adapter_model.safetensors").is_file()
    assert (work / "tour" / "runs" / "dpo" / "adapter_model.safetensors").is_file()
    # nothing else is left in the working folder: the data in ./sluice-data, the rest in ./tour
    assert sorted(p.name for p in work.iterdir()) == ["examples", "scripts", "sluice-data", "tour"]


def start_argilla(work: Path, env: dict, home: str) -> harness.Server:
    """`bash scripts/argilla-server.sh start HOME PORT` as the README line runs it (a free port here;
    another one when redis found PORT+1 taken: exit 4)."""
    for _ in range(3):
        port = harness.free_port()
        r = subprocess.run(["bash", "scripts/argilla-server.sh", "start", home, str(port)], cwd=work, env=env,
                           capture_output=True, text=True, timeout=900)
        if r.returncode == 3:
            pytest.skip(f"argilla-server cannot run on this machine: {r.stderr.strip()}")
        if r.returncode != 4:
            break
        subprocess.run(["bash", "scripts/argilla-server.sh", "stop", home], cwd=work, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    return harness.Server(r.stdout.strip().splitlines()[-1], work / home)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_tour_command(command: str, work: Path, env: dict, argilla: list) -> None:
    args = shlex.split(command)
    if args[:3] == ["sluice", "label", "pull"]:
        annotate(argilla[-1], args[3])
    r = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    out = r.stdout + r.stderr
    assert "Traceback" not in out and "Warning:" not in out, f"{command}\n{out[-3000:]}"
    if r.returncode != 0:
        assert command.startswith(MAY_DECLINE) and r.returncode == 1, f"{command} → {r.returncode}\n{out[-3000:]}"
        assert "error:" in out or "FAIL:" in out  # a one-line reason (pii scan: residual findings)
