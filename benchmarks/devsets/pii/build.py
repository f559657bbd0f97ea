"""Build sluice's own labelled PII dev set: templates written for sluice, filled with Faker values
from many locales, with the exact spans planted. Hard cases written by hand are in hard.jsonl.

    python benchmarks/devsets/pii/build.py [--n 1500] [--seed 7]   # → faker.jsonl and hard.jsonl here

Each line: {"text", "spans": [{"entity_type", "start", "end"}], "source"}. Offsets are code points.
None of these templates come from presidio-research (its data files are judging sets).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOCALES = ("en_US", "en_GB", "en_AU", "en_CA", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR",
           "pl_PL", "sv_SE", "de_AT", "fr_CH")
NAME_LOCALES = LOCALES + ("ru_RU", "ja_JP", "zh_CN", "tr_TR", "cs_CZ")

# {SLOT} = a value of that entity type; {SLOT:variant} picks a way of writing it (see _value).
TEMPLATES = """
Hi, I'm {PERSON} and I need help with my last invoice.
Could {PERSON} please call me back at {PHONE_NUMBER}?
My colleague {PERSON} from {ORGANIZATION} will join the meeting in {LOCATION}.
Please send the contract to {STREET_ADDRESS}.
The parcel for {PERSON} goes to {STREET_ADDRESS:multiline}
We moved! Our new office is at {STREET_ADDRESS}, next to the station.
Reach me on {PHONE_NUMBER} or by mail at {EMAIL_ADDRESS}.
{PERSON} paid with {CREDIT_CARD} but the charge was declined.
card no. {CREDIT_CARD:plain} exp 04/29
The refund should go to IBAN {IBAN_CODE}.
Bank details: {PERSON}, {IBAN_CODE:spaced}
Our supplier {ORGANIZATION} is based in {LOCATION}.
I have lived in {LOCATION} since I joined {ORGANIZATION}.
Employee {PERSON} ({EMAIL_ADDRESS}) reported the outage from {IP_ADDRESS}.
Dear {PERSON}, thank you for your application to {ORGANIZATION}.
Best regards,\\n{PERSON}\\n{ORGANIZATION}
Ship to: {PERSON}\\n{STREET_ADDRESS:multiline}
{PERSON:upper} – account closed on request.
Meeting notes: {PERSON} and {PERSON} agreed to meet at {STREET_ADDRESS} on Monday.
My number changed, it's {PHONE_NUMBER} now. Thanks, {PERSON:first}
The customer's SSN is {US_SSN}, please verify.
Can you update my address to {STREET_ADDRESS}? It used to be in {LOCATION}.
{ORGANIZATION} hired {PERSON} as head of sales for {LOCATION}.
ping {EMAIL_ADDRESS:obfuscated} if the build breaks
Mr. {PERSON:last} asked whether the office in {LOCATION} is open.
Ms. {PERSON:last} will sign for the delivery.
Tel.: {PHONE_NUMBER} · Fax: {PHONE_NUMBER}
my name is {PERSON:lower}, order still missing
Transfer {PERSON} the deposit: {IBAN_CODE}, reference 2291.
Use card {CREDIT_CARD:dots} for the hotel in {LOCATION}.
The server {IP_ADDRESS} belongs to {ORGANIZATION}.
I'm writing on behalf of {ORGANIZATION} regarding {PERSON}'s visit.
Contact: {PERSON}, {PHONE_NUMBER}, {EMAIL_ADDRESS}
He grew up in {LOCATION} and now works for {ORGANIZATION}.
Please invoice {ORGANIZATION}, {STREET_ADDRESS}.
Call {PHONE_NUMBER:ext} and ask for {PERSON:first}.
""".strip().split("\n")
NEGATIVES = """
My order ORD-069306 has not arrived yet.
We flew ANA and Lufthansa last year; both were fine.
My flight LH 441 leaves at 10:35 from gate B22.
The function returned 404 twice, then 200.
Version 3.11.4 fixed the memory leak in build 20240517.
I paid $1,249.99 for 3 items on invoice INV-2024-0091.
My manager approved 12 days of leave for March.
Reset the counter to 1000000 and retry.
Room 214 is booked for the whole week.
Tracking code 1Z999AA10123456784 shows no update.
My password manager says the token expired.
Use the dot operator, not the at sign, in that expression.
""".strip().split("\n")


def _card(fk, rng) -> str:
    kind = rng.choice(["visa16", "mastercard", "amex", "discover", "jcb16", "diners", "maestro", "visa19"])
    return fk.credit_card_number(card_type=kind)


def _group(s: str, sep: str, n: int = 4) -> str:
    return sep.join(s[i:i + n] for i in range(0, len(s), n))


def _value(fakers: dict, rng: random.Random, slot: str, variant: str) -> str:
    loc = rng.choice(NAME_LOCALES if slot == "PERSON" else LOCALES)
    fk = fakers[loc]
    if slot == "PERSON":
        if variant == "first":
            return fk.first_name()
        if variant == "last":
            return fk.last_name()
        name = f"{fk.first_name()} {fk.last_name()}" if rng.random() < 0.7 else fk.name()
        if rng.random() < 0.08 and loc.startswith(("en", "de", "fr")):
            name = f"{fk.first_name()} {fk.last_name()}-{fk.last_name()}"
        return name.upper() if variant == "upper" else name.lower() if variant == "lower" else name
    if slot == "STREET_ADDRESS":
        addr = fk.address()
        if variant == "multiline":
            return addr
        return addr.replace("\n", ", ") if rng.random() < 0.6 else fk.street_address()
    if slot == "PHONE_NUMBER":
        phone = fk.phone_number()
        if variant == "ext":
            phone = f"{phone} ext. {rng.randint(10, 9999)}"
        return phone
    if slot == "CREDIT_CARD":
        card = _card(fk, rng)
        if variant == "plain":
            return card
        if variant == "dots":
            return _group(card, ".")
        return _group(card, rng.choice(["", " ", "-"])) if rng.random() < 0.7 else card
    if slot == "IBAN_CODE":
        iban = fk.iban()
        return _group(iban, " ") if variant == "spaced" or rng.random() < 0.3 else iban
    if slot == "EMAIL_ADDRESS":
        email = fk.email()
        if variant == "obfuscated":
            user, domain = email.split("@")
            return rng.choice([f"{user} [at] {domain}", f"{user}(at){domain.replace('.', '(dot)')}",
                               f"{user}＠{domain}"])
        return email
    if slot == "LOCATION":
        return rng.choice([fk.city(), fk.country(), fk.city()])
    if slot == "ORGANIZATION":
        return fk.company()
    if slot == "IP_ADDRESS":
        return rng.choice([fk.ipv4_public(), fk.ipv4_private(), fk.ipv6()])
    if slot == "US_SSN":
        return fakers["en_US"].ssn()
    raise KeyError(slot)


def fill(template: str, fakers: dict, rng: random.Random) -> dict:
    template = template.replace("\\n", "\n")
    text, spans, pos = "", [], 0
    for m in re.finditer(r"\{([A-Z_]+)(?::(\w+))?\}", template):
        text += template[pos:m.start()]
        value = _value(fakers, rng, m.group(1), m.group(2) or "")
        spans.append({"entity_type": m.group(1), "start": len(text), "end": len(text) + len(value)})
        text += value
        pos = m.end()
    return {"text": text + template[pos:], "spans": spans}


def build(n: int, seed: int) -> list[dict]:
    from faker import Faker

    fakers = {}
    for i, loc in enumerate(NAME_LOCALES):
        fakers[loc] = Faker(loc)
        fakers[loc].seed_instance(seed * 1000 + i)
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        if i % 10 == 9:
            rows.append({"text": NEGATIVES[(i // 10) % len(NEGATIVES)], "spans": [], "source": "negative"})
            continue
        t = i % len(TEMPLATES)
        rows.append({**fill(TEMPLATES[t], fakers, rng), "source": f"faker:t{t}"})
    return rows


def parse_hard(path: Path = HERE / "hard.txt") -> list[dict]:
    """hard.txt (``[[TYPE|value]]`` marks a span, ``\\n`` a line break) → examples."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        text, spans, pos = "", [], 0
        line = line.replace("\\n", "\n")
        for m in re.finditer(r"\[\[([A-Z_]+)\|(.+?)\]\]", line, re.DOTALL):
            text += line[pos:m.start()]
            spans.append({"entity_type": m.group(1), "start": len(text), "end": len(text) + len(m.group(2))})
            text += m.group(2)
            pos = m.end()
        rows.append({"text": text + line[pos:], "spans": spans, "source": "hard"})
    return rows


def _write(rows: list[dict], path: Path) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} examples → {path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=HERE / "faker.jsonl")
    args = ap.parse_args()
    _write(build(args.n, args.seed), args.out)
    _write(parse_hard(), HERE / "hard.jsonl")


if __name__ == "__main__":
    main()
