"""Curation: ingest adapters and the stages a recipe runs (``sluice.curate.stages``)."""
