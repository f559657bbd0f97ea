"""A learned quality scorer: a small head over sentence embeddings and cheap features, fitted on
labels you already hold (thumbs, ratings, annotator labels, an LLM judge's verdicts on a sample).

``fit`` (behind ``sluice quality fit``) learns it; ``LearnedScorer`` applies it (``quality_score``
with ``scorer: DIR``). Features per conversation: the embedding of the conversation text (the
``embed`` stage's column when it was made the same way) and of the assistant turns, plus
``CHEAP`` features averaged over user turns. Heads: a logistic regression with its L2 strength
chosen by inner cross-validation (boolean labels; its probabilities are the score, calibrated by
construction) or a ridge regression (numeric labels); ``mlp`` is a small scikit-learn MLP —
see BENCHMARKS.md for the measured comparison that made ``linear`` the default.

The artifact is a folder holding ``scorer.json`` (format, label, embedding spec and identity,
features, metrics, training dataset) and ``head.npz`` (numbers only: loading a scorer runs no
pickled code).
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from sluice.errors import RecipeError

from . import deita
from .text import conversation_text, turns

FORMAT = "sluice.quality-scorer"
FORMAT_VERSION = 1
CHEAP = ("user_words", "assistant_words", "length_ratio", "complexity", "quality", "empty_answer", "turns")
def cheap_features(messages: list[dict] | None) -> list[float]:
    pairs = turns(messages) or [("", "")]
    per_turn = []
    for q, a in pairs:
        wq, wa = math.log1p(deita.word_count(q)), math.log1p(deita.word_count(a))
        per_turn.append((wq, wa, wa - wq, deita.heuristic_complexity(q), deita.heuristic_quality(q, a),
                         float(not a.strip())))
    return [*np.mean(per_turn, axis=0).tolist(), math.log1p(len(pairs))]


@dataclass(frozen=True)
class EmbeddingSpec:
    """How the conversation embedding is made; a scorer only runs on embeddings made this way."""

    model: str
    text: Literal["conversation", "user", "final"] = "conversation"  # final: the last exchange (pairwise fits)
    max_tokens: int | None = None
    identity: dict = field(default_factory=dict)
    source: str | None = None  # what a ``static`` model is distilled from


IDENTITY_KEYS = ("model", "name", "kind", "dim", "sha256", "pca_dims", "source")  # not paths or devices


def load_embedder(spec: EmbeddingSpec, device: str | None = None):
    """The embedding model of ``spec`` through the one loader, ``embed.load_model``."""
    from . import embed as loader

    params = inspect.signature(loader.load_model).parameters
    kwargs: dict[str, Any] = {}
    if "max_tokens" in params:
        kwargs["max_tokens"] = spec.max_tokens
    if "source" in params and spec.source:
        kwargs["source"] = spec.source
    return loader.load_model(spec.model, device, **kwargs)


def model_identity(model_name: str, model) -> dict:
    """What identifies an embedding model: the loader's ``model_identity`` when it has one."""
    from . import embed as loader

    ident = getattr(loader, "model_identity", None)
    if ident is not None:
        return dict(ident(model))
    get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return {"name": model_name, "dim": int(get_dim())}


def same_model(fitted: dict, running: dict) -> bool:
    """Same weights and shape (paths and devices may differ between machines)."""
    shared = [k for k in IDENTITY_KEYS if k in fitted and k in running]
    return bool(shared) and all(fitted[k] == running[k] for k in shared)


def texts(messages: list[list[dict] | None], view: str) -> list[str]:
    if view == "final":  # the last user turn and its answer: what two answers to one prompt differ in
        return ["\n".join(turns(m)[-1]) if turns(m) else "" for m in messages]
    roles = {"conversation": ("user", "assistant"), "user": ("user",), "assistant": ("assistant",)}[view]
    return [conversation_text(m, roles) for m in messages]


def embed(model, spec: EmbeddingSpec, strings: list[str]) -> np.ndarray:
    """Embeddings made as ``spec`` says. A loader that returns a bare sentence-transformers model
    shares it, so its token limit is set for this call only."""
    from .embed import embed_texts

    before = getattr(model, "max_seq_length", None)
    if spec.max_tokens and before is not None:
        model.max_seq_length = spec.max_tokens
    try:
        return embed_texts(model, strings)
    finally:
        if spec.max_tokens and before is not None:
            model.max_seq_length = before


def features(messages: list, conv_emb: np.ndarray, model, spec: EmbeddingSpec) -> np.ndarray:
    """The design matrix: conversation embedding, assistant-turns embedding, cheap features."""
    answer = embed(model, spec, texts(messages, "assistant"))
    cheap = np.array([cheap_features(m) for m in messages], dtype=np.float64).reshape(len(messages), len(CHEAP))
    return np.hstack([conv_emb.astype(np.float64), answer.astype(np.float64), cheap])


# -- heads -------------------------------------------------------------------------------------

def make_head(kind: str, head: str, seed: int = 0):
    from sklearn.linear_model import LogisticRegressionCV, RidgeCV
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    grid = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0]
    if head == "linear":
        inner = (LogisticRegressionCV(Cs=grid, cv=3, max_iter=3000, scoring="roc_auc") if kind == "bool"
                 else RidgeCV(alphas=[1 / c for c in grid]))
    elif head == "mlp":
        cls = MLPClassifier if kind == "bool" else MLPRegressor
        inner = cls((64,), alpha=1.0, max_iter=400, early_stopping=True, random_state=seed)
    else:
        raise RecipeError(f"unknown head {head!r}", hint="use linear or mlp")
    return make_pipeline(StandardScaler(), inner)


def _fit(pipe, X: np.ndarray, y: np.ndarray):
    with warnings.catch_warnings():  # scikit-learn 1.8 announces attribute renames we do not use
        warnings.simplefilter("ignore", FutureWarning)
        return pipe.fit(X, y)


def predict(pipe, kind: str, X: np.ndarray) -> np.ndarray:
    return pipe.predict_proba(X)[:, 1] if kind == "bool" else pipe.predict(X)


def cross_validate(X: np.ndarray, y: np.ndarray, kind: str, head: str, groups: np.ndarray | None = None,
                   folds: int = 5) -> dict[str, Any]:
    """Out-of-fold scores → AUROC (bool) or Spearman (numeric), and the Brier score for bool."""
    from scipy.stats import spearmanr
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    folds = max(2, min(folds, int(np.bincount(y.astype(int)).min()) if kind == "bool" else len(y) // 2))
    if groups is not None:
        splits = GroupKFold(folds).split(X, y, groups)
    elif kind == "bool":
        splits = StratifiedKFold(folds, shuffle=True, random_state=0).split(X, y)
    else:
        splits = GroupKFold(folds).split(X, y, np.arange(len(y)) % folds)
    oof = np.empty(len(y))
    for train, test in splits:
        oof[test] = predict(_fit(make_head(kind, head), X[train], y[train]), kind, X[test])
    if kind == "bool":
        auroc = float(roc_auc_score(y, oof))
        lo, hi = auroc_interval(auroc, int(y.sum()), int(len(y) - y.sum()))
        return {"auroc": auroc, "auroc_ci95": [lo, hi], "better_than_chance": bool(lo > 0.5),
                "brier": float(brier_score_loss(y, oof)), "folds": folds}
    return {"spearman": float(spearmanr(y, oof).statistic), "folds": folds}


def auroc_interval(auroc: float, positive: int, negative: int) -> tuple[float, float]:
    """95% interval of an AUROC (Hanley & McNeil 1982 standard error)."""
    a, n1, n0 = auroc, max(positive, 1), max(negative, 1)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt(max(a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a), 0.0) / (n1 * n0))
    return max(0.0, a - 1.959964 * se), min(1.0, a + 1.959964 * se)


# -- the artifact ------------------------------------------------------------------------------

def _export(pipe) -> dict[str, np.ndarray]:
    scaler, inner = pipe.steps[0][1], pipe.steps[-1][1]
    out = {"mean": scaler.mean_, "scale": scaler.scale_}
    if hasattr(inner, "coefs_"):  # MLP: relu hidden layers, then identity/logistic output
        for i, (w, b) in enumerate(zip(inner.coefs_, inner.intercepts_)):
            out[f"w{i}"], out[f"b{i}"] = w, b
    else:
        out["w0"] = np.asarray(inner.coef_, dtype=np.float64).reshape(-1, 1)
        out["b0"] = np.atleast_1d(np.asarray(inner.intercept_, dtype=np.float64))
    return out


@dataclass
class LearnedScorer:
    """A fitted head and what it needs; ``score(X)`` is P(label) for bool labels, the rating otherwise."""

    label: str
    kind: Literal["bool", "numeric"]
    head: str
    embedding: EmbeddingSpec
    weights: dict[str, np.ndarray]
    metrics: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    trained_on: str | None = None
    name: str = "learned"

    @property
    def better_than_chance(self) -> bool:
        """False when the cross-validated interval (AUROC, or pairwise accuracy) includes 0.5; a
        scorer fitted before the interval was recorded counts as better."""
        return self.metrics.get("better_than_chance", True) is not False

    @property
    def n_features(self) -> int:
        return int(self.weights["mean"].shape[0])

    def score(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1] != self.n_features:
            raise RecipeError(f"scorer {self.name!r} expects {self.n_features} features, got {X.shape[1]}",
                              hint="the embedding model's dimension differs from the one the scorer was fitted on")
        h = (X - self.weights["mean"]) / self.weights["scale"]
        layers = sum(1 for k in self.weights if k.startswith("w"))
        for i in range(layers):
            h = h @ self.weights[f"w{i}"] + self.weights[f"b{i}"]
            if i < layers - 1:
                h = np.maximum(h, 0)
        z = h[:, 0]
        return 1 / (1 + np.exp(-z)) if self.kind == "bool" else z

    def identity(self) -> dict[str, Any]:
        """What the manifest and data card record about this scorer."""
        return {"scorer": self.name, "format_version": FORMAT_VERSION, "label": self.label, "kind": self.kind,
                "threshold": self.threshold, "head": self.head, "embedding_model": self.embedding.model,
                "embedding_text": self.embedding.text, "metrics": self.metrics, "trained_on": self.trained_on}

    def save(self, out: Path) -> Path:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        np.savez(out / "head.npz", **self.weights)
        body = {"format": FORMAT, **self.identity(), "embedding": asdict(self.embedding), "features": list(CHEAP)}
        (out / "scorer.json").write_text(json.dumps(body, indent=2, default=str) + "\n")
        return out

    @classmethod
    def load(cls, path: str | Path) -> LearnedScorer:
        path = Path(path)
        meta_path = path / "scorer.json"
        if not meta_path.is_file() or not (path / "head.npz").is_file():
            raise RecipeError(f"scorer {str(path)!r} is neither auto, deita, heuristic nor a quality scorer folder "
                              "(scorer.json and head.npz)",
                              hint="make one with `sluice quality fit DATASET@V --label FIELD --out DIR`")
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != FORMAT or meta.get("format_version", 0) > FORMAT_VERSION:
            raise RecipeError(f"{meta_path}: format {meta.get('format')!r} v{meta.get('format_version')} is not "
                              f"{FORMAT} v{FORMAT_VERSION} or older", hint="refit it with this sluice version")
        if meta.get("features") != list(CHEAP):
            raise RecipeError(f"{meta_path}: fitted on features {meta.get('features')}, this sluice computes "
                              f"{list(CHEAP)}", hint="refit the scorer with this sluice version")
        with np.load(path / "head.npz", allow_pickle=False) as z:
            weights = {k: z[k] for k in z.files}
        return cls(label=meta["label"], kind=meta["kind"], head=meta["head"],
                   embedding=EmbeddingSpec(**meta["embedding"]), weights=weights, metrics=meta.get("metrics", {}),
                   threshold=meta.get("threshold"), trained_on=meta.get("trained_on"), name=meta.get("scorer") or path.name)


def fit(X: np.ndarray, y: np.ndarray, *, kind: str, head: str, label: str, embedding: EmbeddingSpec,
        groups: np.ndarray | None = None, threshold: float | None = None, trained_on: str | None = None,
        name: str = "learned") -> LearnedScorer:
    """Cross-validate, then fit on every row; the metrics are the cross-validated ones."""
    metrics = {**cross_validate(X, y, kind, head, groups), "labels": int(len(y))}
    if kind == "bool":
        metrics["positive"] = int(y.sum())
    pipe = _fit(make_head(kind, head), X, y)
    return LearnedScorer(label=label, kind=kind, head=head, embedding=embedding, weights=_export(pipe),
                         metrics=metrics, threshold=threshold, trained_on=trained_on, name=name)
