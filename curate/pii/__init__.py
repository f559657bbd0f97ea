"""PII redaction with Presidio (issue: PII redaction stage)."""

STAGES: dict[str, str] = {}
