"""`sluice doctor` reports parts, models and fallbacks without downloading anything."""

from __future__ import annotations

import json

from sluice.doctor import as_dicts, run_checks


def test_doctor_reports_core_models_and_fallbacks(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    checks = {c.part: c for c in run_checks()}
    assert checks["core"].status == "ok"
    assert {c.status for c in checks.values()} <= {"ok", "fallback", "missing", "warning"}
    # the scorer fallback is always named as such, never as DEITA
    assert checks["quality scoring"].status == "fallback" and "heuristic" in checks["quality scoring"].detail
    assert "offline" not in checks  # HF_HUB_OFFLINE=1: no warning
    for c in checks.values():
        if c.status in ("missing", "fallback") and c.part not in ("GPU", "quality scoring"):
            assert c.fix, f"{c.part}: a missing part or a fallback says how to fix it"
    json.dumps(as_dicts(list(checks.values())))


def test_doctor_reports_an_unreachable_argilla_server(monkeypatch):
    monkeypatch.setenv("ARGILLA_API_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    (argilla,) = [c for c in run_checks() if c.part == "Argilla server"]
    assert argilla.status == "missing" and "127.0.0.1:9" in argilla.detail
