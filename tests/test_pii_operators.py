"""Operators: placeholders, surrogates, mask, keyed hash; overlaps and multi-byte offsets."""

from __future__ import annotations

import pytest

pytest.importorskip("faker")

from sluice.curate.pii.operators import Redactor, resolve_overlaps  # noqa: E402


def spans(text, *parts):
    out = []
    for value, entity in parts:
        start = text.index(value)
        out.append((start, start + len(value), entity, 0.9))
    return out


def test_placeholders_numbered_consistently_across_turns():
    r = Redactor({})
    t1 = "I'm Ann Lee, mail ann@x.io"
    t2 = "Thanks ann lee! Bob Ray is cc'd, reply to ann@x.io"
    a = r.apply(t1, spans(t1, ("Ann Lee", "PERSON"), ("ann@x.io", "EMAIL_ADDRESS")))
    b = r.apply(t2, spans(t2, ("ann lee", "PERSON"), ("Bob Ray", "PERSON"), ("ann@x.io", "EMAIL_ADDRESS")))
    assert a == "I'm <PERSON_1>, mail <EMAIL_ADDRESS_1>"
    assert b == "Thanks <PERSON_1>! <PERSON_2> is cc'd, reply to <EMAIL_ADDRESS_1>"


def test_surrogates_consistent_in_conversation_and_with_key_across_dataset():
    t = "Call Ann Lee. Ann Lee knows."
    one = Redactor({"PERSON": "surrogate"})
    out = one.apply(t, [(5, 12, "PERSON", 0.9), (14, 21, "PERSON", 0.9)])
    fake = out[5:out.index(".")]
    assert "Ann Lee" not in out and out.count(fake) == 2 and fake[0].isupper()
    k1 = Redactor({"PERSON": "surrogate"}, key=b"k").apply(t, [(5, 12, "PERSON", 0.9)])
    k2 = Redactor({"PERSON": "surrogate"}, key=b"k").apply(t, [(5, 12, "PERSON", 0.9)])
    k3 = Redactor({"PERSON": "surrogate"}, key=b"other").apply(t, [(5, 12, "PERSON", 0.9)])
    assert k1 == k2 != k3


def test_mask_and_hash():
    t = "card 4111 1111 1111 1111 ok"
    s = spans(t, ("4111 1111 1111 1111", "CREDIT_CARD"))
    assert Redactor({"CREDIT_CARD": "mask"}, mask_keep_last=4).apply(t, s) == "card **** **** **** 1111 ok"
    h1 = Redactor({"CREDIT_CARD": "hash"}, key=b"secret").apply(t, s)
    h2 = Redactor({"CREDIT_CARD": "hash"}, key=b"secret").apply(t, s)
    assert h1 == h2 and h1.startswith("card <CREDIT_CARD:") and "4111" not in h1
    with pytest.raises(RuntimeError):
        Redactor({"CREDIT_CARD": "hash"}).apply(t, s)


def test_overlaps_and_multibyte_offsets():
    t = "🙂 Grüße — 電話 +49 30 1234567, mail x@ü.de 🙂"
    phone = t.index("+49")
    email = t.index("x@")
    pe, ee = phone + len("+49 30 1234567"), email + len("x@ü.de")
    findings = [(phone, pe, "PHONE_NUMBER", 0.7), (phone + 4, pe, "US_BANK_NUMBER", 0.4),
                (email, ee, "EMAIL_ADDRESS", 1.0), (email + 2, ee, "URL", 0.5)]
    assert resolve_overlaps([(0, 5, "A", 0.5), (3, 9, "B", 0.9), (9, 10, "C", 0.1)]) == [(0, 9, "B"), (9, 10, "C")]
    out = Redactor({}).apply(t, findings)
    assert out == "🙂 Grüße — 電話 <PHONE_NUMBER_1>, mail <EMAIL_ADDRESS_1> 🙂"
