"""Judge replies → ratings (including malformed replies), ratings → pairs, prompt dedup."""

from __future__ import annotations

import random

import pytest

from sluice.synth.dedup import Deduper
from sluice.synth.judge import JudgeParseError, make_pair, parse_ratings

RUBRIC_REPLY = """#### Output for Text 1
Rating: 2
Rationale: Misses the question.

#### Output for Text 2
Rating: 5
Rationale: Complete and accurate.

#### Output for Text 3
Rating: 3 (Good)
Rationale: Fine, but vague."""


@pytest.mark.parametrize("reply, n, expected", [
    (RUBRIC_REPLY, 3, [2, 5, 3]),
    ("**Rating**: 4\nRationale: ok\n\n**Rating:** 1\nRationale: bad", 2, [4, 1]),
    ("Sure! Here you go.\nRating: 4/5\nRationale: good\nRating: 3/5\nRationale: meh\nHope it helps.", 2, [4, 3]),
    ("Rating: 8/10\nRating: 4/10", 2, [4, 2]),  # another scale is rescaled to the rubric's 1-5
    ("rating = 4.5\nrating: 2.0", 2, [4.5, 2]),
    ('```json\n{"ratings": [1, 4, 4], "rationales": ["a", "b", "c"]}\n```', 3, [1, 4, 4]),
    # sections out of order are placed by their text number
    ("#### Output for Text 2\nRating: 1\nRationale: x\n\n#### Output for Text 1\nRating: 5\nRationale: y", 2, [5, 1]),
    # the template's header echo without ratings falls back to plain order
    ("Text 1, Text 2 compared.\nRating: 3\nRating: 1", 2, [3, 1]),
])
def test_parse_ratings_reads_real_judge_variations(reply, n, expected):
    assert parse_ratings(reply, n) == expected


@pytest.mark.parametrize("reply, n, reason", [
    (None, 2, "judge_unparseable"),
    ("   ", 2, "judge_unparseable"),
    ("\x00\x17 random bytes from a tiny model �K�", 3, "judge_unparseable"),
    ("Rating: excellent\nRationale: no number", 2, "judge_unparseable"),
    ("Rating: 4\nRationale: only one", 3, "judge_wrong_count"),
    ("Rating: 1\nRating: 2\nRating: 3", 2, "judge_wrong_count"),
    ('{"ratings": [5]}', 2, "judge_wrong_count"),
    ('{"ratings": ["great", 2]}', 2, "judge_unparseable"),
    ("Rating: 7\nRating: 2", 2, "judge_out_of_range"),
    ("Rating: 0\nRating: 2", 2, "judge_out_of_range"),
])
def test_malformed_judge_replies_fail_with_a_reason(reply, n, reason):
    with pytest.raises(JudgeParseError) as err:
        parse_ratings(reply, n)
    assert err.value.reason == reason
    assert "random bytes" not in err.value.detail  # details never quote the reply


def test_pairs_best_vs_worst_or_random_lower_with_margin():
    p = make_pair([3, 5, 1, 4])
    assert (p.chosen, p.rejected, p.score_chosen, p.score_rejected) == (1, 2, 5, 1)
    picks = {make_pair([3, 5, 1, 4], strategy="best_random", min_margin=0, rng=random.Random(s)).rejected
             for s in range(40)}
    assert picks == {0, 2, 3}  # any lower-rated answer, never the best itself
    assert make_pair([5, 5, 2]).chosen == 0  # first of equal bests, deterministic
    with pytest.raises(JudgeParseError, match="tie"):
        make_pair([4, 4, 4])
    with pytest.raises(JudgeParseError) as err:
        make_pair([4, 3.5], min_margin=1)
    assert err.value.reason == "below_margin"
    assert make_pair([4, 3.5], min_margin=0.5).rejected == 1


def test_dedup_against_seeds_and_each_other():
    d = Deduper(threshold=0.8)
    d.add("seed:a", "Write a poem about the sea at night.")
    assert d.check("write a POEM about the sea at night!!") == "seed:a"  # normalized exact
    assert d.check("Explain how tides work on the coast of Brittany in winter.") is None
    d.add("r1", "Explain how tides work on the coast of Brittany in winter.")
    assert d.check("Explain how tides work on the coast of Brittany in winter, briefly.") == "r1"  # near copy
    assert d.check("List three uses of baking soda.") is None


def test_close_pairs_pick_the_hardest_negative_still_min_margin_below():
    ratings = [5, 4, 2, 1]
    assert make_pair(ratings, strategy="best_worst").rejected == 3  # easy pair: gap 4
    close = make_pair(ratings, strategy="close", min_margin=1)
    assert (close.chosen, close.rejected, close.score_chosen - close.score_rejected) == (0, 1, 1)  # gap 1
    assert make_pair(ratings, strategy="close", min_margin=2).rejected == 2  # nearest with gap >= 2
    with pytest.raises(JudgeParseError) as err:
        make_pair([5, 4.5], strategy="close", min_margin=1)
    assert err.value.reason == "below_margin"
    with pytest.raises(JudgeParseError) as err:
        make_pair([5, 1], strategy="close", min_margin=1, max_margin=2)
    assert err.value.reason == "above_margin"


def test_read_ratings_uses_distilabels_ultrafeedback_parser_first():
    from sluice.synth import tasks
    from sluice.synth.judge import read_ratings

    task = tasks.make("UltraFeedback", "judge", aspect="overall-rating")
    inp = {"instruction": "q", "generations": ["a", "b", "c"]}
    assert read_ratings(task, RUBRIC_REPLY, inp) == [2, 5, 3]  # the task's own format
    assert read_ratings(task, "**Rating**: 4\nRationale: x\n\n**Rating**: 1\nRationale: y\n\n**Rating**: 2\n"
                              "Rationale: z", inp) == [4, 1, 2]  # a variation the task's regex misses
    with pytest.raises(JudgeParseError) as err:
        read_ratings(task, "Rating: excellent\nRationale: no number", inp)
    assert err.value.reason == "judge_unparseable"


def test_shipped_llm_files_load_with_valid_recipe_settings():
    from pathlib import Path

    from sluice.synth.runner import get_recipe, load_llm_file

    files = sorted((Path(__file__).parents[1] / "examples" / "synth").glob("*.yaml"))
    assert files
    for path in files:
        llm = load_llm_file(path)
        assert llm.llm.api_key_env and not any(k in path.read_text() for k in ("sk-", "api_key:"))  # no keys in files
        for name, settings in llm.recipes.items():
            assert get_recipe(name, settings).name == name
