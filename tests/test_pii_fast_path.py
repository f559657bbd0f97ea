"""The fast path of PII detection gives Presidio's findings exactly: the phone replay, the
recognizer gates, and the context and threshold shortcuts, each checked against the stock call."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("presidio_analyzer")

from presidio_analyzer.predefined_recognizers import PhoneRecognizer  # noqa: E402

from sluice.curate.pii import labeled, phone  # noqa: E402
from sluice.curate.pii.detector import Detector  # noqa: E402
from sluice.curate.pii.engine import CustomRecognizer, EngineConfig  # noqa: E402

REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")


def key(results) -> list:
    return sorted((r.entity_type, r.start, r.end, round(r.score, 6)) for r in results)


def hard_texts(n: int = 400, seed: int = 7) -> list[str]:
    """Texts built to hit every recognizer, near misses, and the shortcuts' edge cases."""
    from faker import Faker

    rng = random.Random(seed)
    fake = Faker(["en_US", "en_GB", "de_DE", "fr_FR", "en_IN", "he_IL", "pt_BR", "en_CA"])
    fake.seed_instance(seed)
    soup = "0123456789 +-().x/#:;,ext\u00a0\uff0b\uff10\u0661"
    makers = [
        lambda: f"call {fake.phone_number()} or {fake.phone_number()} ext {rng.randint(1, 999)}",
        lambda: f"+{rng.randint(1, 999)} {rng.randint(10, 99999)} {rng.randint(1000, 9999999)}",
        lambda: "".join(rng.choice(soup) for _ in range(rng.randint(4, 50))),
        lambda: f"tel:+49-30-{rng.randint(1000000, 9999999)};phone-context=+49 and 0{rng.randint(10**9, 10**10)}",
        lambda: f"SSN {rng.randint(100, 899)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}, "
                f"ITIN 9{rng.randint(10, 99)}-7{rng.randint(0, 9)}-{rng.randint(1000, 9999)}",
        lambda: f"passport {rng.randint(10**8, 10**9 - 1)}; driver license D{rng.randint(10**6, 10**7)}",
        lambda: f"code D{rng.randint(10**6, 10**7)} and A{rng.randint(1, 99)} and 12AB{rng.randint(10000, 99999)}",
        lambda: f"NHS number {rng.randint(100, 999)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        lambda: f"account {rng.randint(10**7, 10**12)} at the bank; card {fake.credit_card_number()}",
        lambda: f"wallet 1{''.join(rng.choice('abcdefghjkmnpqrstuvwxyz123456789') for _ in range(30))} btc",
        lambda: rng.choice(["send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq ok",
                            "crypto 3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"]),
        lambda: f"from {fake.ipv4()} and {fake.ipv6()} and ::1 and ::ffff:{fake.ipv4()} at 10:30",
        lambda: f"DEA certificate AB{rng.randint(10**6, 10**7 - 1)} medical",
        lambda: f"IBAN {fake.iban()} for the transaction",
        lambda: f"Ship to {fake.street_address()}\n{fake.city()}, NY {rng.randint(10000, 99999)}",
        lambda: f"Hauptstraße {rng.randint(1, 200)}, {rng.randint(10000, 99999)} Berlin; PO Box {rng.randint(1, 999)}",
        lambda: f"email {fake.email()} or https://{fake.domain_name()}/x?u={fake.email()}",
        lambda: f"Authorization: Bearer {fake.sha256()[:40]} key sk-{fake.sha256()[:32]} AKIA{fake.sha1()[:16].upper()}",
        lambda: "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        lambda: f"Mr. {fake.last_name()} met {fake.first_name()} {fake.last_name()}; will rose grant hope?",
        lambda: f"price ${rng.randint(1, 999)}.{rng.randint(10, 99)} for {rng.randint(1, 30)} days, "
                f"order #{rng.randint(10**5, 10**7)} on {rng.randint(1, 28)}/{rng.randint(1, 12)}/2024",
        lambda: f"ΟΔΟΣ Σ {rng.randint(10**6, 10**9)} İstanbul ſtreet K 0{rng.randint(10**9, 10**10)} 🙂 ①②③",
        lambda: rng.choice([f"password: {fake.password()}", f"my pw is {fake.password()}!", "passwd=x", "password manager"]),
        lambda: f"aws_secret_access_key = {fake.password(length=40, special_chars=False)} and {fake.sha1()}",
        lambda: f"token eyJ{fake.pystr(10, 20)}.eyJ{fake.pystr(10, 30)}.{fake.pystr(10, 30)} eyJ.x",
        lambda: "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----",
        lambda: rng.choice(["我叫王小明，想改签。", "田中太郎様、ありがとうございます。", "高兴见到你", "鈴木 英樹"]),
        lambda: f"mail {fake.user_name()} [at] {fake.domain_name()} or {fake.user_name()}＠{fake.domain_name()}",
    ]
    texts = [rng.choice(makers)() for _ in range(n)]
    places = [f"I lived in {fake.city()}, then moved to {fake.city()} for {fake.last_name()} GmbH; born in May"
              for _ in range(5)]
    return texts + [e.text for e in labeled.make(160, seed=seed)] + places + ["", " ", "\n", "::", "@"]


@pytest.fixture(scope="module")
def corpus(sample_logs) -> list[str]:
    import json

    texts = hard_texts()
    for line in sample_logs.read_bytes().splitlines()[:200]:
        try:
            texts += [m["content"] for m in json.loads(line)["messages"] if isinstance(m.get("content"), str)]
        except (ValueError, KeyError, TypeError, AttributeError):  # the sample's malformed lines
            continue
    return texts


def test_phone_replay_equals_presidio(corpus):
    assert phone.replay_supported(), "phonenumbers changed: check phone.py's replay and update KNOWN_SOURCE"
    stock = PhoneRecognizer()
    replay = phone.ReplayPhoneRecognizer.like(stock)
    expected = [key(stock.analyze(t, ["PHONE_NUMBER"])) for t in corpus]
    assert [key(replay.analyze(t, ["PHONE_NUMBER"])) for t in corpus] == expected
    assert sum(bool(e) for e in expected) > 80 and sum(len(e) > 1 for e in expected) > 10  # not a vacuous check


def test_phone_bounds_hold_for_example_numbers():
    """Every example number in libphonenumber's metadata, written nationally or internationally,
    has at least as many letters+digits as the bound claims a verifiable candidate needs."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    types = [getattr(PhoneNumberType, t) for t in ("FIXED_LINE", "MOBILE", "TOLL_FREE", "PREMIUM_RATE",
                                                  "SHARED_COST", "VOIP", "PERSONAL_NUMBER", "PAGER", "UAN")]
    checked = 0
    for region in phonenumbers.SUPPORTED_REGIONS:
        for t in types:
            number = phonenumbers.example_number_for_type(region, t)
            if number is None:
                continue
            intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
            for matcher_region in REGIONS:
                assert sum(c.isalnum() for c in intl) >= phone.min_chars(matcher_region, True), (region, t)
            if region in REGIONS:
                national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
                assert sum(c.isalnum() for c in national) >= phone.min_chars(region, "+" in national), (region, t)
            checked += 1
    assert checked > 500


def test_replay_falls_back_to_presidio_when_phonenumbers_changes(monkeypatch):
    monkeypatch.setattr(phone, "KNOWN_SOURCE", "something else")
    phone.replay_supported.cache_clear()
    try:
        d = Detector(EngineConfig())
        used = [type(r).__name__ for r, *_ in d.plan if r.name == "PhoneRecognizer"]
        assert used == ["PhoneRecognizer"]
    finally:
        phone.replay_supported.cache_clear()


def test_every_gate_holds_wherever_its_recognizer_finds_something(corpus):
    from sluice.curate.pii.detector import DIGIT

    d = Detector(EngineConfig())
    gated = [(r, g, digit) for r, g, digit in d.plan if g is not None or digit is not None]
    hits = {r.name: 0 for r, *_ in gated}
    for text in corpus:
        for r, gate, digit in gated:
            if r.analyze(text, list(d.info.entities), None):
                hits[r.name] += 1
                assert gate is None or gate.search(text), (r.name, "gate rejects a text the recognizer finds something in")
                assert digit is None or DIGIT[digit].search(text), (r.name, "a finding without a digit")
    never = sorted(name for name, n in hits.items() if n == 0)
    assert not never, f"no corpus text exercises {never}"


@pytest.mark.parametrize("config", [
    EngineConfig(),
    EngineConfig(entities=None, allow_list=("support@bluebird.example",), score_threshold=0.3,
                 recognizers=(CustomRecognizer(entity="CUSTOMER_ID", patterns=(r"\bCUST-\d{6}\b",),
                                               context=("customer",)),
                              CustomRecognizer(entity="PROJECT", deny_list=("Project Falcon",), score=0.3))),
], ids=["default", "all-entities-custom-allowlist"])
def test_findings_identical_to_presidio(corpus, config):
    extra = ["Customer CUST-123456 on Project Falcon wrote to support@bluebird.example",
             "project falcon; CUST-654321 without the word", "cust-000001 customer"]
    texts = corpus + extra
    d = Detector(config)
    expected = [key(d.presidio(t)) for t in texts]
    assert [key(rs) for rs in d.analyze_many(texts)] == expected
    assert sum(bool(e) for e in expected) > 300


def test_spacy_engine_with_ner_identical_to_presidio(tmp_path, corpus):
    """A spaCy pipeline with NER (an entity ruler, built here: no model download) through
    ``nlp: spacy:<path>``, loaded with only its entity-setting components and lower-case lemmas."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": "Zorblax Quintus"}, {"label": "GPE", "pattern": "Springfield"}])
    nlp.to_disk(tmp_path / "ner")
    d = Detector(EngineConfig(nlp=f"spacy:{tmp_path / 'ner'}"))
    assert d.info.ner and d.lower_lemmas
    assert d.analyzer.nlp_engine.nlp["en"].pipe_names == ["entity_ruler"]
    texts = corpus[:250] + ["Zorblax Quintus moved to Springfield; call him on +1 212 555 0199"]
    assert [key(rs) for rs in d.analyze_many(texts)] == [key(d.presidio(t)) for t in texts]
    found = {(texts[-1][r.start:r.end], r.entity_type) for r in d.analyze(texts[-1])}
    assert ("Zorblax Quintus", "PERSON") in found and ("Springfield", "LOCATION") in found
