"""The drift report: one HTML page and its figures as PNG, in the house style of ``sluice report``.

Figures: the coverage curve (share of new rows beyond each calibrated radius, against the share
expected from the training rows themselves), coverage over time (every window compared with the
same training data), each feature's effect against its threshold, the uncovered groups, and the
language mix. Groups are named by terms and example ids only — no row text on the page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from sluice.report import Figure, render

RED, GREY, BLUE = "#c0392b", "#999999", "#2c7fb8"


def _curve(r: dict) -> Figure:
    c = r["coverage"]["curve"]

    def draw(ax):
        ax.plot(c["quantile"], [1 - q for q in c["quantile"]], "--", color=GREY, label="expected (training rows)")
        ax.plot(c["quantile"], c["new_share_beyond"], "o-", color=BLUE, label=r["new"])
        ax.axvline(r["coverage"]["quantile"], color=RED, lw=1, label="policy quantile")
        ax.set_yscale("log")
        ax.set_xlabel("radius = this quantile of training rows' nearest-neighbour distance")
        ax.set_ylabel("share of rows beyond")
        ax.legend(fontsize=8)
    return Figure("coverage_curve", "Coverage: rows beyond the calibrated radius",
                  "Training rows held out one at a time give the radius; a window like the training data follows "
                  "the dashed line.", draw)


def _timeline(r: dict) -> Figure | None:
    t = r.get("timeline") or []
    if not t:
        return None

    def draw(ax):
        ax.plot(range(len(t)), [x["share"] for x in t], "o-", color=BLUE)
        ax.set_xticks(range(len(t)), [x["window"] for x in t], rotation=30, fontsize=7)
        ax.set_ylabel("uncovered share")
    return Figure("coverage_over_time", "Uncovered share per window", "Every window compared with the same "
                  "training data, oldest first.", draw)


def _shifts(r: dict) -> Figure:
    rows = [s for s in r["shifts"] if s.get("kind") not in ("skipped",)]

    def draw(ax):
        ratio = [s["value"] / s["threshold"] for s in rows]
        colors = [RED if s["crossed"] else (GREY if s["p"] >= s["alpha"] else BLUE) for s in rows]
        ax.barh([s["feature"] for s in rows], ratio, color=colors)
        ax.axvline(1, color=RED, lw=1)
        ax.invert_yaxis()
        ax.set_xlabel("effect / threshold (red: crossed; grey: p not under alpha)")
    return Figure("shifts", "Shift per feature against its threshold", "PSI for categories, KS for numbers, "
                  "classifier AUC for embeddings; a feature crosses when its effect reaches the threshold and its "
                  "test's p is under alpha.", draw)


def _clusters(r: dict) -> Figure | None:
    cl = r["coverage"]["clusters"][:15]
    if not cl:
        return None

    def draw(ax):
        ax.barh([c["name"][:60] for c in cl], [c["rows"] for c in cl], color=BLUE)
        ax.invert_yaxis()
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlabel("rows")
    return Figure("clusters", "Uncovered groups", f"Named by top terms ({r['coverage']['terms_from']}).", draw)


def _languages(r: dict) -> Figure | None:
    lang = next((s for s in r["shifts"] if s["feature"] == "lang" and "shares" in s), None)
    if lang is None:
        return None
    items = sorted(lang["shares"].items(), key=lambda kv: -max(kv[1].values()))[:12]

    def draw(ax):
        import numpy as np

        x = np.arange(len(items))
        ax.bar(x - 0.2, [v["train"] for _, v in items], 0.4, color=GREY, label="training")
        ax.bar(x + 0.2, [v["new"] for _, v in items], 0.4, color=BLUE, label="new")
        ax.set_xticks(x, [k for k, _ in items])
        ax.legend(fontsize=8)
    return Figure("languages", "Language mix", "Share of conversations per language (user turns).", draw)


def write(result: dict, out: Path) -> Path:
    figs = [f for f in (_curve(result), _timeline(result), _shifts(result), _clusters(result), _languages(result))
            if f is not None]
    render(figs, out)
    page = out / "index.html"
    page.write_text(_html(result, figs))
    (out / "drift.json").write_text(json.dumps(result, indent=1, default=str))
    return page


def _html(r: dict, figs: list[Figure]) -> str:
    e = html.escape
    c = r["coverage"]
    verdict = ("crossed: " + ", ".join(r["crossed"])) if r["crossed"] else "nothing crossed a threshold"
    shift_rows = "".join(
        f'<tr class="{"crossed" if s.get("crossed") else ""}"><td>{e(s["feature"])}</td><td>{e(s.get("kind", ""))}</td>'
        f'<td>{e(str(s.get("effect", "")))}</td><td>{s["value"]:.3f}</td><td>{s["threshold"]:.3f}</td>'
        f'<td>{s["p"]:.2g}</td><td>{"yes" if s["crossed"] else "no"}</td></tr>'
        if "value" in s else f'<tr><td>{e(s["feature"])}</td><td colspan="6">{e(s.get("note", ""))}</td></tr>'
        for s in r["shifts"])
    cluster_rows = "".join(
        f'<tr><td>{e(x["name"])}</td><td>{x["rows"]:,}</td><td>{x["share"]:.1%}</td><td>{x["beyond_radius"]:,}</td>'
        f'<td>{e(str(x.get("growth", "—")))}</td><td>{e(", ".join(x["examples"]))}</td></tr>' for x in c["clusters"])
    sections = "".join(
        f'<figure id="{f.slug}" data-plot="{f.slug}"><h2>{e(f.title)}</h2><img src="{f.slug}.png" alt="{e(f.title)}">'
        f'<figcaption>{e(f.caption)}</figcaption></figure>' for f in figs)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice drift — {e(r['new'])}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }} td, th {{ border: 1px solid #ddd; padding: .3rem .6rem; }}
figure {{ margin: 2rem 0; }} img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: .9rem; }}
tr.crossed td {{ background: #fde2e2; }} #verdict {{ font-weight: 600; }}
</style></head>
<body data-drift="{e(json.dumps({'new': r['new'], 'against': r['against'], 'crossed': r['crossed']}))}">
<h1>Drift: {e(r['new'])} against {e(', '.join(r['against']))}</h1>
<p id="verdict">{e(verdict)}</p>
<p>{r['rows']['new']:,} new rows, {r['rows']['train']:,} training rows. Uncovered: {c['uncovered']:,}
({c['share']:.1%}; {c['expected_share']:.1%} expected of a window like the training data):
{c['beyond_radius']:,} beyond the radius {c['radius']:.3f} (the {c['quantile']} quantile of training rows'
nearest-neighbour distance) and {c['crowded']:,} whose {c['neighbours']} nearest rows are improbably many new ones.</p>
<h2>Uncovered groups</h2>
<table id="clusters"><tr><th>group</th><th>rows</th><th>share</th><th>beyond radius</th><th>growth</th><th>example ids</th></tr>
{cluster_rows}</table>
<h2>Shift tests</h2>
<table id="shifts"><tr><th>feature</th><th>kind</th><th>effect</th><th>value</th><th>threshold</th><th>p</th>
<th>crossed</th></tr>{shift_rows}</table>
{sections}
</body></html>
"""
