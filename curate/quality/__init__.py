"""Quality: language ID, heuristic filters, DEITA scoring, diversity-aware selection."""

STAGES: dict[str, str] = {}
