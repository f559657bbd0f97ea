"""exact_json finds a long integer literal (19+ digits, which orjson would turn into a float) with a byte
translation instead of the regex rb"\\d{19}"; both must agree on every input, and such input must
still parse exactly."""

import random
import re

from sluice.exact_json import has_long_int, loads

REGEX = re.compile(rb"\d{19}")


def test_long_digit_runs_are_found_exactly_where_the_regex_finds_them():
    rnd = random.Random(0)
    alphabet = b'0123456789a -."\xff\xd9\xa3'  # includes UTF-8 bytes of a non-ASCII digit (never a match)
    cases = [b"", b"1" * 18, b"1" * 19, b"x" + b"9" * 19, b"9" * 19 + b"x", b"1" * 18 + b" " + b"1" * 18,
             "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦٧٨٩٠".encode()]
    cases += [bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 60))) for _ in range(20_000)]
    cases += [rnd.choice([b"1" * 19, b"12"]) * rnd.randint(1, 12) for _ in range(500)]
    for raw in cases:
        assert has_long_int(raw) == (REGEX.search(raw) is not None), raw


def test_integers_past_64_bits_stay_exact():
    big = 2 ** 70 + 1
    assert loads(f'{{"n": {big}, "m": -{big}}}'.encode()) == {"n": big, "m": -big}
    assert loads(f'{{"n": {big}}}') == {"n": big}
    assert loads(b'{"n": 123456789012345678}') == {"n": 123456789012345678}  # 18 digits: orjson, exact
