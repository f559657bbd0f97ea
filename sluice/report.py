"""The run report: one HTML page of figures (and the same figures as PNG files) for a version.

Figures are drawn from what the version holds, so the same code serves every recipe:

- ``funnel``: rows in, kept, rejected (by reason) and quarantined per stage (manifest); agent
  traces and tool calls each stage removed (``agent_funnel``, from the rejected rows);
- ``lengths``: message length distribution per role (data);
- ``languages``: language mix, when a ``lang``/``lang_*`` column exists;
- ``pii``: PII findings per entity type, from the ``redact_pii`` stage's counters (manifest);
- ``scores``: histograms of score columns (``*_score``, ``score_*``, ``deita_*``);
- ``duplicates``: duplicate cluster sizes, from the rejected rows' ``duplicate_of``;
- ``semantic_eps``: SemDedup's removed fraction per eps over the stage's input, with the dev-set
  precision/recall the default eps was chosen from;
- ``selection``: selected versus candidate rows, when a selection stage ran.

Reports live beside the immutable versions, in ``<root>/<name>/reports/v<N>/``, so
``sluice report REF`` can regenerate them at any time. No figure shows row content. Below the
figures, a few rejected rows per stage and reason are shown as redacted text — only from versions
whose lineage records sluice's redaction, only rows rejected after it ran (``examples``); otherwise
the page says why none are shown. A banner marks an empty or nearly empty result.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from sluice import plugins
from sluice.datacard import PII_STAGES
from sluice.store import Version

SCORE_PREFIXES = ("score_", "deita_")
MESSAGE_COLUMNS = ("messages", "prompt", "chosen", "rejected", "completion")


@dataclass
class Figure:
    slug: str
    title: str
    caption: str
    draw: Any  # callable(ax) drawing onto a matplotlib Axes


def report_dir(version: Version) -> Path:
    return version.path.parent / "reports" / f"v{version.number}"


def _stage_counts(manifest: dict) -> list[tuple[str, int, int, int]]:
    stages = manifest.get("stages") or []
    return [(s["name"], s["rows_in"], sum(s.get("rejected", {}).values()), sum(s.get("quarantined", {}).values()))
            for s in stages]


def _funnel(manifest: dict) -> Figure:
    stages = _stage_counts(manifest)

    def draw(ax):
        names = [name for name, *_ in stages] or ["(no stages)"]
        kept = [rows_in - rej - q for _name, rows_in, rej, q in stages] or [manifest["rows"]]
        rejected = [rej for *_x, rej, _q in stages] or [0]
        quarantined = [q for *_x, q in stages] or [0]
        ax.barh(names, kept, color="#3b7dd8", label="kept")
        ax.barh(names, rejected, left=kept, color="#e07b39", label="rejected")
        ax.barh(names, quarantined, left=[k + r for k, r in zip(kept, rejected)], color="#b8b8b8", label="quarantined")
        ax.invert_yaxis()
        ax.set_xlabel("rows")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8, frameon=False)

    acc = manifest["accounting"]
    caption = (f"rows in {acc['rows_in']:,} = kept {acc['kept']:,} + rejected {acc['rejected_total']:,} "
               f"+ quarantined {acc['quarantined_total']:,}")
    return Figure("funnel", "Funnel", caption, draw)


def _message_lengths(df: pl.DataFrame) -> pl.DataFrame | None:
    frames = []
    for col in MESSAGE_COLUMNS:
        if col in df.columns:
            frames.append(df.select(pl.col(col).alias("m")).explode("m").drop_nulls().select(
                pl.col("m").struct.field("role").alias("role"),
                pl.col("m").struct.field("content").str.len_chars().fill_null(0).alias("chars")))
    return pl.concat(frames) if frames else None


def _lengths(df: pl.DataFrame) -> Figure | None:
    lengths = _message_lengths(df)
    if lengths is None or lengths.is_empty():
        return None
    import numpy as np

    def draw(ax):
        top = max(int(lengths["chars"].max() or 1), 10)
        bins = np.logspace(0, np.log10(top + 1), 40)
        for role, color in (("user", "#3b7dd8"), ("assistant", "#e07b39"), ("system", "#6a9f58"), ("tool", "#8e6bb8")):
            values = lengths.filter(pl.col("role") == role)["chars"].to_numpy() + 1
            if len(values):
                ax.hist(values, bins=bins, alpha=0.55, label=f"{role} ({len(values):,})", color=color)
        ax.set_xscale("log")
        ax.set_xlabel("characters per message (+1, log scale)")
        ax.set_ylabel("messages")
        ax.legend(fontsize=8)

    medians = lengths.group_by("role").agg(pl.col("chars").median()).sort("role")
    caption = "median characters: " + ", ".join(f"{r} {m:,.0f}" for r, m in medians.iter_rows())
    return Figure("lengths", "Message lengths per role", caption, draw)


def _bar_figure(slug: str, title: str, counts: Counter, caption: str, top: int = 15) -> Figure:
    items = counts.most_common(top)

    def draw(ax):
        ax.barh([k for k, _ in items], [v for _, v in items], color="#3b7dd8")
        ax.invert_yaxis()
        ax.set_xlabel("count")

    return Figure(slug, title, caption, draw)


def _languages(df: pl.DataFrame) -> Figure | None:
    cols = [c for c in df.columns if (c == "lang" or c.startswith("lang_")) and df.schema[c] == pl.String]
    if not cols:
        return None
    col = cols[0]
    counts = Counter(dict(df[col].fill_null("unknown").value_counts().iter_rows()))
    return _bar_figure("languages", f"Language mix ({col})", counts, f"{len(counts)} languages in `{col}`")


def _pii(manifest: dict) -> Figure | None:
    by_type: Counter = Counter()
    for stage in manifest.get("stages") or []:
        if stage["name"] in PII_STAGES:
            for key, n in (stage.get("counters") or {}).items():
                by_type[key.split("/")[0]] += n
    if not by_type:
        return None
    return _bar_figure("pii", "PII findings per entity type", by_type,
                       f"{sum(by_type.values()):,} findings redacted (counts only)")


def _score_columns(df: pl.DataFrame) -> list[str]:
    return [c for c, t in df.schema.items()
            if t.is_numeric() and (c.endswith("_score") or c.startswith(SCORE_PREFIXES))]


def _scores(df: pl.DataFrame) -> Figure | None:
    cols = _score_columns(df)[:6]
    if not cols:
        return None

    def draw(ax):
        for col in cols:
            values = df[col].drop_nulls().to_numpy()
            if len(values):
                ax.hist(values, bins=40, alpha=0.5, label=col)
        ax.set_xlabel("score")
        ax.set_ylabel("rows")
        ax.legend(fontsize=8)

    return Figure("scores", "Score distributions", ", ".join(f"`{c}`" for c in cols), draw)


def _duplicates(version: Version) -> Figure | None:
    rejected = version.read("rejected", columns=None)
    if rejected.num_rows == 0 or "duplicate_of" not in rejected.column_names:
        return None
    pairs = zip(rejected.column("reason").to_pylist(), rejected.column("duplicate_of").to_pylist())
    kept_ids = [kept for reason, kept in pairs if kept is not None and reason.endswith("duplicate")]
    if not kept_ids:
        return None
    sizes = Counter(1 + n for n in Counter(kept_ids).values())  # a cluster: the kept row + its duplicates

    def draw(ax):
        xs = sorted(sizes)
        ax.bar([str(x) for x in xs], [sizes[x] for x in xs], color="#e07b39")
        ax.set_xlabel("cluster size (rows)")
        ax.set_ylabel("clusters")

    caption = f"{len(kept_ids):,} rows removed as duplicates of {sum(sizes.values()):,} kept rows"
    return Figure("duplicates", "Duplicate cluster sizes", caption, draw)


def _selection(manifest: dict) -> Figure | None:
    for stage in manifest.get("stages") or []:
        if stage["name"].startswith("select"):
            rows_in, kept = stage["rows_in"], stage["kept"]

            def draw(ax, rows_in=rows_in, kept=kept):
                ax.bar(["candidates", "selected"], [rows_in, kept], color=["#b8b8b8", "#3b7dd8"])
                ax.set_ylabel("rows")

            share = kept / rows_in if rows_in else 0
            return Figure("selection", "Selection coverage", f"{kept:,} of {rows_in:,} selected ({share:.1%})", draw)
    return None


def _semantic_eps(version: Version) -> Figure | None:
    """SemDedup's eps curve on this run's input, beside the dev-set precision/recall it was chosen from."""
    target = plugins.declared("report_curves").get("semantic_eps")
    try:
        run_curve = plugins.load(target) if target else None
    except ImportError:
        return None
    if run_curve is None or "semantic_dedup" not in {s.get("name") for s in version.manifest.get("stages", [])}:
        return None
    r = run_curve(version)
    if r is None:
        return None

    def draw(ax):
        xs = [c["eps"] for c in r["curve"]]
        ax.plot(xs, [c["fraction"] for c in r["curve"]], "o-", color="#e07b39", label="removed (this run)")
        if r["dev"]:
            ax.plot([d["eps"] for d in r["dev"]], [d["precision"] for d in r["dev"]], "--", color="#3b7dd8",
                    label="precision (labelled pairs)")
            ax.plot([d["eps"] for d in r["dev"]], [d["recall"] for d in r["dev"]], ":", color="#3b7dd8",
                    label="recall (labelled pairs)")
        ax.axvline(r["eps_used"], color="#555", lw=1)
        ax.set_xlabel("eps (duplicate when cosine ≥ 1 − eps)")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)

    at = next(c for c in r["curve"] if c["eps"] == r["eps_used"])
    caption = (f"eps {r['eps_used']:g} removes {at['removed']:,} of the {r['rows_in']:,} rows semantic_dedup read "
               f"({at['fraction']:.1%})" + (f"; the facts guard kept {at['guard_kept']:,}" if "guard_kept" in at else ""))
    return Figure("semantic_eps", "Semantic dedup: eps curve", caption, draw)


def agent_funnel(version: Version) -> dict[str, dict[str, int]]:
    """Per stage, the agent traces (rows with tool calls) and the tool calls its rejections removed,
    from the rejected rows; empty when no rejected row had a tool call."""
    if version.kind != "conversation":
        return {}
    rejected = version.read("rejected", columns=None)
    if rejected.num_rows == 0 or "messages" not in rejected.column_names or "stage" not in rejected.column_names:
        return {}
    df = pl.from_arrow(rejected.select(["stage", "messages"]))
    calls = pl.col("messages").list.eval(pl.element().struct.field("tool_calls").list.len().fill_null(0)).list.sum()
    counts = (df.with_columns(calls.alias("calls")).filter(pl.col("calls") > 0)
              .group_by("stage", maintain_order=True).agg(pl.len().alias("traces"), pl.col("calls").sum()))
    return {r["stage"]: {"traces": r["traces"], "tool_calls": int(r["calls"])} for r in counts.to_dicts()}


def figures(version: Version) -> list[Figure]:
    manifest = version.manifest
    df = pl.from_arrow(version.read())
    found = [_funnel(manifest), _lengths(df), _languages(df), _pii(manifest), _scores(df),
             _duplicates(version), _semantic_eps(version), _selection(manifest)]
    return [f for f in found if f is not None]


def write_report(version: Version, out: Path | None = None) -> Path:
    """Render every figure to PNG and an ``index.html`` that shows them; returns the HTML path."""
    out = out or report_dir(version)
    figs = figures(version)
    render(figs, out)
    page = out / "index.html"
    page.write_text(_html(version, figs))
    return page


def render(figs: list[Figure], out: Path) -> None:
    """Each figure as ``<out>/<slug>.png`` in the house size and title style."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sluice import fs

    fs.mkdir(out)  # on an object store a folder is only a prefix
    for fig in figs:
        figure, ax = plt.subplots(figsize=(7.5, 3.6), dpi=110)
        fig.draw(ax)
        ax.set_title(fig.title, fontsize=11, loc="left")
        figure.tight_layout()
        with (out / f"{fig.slug}.png").open("wb") as f:
            figure.savefig(f, format="png")
        plt.close(figure)


# -- example rows: redacted text only -------------------------------------------------------------
EXAMPLES_PER_REASON = 3
EXAMPLE_CHARS = 200
# Rows these stages reject are about personal data itself (e.g. a private key): never shown.
_NEVER_SHOWN = ("pii_detect", "redact_pii", "pii_filter")


def _excerpt(row: dict) -> dict[str, str]:
    """The first user turn and the last assistant turn (or prompt / completion), cut short."""
    def cut(text) -> str:
        text = " ".join(str(text or "").split())
        return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "…"

    messages = row.get("messages") or row.get("prompt") or []
    answers = row.get("messages") or row.get("chosen") or row.get("completion") or []
    user = next((m.get("content") for m in messages if m.get("role") == "user"), None)
    answer = next((m.get("content") for m in reversed(answers) if m.get("role") == "assistant"), None)
    return {"user": cut(user), "assistant": cut(answer)}


def examples(version: Version, per_reason: int = EXAMPLES_PER_REASON) -> tuple[list[dict], str | None]:
    """A few rejected rows per stage and reason, as redacted text, or ([], why none are shown).

    Shown only when the version's lineage records sluice's PII redaction (sluice.privacy), and
    only rows rejected *after* the redaction stage ran: a row rejected before it holds raw text.
    Quarantined rows (raw input bytes) are never shown.
    """
    from sluice.privacy import redacted_from, redaction_of
    from sluice.store import Store

    if not version.num_rows("rejected"):
        return [], None
    store = Store(version.path.parent.parent)
    found = redaction_of(version, store)
    if not found.redacted:
        return [], ("no example rows are shown: no PII redaction is recorded for this version or its parents, "
                    "so its rows may hold personal data (add the pii_detect and redact_pii stages to the recipe)")
    stages = [s["name"] for s in version.manifest.get("stages") or []]
    after = redacted_from(version.manifest) or 0  # stages from this index on saw redacted text (0: a parent redacted)
    safe = {name for name in stages[after:] if name not in _NEVER_SHOWN}
    columns = [c for c in ("id", "stage", "reason", *MESSAGE_COLUMNS)
               if c in pq_columns(version)]
    df = pl.from_arrow(version.read("rejected", columns=columns))
    out = []
    for (stage, reason), part in df.group_by("stage", "reason", maintain_order=True):
        if stage not in safe:
            continue
        for row in part.head(per_reason).to_dicts():
            out.append({"stage": stage, "reason": reason, "id": row["id"], **_excerpt(row)})
    withheld = sorted(set(df["stage"].unique().to_list()) - safe)
    why = (f"rows rejected by {', '.join(withheld)} are not shown: they were rejected before the redaction "
           "ran or for holding personal data") if withheld else None
    return out, why


def pq_columns(version: Version) -> list[str]:
    from sluice import fs

    files = version.files("rejected")
    return fs.read_schema(files[0]).names if files else []


def _examples_html(version: Version) -> str:
    rows, why = examples(version)
    if not rows and not why:
        return ""
    body = "".join(
        f'<tr data-stage="{html.escape(r["stage"])}" data-reason="{html.escape(r["reason"])}">'
        f"<td>{html.escape(r['stage'])}</td><td>{html.escape(r['reason'])}</td>"
        f"<td>{html.escape(r['user'])}</td><td>{html.escape(r['assistant'])}</td></tr>" for r in rows)
    table = (f'<table id="examples"><tr><th>stage</th><th>reason</th><th>user (redacted)</th>'
             f"<th>answer (redacted)</th></tr>{body}</table>") if rows else ""
    note = f'<p class="withheld">{html.escape(why)}</p>' if why else ""
    return (f"<h2>Rejected rows, a few per stage and reason</h2><p>Redacted text, cut at {EXAMPLE_CHARS} "
            f"characters; the first {EXAMPLES_PER_REASON} of each reason.</p>{table}{note}")


NEAR_EMPTY = 0.05  # kept under 5% of the rows in: the banner says so


def _banner(m: dict) -> str:
    acc = m["accounting"]
    rows_in, kept = acc.get("rows_in", 0), acc.get("kept", 0)
    if kept == 0:
        text = (f"This version holds no rows: all {rows_in:,} input rows were rejected or quarantined. "
                "The funnel below shows which stage removed them.")
    elif rows_in and kept / rows_in < NEAR_EMPTY:
        text = (f"Nearly empty: only {kept:,} of {rows_in:,} input rows ({kept / rows_in:.1%}) were kept. "
                "Check the funnel below for the stage that removed the rest.")
    else:
        return ""
    return f'<p id="banner" role="alert">{html.escape(text)}</p>'


def _html(version: Version, figs: list[Figure]) -> str:
    m = version.manifest
    acc = m["accounting"]
    rows = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{s['rows_in']:,}</td><td>{s['kept']:,}</td>"
        f"<td>{html.escape(', '.join(f'{r} {n:,}' for r, n in s.get('rejected', {}).items()) or '—')}</td>"
        f"<td>{sum(s.get('quarantined', {}).values()):,}</td></tr>" for s in m.get("stages") or [])
    sections = "".join(
        f'<figure id="{f.slug}" data-plot="{f.slug}"><h2>{html.escape(f.title)}</h2>'
        f'<img src="{f.slug}.png" alt="{html.escape(f.title)}"><figcaption>{html.escape(f.caption)}</figcaption></figure>'
        for f in figs)
    agents = agent_funnel(version)
    agent_rows = "".join(f"<tr><td>{html.escape(stage)}</td><td>{n['traces']:,}</td><td>{n['tool_calls']:,}</td></tr>"
                         for stage, n in agents.items())
    agent_table = ('<table id="agent-funnel"><tr><th>stage</th><th>agent traces removed</th><th>tool calls removed'
                   f"</th></tr>{agent_rows}</table>") if agents else ""
    meta = html.escape(json.dumps({"ref": version.ref, "kind": m["kind"], "parents": m.get("parents", [])}))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice report — {html.escape(version.ref)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} td, th {{ border: 1px solid #ddd; padding: .3rem .6rem; }}
td:nth-child(n+2) {{ text-align: right; }} figure {{ margin: 2rem 0; }} img {{ max-width: 100%; }}
figcaption {{ color: #555; font-size: .9rem; }}
#banner {{ background: #fff3cd; border: 1px solid #e0b84c; padding: .6rem .9rem; font-weight: 600; }}
#examples td {{ text-align: left; font-size: .85rem; vertical-align: top; }} .withheld {{ color: #555; }}
</style></head>
<body data-version="{meta}">
<h1>{html.escape(version.ref)}</h1>
{_banner(m)}
<p>{html.escape(m['kind'])}, {m['rows']:,} rows, created {html.escape(m['created_at'])} by sluice
{html.escape(m['tool']['version'])}; parents: {html.escape(', '.join(m.get('parents') or []) or 'none')}.</p>
<p id="accounting">rows in {acc['rows_in']:,} = kept {acc['kept']:,} + rejected {acc['rejected_total']:,}
+ quarantined {acc['quarantined_total']:,}</p>
<table id="stages"><tr><th>stage</th><th>rows in</th><th>kept</th><th>rejected (reason)</th><th>quarantined</th></tr>
{rows}</table>
{agent_table}
{sections}
{_examples_html(version)}
</body></html>
"""
