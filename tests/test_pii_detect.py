"""PII detection: recall on the labeled set, custom recognizers, allow-lists, fast path == Presidio."""

from __future__ import annotations

import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii import labeled  # noqa: E402
from sluice.curate.pii.detector import Detector
from sluice.curate.pii.engine import CustomRecognizer, EngineConfig  # noqa: E402
from sluice.curate.pii.operators import Redactor  # noqa: E402

CORE = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS")


@pytest.fixture(scope="module")
def detector():
    return Detector(EngineConfig())


def test_recall_on_labeled_set_and_no_value_survives(detector):
    examples = labeled.make(320, seed=3)
    results = detector.analyze_many([e.text for e in examples])
    found = [[(r.start, r.end, r.entity_type) for r in rs] for rs in results]
    stats = labeled.evaluate(examples, found)
    for entity in CORE:
        assert stats[entity]["recall"] >= 0.95, (entity, stats[entity])
    planted = survived = 0
    for ex, rs, fs in zip(examples, results, found):
        out = Redactor({}).apply(ex.text, [(r.start, r.end, r.entity_type, r.score) for r in rs])
        for s, e, t in ex.spans:
            if t in CORE:
                planted += 1
                detected = any(a < e and s < b for a, b, _ in fs)
                survived += ex.text[s:e] in out
                assert not (detected and ex.text[s:e] in out)  # a found value never survives redaction
    assert survived / planted <= 0.02  # the rest: bare 10-digit numbers without any phone formatting


def test_fast_path_findings_identical_to_presidio(detector, sample_logs):
    import json

    texts = [e.text for e in labeled.make(120, seed=9)]
    for line in sample_logs.read_bytes().splitlines()[:150]:
        try:
            rec = json.loads(line)
            texts += [m["content"] for m in rec["messages"] if isinstance(m.get("content"), str)]
        except (ValueError, KeyError, TypeError):
            continue
    texts += ["", "   ", "no digits or at-signs here", "ünïcödé 𝔘 🙂 +49 30 1234567 🙂"]
    key = lambda rs: sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in rs)  # noqa: E731
    baseline = [key(detector.presidio(t)) for t in texts]
    detector.cache.clear()
    assert [key(rs) for rs in detector.analyze_many(texts)] == baseline
    assert len(texts) > 300


def test_custom_recognizers_and_allow_list():
    config = EngineConfig(
        recognizers=(CustomRecognizer(entity="CUSTOMER_ID", patterns=(r"\bCUST-\d{6}\b",), context=("customer",)),
                     CustomRecognizer(entity="PROJECT", deny_list=("Project Falcon",))),
        allow_list=("support@bluebird.example",))
    d = Detector(config)
    text = "Customer CUST-123456 on Project Falcon wrote to support@bluebird.example from jane.roe@mail.com"
    found = {(text[r.start:r.end], r.entity_type) for r in d.analyze(text)}
    assert ("CUST-123456", "CUSTOMER_ID") in found
    assert ("Project Falcon", "PROJECT") in found
    assert ("jane.roe@mail.com", "EMAIL_ADDRESS") in found
    assert not any(v == "support@bluebird.example" for v, _ in found)


def test_secrets_and_names(detector):
    text = ("my name is peter weaver. key sk-proj-abcdefghijklmnopqrstuvwx1234 and AKIAABCDEFGHIJKLMNOP, "
            "header Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc\n"
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\n"
            "Will you help? I hope so. Thanks, Rose.")
    found = {(text[r.start:r.end], r.entity_type) for r in detector.analyze(text)}
    types = {t for _, t in found}
    assert {"API_KEY", "BEARER_TOKEN", "PRIVATE_KEY", "PERSON"} <= types
    assert ("peter weaver", "PERSON") in found and ("Rose", "PERSON") in found
    assert not any(v in ("Will", "hope") for v, t in found if t == "PERSON")
