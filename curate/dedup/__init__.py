"""Dedup and decontamination: exact, MinHash LSH, SemDedup, n-gram decontamination.

Every part is a score stage (adds ``dup_*`` / ``contam_*`` columns) followed by a decide stage
(rejects with ``exact_duplicate`` / ``near_duplicate`` / ``semantic_duplicate`` / ``contaminated``;
duplicates carry ``duplicate_of`` = the kept id). See each module's docstring for a YAML example.
"""

STAGES = {
    "exact_hash": "sluice.curate.dedup.exact:ExactHash",
    "exact_dedup": "sluice.curate.dedup.exact:ExactDedup",
    "minhash": "sluice.curate.dedup.near:MinHashScorer",
    "near_dedup": "sluice.curate.dedup.near:NearDedup",
    "semdedup": "sluice.curate.dedup.semdedup:SemDedupScorer",
    "semantic_dedup": "sluice.curate.dedup.semdedup:SemanticDedup",
    "contamination": "sluice.curate.dedup.decontaminate:Contamination",
    "decontaminate": "sluice.curate.dedup.decontaminate:Decontaminate",
}
