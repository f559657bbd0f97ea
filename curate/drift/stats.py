"""Two-sample tests, one per kind of feature, each returning its effect size and p-value.

- categories (language, feedback, tool names, metadata): population-stability index as the effect
  (``Σ (p_new − p_train) · ln(p_new / p_train)``, shares smoothed by half a count), chi-square
  test of homogeneity for the p-value (scipy);
- numbers (length, turns, calls): Kolmogorov–Smirnov statistic and p-value, and the Wasserstein
  distance in units of the training side's standard deviation, reported beside them;
- embeddings: a classifier two-sample test — logistic regression told to separate new rows from
  training rows, scored by out-of-fold AUC; under "same distribution" the out-of-fold scores of
  the two sides are exchangeable, so the Mann–Whitney U test on them gives the p-value.

Evidently (the maintained drift library) was evaluated first: it runs on pandas and would add 32
packages here (a web server, plotly, nltk, statsmodels, telemetry); these three tests are a few
scipy/scikit-learn calls over the polars columns (BENCHMARKS.md, #33).
"""

from __future__ import annotations

from collections import Counter

import numpy as np


def categories(train: Counter, new: Counter, max_categories: int = 30) -> dict:
    """PSI and chi-square p over the union of categories (rare ones pooled as ``other``)."""
    from scipy.stats import chi2_contingency

    total = train + new
    keep = [k for k, _ in total.most_common(max_categories - 1)] if len(total) > max_categories else list(total)
    def pooled(c: Counter) -> np.ndarray:
        v = [c.get(k, 0) for k in keep]
        if len(total) > len(keep):
            v.append(sum(n for k, n in c.items() if k not in set(keep)))
        return np.asarray(v, dtype=float)
    t, n = pooled(train), pooled(new)
    labels = [str(k) for k in keep] + (["other"] if len(t) > len(keep) else [])
    pt, pn = (t + 0.5) / (t.sum() + 0.5 * len(t)), (n + 0.5) / (n.sum() + 0.5 * len(n))
    psi = float(np.sum((pn - pt) * np.log(pn / pt)))
    present = (t + n) > 0
    if present.sum() < 2 or t.sum() == 0 or n.sum() == 0:
        p = 1.0
    else:
        p = float(chi2_contingency(np.vstack([t[present], n[present]]))[1])
    shares = {lab: {"train": float(a / max(t.sum(), 1)), "new": float(b / max(n.sum(), 1))}
              for lab, a, b in zip(labels, t, n)}
    return {"test": "chi-square", "effect": "psi", "value": psi, "p": p, "shares": shares}


def numbers(train: np.ndarray, new: np.ndarray) -> dict:
    """KS statistic and p; Wasserstein distance over the training side's standard deviation."""
    from scipy.stats import ks_2samp, wasserstein_distance

    ks = ks_2samp(train, new)
    sd = float(np.std(train)) or 1.0
    qs = [0.1, 0.5, 0.9]
    return {"test": "ks", "effect": "ks", "value": float(ks.statistic), "p": float(ks.pvalue),
            "wasserstein_sd": float(wasserstein_distance(train, new) / sd),
            "quantiles": {"q": qs, "train": [float(x) for x in np.quantile(train, qs)],
                          "new": [float(x) for x in np.quantile(new, qs)]}}


def classifier_rows(n_train: int, n_new: int, rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The rows (training, new) the classifier test sees: balanced samples of ``rows`` a side at most."""
    rng = np.random.default_rng(seed)
    m = min(rows, n_train, n_new)
    return rng.choice(n_train, m, replace=False), rng.choice(n_new, m, replace=False)


def classifier_fit(a: np.ndarray, b: np.ndarray, seed: int = 0) -> dict:
    """Out-of-fold AUC of a logistic regression telling ``b`` (new rows) from ``a`` (training rows):
    balanced samples drawn by ``classifier_rows``."""
    from scipy.stats import mannwhitneyu
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    m = len(a)
    x = np.vstack([a, b]).astype(np.float32)
    y = np.r_[np.zeros(m), np.ones(m)]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    scores = cross_val_predict(LogisticRegression(C=1.0, max_iter=300), x, y, cv=folds, method="decision_function")
    auc = float(roc_auc_score(y, scores))
    p = float(mannwhitneyu(scores[y == 1], scores[y == 0], alternative="greater").pvalue)
    return {"test": "classifier two-sample (logistic regression, 5-fold)", "effect": "auc", "value": auc, "p": p,
            "rows_per_side": int(m)}


def binomial_excess(k: int, n: int, rate: float) -> float:
    """P(X ≥ k) for X ~ Binomial(n, rate): how surprising ``k`` uncovered rows are at the calibrated rate."""
    from scipy.stats import binom

    return float(binom.sf(k - 1, n, rate)) if n else 1.0


def binomial_tail(counts: np.ndarray, k: int, rate: float) -> np.ndarray:
    """P(X ≥ count) for X ~ Binomial(k, rate), per count."""
    from scipy.stats import binom

    return binom.sf(np.asarray(counts) - 1, k, rate)
