"""DATACARD.md: the human-readable summary of a version, rendered from its manifest only.

It repeats no row content — only counts, settings and lineage — so it is safe to share.
"""

from __future__ import annotations

from typing import Any


def render_datacard(m: dict[str, Any]) -> str:
    acc = m.get("accounting", {})
    lines = [
        f"# {m['name']} v{m.get('version', '?')}",
        "",
        f"- kind: `{m['kind']}` (schema v{m['schema_version']})",
        f"- created: {m['created_at']} by sluice {m['tool']['version']}",
        f"- rows: {m['rows']:,}",
        f"- parents: {', '.join(m.get('parents') or []) or 'none (ingested from files)'}",
    ]
    if m.get("recipe"):
        lines.append(f"- recipe: `{m['recipe'].get('name', '?')}` (fingerprint `{m.get('fingerprint', '?')}`)")
    lines += ["", "## Row accounting", "",
              f"rows in {acc.get('rows_in', 0):,} = kept {acc.get('kept', 0):,}"
              f" + rejected {acc.get('rejected_total', 0):,} + quarantined {acc.get('quarantined_total', 0):,}", ""]
    table = [(stage, reason, n) for stage, reasons in (acc.get("rejected") or {}).items() for reason, n in reasons.items()]
    table += [(stage, f"quarantined: {kind}", n)
              for stage, kinds in (acc.get("quarantined") or {}).items() for kind, n in kinds.items()]
    if table:
        lines += ["| stage | reason | rows |", "|---|---|---:|"]
        lines += [f"| {s} | {r} | {n:,} |" for s, r, n in table]
        lines.append("")
    if m.get("inputs"):
        lines += ["## Inputs", "", "| file | format | rows in | kept | quarantined |", "|---|---|---:|---:|---:|"]
        for i in m["inputs"]:
            lines.append(f"| {i['path']} | {i['format']} | {i['rows_in']:,} | {i['kept']:,} | {i['quarantined']:,} |")
        lines.append("")
    if m.get("stages"):
        lines += ["## Stages", "", "| stage | rows in | kept | seconds |", "|---|---:|---:|---:|"]
        for s in m["stages"]:
            lines.append(f"| {s['name']} | {s['rows_in']:,} | {s['kept']:,} | {s.get('seconds', 0):.2f} |")
        lines.append("")
    lines += ["## Intended use and limits", "",
              "Training data derived from production traffic. Check the PII section of later versions",
              "before sharing; this card is generated from the manifest and holds no row content.", ""]
    return "\n".join(lines)
