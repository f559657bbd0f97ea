"""Quality scores against human preferences: pairwise evaluation and a Bradley–Terry fit.

``read_pairs`` reads a preference file (JSONL, optionally gzipped): Anthropic HH-RLHF rows
(``chosen`` / ``rejected`` transcripts, ``\\n\\nHuman:`` / ``\\n\\nAssistant:``), or rows with
``prompt`` (or LLaMA-Factory's ``conversations``) and ``chosen`` / ``rejected`` as strings,
messages or message lists (``role``/``content`` or ShareGPT ``from``/``value``). ``evaluate`` scores both
sides of each pair with a ``quality_score`` scorer (the offline heuristic or a fitted folder) and
reports the pairwise accuracy with its 95% interval, the score's Spearman correlation with answer
length, and the accuracy where the rejected answer is the longer one (a length-biased scorer
fails there).

``fit_pairs`` (``sluice quality fit --pairs``) is a Bradley–Terry model: a logistic regression
without intercept on the feature differences φ(chosen) − φ(rejected) (the scorer's own features,
``learned.features``), so the fitted utility w·φ ranks single rows. Length is debiased by
``length``: ``residual`` (default) regresses every feature on the log answer length over the
training rows and fits on the residuals — the utility is then uncorrelated with length on them —,
``drop`` removes the cheap length features only, ``keep`` does neither. Pairs are split by a hash
of their prompt into a training and a held-out half; the held-out figures are never used to
choose anything. A scorer whose cross-validated pairwise accuracy interval includes 0.5 is
recorded as ``better_than_chance: false``: ``select`` then does not rank by it unless told
``order: score``.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sluice.errors import DataError

from . import deita
from .learned import CHEAP, EmbeddingSpec, LearnedScorer, embed, features, load_embedder, model_identity, texts

HINT = ('each line: {"chosen": "\\n\\nHuman: …\\n\\nAssistant: …", "rejected": …} (HH-RLHF) or '
        '{"prompt": …, "chosen": …, "rejected": …} with strings or [{"role", "content"}] lists')
_TURN = re.compile(r"\n\n(Human|Assistant): ?")
LENGTH = ("user_words", "assistant_words", "length_ratio", "quality")  # cheap features that carry answer length
Z = 1.959964
PAIR_MODEL = "static"  # the measured one (BENCHMARKS.md #32); fast enough for thousands of pairs on CPU


@dataclass
class Pair:
    chosen: list[dict]    # the whole conversation ending in the preferred answer
    rejected: list[dict]  # the same prompt ending in the other answer
    key: str              # the prompt's text: pairs sharing it stay on one side of every split


def _transcript(text: str) -> list[dict]:
    parts = _TURN.split("\n\n" + text.lstrip("\n") if not text.startswith("\n\n") else text)
    out = []
    for role, content in zip(parts[1::2], parts[2::2]):
        out.append({"role": "user" if role == "Human" else "assistant", "content": content.strip()})
    return out


_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"}


def _message(m: Any) -> dict | None:
    """{"role", "content"} or ShareGPT's {"from", "value"} (LLaMA-Factory's DPO files)."""
    if not isinstance(m, dict):
        return None
    role, content = m.get("role", _ROLES.get(m.get("from", ""))), m.get("content", m.get("value"))
    return {"role": role, "content": content} if isinstance(content, str) and role else None


def _messages(value: Any, where: str, field: str) -> list[dict]:
    if isinstance(value, dict) and _message(value):
        return [_message(value)]
    if isinstance(value, str):
        return _transcript(value) if "\n\nHuman:" in "\n\n" + value.lstrip("\n") else [
            {"role": "assistant", "content": value}]
    if isinstance(value, list) and value and all(_message(m) for m in value):
        return [_message(m) for m in value]
    raise DataError(f"{where}: field {field!r} is neither text nor a list of messages", hint=HINT)


def _answer_start(conv: list[dict]) -> int:
    """Index of the final assistant message (the answer being compared)."""
    for i in range(len(conv) - 1, -1, -1):
        if conv[i]["role"] == "assistant":
            return i
    return len(conv)


def parse(row: Any, where: str) -> Pair:
    if not isinstance(row, dict):
        raise DataError(f"{where}: not a JSON object", hint=HINT)
    for field in ("chosen", "rejected"):
        if field not in row:
            raise DataError(f"{where}: no field {field!r}", hint=HINT)
    raw = row.get("prompt", row.get("conversations"))
    prompt = _messages(raw, where, "prompt") if raw is not None else []
    if isinstance(raw, str) and prompt == [{"role": "assistant", "content": raw}]:
        prompt = [{"role": "user", "content": raw}]
    sides = []
    for field in ("chosen", "rejected"):
        conv = _messages(row[field], where, field)
        if prompt and conv and conv[0]["role"] == "assistant":
            conv = prompt + conv
        if not any(m["role"] == "assistant" for m in conv) or not any(m["role"] == "user" for m in conv):
            raise DataError(f"{where}: field {field!r} holds no user turn and assistant answer", hint=HINT)
        sides.append(conv)
    head = sides[0][:_answer_start(sides[0])]
    key = "\n".join(m["content"] for m in head)
    return Pair(sides[0], sides[1], key)


def read_pairs(path: str | Path, limit: int | None = None) -> list[Pair]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"pairs file {str(path)!r} does not exist", hint=HINT)
    opener = gzip.open if path.suffix == ".gz" else open
    out: list[Pair] = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise DataError(f"{path}:{n}: not JSON ({e.msg})", hint=HINT) from None
            out.append(parse(row, f"{path}:{n}"))
            if limit and len(out) >= limit:
                break
    if not out:
        raise DataError(f"{path}: no pairs", hint=HINT)
    return out


def held_out(pair: Pair, fraction: float = 0.5) -> bool:
    """The stable split: a pair is held out when the hash of its prompt falls below ``fraction``."""
    h = int.from_bytes(hashlib.blake2b(pair.key.encode(), digest_size=8).digest(), "big")
    return h / 2**64 < fraction


def answer_words(conv: list[dict]) -> int:
    i = _answer_start(conv)
    return deita.word_count(conv[i]["content"]) if i < len(conv) else 0


# -- evaluation ----------------------------------------------------------------------------------

def interval(wins: np.ndarray) -> tuple[float, float]:
    """95% normal interval of a mean of per-pair outcomes in [0, 1] (ties count 0.5)."""
    n = len(wins)
    if not n:
        return (float("nan"), float("nan"))
    m, sd = float(np.mean(wins)), float(np.std(wins, ddof=1)) if n > 1 else 0.5
    half = Z * sd / math.sqrt(n)
    return (max(0.0, m - half), min(1.0, m + half))


def pairwise_report(s_chosen: np.ndarray, s_rejected: np.ndarray, len_chosen: np.ndarray,
                    len_rejected: np.ndarray) -> dict[str, Any]:
    from scipy.stats import spearmanr

    wins = np.where(s_chosen > s_rejected, 1.0, np.where(s_chosen == s_rejected, 0.5, 0.0))
    longer = len_rejected > len_chosen
    scores, lengths = np.concatenate([s_chosen, s_rejected]), np.concatenate([len_chosen, len_rejected])
    rho = spearmanr(scores, lengths).statistic if np.ptp(scores) > 0 else float("nan")
    lo, hi = interval(wins)
    out = {"pairs": int(len(wins)), "accuracy": float(wins.mean()), "ci95": [lo, hi],
           "ties": int((s_chosen == s_rejected).sum()), "length_spearman": float(rho),
           "rejected_longer": {"pairs": int(longer.sum()),
                               "accuracy": float(wins[longer].mean()) if longer.any() else float("nan")},
           "chosen_longer": {"pairs": int((len_chosen > len_rejected).sum()),
                             "accuracy": float(wins[len_chosen > len_rejected].mean())
                             if (len_chosen > len_rejected).any() else float("nan")},
           "length_baseline": float(np.where(len_chosen > len_rejected, 1.0,
                                             np.where(len_chosen == len_rejected, 0.5, 0.0)).mean())}
    out["better_than_chance"] = bool(lo > 0.5)
    return out


def score_conversations(conversations: list[list[dict]], scorer: str = "heuristic") -> np.ndarray:
    """``score_total`` of each conversation through the ``quality_score`` stage itself."""
    import polars as pl

    from .score import QualityScore

    stage = QualityScore(scorer=scorer)
    stage.setup()
    df = pl.DataFrame({"messages": conversations})
    totals = stage.score(df)["score_total"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return totals


def evaluate(pairs: list[Pair], scorer: str = "heuristic") -> dict[str, Any]:
    scores = score_conversations([p.chosen for p in pairs] + [p.rejected for p in pairs], scorer)
    n = len(pairs)
    lc = np.array([answer_words(p.chosen) for p in pairs], dtype=float)
    lr = np.array([answer_words(p.rejected) for p in pairs], dtype=float)
    return pairwise_report(scores[:n], scores[n:], lc, lr)


# -- Bradley–Terry fit ---------------------------------------------------------------------------

def length_columns(n_features: int) -> list[int]:
    base = n_features - len(CHEAP)
    return [base + CHEAP.index(c) for c in LENGTH]


def debias(X: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(projection P, keep mask): features used are (X @ P) restricted to the mask.

    ``residual``: every feature minus its least-squares fit on log answer length
    (``assistant_words``) over the rows given; ``drop``: the length features removed; ``keep``."""
    d = X.shape[1]
    P, mask = np.eye(d), np.ones(d, dtype=bool)
    if mode == "keep":
        return P, mask
    mask[length_columns(d)] = False
    if mode == "drop":
        return P, mask
    if mode != "residual":
        raise DataError(f"unknown length mode {mode!r}", hint="use residual, drop or keep")
    j = d - len(CHEAP) + CHEAP.index("assistant_words")
    L = X[:, j] - X[:, j].mean()
    beta = (X - X.mean(0)).T @ L / max(float(L @ L), 1e-12)  # slope of every feature on length
    P[j, :] -= beta  # x' = x - beta * L (the constant cancels in differences)
    return P, mask


def _design(F_c: np.ndarray, F_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One row per pair, every other one flipped (rejected − chosen, label 0): balanced classes
    without a pair's mirror image landing in another inner-CV fold."""
    flip = np.arange(len(F_c)) % 2 == 1
    D = np.where(flip[:, None], F_r - F_c, F_c - F_r)
    return D, (~flip).astype(float)


def _bt(F_c: np.ndarray, F_r: np.ndarray, mode: str, C: float | None = None) -> np.ndarray:
    """Fit the utility weights w over raw features (debias folded in): score = X @ w."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV

    P, mask = debias(np.vstack([F_c, F_r]), mode)
    Xd, y = _design(F_c @ P[:, mask], F_r @ P[:, mask])
    scale = Xd.std(0)
    scale[scale == 0] = 1.0
    if C is None:
        lr = LogisticRegressionCV(Cs=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], cv=3, fit_intercept=False,
                                  max_iter=3000)
    else:
        lr = LogisticRegression(C=C, fit_intercept=False, max_iter=3000)
    lr.fit(Xd / scale, y)
    w = np.zeros(P.shape[0])
    w[mask] = lr.coef_[0] / scale
    return P @ w


def cross_validate_pairs(F_c: np.ndarray, F_r: np.ndarray, keys: list[str], mode: str, folds: int = 5) -> dict:
    from sklearn.model_selection import GroupKFold

    wins = np.empty(len(F_c))
    for train, test in GroupKFold(folds).split(F_c, groups=keys):
        w = _bt(F_c[train], F_r[train], mode)
        d = F_c[test] @ w - F_r[test] @ w
        wins[test] = np.where(d > 0, 1.0, np.where(d == 0, 0.5, 0.0))
    lo, hi = interval(wins)
    return {"cv_accuracy": float(wins.mean()), "cv_ci95": [lo, hi], "folds": folds,
            "better_than_chance": bool(lo > 0.5)}


def pair_features(pairs: list[Pair], model, spec: EmbeddingSpec) -> tuple[np.ndarray, np.ndarray]:
    convs = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    X = features(convs, embed(model, spec, texts(convs, spec.text)), model, spec)
    return X[:len(pairs)], X[len(pairs):]


def fit_pairs(pairs: list[Pair], *, out: Path, length: str = "residual", holdout: float = 0.5,
              embedding_model: str | None = None, device: str | None = None, name: str | None = None,
              trained_on: str | None = None, text: str = "final") -> LearnedScorer:
    """Bradley–Terry on the training half; figures: CV on it, and the untouched held-out half."""
    train = [p for p in pairs if not held_out(p, holdout)]
    test = [p for p in pairs if held_out(p, holdout)]
    if len(train) < 20:
        raise DataError(f"{len(train)} training pairs (of {len(pairs)}; {holdout:.0%} held out)",
                        hint="a preference scorer needs at least 20 training pairs")
    spec = EmbeddingSpec(model=embedding_model or PAIR_MODEL, text=text)
    model = load_embedder(spec, device)
    from dataclasses import replace

    spec = replace(spec, identity=model_identity(spec.model, model),
                   max_tokens=getattr(model, "max_seq_length", None))
    F_c, F_r = pair_features(train, model, spec)
    metrics: dict[str, Any] = {"kind": "pairwise", "length": length, "train_pairs": len(train),
                               **cross_validate_pairs(F_c, F_r, [p.key for p in train], length)}
    w = _bt(F_c, F_r, length)
    if test:
        T_c, T_r = pair_features(test, model, spec)
        lc = np.array([answer_words(p.chosen) for p in test], dtype=float)
        lr = np.array([answer_words(p.rejected) for p in test], dtype=float)
        metrics["held_out"] = pairwise_report(T_c @ w, T_r @ w, lc, lr)
    weights = {"mean": np.zeros(len(w)), "scale": np.ones(len(w)), "w0": w.reshape(-1, 1), "b0": np.zeros(1)}
    scorer = LearnedScorer(label="preference", kind="bool", head="bradley-terry", embedding=spec, weights=weights,
                           metrics=metrics, trained_on=trained_on, name=name or Path(out).name)
    scorer.save(out)
    return scorer
