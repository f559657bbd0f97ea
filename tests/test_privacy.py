"""The privacy guard reads redaction from manifests along the lineage."""

from __future__ import annotations

import pytest

from sluice.curate.ingest import ingest
from sluice.privacy import NotRedacted, redaction_of, require_redacted
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.stage import Scorer, Transform


class FakeRedact(Transform):
    """Stands in for the real redaction stage: only its name matters to the guard."""

    name = "redact_pii"
    rewrites = ("messages",)

    def transform(self, batch):
        return batch


def test_guard_follows_lineage(store, sample_logs):
    raw = ingest([str(sample_logs)], to="raw", store=store, workers=1).version
    with pytest.raises(NotRedacted) as err:
        require_redacted(raw, store, action="push to Argilla")
    assert "raw@v1" in str(err.value) and "redact_pii" in err.value.hint
    assert require_redacted(raw, store, action="x", override=True).redacted is False

    redacted = run(Recipe(), [FakeRedact()], store=store, input_ref="raw", output="clean").version
    assert redaction_of(redacted, store).by == redacted.ref
    later = run(Recipe(stages=[{"stage": "length"}]), Recipe(stages=[{"stage": "length"}]).build(),
                store=store, input_ref="clean", output="scored").version
    assert require_redacted(later, store, action="send").by == redacted.ref  # an ancestor ran it


class _RemoteScorer(Scorer):
    """Claims to send rows to a remote endpoint; never does (the runner must stop it first)."""

    name = "remote_scorer"
    adds = ("remote_score",)

    def remote_endpoints(self):
        return ["https://scores.example.com/v1", "http://127.0.0.1:8000/v1"]

    def score(self, batch):
        raise AssertionError("must not run on unredacted data")


class _LocalScorer(_RemoteScorer):
    name = "local_scorer"

    def remote_endpoints(self):
        return ["http://127.0.0.1:8000/v1", "http://localhost:9/v1"]

    def score(self, batch):
        import polars as pl

        return pl.DataFrame({"remote_score": [1.0] * batch.height})


def test_runner_refuses_remote_stages_on_unredacted_data(store, sample_logs):
    ingest([str(sample_logs)], to="raw", store=store, workers=1)
    with pytest.raises(NotRedacted) as err:
        run(Recipe(), [_RemoteScorer()], store=store, input_ref="raw", output="out")
    assert "scores.example.com" in str(err.value) and "127.0.0.1" not in str(err.value)
    assert store.versions("out") == []
    # loopback endpoints are not remote; redaction earlier in the same recipe makes it safe
    assert run(Recipe(), [_LocalScorer()], store=store, input_ref="raw", output="local").version.num_rows()
    with pytest.raises(AssertionError, match="must not run"):  # the guard let it through: redaction came first
        run(Recipe(), [FakeRedact(), _RemoteScorer()], store=store, input_ref="raw", output="out")
