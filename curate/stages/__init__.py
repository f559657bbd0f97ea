"""General curation stages (normalization, lengths). Each module holds one small stage class
(see sluice/stage.py for the contract); recipes name them through ``STAGES``."""

STAGES = {
    "normalize": "sluice.curate.stages.normalize:Normalize",
    "length": "sluice.curate.stages.length:Length",
    "length_filter": "sluice.curate.stages.length:LengthFilter",
    "trace_check": "sluice.curate.stages.trace_check:TraceCheck",
    "trim_to_answer": "sluice.curate.stages.trace_check:TrimToAnswer",
    "render_check": "sluice.curate.stages.trace_check:RenderCheck",
    "split": "sluice.curate.stages.split:Split",
}
