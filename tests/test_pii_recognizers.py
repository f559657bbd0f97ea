"""sluice's recognizers on cases written for them: what each must find, and near misses it must not."""

from __future__ import annotations

import pytest

pytest.importorskip("presidio_analyzer")

from sluice.curate.pii.detector import Detector  # noqa: E402
from sluice.curate.pii.engine import EngineConfig  # noqa: E402


@pytest.fixture(scope="module")
def detector():
    return Detector(EngineConfig())


def found(detector, text: str) -> set[tuple[str, str]]:
    return {(text[r.start:r.end], r.entity_type) for r in detector.findings([text])[0]}


def covers(detector, text: str, value: str, entity: str) -> bool:
    """A finding of ``entity`` covers all of ``value``."""
    start = text.index(value)
    return any(r.entity_type == entity and r.start <= start and start + len(value) <= r.end
               for r in detector.findings([text])[0])


@pytest.mark.parametrize("text,value", [
    ("Please call me on 020 7946 0958 after 5pm.", "020 7946 0958"),
    ("Mon portable : 06 12 34 56 78", "06 12 34 56 78"),
    ("Ring the office: (555) 201-4477 x203", "(555) 201-4477 x203"),
    ("You can reach me at 555.201.9932 ext. 44 today", "555.201.9932 ext. 44"),
    ("Telefon: 030 12345678", "030 12345678"),
    ("mijn nummer is 06-12345678", "06-12345678"),
    ("il mio cellulare è 347 123 4567", "347 123 4567"),
    ("my phone number is 3623981475 if you need it", "3623981475"),  # libphonenumber rejects it: the cue decides
    ("Could you call me back at 5429.3251?", "5429.3251"),
    ("Call 5388886528 ext. 4973 and ask for me.", "5388886528 ext. 4973"),
])
def test_national_phones_with_extensions(detector, text, value):
    assert covers(detector, text, value, "PHONE_NUMBER")


@pytest.mark.parametrize("text", [
    "My order ORD-069306 has not arrived yet.", "Invoice INV-2024-0091 is paid.", "Count 9 10 11 12 13 14 15",
    "It happened on 2024-05-17 10:35 at the latest.", "Server 192.168.100.200 is down",
    "my order number is 3623981475", "Call me at 10.30 tomorrow.", "I called 3 times in 2023 and 2024.",
])
def test_not_phones(detector, text):
    assert not any(e == "PHONE_NUMBER" for _, e in found(detector, text))


@pytest.mark.parametrize("text,value", [
    ("card 4111111111111111 was charged twice", "4111111111111111"),
    ("Pay with 5555.5555.5555.4444 please", "5555.5555.5555.4444"),
    ("Amex 378282246310005 expired", "378282246310005"),
    ("Maestro 6759649826438453 ok", "6759649826438453"),
    ("old card 6011 0009 9013 9424", "6011 0009 9013 9424"),
    ("card no. 4222222222222 on file", "4222222222222"),
    ("19 digits 4716 5184 6812 1357 017 here", "4716 5184 6812 1357 017"),
])
def test_luhn_cards_bare_dotted_grouped(detector, text, value):
    assert covers(detector, text, value, "CREDIT_CARD")


def test_luhn_invalid_numbers_are_not_cards(detector):
    assert not any(e == "CREDIT_CARD" for _, e in found(detector, "ticket 4111111111111112 and 5555.5555.5555.4445"))


@pytest.mark.parametrize("text,value", [
    ("write to li.wei@example.cn谢谢", "li.wei@example.cn"),
    ("メールはtanaka.yuki@example.jpまで", "tanaka.yuki@example.jp"),
    ("reach me at jane.doe [at] example [dot] org", "jane.doe [at] example [dot] org"),
    ("mail: bob(at)example(dot)com", "bob(at)example(dot)com"),
    ("連絡先：sato＠example.co.jp", "sato＠example.co.jp"),
])
def test_emails_by_cjk_and_obfuscated(detector, text, value):
    assert covers(detector, text, value, "EMAIL_ADDRESS")


@pytest.mark.parametrize("iban", ["GB29 NWBK 6016 1331 9268 19", "DE89370400440532013000", "SA0380000000608010167519",
                                  "FR1420041010050500013M02606", "NL91ABNA0417164300", "BR1800360305000010009795493C1"])
def test_ibans_of_every_country(detector, iban):
    assert covers(detector, f"IBAN: {iban} thanks", iban, "IBAN_CODE")


def test_iban_with_wrong_checksum_is_not_an_iban(detector):
    assert not any(e == "IBAN_CODE" for _, e in found(detector, "ref GB28 NWBK 6016 1331 9268 19"))


@pytest.mark.parametrize("text,value,entity", [
    ("password: Tr0ub4dor&3", "Tr0ub4dor&3", "PASSWORD"),
    ("my pw is hunter2hunter2 don't share", "hunter2hunter2", "PASSWORD"),
    ("login passwd=S3cr3t!2024", "S3cr3t!2024", "PASSWORD"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "API_KEY"),
    ("stripe sk_live_51HxYzABCdefGHIjklMNOpqrSTUvwx", "sk_live_51HxYzABCdefGHIjklMNOpqrSTUvwx", "API_KEY"),
    ("token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
     "API_KEY"),
    ("HF: hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "hf_aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567", "API_KEY"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "BEARER_TOKEN"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0abc\n-----END PGP PRIVATE KEY BLOCK-----",
     "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0abc\n-----END PGP PRIVATE KEY BLOCK-----", "PRIVATE_KEY"),
])
def test_secrets(detector, text, value, entity):
    assert covers(detector, text, value, entity)


def test_not_secrets(detector):
    for text in ("My password manager says the token expired.", "commit 3f786850e387550fdab836ed7e6dc881de23001b"):
        assert not any(e in ("PASSWORD", "API_KEY") for _, e in found(detector, text)), text


@pytest.mark.parametrize("text,part", [
    ("Ship to 221B Baker Street, London NW1 6XE", "NW1 6XE"),
    ("Adresse : 12 rue de la Paix, 75002 Paris", "12 rue de la Paix"),
    ("Dirección: Calle de Alcalá 42, 28014 Madrid", "Calle de Alcalá 42"),
    ("Indirizzo: Via Roma 15, 00184 Roma", "Via Roma 15"),
    ("Adres: Keizersgracht 123, 1015 CJ Amsterdam", "Keizersgracht 123"),
    ("Lieferadresse: Hauptstraße 5, 10115 Berlin", "Hauptstraße 5"),
    ("My address is\n42 Elm Road\nManchester\nM14 5TP", "M14 5TP"),
    ("send it to 1600 Amphitheatre Parkway, Mountain View, CA 94043", "Mountain View, CA 94043"),
    ("配送先を愛知県西多摩郡瑞穂町月島20丁目24番18号に更新しました。", "愛知県西多摩郡瑞穂町月島20丁目24番18号"),
    ("请寄到宁夏回族自治区兰州县双滦南昌街G座 263381。", "宁夏回族自治区兰州县双滦南昌街G座 263381"),
    ("收货地址已更新为河北省深圳市长寿李街r座 851948。", "河北省深圳市长寿李街r座 851948"),
    ("I live at PSC 7653, Box 9064\nAPO AP 12172 now", "PSC 7653, Box 9064\nAPO AP 12172"),
    ("addressed to Unit 4765 Box 8173\nDPO AA 07016", "Unit 4765 Box 8173\nDPO AA 07016"),
    ("billing address: USNV Collier\nFPO AE 65853", "USNV Collier\nFPO AE 65853"),
    ("deliver to 91614 Phillips Brook Apt. 330 Suite 666, Lake Thomasborough", "91614 Phillips Brook Apt. 330 Suite 666"),
    ("I live at 12 Main St #4B, Springfield, IL 62704", "12 Main St #4B, Springfield, IL 62704"),
])
def test_street_addresses_beyond_us_and_de(detector, text, part):
    assert covers(detector, text, part, "STREET_ADDRESS")


def test_not_addresses(detector):
    for text in ("Here are the 10 most common mistakes.", "String 1 and String 2 differ.", "Born 1996\nAge 30",
                 "We finished Unit 3 of the course.", "Box 12 of the archive, shelf 4"):
        assert not any(e == "STREET_ADDRESS" for _, e in found(detector, text)), text


@pytest.mark.parametrize("text,value", [
    ("my name is olga petrova", "olga petrova"),
    ("Mr. Van der Berg called twice today.", "Van der Berg"),
    ("Thanks,\nPriya", "Priya"),
    ("Best,\nJean-Luc Moreau", "Jean-Luc Moreau"),
    ("JOHN SMITH — DO NOT CONTACT", "JOHN SMITH"),
    ("Regards, Anna-Lena Schmitt", "Anna-Lena Schmitt"),
    ("田中 太郎と申します。", "田中 太郎"),
    ("我叫王伟，想改签。", "王伟"),
    ("Меня зовут Дмитрий Иванов.", "Дмитрий Иванов"),
    ("Заказ оформил Иванов Дмитрий вчера.", "Иванов Дмитрий"),
])
def test_names_after_cues_in_caps_hyphenated_and_other_scripts(detector, text, value):
    assert covers(detector, text, value, "PERSON")


def test_not_names(detector):
    for text in ("My order is late. My bad.", "What's the baggage allowance on ANA for economy?", "Hi! Thanks!"):
        assert not any(e == "PERSON" for _, e in found(detector, text)), text


def test_llm_vocabulary_is_not_a_place_organisation_or_person(detector):
    """What NER tagged most often on Alpaca 9k that is never personal data; the names next to it stay."""
    for text in ("I'm sorry, but as an AI language model I cannot browse the web.",
                 "Convert the following sentence into passive voice.",
                 "Explain how GPT and NLP relate to Machine Learning.",
                 "Write a SQL query and some HTML for the API."):
        assert not any(e in ("PERSON", "LOCATION", "ORGANIZATION", "NRP") for _, e in found(detector, text)), text
    assert covers(detector, "As an AI, I told Maria Gonzalez to call back.", "Maria Gonzalez", "PERSON")


@pytest.mark.parametrize("text,value,entity", [
    ("I have lived in Żary since 2019.", "Żary", "LOCATION"),
    ("Our supplier is based in Termini Imerese.", "Termini Imerese", "LOCATION"),
    ("She grew up in Monnet-près-Beguin.", "Monnet-près-Beguin", "LOCATION"),
    ("My colleague from Bourgeois SARL will join.", "Bourgeois SARL", "ORGANIZATION"),
    ("Please invoice Tabisz Sp.k. for the parts.", "Tabisz Sp.k.", "ORGANIZATION"),
    ("Bachinger OG sent the invoice.", "Bachinger OG", "ORGANIZATION"),
])
def test_places_after_cues_and_companies_by_legal_form(detector, text, value, entity):
    assert covers(detector, text, value, entity)


def test_not_places_or_companies(detector):
    for text in ("I was born in March and lived in fear.", "He grew up in poverty.", "We moved to Python 3."):
        assert not any(e in ("LOCATION", "ORGANIZATION") for _, e in found(detector, text)), text
    assert not any(e == "ORGANIZATION" for _, e in found(detector, "We flew to Las Vegas, NV on Monday."))
