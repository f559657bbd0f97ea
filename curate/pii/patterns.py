"""Pattern recognizers for the formats Presidio's own miss (measured on benchmarks/devsets/pii):

* ``CardRecognizer`` — Luhn-valid card numbers of 12–19 digits, bare or grouped with one kind of
  separator (space, dash, dot);
* ``national_phone_recognizer()`` — national phone formats without a country code, with extensions;
* ``email_recognizer()`` — e-mails touching CJK text, fullwidth ＠, ``[at]``/``(at)``/``(dot)``;
* ``IbanAnyRecognizer`` — IBANs of every country, checked with ISO 13616 mod-97;
* ``password_recognizer()`` — the value after ``password:``/``pw is``/``passwd=``;
* ``token_recognizers()`` — ``sk_live_``/``rk_test_``, ``github_pat_``, ``hf_`` tokens, AWS secret
  keys, JWTs without ``Bearer``;
* ``address_recognizers()`` — street addresses of UK, FR, ES, IT, PT, NL, DE/AT, Nordic formats,
  postcode + city lines, ``City, ST 12345``.

Each recognizer carries a gate (see ``gates.GATES``): a regex every one of its matches contains.
Case-sensitive recognizers say so with their own ``global_regex_flags``.
"""

from __future__ import annotations

import importlib

import regex
from presidio_analyzer import Pattern, PatternRecognizer

from .recognizers import _gated

CASED = regex.DOTALL | regex.MULTILINE  # Presidio's default flags without IGNORECASE


def luhn(digits: str) -> bool:
    total, odd = 0, False
    for ch in reversed(digits):
        d = int(ch)
        if odd:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        odd = not odd
    return total % 10 == 0


class CardRecognizer(PatternRecognizer):
    """Luhn-valid 12–19 digit numbers starting like a card (2–6), bare or grouped."""

    def __init__(self):
        super().__init__("CREDIT_CARD", name="CardNumberRecognizer", patterns=[
            Pattern("bare", r"(?<![\d.,\-/])[2-6]\d{11,18}(?![\d]|[.,\-/]\d)", 0.5),
            Pattern("grouped", r"(?<![\d.,\-/])[2-6]\d{3}(?P<sep>[ .\-])\d{2,6}(?:(?P=sep)\d{1,6}){1,3}(?![\d]|[.,\-/]\d)",
                    0.5)],
            context=["card", "credit", "visa", "mastercard", "amex", "paid", "charge", "karte", "carte", "tarjeta"])

    def validate_result(self, pattern_text: str):
        digits = "".join(c for c in pattern_text if c.isdigit())
        return 12 <= len(digits) <= 19 and luhn(digits)


def national_phone_recognizer() -> PatternRecognizer:
    """Digit groups of a national number (9–13 digits, 8 after a trunk 0; 2+ groups, or a trunk-0 run), with an
    optional extension. Dotted quads (IP addresses) and dates are not phone-shaped here."""
    ext = r"(?:[ ]?(?:x|ext\.?|extension|#|poste|Durchwahl|DW)[ ]?\d{1,6})?"
    grouped = (r"(?<![A-Za-z0-9_+\-./])(?:\(\d{1,5}\)[ .\-]?|\d{1,5}[ .\-/])(?:\d{2,8}[ .\-/]){0,4}\d{2,8}" + ext +
               r"(?![A-Za-z0-9_\-]|[./]\d)")
    trunk = r"(?<![A-Za-z0-9_+\-./])0\d{8,11}" + ext + r"(?![A-Za-z0-9_\-]|[./]\d)"
    recognizer = NationalPhoneRecognizer("PHONE_NUMBER", name="NationalPhoneRecognizer", patterns=[
        Pattern("grouped national", grouped, 0.5), Pattern("trunk zero", trunk, 0.5),
        Pattern("cn mobile", r"(?<![A-Za-z0-9_+\-./])1[3-9]\d{9}(?![A-Za-z0-9_\-]|[./]\d)", 0.5)],
        context=["phone", "call", "tel", "telephone", "telefon", "mobile", "cell", "number", "reach", "ring",
                 "fax", "téléphone", "teléfono", "telefono", "portable", "handy", "nummer", "numéro", "número"])
    return _gated(recognizer, r"\d\d")


EXTENSION = regex.compile(r"[ ]?(?:x|ext\.?|extension|#|poste|Durchwahl|DW)[ ]?\d", regex.IGNORECASE)
DATE_LIKE = regex.compile(r"^(?:\d{4}[.\-/]\d{1,2}[.\-/]\d{1,2}|\d{1,2}[.\-/]\d{1,2}[.\-/]\d{4})(?!\d)")


class NationalPhoneRecognizer(PatternRecognizer):
    """Rejects what is not a national number: too few or many digits, dotted quads, dates."""

    def validate_result(self, pattern_text: str):
        core = EXTENSION.split(pattern_text, maxsplit=1)[0]
        groups = regex.findall(r"\d+", core)
        digits = sum(len(g) for g in groups)
        dotted_quad = len(groups) == 4 and "." in core and all(len(g) <= 3 for g in groups)
        counting = len(groups) > 2 and all(int(b) == int(a) + 1 for a, b in zip(groups, groups[1:]))  # 9 10 11 12
        trunk = core.lstrip("(").startswith("0")
        if not (8 if trunk else 9) <= digits <= 13 or dotted_quad or counting or DATE_LIKE.match(core):
            return False
        return None


def email_recognizer() -> PatternRecognizer:
    at = r"(?:[ ]?[@＠][ ]?|[ ]?[\[(]at[\])][ ]?|[ ]\[at\][ ])"
    dot = r"(?:\.|[ ]?[\[(]dot[\])][ ]?)"
    email = (r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*" + at +
             r"[A-Za-z0-9][A-Za-z0-9\-]*(?:" + dot + r"[A-Za-z0-9\-]+)*" + dot + r"[A-Za-z]{2,24}(?![A-Za-z0-9\-])")
    recognizer = PatternRecognizer("EMAIL_ADDRESS", name="EmailAnyScriptRecognizer",
                                   patterns=[Pattern("email any script", email, 0.6)])
    return _gated(recognizer, r"[@＠]|[\[(]at[\])]", digits=False)


class IbanAnyRecognizer(PatternRecognizer):
    """Country code, 2 check digits, 11–30 alphanumerics (optionally in groups of 4), mod-97 valid."""

    def __init__(self):
        super().__init__("IBAN_CODE", name="IbanAnyCountryRecognizer", patterns=[
            Pattern("iban", r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?(?![A-Za-z0-9])",
                    0.5)], context=["iban", "bank", "account", "konto", "compte", "cuenta"], global_regex_flags=CASED)

    def validate_result(self, pattern_text: str):
        s = pattern_text.replace(" ", "")
        if not 15 <= len(s) <= 34:
            return False
        n = "".join(str(int(c, 36)) for c in s[4:] + s[:4])
        return int(n) % 97 == 1


def password_recognizer() -> PatternRecognizer:
    key = r"\b(?:password|passwort|passwd|pass|pwd|pw|passcode|kennwort|mot de passe|contraseña|senha|пароль)"
    value = r"[^\s\"'`]{4,64}"
    recognizer = PatternRecognizer("PASSWORD", name="PasswordRecognizer", patterns=[
        Pattern("key: value", rf"(?<={key}[ ]?[:=][ ]?[\"'`]?){value}", 0.7),
        Pattern("key is value", rf"(?<={key}[ ](?:is|ist|est|es|é)[:]?[ ][\"'`]?)(?=[^\s]*[\d!@#$%^&*_+=?])"
                                rf"{value}", 0.6)])
    return _gated(recognizer, r"pass|pw|kennwort|contraseña|senha|пароль", digits=False)


class AwsSecretRecognizer(PatternRecognizer):
    """40 characters of base64 mixing upper, lower and digits (hex digests are not)."""

    def __init__(self):
        super().__init__("API_KEY", name="AwsSecretKeyRecognizer", patterns=[
            Pattern("aws secret", r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", 0.5)],
            context=["aws", "secret", "key"], global_regex_flags=CASED)

    def validate_result(self, pattern_text: str):
        kinds = [any(c.isupper() for c in pattern_text), any(c.islower() for c in pattern_text),
                 any(c.isdigit() or c in "/+" for c in pattern_text)]
        return None if all(kinds) else False


def token_recognizers() -> list[PatternRecognizer]:
    tokens = _gated(PatternRecognizer("API_KEY", name="ServiceTokenRecognizer", patterns=[
        Pattern("stripe", r"\b[sprk]k_(?:live|test)_[A-Za-z0-9]{16,}", 0.95),
        Pattern("github pat", r"\bgithub_pat_[A-Za-z0-9_]{22,}", 0.95),
        Pattern("hugging face", r"\bhf_[A-Za-z0-9]{30,}\b", 0.9),
        Pattern("anthropic/openai", r"\bsk-(?:ant-)?[A-Za-z0-9_\-]{20,}", 0.9),
    ], global_regex_flags=CASED), r"k_live_|k_test_|github_pat_|hf_|sk-", digits=False)
    jwt = _gated(PatternRecognizer("BEARER_TOKEN", name="JwtRecognizer", patterns=[
        Pattern("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}", 0.95)],
        global_regex_flags=CASED), r"eyJ", digits=False)
    pgp = _gated(PatternRecognizer("PRIVATE_KEY", name="PgpPrivateKeyRecognizer", patterns=[
        Pattern("pgp block", r"-----BEGIN PGP PRIVATE KEY BLOCK-----.*?(?:-----END PGP PRIVATE KEY BLOCK-----|\Z)",
                0.99)]), r"-----BEGIN PGP", digits=False)
    return [tokens, _gated(AwsSecretRecognizer(), r"[A-Za-z0-9/+]{40}", digits=False), jwt, pgp]


def _faker_words(attr: str, locales: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for loc in locales:
        try:
            p = importlib.import_module(f"faker.providers.address.{loc}").Provider
        except ImportError:
            continue
        out |= {w.strip() for w in getattr(p, attr, ()) if isinstance(w, str) and len(w.strip()) > 1}
    return out


PREFIX_WORDS = {"Calle", "Avenida", "Plaza", "Paseo", "Camino", "Carrer", "Via", "Viale", "Piazza", "Corso", "Largo",
                "Vicolo", "Strada", "Rua", "Travessa", "Praça", "Avenue", "Rue", "Boulevard", "Chemin", "Allée",
                "Impasse", "Place", "Quai", "Route", "Ulica", "Aleja", "Plac", "Av."}
SUFFIX_WORDS = {"straße", "strasse", "str.", "gasse", "platz", "allee", "weg", "ring", "damm", "ufer", "straat",
                "laan", "plein", "gracht", "kade", "singel", "dijk", "steeg", "dreef", "gatan", "vägen", "gata",
                "vej", "gade", "stræde", "veien", "katu", "utca"}
NOT_SUFFIXES = {"ring", "pad", "baan", "boulevard", "gate", "tie"}  # String 1, Spring 2, Gate 5: English words
UPPER = r"\p{Lu}[\p{L}'’\-]*"
PARTICLE = r"(?:de|del|de la|de las|de los|du|des|de l'|d'|della|delle|dei|di|da|do|dos|das|la|le|van|von|y|e)"
POSTCODE = r"(?:\d{5}(?:-\d{3,4})?|\d{4}[ ]?[A-Z]{2}|\d{2}-\d{3}|\d{3}[ ]\d{2}|\d{4}(?:-\d{3})?)"
LINE_POSTCODE = r"(?:\d{5}(?:-\d{3,4})?|\d{4}[ ]?[A-Z]{2}|\d{2}-\d{3}|\d{3}[ ]\d{2})"  # no bare 4 digits (a year)
UK_POSTCODE = r"\b(?:[A-Z]{1,2}\d[A-Z\d]?|GIR)[ ]?\d[A-Z]{2}\b"


def address_recognizers() -> list[PatternRecognizer]:
    prefixes = PREFIX_WORDS | _faker_words("street_prefixes", ("es_ES", "pt_BR", "pt_PT", "fr_FR", "pl_PL")) | \
        _faker_words("street_suffixes", ("it_IT",))
    prefixes = {p for p in prefixes if p not in {"C.", "Av"}} | {p.capitalize() for p in prefixes if p.islower()}
    pre = "|".join(regex.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    suffixes = (SUFFIX_WORDS | _faker_words("street_suffixes", ("nl_NL", "sv_SE", "da_DK"))) - {"Street"} - NOT_SUFFIXES
    suf = "|".join(regex.escape(s) for s in sorted(suffixes, key=len, reverse=True))
    name = rf"{UPPER}(?:[ ](?:{PARTICLE}[ ])?{UPPER}){{0,4}}"
    number = r"\d{1,5}[a-zA-Z]?\b"
    patterns = [
        # Calle de Alcalá 42 · Via Roma, 15 · Rua das Flores, 123 · rue de la Paix 3
        Pattern("prefix street", rf"\b(?:{pre})[ ](?:{PARTICLE}[ ])?{name},?[ ]{number}", 0.6),
        # 12 rue de la Paix · 54, avenue de Lefebvre
        Pattern("number prefix street", rf"\b\d{{1,5}}(?:[ ]?(?:bis|ter))?,?[ ](?:{pre})[ ](?:{PARTICLE}[ ])?{name}",
                0.6),
        # Hauptstraße 5 · Lisestraat 066 · Storgatan 12 · Hans-Böckler-Allee 3
        Pattern("compound street", rf"\b\p{{Lu}}[\p{{L}}\-]*(?i:{suf})[ ]{number}", 0.6),
        # , 10115 Berlin · \n6122 UX\nGorinchem (postcode + city after a comma or line break)
        Pattern("postcode city", rf"(?<=,[ ]?){POSTCODE}[ \n]{UPPER}(?:[ \-]{UPPER})?", 0.5),
        Pattern("postcode line", rf"(?<=\n){LINE_POSTCODE}[ \n]{UPPER}(?:[ \-]{UPPER})?", 0.5),
        Pattern("uk postcode", UK_POSTCODE, 0.5),
        # Port David, NJ 30330
        Pattern("city state zip", rf"\b{UPPER}(?:[ ]{UPPER}){{0,2}},[ ][A-Z]{{2}}[ ]\d{{5}}(?:-\d{{4}})?\b", 0.6),
    ]
    recognizer = PatternRecognizer("STREET_ADDRESS", name="IntlAddressRecognizer", patterns=patterns,
                                   context=["address", "ship", "deliver", "adresse", "dirección", "indirizzo", "adres"],
                                   global_regex_flags=CASED)
    han = r"\p{Han}"
    cjk = PatternRecognizer("STREET_ADDRESS", name="CjkAddressRecognizer", patterns=[
        # 愛知県西多摩郡瑞穂町月島20丁目24番18号
        Pattern("ja chome", rf"(?:{han}{{1,4}}[都道府県])?[{han}\p{{Katakana}}\p{{Hiragana}}ー]{{0,16}}?"
                            rf"\d{{1,4}}丁目\d{{1,4}}番(?:地)?(?:\d{{1,4}}号)?", 0.7),
        # 宁夏回族自治区兰州县双滦南昌街G座 263381 · 北京市朝阳区建国路88号
        Pattern("zh street", rf"{han}{{2,8}}(?:省|自治区|市){han}{{1,16}}?(?:街|路|道|巷)(?:[A-Za-z]座|\d{{1,5}}号)"
                             rf"(?:[ ]?\d{{6}})?", 0.7)], global_regex_flags=CASED)
    return [recognizer, _gated(cjk, r"丁目|[街路道巷](?:[A-Z]座|\d)", digits=False)]


# Legal forms that end a company name: "Memon Inc", "Bourgeois SARL", "Tabisz Sp.k.", "Pires e Filhos"
LEGAL_FORMS = (r"Inc\.?|Incorporated|Ltd\.?|Limited|LLC|L\.L\.C\.|LLP|PLC|plc|Corp\.?|Corporation|Co\.|GmbH|"
               r"SARL|Sàrl\.?|SAS|S\.A\.S\.|S\.A\.|S\.p\.A\.|S\.r\.l\.|S\.L\.|S\.Coop\.|B\.V\.|N\.V\.|"
               r"Sp\.[ ]z[ ]o\.o\.|Sp\.k\.|S\.C\.|Oy|Oyj|ASA|A/S|ApS|e[ ]Filhos|and[ ]Sons|&[ ]Sons|& Co\.")
SHORT_FORMS = r"AG|KG|OG|SE|AB"  # two capitals: never after a comma ("Las Vegas, NV"-like state codes)
MONTHS_DAYS = (r"January|February|March|April|May|June|July|August|September|October|November|December|"
               r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday")


def organization_recognizer() -> PatternRecognizer:
    """A capitalized name followed by a legal form (1–4 words before it, hyphens and particles allowed)."""
    name = rf"{UPPER}(?:[ ,]{{1,2}}(?:and[ ]|&[ ]|{PARTICLE}[ ])?{UPPER}){{0,3}}"
    recognizer = PatternRecognizer("ORGANIZATION", name="LegalFormOrgRecognizer", patterns=[
        Pattern("name + legal form", rf"\b{name}(?:,?[ ](?:{LEGAL_FORMS})|[ ](?:{SHORT_FORMS}))(?![\p{{L}}\d])", 0.6)],
        global_regex_flags=CASED)
    return _gated(recognizer, rf"[ ](?:{LEGAL_FORMS}|{SHORT_FORMS})", digits=False)


def place_cue_recognizer() -> PatternRecognizer:
    """The capitalized place after "lived in", "based in", "grew up in", "moved to", "the office in" … —
    names in any script of Latin letters (Żary, Monnet-près-Beguin, Termini Imerese); not months or days."""
    cue = (r"(?:live|lives|lived|living|grew[ ]up|born|based|reside|resides|resided|settled|office|offices|headquartered)"
           r"[ ]in|(?:moved|moving|relocated|relocating)[ ]to")
    place = rf"(?!(?:{MONTHS_DAYS})\b){UPPER}(?:[ \-](?:{PARTICLE}[ ])?{UPPER}){{0,3}}"
    recognizer = PatternRecognizer("LOCATION", name="PlaceCueRecognizer", patterns=[
        Pattern("place after a cue", rf"(?<=\b(?i:{cue})[ ]){place}", 0.5)], global_regex_flags=CASED)
    return _gated(recognizer, r"\p{Lu}", digits=False)


def pattern_recognizers() -> list[PatternRecognizer]:
    """Every recognizer of this module, gated."""
    return [_gated(CardRecognizer(), r"\d{4}"), national_phone_recognizer(), email_recognizer(),
            _gated(IbanAnyRecognizer(), r"[A-Z]{2}\d{2}"), password_recognizer(), *token_recognizers(),
            *[r if hasattr(r, "sluice_gate") else _gated(r, r"\d") for r in address_recognizers()],
            organization_recognizer(), place_cue_recognizer()]
