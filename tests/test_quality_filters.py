"""language and heuristics: score columns, then decisions with reason codes; the example recipe."""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl
import pyarrow as pa

from sluice.curate.quality.heuristics import Heuristics, HeuristicsFilter
from sluice.curate.quality.language import Language, LanguageFilter
from sluice.schemas import get


def _frame(convs, metadata=None):
    n = len(convs)
    ids = [f"c{i}" for i in range(n)]
    return pl.from_arrow(pa.table(
        {"id": ids, "source": ["t"] * n, "source_id": ids, "created_at": [None] * n, "messages": convs,
         "tools": [None] * n, "feedback": [None] * n, "metadata": metadata or [None] * n},
        schema=get("conversation").schema))


def _chat(user, assistant, system=None):
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def test_language_per_side_and_decisions():
    df = _frame([
        _chat("What is the capital of France and why is it famous?", "The capital of France is Paris, famous for its art."),
        _chat("Wie spät ist es in Berlin, wenn es in New York Mittag ist?", "In Berlin ist es dann achtzehn Uhr."),
        _chat("What is the weather usually like in the city of Madrid during the month of May?",
              "En mayo, el tiempo en la ciudad suele ser cálido, seco y muy soleado."),
        [{"role": "user", "content": "Tell me a joke about programmers please."}],
    ])
    stage = Language()
    scored = df.hstack(stage.score(df))
    assert scored["lang_user"].to_list() == ["en", "de", "en", "en"]
    assert scored["lang_assistant"].to_list()[:3] == ["en", "de", "es"]
    assert scored["lang_assistant"][3] is None and scored["lang"][3] == "en"
    assert all(0 < c <= 1 for c in scored["lang_user_conf"])
    assert scored["lang_mismatch"].to_list() == [False, False, True, False]
    decision = LanguageFilter(keep=["en"], drop_mismatch=True).decide(scored)
    assert decision["reason"].to_list() == [None, "wrong_language", "language_mismatch", None]
    assert decision["detail"][1] == "lang=de"
    assert LanguageFilter(min_confidence=1.0).decide(scored)["reason"].null_count() < 4


def test_language_short_text_and_undetermined():
    """Single characters and words go to lingua; what cannot be told is und and kept by default."""
    df = _frame([
        _chat("字", "这是一个汉字。"),                                        # one Chinese character
        _chat("Bonjour, comment ça va ?", "Ça va bien, merci beaucoup !"),
        _chat("42", "```python\nprint(42)\n```"),                           # no letters: und
        _chat("Translate into French: I am a student.", "Je suis étudiant, et j'aime apprendre."),
        _chat("Name an extreme sport.", "Bungee jumping."),
    ])
    scored = df.hstack(Language().score(df))
    assert scored["lang_user"].to_list()[:3] == ["zh", "fr", "und"]
    assert scored["lang_assistant"][2] == "und"
    assert scored["lang_assistant"][3] == "fr" and not scored["lang_mismatch"][3]  # the translation is the answer
    keep = ["en", "fr", "zh"]
    assert LanguageFilter(keep=keep).decide(scored)["reason"].to_list() == [None] * 5
    strict = LanguageFilter(keep=keep, keep_undetermined=False).decide(scored)["reason"].to_list()
    assert strict[2] == "undetermined_language" and strict[1] is None
    assert LanguageFilter(keep=["en"]).decide(scored)["reason"].to_list()[:2] == ["wrong_language"] * 2


def test_language_names_languages_beyond_linguas_base_set():
    """Short sentences in languages outside the 29 base candidates get their own label (fastText's
    likeliest languages join lingua's candidates, or fastText decides what lingua cannot name);
    with fasttext_candidates: 0 they were labelled as a neighbour (sk → cs/tr, sr/bg → ru, ur → fa)."""
    texts = {"sk": "Včera večer sme išli do kina a film bol veľmi dobrý.",
             "bg": "Къде е най-близката аптека, моля? Трябва ми лекарство за главоболие.",
             "sr": "Сутра идемо на излет у планине са пријатељима.",
             "ur": "میں کل بازار جاؤں گا اور کچھ پھل خریدوں گا۔",
             "ne": "म नेपालमा बस्छु र मलाई हिमाल धेरै मन पर्छ।",
             "sw": "Ninapenda kusoma vitabu vya historia jioni baada ya kazi.",
             "en": "Can you help me fix this bug in my code?",
             "de": "Kannst du mir bitte bei meiner Steuererklärung helfen?",
             "ru": "Подскажите, пожалуйста, как доехать до вокзала?"}
    stage = Language()
    stage.setup()
    langs, _, _ = stage.identify(list(texts.values()))
    assert langs == list(texts)
    assert stage.counters["fasttext_short/decided"] >= 1  # Nepali: lingua does not know it
    base = Language(fasttext_candidates=0)
    base.setup()
    old, _, _ = base.identify(list(texts.values()))
    assert sum(a != b for a, b in zip(old, texts)) >= 5


def test_language_without_lingua_labels_short_texts_und():
    stage = Language()
    stage.setup()
    stage.short = None  # as when lingua is not installed
    langs, _, _ = stage.identify(["ok", "This sentence is long enough " * 9])
    assert langs == ["und", "en"]


REFUSAL = "As an AI language model, I cannot provide that information."


def test_heuristics_scores_and_every_reason():
    convs = [
        _chat("How do I sort a list in Python?", "Use sorted(xs) or xs.sort() for in-place sorting."),  # clean
        [{"role": "user", "content": "Hello?"}],  # no final answer
        _chat("Summarize this.", "The report finds that revenue grew while the costs of the"),  # truncated
        _chat("Can you help?", REFUSAL),
        _chat("Give me the order status.", "Your order shipped yesterday.",
              system="You are an API. Respond only with valid JSON."),  # invalid JSON
        _chat("Give me the order status.", '```json\n{"status": "shipped"}\n```',
              system="Return the answer as JSON."),  # valid JSON
        _chat("Tell me something.", " ".join(["I like trains a lot."] * 20)),  # repetitive
        _chat("Draw it.", "◆◆◆◆◆ ■■■■ ★★★★ ☺☺☺ ok."),  # non-text
        _chat("Write a note.", "Dear landlord,\n\nThe heater is broken. Please fix it soon.\n\nBest regards"),
        [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": ""},
         {"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "It is sunny today."}],
        _chat("Write a long story.", "Once upon a time there was a fox, and it kept going",),
    ]
    meta = [None] * (len(convs) - 1) + ['{"finish_reason": "length"}']
    df = _frame(convs, meta)
    scored = df.hstack(Heuristics().score(df))
    assert scored["json_required"].to_list()[4:6] == [True, True]
    assert scored["json_valid"].to_list()[4:6] == [False, True]
    assert scored["json_valid"][0] is None
    assert scored["refusal_pattern"][3] == 0
    assert scored["repetition"][6] > 0.8 and scored["repetition"][0] == 0
    assert scored["non_text_ratio"][7] > 0.4 > scored["non_text_ratio"][0]
    assert scored["truncated"].to_list()[8] is False  # a sign-off is not a cut-off
    reasons = HeuristicsFilter().decide(scored)["reason"].to_list()
    assert reasons == [None, "no_final_answer", "truncated_answer", "boilerplate_refusal", "invalid_json", None,
                       "repetitive", "non_text", None, "empty_answer", "truncated_answer"]
    assert set(r for r in reasons if r) <= set(HeuristicsFilter.reasons)
    words = HeuristicsFilter(min_words={"assistant": 8}, drop_truncated=False).decide(scored)["reason"].to_list()
    assert words[0] == "too_few_words_assistant"
    lenient = HeuristicsFilter(**{k: False for k in ("drop_no_final_answer", "drop_empty_answers", "drop_truncated",
                                                     "drop_refusals", "drop_invalid_json")},
                               max_repetition=None, max_non_text_ratio=None)
    assert lenient.decide(scored)["reason"].null_count() == len(convs)


def test_custom_refusal_patterns():
    df = _frame([_chat("Hi", "Computer says no."), _chat("Hi", REFUSAL)])
    scored = df.hstack(Heuristics(refusal_patterns=[r"computer says no"]).score(df))
    assert scored["refusal_pattern"].to_list() == [0, None]


def test_quality_recipe_runs_on_a_slice_of_the_sample(store, sample_logs, tmp_path):
    from sluice.curate.ingest import ingest
    from sluice.recipe import load_recipe
    from sluice.runner import run

    small = tmp_path / "small.jsonl"
    with open(sample_logs) as src:
        small.write_text("".join(itertools.islice(src, 40)))
    ingest([str(small)], to="raw", store=store)
    recipe, stages = load_recipe(Path(__file__).parents[1] / "examples" / "quality.yaml")
    stages[-1] = type(stages[-1])(budget=10, threshold=0.9)  # the sample recipe's budget is for 600 rows
    result = run(recipe, stages, store=store)
    acc = result.version.manifest["accounting"]
    assert acc["kept"] == 10
    assert acc["rows_in"] == acc["kept"] + acc["rejected_total"] + acc["quarantined_total"]
    rejected = pl.from_arrow(result.version.read("rejected"))
    assert rejected["reason"].null_count() == 0 and rejected["stage"].null_count() == 0
    df = pl.from_arrow(result.version.read())
    from sluice.curate.quality.embed import SIGNATURE_DIMS

    # static model (256) + the agent-signature block, stored for dedup and labeling
    assert df["embedding"].dtype == pl.Array(pl.Float32, 256 + SIGNATURE_DIMS)
    assert df["scorer"].unique().to_list() == ["heuristic-v1"]
    select = next(s for s in result.version.manifest["stages"] if s["name"] == "select")["info"]
    assert select["order"] == "diversity"  # the offline heuristic does not rank rows (issue: Quality scores)
    configs = {s["stage"]: s for s in result.version.manifest["recipe"]["stages"]}
    assert configs["select"]["threshold"] == 0.9 and configs["embed"]["model"] == "static"


def test_truncation_needs_positive_evidence():
    """Short answers, digits, SQL, hashtags and sign-offs end without a full stop and are answers."""
    complete = ["achievement", "42", "SELECT name FROM users WHERE id = 7;", "Loving the new cafe! #coffee",
                "Dear team,\n\nThe release is ready.\n\nBest regards,\nAnna", "def swap(a, b):\n    return b, a",
                "Golden sun shines bright\nSeagulls soaring in the sky\nPeaceful waves rolling in"]
    cut = ["The main reasons are the cost of materials, the time it takes to build and the",
           "Here is the code:\n```python\ndef f(x):\n    return x +",
           "Design a game where the player has to guess a secret number between 1-"]
    df = _frame([_chat("Answer.", a) for a in complete + cut] + [_chat("Write a story.", "Once upon a time.")],
                [None] * (len(complete) + len(cut)) + ['{"finish_reason": "length"}'])
    truncated = df.hstack(Heuristics().score(df))["truncated"].to_list()
    assert truncated == [False] * len(complete) + [True] * len(cut) + [True]


def test_documented_alpaca_defects():
    cases = {
        "placeholder_answer": _chat("Design a logo for a coffee shop.", "<No Output>"),
        "merged_instructions": _chat("Describe the rose.", "A rose is a flower.\n##\n18. Instruction: Write a poem.\n"
                                                           "18. Input:\n<noinput>\n18. Output:\nRoses are red."),
        "placeholder_input": _chat("Name five oceans.\n\n<no input>", "Pacific, Atlantic, Indian, Southern, Arctic."),
        "unavailable_input": _chat("Summarize the article.\n\nhttps://www.example.com/news/2020/story.html",
                                   "The article argues that cities should plant more trees."),
        "image_request_text_answer": _chat("Draw a picture of a cat sleeping on a sofa.",
                                           "The picture shows a grey cat curled up on a red sofa."),
    }
    fine = [
        _chat("Write the HTML for a line break.", "<br>"),                      # markup, not a placeholder
        _chat("Name a famous chef.", "<PERSON_1>"),                            # a redaction placeholder
        _chat("Identify the domain name of this URL.\n\nhttps://docs.google.com/d", "google.com"),
        _chat("Classify the shape.\n\nA triangle with three equal sides", "Equilateral triangle."),
        _chat("Create a character sketch of a sailor.", "Mara is a weathered sailor who trusts the sea."),
        _chat("Write Python that draws a circle with turtle.", "```python\nimport turtle\nturtle.circle(50)\n```"),
    ]
    df = _frame(list(cases.values()) + fine + [_chat("Classify the shape.\n\n<Picture Attached>", "Triangle")])
    scored = df.hstack(Heuristics().score(df))
    assert scored["defect"].to_list() == list(cases) + [None] * len(fine) + ["unavailable_input"]
    reasons = HeuristicsFilter().decide(scored)["reason"].to_list()
    assert reasons == list(cases) + [None] * len(fine) + ["unavailable_input"]
    assert HeuristicsFilter(drop_defects=["merged_instructions"]).decide(scored)["reason"].to_list()[:3] == \
        [None, "merged_instructions", None]


def test_unknown_defect_code_is_a_config_error():
    import pydantic
    import pytest

    with pytest.raises(pydantic.ValidationError, match="unknown defect codes"):
        HeuristicsFilter(drop_defects=["nope"])


def test_an_assistant_tool_call_is_a_final_answer():
    call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "takeoff_drone", "arguments": '{"altitude": 100}'}}]}
    waiting = [{"role": "user", "content": "Weather?"}, call, {"role": "tool", "content": "sunny", "tool_call_id": "c1"}]
    df = _frame([[{"role": "system", "content": "You fly a drone."}, {"role": "user", "content": "Take off."}, call],
                 waiting])
    scored = df.hstack(Heuristics().score(df))
    assert scored["has_final_answer"].to_list() == [True, False]
    assert HeuristicsFilter().decide(scored)["reason"].to_list() == [None, "no_final_answer"]


def test_tool_scope_refusals_are_answers():
    tools = '[{"type": "function", "function": {"name": "calculate_age"}}]'
    row = _chat("Can you book a flight for me?",
                "I'm sorry, but I am unable to assist with that. My current function only calculates ages.")
    df = _frame([row, row]).with_columns(pl.Series("tools", [tools, None]))
    scored = df.hstack(Heuristics().score(df))
    assert scored["refusal_pattern"].to_list() == [None, 3]


def test_lists_of_names_and_tasks_about_english_words_are_not_mismatches():
    df = _frame([
        _chat("Give me a list of all the major cities in the given country that tourists like to visit.\n\nNorway",
              "Oslo, Bergen, Trondheim, Stavanger, Drammen, Fredrikstad, Tromsø, Sandnes, Kristiansand, Ålesund."),
        _chat("生成一个正确使用“opulent”一词的例句，并解释这个句子为什么能够很好地表达这个词的意思。",
              "The wedding reception was held in an opulent ballroom with crystal chandeliers and golden walls."),
        _chat("详细介绍一下长城的历史，以及它在中国古代防御体系中的作用和意义。",
              "The Great Wall was built over many centuries to protect the northern borders of the empire."),
    ])
    scored = df.hstack(Language().score(df))
    assert scored["lang_mismatch"].to_list() == [False, False, True]
    assert scored["lang_translation"].to_list() == [False, True, False]


def test_norwegian_is_nb_and_keep_no_still_keeps_it():
    df = _frame([_chat("Kan du hjelpe meg med å skrive et brev til utleieren min om en ødelagt vaskemaskin?",
                       "Selvfølgelig. Her er et forslag til et kort og høflig brev til utleieren din.")])
    scored = df.hstack(Language().score(df))
    assert scored["lang"][0] == "nb"  # fastText says "no", lingua "nb": one code
    assert LanguageFilter(keep=["no"]).decide(scored)["reason"].to_list() == [None]
    assert LanguageFilter(keep=["nb"]).decide(scored)["reason"].to_list() == [None]


# Real text from Europeana Newspapers (CC0 1.0; the shared pii_dev set, europeana_de_lft / europeana_fr_bnf,
# records enp_de_lft-1 and enp_fr_bnf-6): a word of one record is the user turn, the other record's
# opening the answer.
_DE = ("Heute fand hier der Kongreß aller Generalagenten des Istituto Nazionale delle Assicurazioni "
       "(Reichsinstitut für Lebensversicherungen) statt und konstituierten sie sich dann zu einem faschistischen Syndikate.")
_FR = ("Dans le Nord, son vaillant président, M. Eugène Motte, que les collectivistes donnaient comme devant se "
       "retirer de la lutte, vient de faire connaître qu'il n'en était rien.")


def test_language_one_or_two_words_read_with_the_other_side():
    """A one- or two-word side takes the other side's language when lingua finds it fits (context_floor);
    a word that does not fit the context (another script) keeps its own decision."""
    df = _frame([_chat("Heute", _DE), _chat("Heute", _FR), _chat("vient", _FR), _chat("vient", _DE),
                 _chat("sich dann", _DE), _chat("字", _FR), _chat(_DE, "Syndikate"), _chat("statt", "ok")])
    before = df.hstack(Language(context_words=0).score(df))
    after = df.hstack(Language().score(df))
    assert before["lang_user"].to_list()[:5] == ["und"] * 5    # too short to tell alone
    assert after["lang_user"].to_list()[:5] == ["de", "und", "fr", "und", "de"]  # "Heute" does not fit French
    assert after["lang_user"][5] == "zh"                       # 字 fits no Latin-script context: its own label
    assert after["lang_assistant"][6] == "de"                  # a one-word answer reads the prompt
    assert after["lang_user"][7] == before["lang_user"][7]     # a one-word other side is no context
    strict = Language(context_floor=1.0).score(df)  # nothing fits that surely: no context used
    assert strict["lang_user"].to_list() == before["lang_user"].to_list()
