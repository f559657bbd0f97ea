"""labeling — Argilla push / pull, feedback → preference and KTO records, PII review
(ARCHITECTURE.md, "Floors: who owns what")."""
