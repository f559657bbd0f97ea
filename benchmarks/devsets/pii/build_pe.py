"""A second PII dev set, from presidio-evaluator's sentence generator with templates written for
sluice (none of presidio-research's templates or data files: records come from Faker, not its
FakeNameGenerator CSV; only its Faker providers for addresses, phones and IPs are used).

presidio-evaluator pins clash with sluice's, so it runs from its own virtualenv:

    python3.11 -m venv /tmp/pe && /tmp/pe/bin/pip install presidio-evaluator
    /tmp/pe/bin/python benchmarks/devsets/pii/build_pe.py [--n 1200] [--seed 11]   # → pe.jsonl here

Each line: {"text", "spans": [{"entity_type", "start", "end"}], "source"}, as in faker.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Chat-log shaped templates, written for sluice. {{x}} is a Faker (or presidio-evaluator) provider.
TEMPLATES = """
hey, it's {{first_name}} again. my number is {{phone_number}} if the chat drops
Can someone from support call {{name}} on {{phone_number}}? It's about ticket 4411.
I live at {{address}} and the courier keeps leaving my parcel at the wrong door.
Please update my billing address to {{address}}
Shipping to {{street_address}}, {{city}} — is that inside your delivery zone?
{{name}} here. I was charged twice on card {{credit_card_number}}, please refund one.
My wife {{first_name_female}} {{last_name}} opened the account, can I still close it?
Write a reference letter for {{name}}, who worked with me for three years.
The meeting with {{prefix}} {{last_name}} moved to Thursday, can you draft an apology?
forward everything to {{email}} please, my old inbox is full
Draft an email to {{first_name}} ({{email}}) saying the invoice is paid.
Our server at {{ip_address}} keeps timing out, what should I check first?
I'm {{first_name}} {{last_name}}, born {{date_of_birth}}; why was my application rejected?
My SSN is {{ssn}}, do you need it for the tax form?
Transfer the deposit to IBAN {{iban}} by Friday.
ask {{first_name_male}} whether the flat on {{street_name}} is still free
Summarise this complaint from {{name}}: the package sent to {{address}} arrived damaged.
I'm moving from {{city}} to {{address}} next month; how do I change my plan?
Text me at {{phone_number}} when the repair is done. Thanks, {{first_name}}
{{name}} and {{name}} will both attend; seat them together.
Can you translate this for my neighbour {{name}}? She lives at {{street_address}}.
Customer {{name}} (phone {{phone_number}}, email {{email}}) reported a billing bug.
my landlord {{last_name}} won't return the deposit for {{address}}. what are my rights?
Hi {{first_name}}, your appointment is confirmed. Reply to {{email}} to reschedule.
Who should I contact? I tried {{phone_number}} but nobody answered.
Please cancel the order for {{name}}, delivery address {{street_address}} {{secondary_address}}, {{city}}.
Write a short bio for {{name}}, a nurse from {{city}}.
I met {{first_name}} at the conference and want to follow up, draft a note.
the invoice was addressed to {{name}}, {{address}}
Call {{phone_number}} and ask for {{first_name}}.
""".strip().splitlines()

TYPES = {
    "name": "PERSON", "first_name": "PERSON", "last_name": "PERSON", "first_name_female": "PERSON",
    "first_name_male": "PERSON", "prefix": "TITLE", "phone_number": "PHONE_NUMBER", "address": "STREET_ADDRESS",
    "street_address": "STREET_ADDRESS", "street_name": "STREET_ADDRESS", "secondary_address": "STREET_ADDRESS",
    "city": "LOCATION", "credit_card_number": "CREDIT_CARD", "email": "EMAIL_ADDRESS", "ip_address": "IP_ADDRESS",
    "date_of_birth": "DATE_TIME", "ssn": "US_SSN", "iban": "IBAN_CODE",
}
KEEP = {"PERSON", "PHONE_NUMBER", "STREET_ADDRESS", "CREDIT_CARD", "EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN", "IBAN_CODE"}


def records(n: int, seed: int) -> list[dict]:
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    out = []
    for _ in range(n):
        first, last = fake.first_name(), fake.last_name()
        out.append({"first_name": first, "last_name": last, "name": f"{first} {last}",
                    "email": f"{first.lower()}.{last.lower()}@{fake.free_email_domain()}"})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    from presidio_evaluator.data_generator import PresidioSentenceFaker
    from presidio_evaluator.data_generator.faker_extensions import (
        AddressProviderNew,
        IpAddressProvider,
        PhoneNumberProviderNew,
    )

    random.seed(args.seed)
    faker = PresidioSentenceFaker("en_US", lower_case_ratio=0.05, sentence_templates=TEMPLATES,
                                  entity_providers=[AddressProviderNew, PhoneNumberProviderNew, IpAddressProvider],
                                  base_records=records(500, args.seed), entity_type_mapping=TYPES,
                                  random_seed=args.seed)
    n = 0
    with (HERE / "pe.jsonl").open("w", encoding="utf-8") as f:
        for sample in faker.generate_new_fake_sentences(args.n):
            spans = [{"entity_type": s.entity_type, "start": s.start_position, "end": s.end_position}
                     for s in sample.spans if s.entity_type in KEEP]
            f.write(json.dumps({"text": sample.full_text, "spans": spans, "source": "presidio-evaluator+sluice"},
                               ensure_ascii=False) + "\n")
            n += 1
    print(f"wrote {n} examples to {HERE / 'pe.jsonl'}")


if __name__ == "__main__":
    main()
