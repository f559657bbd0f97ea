"""PII redaction with Presidio: ``pii_detect`` → ``redact_pii`` → ``pii_filter`` (see stage.py),
the leak scan behind ``sluice pii scan`` (scan.py) and a labeled test set (labeled.py)."""

STAGES: dict[str, str] = {
    "pii_detect": "sluice.curate.pii.stage:PiiDetect",
    "redact_pii": "sluice.curate.pii.stage:RedactPii",
    "pii_filter": "sluice.curate.pii.stage:PiiFilter",
}
