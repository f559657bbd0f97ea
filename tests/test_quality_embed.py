"""The embed stage: normalized vectors of the embedded default model, with a token cap."""

from __future__ import annotations

import numpy as np
import polars as pl

from sluice.curate.quality.embed import Embed


def _batch(texts):
    return pl.DataFrame({"messages": [[{"role": "user", "content": t}, {"role": "assistant", "content": "ok"}]
                                      for t in texts]})


def test_token_cap_is_applied_and_vectors_are_normalized():
    stage = Embed(text="user", max_tokens=8)
    stage.setup()
    assert stage.model.max_seq_length == 8
    out = stage.score(_batch(["reset my password please", "where is my order " * 30]))
    vectors = np.stack(out["embedding"].to_numpy())
    assert vectors.shape == (2, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    # beyond the cap the text no longer matters: only the first 8 tokens are read
    longer = stage.score(_batch(["where is my order " * 60]))["embedding"].to_numpy()[0]
    assert np.allclose(vectors[1], longer, atol=1e-5)
