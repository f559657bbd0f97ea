"""The drift policy: every threshold of ``sluice drift`` in one typed model; YAML is its serialization.

A feature *crosses* only when both its test says the two windows differ (p under ``alpha``) and the
difference is large enough to matter (its effect size at or over the feature's threshold): the
p-value alone flags trivial shifts on a million rows, the effect alone flags noise on a hundred.
The defaults were chosen from the false-alarm curve in BENCHMARKS.md (#33): windows drawn from the
training distribution itself cross nothing in at least 95% of draws.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sluice.errors import RecipeError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CoveragePolicy(_Strict):
    quantile: float = Field(0.99, gt=0.5, lt=1, description="a new row is uncovered when its nearest training row is "
                            "farther than this quantile of the training rows' own nearest-neighbour distances")
    max_uncovered_share: float = Field(0.03, gt=0, lt=1, description="crossed when more new rows than this are "
                                       "uncovered and a binomial test against the rate expected of a window like "
                                       "the training data (1 − quantile + neighbour_alpha) agrees")
    calibration_rows: int = Field(5000, ge=50, description="training rows held out to calibrate the distance")
    neighbours: int = Field(20, ge=3, description="nearest rows counted in the pooled sample of both windows")
    neighbour_alpha: float = Field(0.01, gt=0, lt=1, description="a row is in an over-represented neighbourhood "
                                   "when so many of its neighbours are new rows that P(≥ that count) is under this")
    reference_sample: int = Field(10000, ge=50, description="rows per side in the pool, and training vectors kept for "
                                  "the classifier test")
    cluster_distance: float = Field(0.55, gt=0, lt=2, description="average-linkage cosine distance separating two "
                                    "groups of uncovered rows")
    cluster_sample: int = Field(4000, ge=100, description="uncovered rows clustered; the rest join the nearest group")
    min_cluster_rows: int = Field(5, ge=1, description="smaller groups of uncovered rows are counted as 'other'")
    terms: int = Field(5, ge=1, description="top terms naming a cluster")
    examples: int = Field(3, ge=0, description="example ids per cluster")
    min_term_rows: int = Field(3, ge=1, description="a term names a cluster only when this many of its rows use it")


class ShiftPolicy(_Strict):
    alpha: float = Field(0.001, gt=0, lt=1, description="a test's p-value must be under this to cross")
    psi: float = Field(0.1, gt=0, description="population-stability index threshold for categories "
                                               "(0.1: a moderate shift, 0.25: a large one, by convention)")
    ks: float = Field(0.1, gt=0, le=1, description="Kolmogorov–Smirnov statistic threshold for numbers")
    classifier_auc: float = Field(0.6, gt=0.5, le=1, description="embedding drift: cross-validated AUC of a "
                                  "classifier telling new from training rows")
    classifier_rows: int = Field(4000, ge=50, description="rows per side the embedding classifier sees")
    min_rows: int = Field(30, ge=2, description="a feature with fewer rows on either side is not tested")
    metadata_keys: list[str] = Field(default_factory=lambda: ["model", "route", "app"],
                                     description="metadata keys compared as categories (when either side has them)")
    max_categories: int = Field(30, ge=2, description="rarer categories are pooled as 'other'")


class DriftPolicy(_Strict):
    coverage: CoveragePolicy = Field(default_factory=CoveragePolicy)
    shift: ShiftPolicy = Field(default_factory=ShiftPolicy)
    ignore: list[str] = Field(default_factory=list, description="features reported but never crossing")

    @classmethod
    def load(cls, path: str | Path | None) -> DriftPolicy:
        if path is None:
            return cls()
        p = Path(path)
        try:
            body = yaml.safe_load(p.read_text()) or {}
        except OSError as e:
            raise RecipeError(f"cannot read the drift policy {p}: {e.strerror}",
                              hint="pass --policy PATH of a YAML file (examples/drift_policy.yaml)") from None
        except yaml.YAMLError as e:
            raise RecipeError(f"{p}: not YAML ({str(e).splitlines()[0]})",
                              hint="see examples/drift_policy.yaml for the form") from None
        try:
            return cls.model_validate(body)
        except ValidationError as e:
            err = e.errors()[0]
            where = ".".join(str(x) for x in err["loc"])
            raise RecipeError(f"{p}: {where}: {err['msg']}", hint="see examples/drift_policy.yaml for every key") \
                from None
