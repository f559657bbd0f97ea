"""Curation: ingest adapters and the stages a recipe runs (``sluice.curate.stages``)."""

# What the core asks this floor for, by name (sluice/plugins.py); nothing here is imported until used.
PLUGINS: dict[str, dict[str, str]] = {
    "ingest_flags": {"ingest": "sluice.curate.ingest.checks:FLAGS"},
    "report_curves": {"semantic_eps": "sluice.curate.dedup.semdedup:run_curve"},
    "doctor_checks": {"embeddings": "sluice.curate.quality.embed:doctor_checks"},
}
