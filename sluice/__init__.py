"""sluice — turn production LLM traffic into versioned, curated training data.

The core lives here: the dataset store, the stage contract and local runner, recipe
loading and errors. Subpackages: ``sluice.schemas`` (record kinds), ``sluice.curate``
(ingest and curation stages), ``sluice.synth``, ``sluice.labeling``, ``sluice.train``.
"""

__version__ = "0.1.0"
