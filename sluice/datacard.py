"""DATACARD.md: the human-readable account of a version, rendered from its manifest only.

It answers what an auditor asks (EU AI Act, GDPR): where the data came from and when, what
was removed and why, how personal data was handled, how samples were scored and selected,
which evaluation sets were excluded, the splits, the lineage, the intended use and the known
limits. It repeats no row content — only counts, settings and lineage — so it is safe to share.
"""

from __future__ import annotations

import json
from typing import Any

PII_STAGE = "redact_pii"
# Stages whose counters are PII findings ("ENTITY/role": n) and whose facts name the engine.
PII_STAGES = ("pii_detect", "redact_pii")


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    if not rows:
        return []
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out + [""]


def _configs(m: dict) -> list[dict]:
    return list((m.get("recipe") or {}).get("stages") or [])


def _settings(config: dict) -> str:
    shown = {k: v for k, v in config.items() if k != "stage"}
    return json.dumps(shown, sort_keys=True, default=str) if shown else "defaults"


def _header(m: dict) -> list[str]:
    content = m.get("content") or {}
    when = content.get("created_at") or {}
    return [
        f"# {m['name']} v{m.get('version', '?')}", "",
        f"- kind: `{m['kind']}` (schema v{m['schema_version']}), {m['rows']:,} rows",
        f"- created: {m['created_at']} by sluice {m['tool']['version']}",
        f"- records dated: {when.get('first') or 'unknown'} → {when.get('last') or 'unknown'}",
        f"- parents: {', '.join(m.get('parents') or []) or 'none (ingested from files)'}",
        (f"- recipe: `{m['recipe'].get('name', '?')}`, fingerprint `{m.get('fingerprint', '?')}`"
         if m.get("recipe") else "- recipe: none (ingest)"), "",
    ]


def _sources(m: dict) -> list[str]:
    lines = ["## Sources", ""]
    if m.get("inputs"):
        lines += _table(("file", "format", "rows in", "kept", "quarantined"),
                        [(i["path"], i["format"], f"{i['rows_in']:,}", f"{i['kept']:,}", f"{i['quarantined']:,}")
                         for i in m["inputs"]])
    sources = (m.get("content") or {}).get("sources") or {}
    if sources:
        lines += _table(("source", "rows"), [(k, f"{v:,}") for k, v in sources.items()])
    return lines if len(lines) > 2 else []


def _accounting(m: dict) -> list[str]:
    acc = m.get("accounting", {})
    lines = ["## Row accounting", "",
             f"rows in {acc.get('rows_in', 0):,} = kept {acc.get('kept', 0):,} + rejected "
             f"{acc.get('rejected_total', 0):,} + quarantined {acc.get('quarantined_total', 0):,}", ""]
    reasons = m.get("reasons") or {}
    rows = [(stage, reason, reasons.get(stage, {}).get(reason, ""), f"{n:,}")
            for stage, rs in (acc.get("rejected") or {}).items() for reason, n in rs.items()]
    rows += [(stage, f"quarantined: {kind}", "could not be parsed, validated or processed", f"{n:,}")
             for stage, kinds in (acc.get("quarantined") or {}).items() for kind, n in kinds.items()]
    return lines + _table(("stage", "reason", "meaning", "rows"), rows)


def _stages(m: dict) -> list[str]:
    stages, configs = m.get("stages") or [], _configs(m)
    if not stages or not configs:
        return []
    rows = []
    for s, c in zip(stages, configs):
        removed = s["rows_in"] - s["kept"]
        share = f"{removed / s['rows_in']:.1%}" if s["rows_in"] else "—"
        rows.append((s["name"], f"`{_settings(c)}`", f"{s['rows_in']:,}", f"{s['kept']:,}", share))
    lines = ["## Processing (in order)", ""]
    lines += _table(("stage", "settings", "rows in", "kept", "removed"), rows)
    facts = [(s["name"], f"`{json.dumps(s['info'], sort_keys=True, default=str)}`") for s in stages if s.get("info")]
    if facts:
        lines += ["Models, scorers and components that ran:", ""] + _table(("stage", "facts"), facts)
    return lines


def _warnings(m: dict) -> list[str]:
    from sluice.outcomes import heavy_stages

    heavy = heavy_stages(m.get("stages") or [])
    return ["## Warnings", "", *(f"- {line}" for line in heavy), ""] if heavy else []


def _ingest_warnings(m: dict) -> list[str]:
    from sluice import plugins

    warnings = (m.get("ingest") or {}).get("warnings") or {}
    flags: dict[str, str] = {}
    for meanings in plugins.loaded("ingest_flags").values() if warnings else ():
        flags.update(meanings)
    rows = [(flag, flags.get(flag, ""), f"{n:,}") for flag, n in warnings.items()]
    return ["## Ingest warnings", "", "Rows kept with a flag in `ingest_flags`:", ""] + \
        _table(("flag", "meaning", "rows"), rows) if rows else []


def _pii(m: dict) -> list[str]:
    from sluice.privacy import in_manifest

    lines = ["## Personal data", ""]
    found = in_manifest(m, f"{m['name']}@v{m.get('version', '?')}")
    if found is None:
        parents = ", ".join(m.get("parents") or []) or "none"
        return lines + [f"No PII redaction ran in this version's recipe (none by sluice's own redaction stages is "
                        f"recorded; parents: {parents}). Unless a parent's card shows redaction, treat this data as containing personal "
                        "data: it must not leave the machine, and sluice refuses to send it to remote endpoints or "
                        "Argilla.", ""]
    config = next((c for c in _configs(m) if c.get("stage") == PII_STAGE), {})
    lines += [f"Redacted by `{found.stage}` with settings `{_settings(config)}`.", "",
              f"- certificate: **{found.grade}** against the `{found.standard}` standard" + (
                  "" if found.strong else " — WEAK: " + "; ".join(found.shortfalls) + ". Not certified for export, "
                  "Argilla or remote endpoints without an explicit, recorded override."),
              f"- engine: **{found.engine}**" + (f" (model {found.model})" if found.model else ""),
              f"- thresholds: detection score ≥ {found.score_threshold}, redaction min_score {found.min_score}",
              f"- NER languages: {', '.join(found.languages) or 'none'} (pattern recognizers are language-independent)",
              "- per language: " + ("; ".join(f"{k}: {v}" for k, v in found.language_policy) or "not recorded"),
              f"- fields covered: {', '.join(found.fields) or 'none'}"
              + (f"; opted out: {', '.join(found.skipped_fields)}" if found.skipped_fields else ""),
              f"- entities: {', '.join(found.entities)}", ""]
    pii = [s for s in m.get("stages") or [] if s["name"] in PII_STAGES]
    counts: dict[str, int] = {}
    for s in pii:
        for key, n in (s.get("counters") or {}).items():
            counts[key] = counts.get(key, 0) + n
    lines += _table(("entity / role", "findings"), sorted((k, f"{v:,}") for k, v in counts.items()))
    quarantined = sum(sum(s.get("quarantined", {}).values()) for s in pii)
    lines += [f"Rows that could not be redacted were quarantined ({quarantined:,}), never passed through.", ""]
    return lines


def _splits(m: dict) -> list[str]:
    splits = (m.get("content") or {}).get("splits") or {}
    return ["## Splits", ""] + _table(("split", "rows"), [(k, f"{v:,}") for k, v in sorted(splits.items())]) \
        if splits else []


def _quality(m: dict) -> list[str]:
    """The learned scorer that ranked the rows, select's order, and the lift select measured."""
    lines = []
    for s in m.get("stages") or []:
        info = s.get("info") or {}
        scorer = info.get("learned_scorer")
        if scorer:
            figure = ", ".join(f"{k} {v:.3f}" for k, v in (scorer.get("metrics") or {}).items()
                               if k in ("auroc", "spearman", "brier"))
            lines.append(f"- `{s['name']}`: learned scorer `{scorer['scorer']}` for label `{scorer['label']}` "
                         f"(trained on {scorer.get('trained_on')}, {scorer.get('metrics', {}).get('labels', 0):,} labels; "
                         f"cross-validated {figure}; embeddings {scorer.get('embedding_model')})")
        if "order" in info:
            lines.append(f"- `{s['name']}`: walk order `{info['order']}`"
                         + (" (diversity only: no learned or model scorer ranked the rows)"
                            if info["order"] == "diversity" else ""))
        lift = info.get("lift")
        if lift:
            lines.append(f"- `{s['name']}` lift on `{lift['label']}`: selected rate {lift['selected_rate']:.3f} vs input "
                         f"{lift['input_rate']:.3f} → {lift['lift']:.2f}× ({lift['labelled_selected']:,} of "
                         f"{lift['labelled_in']:,} labelled rows selected)")
    return ["## Quality scoring and selection", "", *lines, ""] if lines else []


def _limits(m: dict) -> list[str]:
    fallbacks = [f"- `{s['name']}`: {s['info']['fallback']}" for s in m.get("stages") or []
                 if isinstance(s.get("info"), dict) and s["info"].get("fallback")]
    return ["## Intended use and known limits", "",
            "Training and evaluation of conversational models on data derived from production traffic, "
            "after review. Automated filters and redaction have error rates: residual personal data, "
            "duplicates and low-quality samples can remain; `sluice pii scan` re-checks a version.",
            *(["", "Weaker fallbacks that ran:"] + fallbacks if fallbacks else []), ""]


def _review(m: dict) -> list[str]:
    """How a review sample was drawn and what was refused (label push), or what came back (label pull)."""
    lines = []
    for s in m.get("stages") or []:
        info = s.get("info") or {}
        if s["name"] == "label_push":
            how = info.get("sample") or {}
            mix = how.get("language_mix") or {}
            lines += ["## Review sample (Argilla)", "",
                      f"Drawn from `{info.get('source')}` with strategy `{how.get('strategy')}` (asked: "
                      f"`{how.get('requested')}`, n={how.get('n')}, seed {how.get('seed')}): {how.get('note') or ''}",
                      ""]
            whole = mix.get("dataset") or mix.get("data") or {}
            langs = sorted(set(whole) | set(mix.get("data") or {}) | set(mix.get("sample") or {}))
            lines += _table(("language", "share of dataset", "share of rows not refused", "share of sample"),
                            [(k, f"{whole.get(k, 0):.1%}", f"{(mix.get('data') or {}).get(k, 0):.1%}",
                              f"{(mix.get('sample') or {}).get(k, 0):.1%}") for k in langs])
            refused = [(r, d, f"{n:,}") for r, ds in (info.get("refused") or {}).items() for d, n in ds.items()]
            lines += ["Refused before sending (never shown to annotators):", ""] if refused else []
            lines += _table(("reason", "detail", "rows"), refused)
            overrides = [k for k, v in (info.get("overrides") or {}).items() if v]
            overridden = [(r, d, f"{n:,}") for r, ds in (info.get("overridden") or {}).items() for d, n in ds.items()]
            lines += ["Pushed despite (explicit override):", ""] if overridden else []
            lines += _table(("reason", "detail", "rows"), overridden)
            lines += [f"Overrides: {', '.join(overrides) if overrides else 'none'}; redaction: "
                      f"`{json.dumps(info.get('redaction'), sort_keys=True)}`; payload scan findings: "
                      f"{(info.get('payload_scan') or {}).get('hits') or 'none'}", "",
                      f"Suggestions: `{json.dumps(info.get('suggestions'), sort_keys=True)}`", ""]
        elif s["name"] == "label_pull":
            lines += ["## Annotation (Argilla)", "",
                      f"From {', '.join(info.get('argilla_datasets') or [])}; submitted responses per annotator "
                      f"{info.get('annotators')}; agreement {info.get('agreement')}; {info.get('counts')}; "
                      f"answers equal to their pre-filled suggestion {info.get('suggestions_accepted')}. Records "
                      "an annotator marked as holding personal data are quarantined (see Row accounting).", ""]
    return lines


def render_datacard(m: dict[str, Any]) -> str:
    sections = [_header(m), _sources(m), _accounting(m), _warnings(m), _ingest_warnings(m), _stages(m), _review(m), _quality(m), _pii(m), _splits(m), _limits(m)]
    return "\n".join(line for section in sections for line in section)
