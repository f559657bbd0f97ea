"""What replaces a finding: one ``Redactor`` per conversation, so a value gets the same
replacement in every turn and field of that conversation.

Operators (per entity type, ``operators: {PERSON: surrogate, CREDIT_CARD: mask, …}``):

* ``placeholder`` — ``<PERSON_1>``; numbered per conversation in order of first appearance,
  the same value (case- and space-insensitive) always gets the same number. With dataset-wide
  pseudonyms (``Redactor(..., dataset=True)``) the number is keyed instead — ``<PERSON_48213907>``,
  eight digits of HMAC(key, type + value) — so a value gets the same placeholder in every
  conversation of the dataset (and of any dataset redacted with the same key).
* ``surrogate`` — a realistic Faker value of the same kind. Consistent within a conversation;
  with a key (``key_env``) it is derived from HMAC(key, value), so it is consistent across the
  dataset too. Without a key, surrogates are drawn from a random per-process seed.
* ``mask`` — every character but separators becomes ``*`` (``mask_keep_last`` keeps a suffix).
* ``hash`` — ``<EMAIL_ADDRESS:3f9a…>``: HMAC-SHA256 of the value with the key from the env var.
* ``drop`` — placeholder in the text, and the row is dropped by ``pii_filter`` (``pii_high_risk``).

An integer that is PII (a phone number stored as a JSON number) gets ``number()``: an integer of
the same length, keyed like a surrogate, so the value keeps its JSON type.

``apply(text, findings)`` resolves overlapping findings first (a run of overlapping spans becomes
one span, typed by its highest-scoring finding), then replaces right to left, so offsets — code
points, as Presidio reports them — stay correct for any text.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import re
from typing import Literal

Operator = Literal["placeholder", "surrogate", "mask", "hash", "drop"]
_SEED_SALT = os.urandom(16)

# entity → Faker method producing a value of the same kind
SURROGATES = {
    "PERSON": "name", "EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone_number", "CREDIT_CARD": "credit_card_number",
    "IBAN_CODE": "iban", "IP_ADDRESS": "ipv4", "US_SSN": "ssn", "STREET_ADDRESS": "street_address",
    "LOCATION": "city", "URL": "url", "DATE_TIME": "date", "US_BANK_NUMBER": "bban", "US_PASSPORT": "passport_number",
    "US_DRIVER_LICENSE": "bothify", "API_KEY": "sha1", "BEARER_TOKEN": "sha256", "CRYPTO": "sha1",
}


def normalize(value: str) -> str:
    return re.sub(r"\s+", " ", value).strip().casefold()


def resolve_overlaps(findings: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, entity) spans covering every finding, sorted by start."""
    spans: list[list] = []
    for start, end, entity, score in sorted(findings, key=lambda f: (f[0], -f[1])):
        if spans and start < spans[-1][1]:
            last = spans[-1]
            last[1] = max(last[1], end)
            if (score, end - start) > (last[3], last[4]):
                last[2], last[3], last[4] = entity, score, end - start
        else:
            spans.append([start, end, entity, score, end - start])
    return [(s, e, t) for s, e, t, _, _ in spans]


class Redactor:
    """Replacements for one conversation (see module doc)."""

    def __init__(self, operators: dict[str, Operator], default: Operator = "placeholder", key: bytes | None = None,
                 mask_keep_last: int = 0, dataset: bool = False):
        if dataset and key is None:
            raise ValueError("dataset-wide pseudonyms need a key")
        self.operators, self.default, self.key, self.keep, self.dataset = operators, default, key, mask_keep_last, dataset
        self.memo: dict[tuple[str, str], str] = {}
        self.numbers: dict[str, int] = {}
        self.originals: dict[str, str] = {}  # value as written → its replacement (for the sweep)

    def operator(self, entity: str) -> Operator:
        return self.operators.get(entity, self.default)

    def apply(self, text: str, findings: list[tuple[int, int, str, float]]) -> str:
        if not findings:
            return text
        spans = resolve_overlaps(findings)
        # numbers follow reading order; replacement runs right to left so earlier offsets hold
        replacements = [(s, e, self.replacement(entity, text[s:e])) for s, e, entity in spans]
        for s, e, rep in reversed(replacements):
            text = text[:s] + rep + text[e:]
        return text

    def replacement(self, entity: str, value: str) -> str:
        op = self.operator(entity)
        memo_key = (entity, normalize(value))
        if op != "mask" and memo_key in self.memo:
            self.originals.setdefault(value, self.memo[memo_key])
            return self.memo[memo_key]
        if op in ("placeholder", "drop") and self.dataset:
            out = f"<{entity}_{int(self.digest(entity, memo_key[1])[:12], 16) % 10**8:08d}>"
        elif op in ("placeholder", "drop"):
            self.numbers[entity] = self.numbers.get(entity, 0) + 1
            out = f"<{entity}_{self.numbers[entity]}>"
        elif op == "mask":
            n = len(value) - self.keep if self.keep < len(value) else 0
            out = re.sub(r"[^\s\-.@/:]", "*", value[:n]) + value[n:]
        elif op == "hash":
            out = f"<{entity}:{self.digest(entity, memo_key[1])[:16]}>"
        else:
            out = self.surrogate(entity, memo_key[1])
        self.memo[memo_key] = out
        self.originals.setdefault(value, out)
        return out

    def number(self, value: int) -> int:
        """An integer of the same length (and sign) standing for ``value``, keyed like a surrogate."""
        digits = len(str(abs(value)))
        seed = self.digest("NUMBER", str(value)) if self.key else hashlib.sha256(_SEED_SALT + str(value).encode()).hexdigest()
        low = 10 ** (digits - 1)
        out = low + int(seed[:24], 16) % (9 * low)
        if out == abs(value):
            out = low + (out - low + 1) % (9 * low)
        return -out if value < 0 else out

    def digest(self, entity: str, norm: str) -> str:
        if self.key is None:
            raise RuntimeError("the hash operator needs a key")
        return hmac.new(self.key, f"{entity}\x00{norm}".encode(), hashlib.sha256).hexdigest()

    def surrogate(self, entity: str, norm: str) -> str:
        seed_src = self.digest(entity, norm) if self.key else hashlib.sha256(
            _SEED_SALT + f"{entity}\x00{norm}".encode()).hexdigest()
        fk = _faker()
        fk.seed_instance(int(seed_src[:16], 16))
        method = SURROGATES.get(entity)
        if method is None:
            return f"<{entity}_{random.Random(seed_src).randrange(10**6):06d}>"
        if method == "bothify":
            return fk.bothify("?#######").upper()
        value = getattr(fk, method)()
        return value.replace("\n", ", ") if isinstance(value, str) else str(value)


_FAKER = None


def _faker():
    global _FAKER
    if _FAKER is None:
        from faker import Faker

        _FAKER = Faker("en_US")
    return _FAKER
