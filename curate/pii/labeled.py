"""A labeled PII test set: templates filled with Faker values, with the exact spans planted.

Hard cases on purpose: lower-case names, names that are common words (Will, Rose, Grant), emails
inside URLs, phones of several countries, card numbers with spaces or dashes, addresses over two
lines, multi-byte text around the values. ``make(n, seed)`` → list of ``Example(text, spans)``;
``evaluate(examples, findings)`` → span-level precision/recall per entity type.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

TEMPLATES = [
    ("My name is {PERSON} and my email is {EMAIL_ADDRESS}.", ()),
    ("hi, i'm {person_lower}, you can call me on {PHONE_NUMBER}", ()),
    ("Please call {PHONE_NUMBER} or write to {EMAIL_ADDRESS} — merci 🙏", ()),
    ("I paid with card {CREDIT_CARD} yesterday.", ()),
    ("Card number: {CREDIT_CARD}. Exp 09/27.", ()),
    ("Send the refund to my IBAN {IBAN_CODE} please.", ()),
    ("Die Erstattung bitte an {IBAN_CODE} überweisen. Danke schön!", ()),
    ("Requests from {IP_ADDRESS} keep failing with 502.", ()),
    ("The server at {IP_ADDRESS} and the backup at {IP_ADDRESS} are both down.", ()),
    ("Open https://portal.example.com/reset?user={EMAIL_ADDRESS}&t=1 to reset.", ()),
    ("Ship it to {STREET_ADDRESS} by Friday.", ()),
    ("Thanks, {PERSON}. I've noted {EMAIL_ADDRESS} as your contact address.", ()),
    ("我的电话是{PHONE_NUMBER}，邮箱是{EMAIL_ADDRESS}。", ()),
    ("Dear {common_name}, your order shipped.", ()),
    ("Mein Name ist {PERSON}, Telefon {PHONE_NUMBER}.", ()),
    ("Here's my key {API_KEY} — it says unauthorized.", ()),
]
PHONE_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "en_IN")
COMMON_NAMES = ("Will", "Rose", "Grant", "Hope", "Mark", "June", "Faith", "Bill")


@dataclass
class Example:
    text: str
    spans: list[tuple[int, int, str]]


def _values(fk, rng: random.Random) -> dict:
    from faker import Faker

    phone = Faker(rng.choice(PHONE_LOCALES))
    phone.seed_instance(rng.randrange(1 << 30))
    card = fk.credit_card_number(card_type=rng.choice(["visa16", "mastercard", "amex"]))
    sep = rng.choice(["", " ", "-"])
    if sep:
        card = sep.join(card[i:i + 4] for i in range(0, len(card), 4))
    addr = fk.address()
    if rng.random() < 0.5:
        addr = addr.replace("\n", ", ")
    return {
        "PERSON": fk.name(), "person_lower": f"{fk.first_name()} {fk.last_name()}".lower(),
        "common_name": rng.choice(COMMON_NAMES), "EMAIL_ADDRESS": fk.email(), "PHONE_NUMBER": phone.phone_number(),
        "CREDIT_CARD": card, "IBAN_CODE": fk.iban(), "IP_ADDRESS": rng.choice([fk.ipv4(), fk.ipv4_public(), fk.ipv6()]),
        "STREET_ADDRESS": addr, "API_KEY": "sk-" + fk.pystr(min_chars=32, max_chars=40),
    }


def make(n: int = 500, seed: int = 0) -> list[Example]:
    from faker import Faker

    rng = random.Random(seed)
    fk = Faker("en_US")
    fk.seed_instance(seed)
    out = []
    for i in range(n):
        template, _ = TEMPLATES[i % len(TEMPLATES)]
        values = _values(fk, rng)
        text, spans, pos = "", [], 0
        while True:
            start = template.find("{", pos)
            if start < 0:
                text += template[pos:]
                break
            end = template.index("}", start)
            text += template[pos:start]
            slot = template[start + 1:end]
            value = values[slot] if slot.isupper() else values[slot]
            entity = {"person_lower": "PERSON", "common_name": "PERSON"}.get(slot, slot)
            if slot == "IP_ADDRESS" and spans and spans[-1][2] == "IP_ADDRESS":
                value = fk.ipv4()
            spans.append((len(text), len(text) + len(value), entity))
            text += value
            pos = end + 1
        out.append(Example(text, spans))
    return out


def evaluate(examples: list[Example], findings: list[list[tuple[int, int, str]]]) -> dict[str, dict]:
    """Span-level scores per entity: a planted span counts as found when a finding of its type
    overlaps it; a finding counts as correct when it overlaps a planted span of its type."""
    stats: dict[str, dict] = {}
    for ex, found in zip(examples, findings):
        for s, e, t in ex.spans:
            d = stats.setdefault(t, {"tp": 0, "fn": 0, "fp": 0, "correct": 0})
            if any(ft == t and fs < e and s < fe for fs, fe, ft in found):
                d["tp"] += 1
            else:
                d["fn"] += 1
        for fs, fe, ft in found:
            d = stats.setdefault(ft, {"tp": 0, "fn": 0, "fp": 0, "correct": 0})
            if any(t == ft and fs < e and s < fe for s, e, t in ex.spans):
                d["correct"] += 1
            else:
                d["fp"] += 1
    for d in stats.values():
        d["recall"] = d["tp"] / (d["tp"] + d["fn"]) if d["tp"] + d["fn"] else None
        d["precision"] = d["correct"] / (d["correct"] + d["fp"]) if d["correct"] + d["fp"] else None
    return stats
