"""Fitting a learned scorer on a dataset version, and measuring a selection's lift.

``fit_version`` is what ``sluice quality fit`` runs: read the labelled rows, take (or compute)
their conversation embeddings, build the features, cross-validate and fit the head, and save
the artifact. The embedding column is reused only when the manifest says how the ``embed`` stage
made it with the scorer's model (default all-MiniLM-L6-v2, ``SCORER_MODEL``) — the scorer then
records how (model, text, token limit), and ``quality_score`` checks it again before it trusts a
column.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import polars as pl

from sluice.errors import DataError

from . import labels
from .learned import EmbeddingSpec, LearnedScorer, embed, features, fit, load_embedder, model_identity, texts

MIN_LABELS = 20
# The transformer, not the static default of the embed stage: held-out AUROC 0.744 vs 0.665 on
# alpaca_gpt4 (BENCHMARKS.md). `--embedding-model static` reuses a static column (faster at scale).
SCORER_MODEL = "all-MiniLM-L6-v2"


def embed_config(version, store) -> dict | None:
    """The config of the ``embed`` stage that made this version's ``embedding`` column (lineage walked)."""
    for v in store.lineage(version):
        for stage in reversed((v.manifest.get("recipe") or {}).get("stages") or []):
            if stage.get("stage") == "embed":
                return stage
    return None


def _groups(df: pl.DataFrame, field: str | None) -> np.ndarray | None:
    if not field:
        return None
    head, _, rest = field.partition(".")
    if head not in df.columns:
        raise DataError(f"group {field!r}: no column {head!r}", hint=labels.HINT)
    col = df[head].str.json_path_match(f"$.{rest}") if rest and head == "metadata" else df[head].cast(pl.String)
    return col.fill_null("").to_numpy()


def fit_version(version, store, *, label: str, out: Path, threshold: float | None = None, head: str = "linear",
                group: str | None = None, embedding_model: str | None = None, device: str | None = None,
                name: str | None = None) -> LearnedScorer:
    df = pl.from_arrow(version.read())
    values = labels.label_values(df, label)
    keep = values.is_not_null() & ~values.is_nan()
    df, values = df.filter(keep), values.filter(keep)
    if threshold is not None:
        y, kind = labels.binary(values, threshold), "bool"
    else:
        kind = "bool" if labels.is_boolean(values) else "numeric"
        y = values
    y = y.to_numpy().astype(np.float64)
    if len(y) < MIN_LABELS or (kind == "bool" and min(y.sum(), len(y) - y.sum()) < 5):
        raise DataError(f"label {label!r}: {len(y)} labelled rows in {version.ref}"
                        + (f" ({int(y.sum())} positive)" if kind == "bool" else ""),
                        hint=f"a scorer needs at least {MIN_LABELS} labelled rows and 5 of each class")
    conf = embed_config(version, store) if "embedding" in df.columns else None
    model_name = embedding_model or SCORER_MODEL
    same = conf is not None and conf.get("model") == model_name
    # an embedding widened by the agent-signature block (embed `tools: true`) is not the model's own vector:
    # the scorer embeds the same text the same way itself
    column = np.asarray(df["embedding"].to_list(), dtype=np.float32) if same else None
    if column is not None and conf.get("tools", False):
        from .embed import model_part

        column = model_part(column)
    reuse = column is not None
    source = (conf.get("source") if same else None) or None
    spec = EmbeddingSpec(model=model_name, text=conf.get("text", "conversation") if same else "conversation",
                         max_tokens=conf.get("max_tokens") if same else None, source=source)
    model = load_embedder(spec, device)
    spec = replace(spec, identity=model_identity(model_name, model),
                   max_tokens=spec.max_tokens or getattr(model, "max_seq_length", None))
    messages = df["messages"].to_list()
    conv = column if reuse else embed(model, spec, texts(messages, spec.text))
    X = features(messages, conv, model, spec)
    scorer = fit(X, y if kind == "numeric" else y.astype(int), kind=kind, head=head, label=label, embedding=spec,
                 groups=_groups(df, group), threshold=threshold, trained_on=version.ref,
                 name=name or Path(out).name)
    scorer.metrics["embedding_reused"] = bool(reuse)
    scorer.save(out)
    return scorer


def version_lift(version, *, label: str, threshold: float | None = None, stage: str = "select") -> dict:
    """The lift of a published selection: its kept rows against them plus the rows ``stage`` rejected."""
    kept = pl.from_arrow(version.read())
    rejected = pl.from_arrow(version.read("rejected"))
    if "stage" in rejected.columns:
        rejected = rejected.filter(pl.col("stage") == stage)
    ran = any(r.get("name") == stage for r in (version.manifest or {}).get("stages") or ())
    if not rejected.height and not ran:
        raise DataError(f"{version.ref}: no rows rejected by stage {stage!r}",
                        hint="give the version a recipe ending in select published, or --stage NAME")
    # a stage that ran and cut nothing (select without a quality signal keeps every row) selected its whole input
    note = None if rejected.height else f"stage {stage!r} ran and rejected no row: the selection is its whole input"
    parts = [kept.select(labels.columns_for(label))] + ([rejected.select(labels.columns_for(label))]
                                                       if rejected.height else [])
    both = pl.concat(parts)
    values = labels.binary(labels.label_values(both, label), threshold).fill_null(float("nan")).to_numpy()
    selected = np.arange(both.height) < kept.height
    return {"ref": version.ref, "label": label, "threshold": threshold, **labels.lift(selected, values),
            **({"note": note} if note else {})}
