"""The privacy guard reads redaction from manifests along the lineage."""

from __future__ import annotations

import pytest

from sluice.curate.ingest import ingest
from sluice.privacy import NotRedacted, redaction_of, require_redacted
from sluice.recipe import Recipe
from sluice.runner import run
from sluice.stage import Transform


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
