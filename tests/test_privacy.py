"""The privacy guard certifies redaction from what the manifests record ran (class, version,
engine, fields), along the lineage; one loopback rule."""

from __future__ import annotations

import pytest

from sluice.curate.ingest import ingest
from sluice.privacy import NotRedacted, is_loopback_host, is_remote, redaction_of, require_redacted
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
    assert found.redacted and found.strong and found.engine == "ner" and found.languages == ("en",)
    from sluice.curate.pii.stage import RedactPii

    assert found.stage == f"sluice.curate.pii.stage:RedactPii v{RedactPii.version}"
    assert {"content", "tool_calls", "tool_results", "tools", "feedback", "metadata", "name"} <= set(found.fields)
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
    with pytest.raises(AssertionError, match="must not run"):  # the guard let it through: NER redaction came first
        run(Recipe(), [PiiDetect(), RedactPii(), _RemoteScorer()], store=store, input_ref="raw", output="out")
