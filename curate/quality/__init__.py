"""Quality: language ID, heuristic filters, DEITA scoring, diversity-aware selection.

Stages (score, then decide): ``language`` → ``language_filter``; ``heuristics`` →
``heuristics_filter``; ``refusal`` → ``refusal_filter``; ``embed`` and ``quality_score`` (DEITA, a learned scorer, or the offline
heuristic scorer) → ``select`` (whole dataset); ``quality_judge`` rates a sample with an LLM judge
for ``sluice quality fit``. Modules import their heavy libraries in ``setup()`` only.
"""

STAGES: dict[str, str] = {
    "language": "sluice.curate.quality.language:Language",
    "language_filter": "sluice.curate.quality.language:LanguageFilter",
    "heuristics": "sluice.curate.quality.heuristics:Heuristics",
    "heuristics_filter": "sluice.curate.quality.heuristics:HeuristicsFilter",
    "refusal": "sluice.curate.quality.refusal:Refusal",
    "refusal_filter": "sluice.curate.quality.refusal:RefusalFilter",
    "embed": "sluice.curate.quality.embed:Embed",
    "quality_score": "sluice.curate.quality.score:QualityScore",
    "select": "sluice.curate.quality.select:Select",
    "quality_judge": "sluice.curate.quality.judge:QualityJudge",
}
