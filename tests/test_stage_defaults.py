"""A stage setting that names a column defaults to a column some registered stage produces
(``quality_column`` once defaulted to ``quality_score``, which no stage writes: ``keep: quality``
then failed on the default recipe's own output)."""

from __future__ import annotations

from sluice.stage import STAGES, stage_class


def test_every_default_column_is_one_a_stage_adds():
    classes = {name: stage_class(name) for name in STAGES}
    produced = {col for cls in classes.values() for col in cls.adds}
    named = {(name, field): info.default for name, cls in classes.items()
             for field, info in cls.Config.model_fields.items()
             if field.endswith("column") and isinstance(info.default, str)}
    assert ("exact_dedup", "quality_column") in named and ("semdedup", "quality_column") in named
    assert {key: col for key, col in named.items() if col not in produced} == {}


def test_quality_column_is_what_select_ranks_by():
    classes = {name: stage_class(name) for name in ("exact_dedup", "near_dedup", "semdedup", "select")}
    rank_by = classes["select"].Config.model_fields["score_column"].default
    assert rank_by in stage_class("quality_score").adds
    for name in ("exact_dedup", "near_dedup", "semdedup"):
        assert classes[name].Config.model_fields["quality_column"].default == rank_by, name
