"""Drift watch: what new production traffic the trained model has never seen (``sluice drift``).

``drift(NEW@vN, TRAINED)`` compares a window of new conversations with the data a model was
trained on (a dataset version, or an adapter folder whose ``sluice_train.json`` names its data):

- coverage (``coverage.py``): nearest training row per new row in embedding space, a distance
  calibrated on the training set itself, the uncovered share, and the uncovered rows clustered
  into named groups with sizes and growth against the previous window;
- shifts (``stats.py`` over ``features.py``): language, length, turns, tool calls, refusals, PII
  entities, feedback and metadata, each with a test and an effect size, and an embedding
  classifier two-sample test; thresholds in a YAML policy (``policy.py``);
- ``report.py`` renders HTML + PNG; ``emit_uncovered`` publishes the uncovered rows as a version.
"""

from .policy import DriftPolicy
from .run import drift, emit_uncovered

__all__ = ["DriftPolicy", "drift", "emit_uncovered"]
