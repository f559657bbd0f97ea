"""Ingest: production logs and existing preference/KTO data → dataset versions.

>>> from sluice.curate.ingest import ingest
>>> result = ingest(["logs/*.jsonl.gz"], to="raw")
>>> result.version.ref, result.kept, dict(result.quarantined)
"""

from .formats import FORMATS, detect
from .run import DEFAULT_MAX_RECORD_BYTES, IngestResult, ingest, plan

__all__ = ["DEFAULT_MAX_RECORD_BYTES", "FORMATS", "IngestResult", "detect", "ingest", "plan"]
