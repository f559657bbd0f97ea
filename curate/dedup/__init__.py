"""Dedup and decontamination: exact, MinHash LSH, SemDedup, n-gram decontamination."""

STAGES: dict[str, str] = {}
