"""``drift(new, against)``: coverage of new traffic by the training data, and per-feature shift tests.

The per-row work (features, language, embedding: ``rows.py``) runs on the executor seam
(``local`` or ``ray``, as ``sluice run --executor``) and is spilled per batch under the store;
the driver reads it back one batch at a time. What stays in memory is one small feature row per
conversation (never the text), the training index (its vectors and HNSW graph: ~1.4 GB a million
rows at 320 dimensions), the samples the tests draw, and the vectors of uncovered rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from sluice.errors import DataError, InputError
from sluice.store import Store, Version

from . import coverage as C
from . import stats
from .rows import batches as row_batches, per_row
from .features import NUMERIC, REUSABLE, _embed_stage
from .policy import DriftPolicy

log = logging.getLogger(__name__)
BATCH_ROWS = 20_000
STEP = "drift"
COVERED = "covered"
HISTORY = "drift"
MATCH = 0.8  # a group matches the previous window's group whose centroid is at least this similar


@dataclass
class Window:
    refs: list[str]
    features: pl.DataFrame
    vectors: np.ndarray  # training: the index's sample; new: the rows the classifier test sees
    embeddings: str  # "column" or "computed"
    files: list[str] = field(default_factory=list)  # new: the per-row partials (rows.py), in row order
    dim: int = 0


# -- embedder --------------------------------------------------------------------------------------
def embedder_key(stage) -> str:
    c = stage.config
    body = {"model": stage.model.identity, "text": c.text, "tools": c.tools, "max_tokens": c.max_tokens}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _column_made_by(version: Version, store: Store, stage) -> bool:
    """True when the version's ``embedding`` column was written by an embed stage with the default
    embedder's identity and settings (read from the lineage's manifests)."""
    want = stage.model.identity.get("sha256")
    for v in store.lineage(version):
        m = v.manifest
        recipe = (m.get("recipe") or {}).get("stages") or []
        for rec in m.get("stages") or []:
            if rec.get("name") != "embed":
                continue
            model = (rec.get("info") or {}).get("model") or {}
            cfg = recipe[rec["index"]] if isinstance(rec.get("index"), int) and rec["index"] < len(recipe) else {}
            same = (model.get("sha256") == want and cfg.get("text", "conversation") == stage.config.text
                    and cfg.get("tools", True) == stage.config.tools and cfg.get("max_tokens") == stage.config.max_tokens)
            return same
    return False


# -- reading a window ------------------------------------------------------------------------------
def _row_configs(versions: list[Version], store: Store, policy: DriftPolicy, embed, reuse: tuple[str, ...]):
    """Each version's ``DriftRows`` config, and how its embeddings are had ("column" / "computed")."""
    configs, how = [], set()
    for v in versions:
        if v.kind != "conversation":
            raise InputError(f"{v.ref} holds {v.kind} rows; drift compares conversations",
                             hint="pass conversation datasets (what `sluice ingest` and `sluice run` publish)")
        own = "embedding" in _columns(v) and _column_made_by(v, store, embed)
        how.add("column" if own else "computed")
        configs.append({"metadata_keys": policy.shift.metadata_keys, "reuse": list(reuse), "own_embedding": own})
    return configs, "+".join(sorted(how))


def _stream(files: list[str], refs: list[str], dim: list[int]):
    """(features, vectors) per partial batch; ``dim`` holds the embedding size seen (one for all)."""
    for feats, vectors in row_batches(files):
        if dim and vectors.shape[1] != dim[0]:
            raise DataError(f"{', '.join(refs)}: embedding columns of different sizes {sorted({dim[0], vectors.shape[1]})}",
                            hint="re-embed with one embedder (drop the embed stage or use the same model everywhere)")
        dim[:] = [vectors.shape[1]]
        yield feats, vectors


def read_new(files: list[str], n: int, ref: str, index: C.TrainingIndex, train: Window, policy: DriftPolicy
             ) -> tuple[Window, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First pass over the new window's partials: its features, each row's nearest training distance,
    and the samples drawn by row number (the pool's, the classifier's) → (window, distances, pool rows,
    pool vectors, training rows of the classifier sample)."""
    cp = policy.coverage
    pick = np.sort(C.picks(n, cp.reference_sample, np.random.default_rng(0)))
    cls_train, cls_new = stats.classifier_rows(len(train.vectors), n, policy.shift.classifier_rows)
    pool_g, cls_g = C.Gather(pick), C.Gather(cls_new)
    feats, dist, at, dim = [], [], 0, []
    for f, vectors in _stream(files, [ref], dim):
        feats.append(f)
        dist.append(index.nearest(vectors)[0])
        pool_g.add(at, vectors)
        cls_g.add(at, vectors)
        at += len(vectors)
    d = dim[0] if dim else 0
    window = Window([ref], pl.concat(feats, how="diagonal_relaxed") if feats else pl.DataFrame(), cls_g.vectors(d),
                    "", files, d)
    return window, np.concatenate(dist) if dist else np.zeros(0, np.float32), pick, pool_g.vectors(d), cls_train


class _Lazy:
    """The training features, concatenated when ``build_index`` writes them (after every batch came)."""

    def __init__(self, parts: list[pl.DataFrame]):
        self.parts = parts

    def write_parquet(self, path) -> None:
        pl.concat(self.parts, how="diagonal_relaxed").write_parquet(path)


def _columns(v: Version) -> list[str]:
    from sluice.fs import read_schema

    files = v.files()
    return read_schema(files[0]).names if files else []


# -- resolving TRAINED -----------------------------------------------------------------------------
def training_versions(against: str, store: Store) -> tuple[list[Version], str]:
    """TRAINED → its versions: a dataset reference, or an adapter folder whose ``sluice_train.json``
    (or ``promotion.json``) names the data it was trained on (role ``train``)."""
    path = Path(against)
    if path.is_dir():
        for name, key in (("sluice_train.json", "datasets"), ("promotion.json", "data")):
            f = path / name
            if f.is_file():
                try:
                    data = json.loads(f.read_text()).get(key) or []
                except ValueError:
                    raise InputError(f"{f}: not JSON", hint="point --against at an adapter folder written by "
                                                            "`sluice train`, or give a dataset NAME@vN") from None
                refs = [d["ref"] for d in data if d.get("role", "train") == "train" and d.get("ref")]
                if not refs:
                    raise InputError(f"{f} names no training dataset", hint="give the dataset as --against NAME@vN")
                return [store.resolve(r) for r in refs], f"adapter {path} ({name})"
        raise InputError(f"{path} is a folder without sluice_train.json or promotion.json",
                         hint="point --against at an adapter folder written by `sluice train`, or a dataset NAME@vN")
    return [store.resolve(against)], "dataset"


# -- the tests -------------------------------------------------------------------------------------
def _counter(col: pl.Series) -> Counter:
    if col.dtype == pl.List(pl.String) or isinstance(col.dtype, pl.List):
        flat = col.explode().drop_nulls()
        return Counter(flat.to_list())
    return Counter(col.cast(pl.String).fill_null("none").to_list())


def shifts(train: Window, new: Window, policy: DriftPolicy, cls_train: np.ndarray | None = None) -> list[dict]:
    """The shift tests; ``new.vectors`` is the new side's classifier sample, ``cls_train`` the
    training sample rows it is compared with (``stats.classifier_rows``)."""
    p = policy.shift
    out: list[dict] = []
    tf, nf = train.features, new.features

    def record(feature, kind, result, threshold, note=None):
        crossed = result["p"] < p.alpha and result["value"] >= threshold and feature not in policy.ignore
        out.append({"feature": feature, "kind": kind, **result, "threshold": threshold, "alpha": p.alpha,
                    "crossed": bool(crossed), **({"note": note} if note else {})})

    if min(len(tf), len(nf)) < p.min_rows:
        return [{"feature": "all", "kind": "skipped", "crossed": False,
                 "note": f"fewer than {p.min_rows} rows on a side ({len(tf)} training, {len(nf)} new): not tested"}]
    cats = ["lang", "feedback", "tool_call", "refusal"]
    cats += [c for c in tf.columns if c.startswith("meta_") and (tf[c].null_count() < len(tf) or
                                                              (c in nf.columns and nf[c].null_count() < len(nf)))]
    for c in cats:
        record(c, "category", stats.categories(_counter(tf[c]), _counter(nf[c]), p.max_categories), p.psi)
    tn, nn = _counter(tf["tool_names"]), _counter(nf["tool_names"])
    if tn or nn:
        record("tool_names", "category", stats.categories(tn, nn, p.max_categories), p.psi)
    if "pii_entities" in tf.columns and "pii_entities" in nf.columns:
        pe = lambda df: _counter(df["pii_entities"]) + Counter(none=int((df["pii_entities"].list.len() == 0).sum()))  # noqa: E731
        record("pii_entities", "category", stats.categories(pe(tf), pe(nf), p.max_categories), p.psi)
    else:
        out.append({"feature": "pii_entities", "kind": "skipped", "crossed": False,
                    "note": "not compared: a side has no pii_findings column (run the pii_detect stage on both)"})
    for c in NUMERIC:
        record(c, "number", stats.numbers(tf[c].to_numpy().astype(float), nf[c].to_numpy().astype(float)), p.ks)
    if train.vectors.size and new.vectors.size:
        a = train.vectors[cls_train] if cls_train is not None else train.vectors
        record("embedding", "embedding", stats.classifier_fit(a, new.vectors), p.classifier_auc)
    return out


def _user_texts(versions: list[Version], rows: set[int]) -> dict[int, str]:
    from sluice.curate.quality.text import conversation_text

    texts, offset = {}, 0
    for v in versions:
        for batch in v.iter_batches(BATCH_ROWS):
            msgs = batch.column("messages")
            for i in sorted(r - offset for r in rows if offset <= r < offset + len(msgs)):
                texts[offset + i] = conversation_text(msgs[i].as_py(), ("user",))
            offset += len(msgs)
    return texts


def coverage(index: C.TrainingIndex, train: Window, new: Window, dist: np.ndarray, pick: np.ndarray,
             picked: np.ndarray, new_versions: list[Version], policy: DriftPolicy,
             lowercase_only: bool) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    """The coverage result, each new row's nearest distance, its group (−1: covered, −2: uncovered but
    in no named group), and the groups' centroids (module doc of coverage.py). A second pass over the
    new window's partials counts each row's new neighbours in the pool and keeps the vectors of
    uncovered rows only."""
    cp, alpha = policy.coverage, policy.shift.alpha
    radius = index.radius(cp.quantile)
    n = len(dist)
    far = dist > radius
    expected = 1 - cp.quantile
    p_far = stats.binomial_excess(int(far.sum()), n, expected)
    pool = C.Pool(train.vectors, picked, pick, cp.neighbours)
    pool_share = pool.share
    crowded = np.zeros(n, bool)
    kept, at = [], 0
    for _, vectors in row_batches(new.files):
        counts = pool.counts(at, vectors)
        part = slice(at, at + len(vectors))
        crowded[part] = stats.binomial_tail(counts, cp.neighbours, pool_share) < cp.neighbour_alpha
        kept.append(vectors[far[part] | crowded[part]])
        at += len(vectors)
    uncovered = far | crowded
    u = int(uncovered.sum())
    rows_u = np.flatnonzero(uncovered)
    vec_u = np.vstack(kept) if kept else np.zeros((0, new.dim), np.float32)
    labels = C.cluster(vec_u, cp.cluster_distance, cp.cluster_sample)
    ids = new.features["id"].to_numpy()
    langs = new.features["lang"].to_numpy()
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    named = [c for c in range(len(sizes)) if sizes[c] >= cp.min_cluster_rows]
    texts = _user_texts(new_versions, set(rows_u[np.isin(labels, named)].tolist()))
    group_of = np.full(n, -1, np.int64)
    group_of[rows_u] = -2
    clusters, centroids = [], []
    for c in named:
        local = np.flatnonzero(labels == c)
        rows, vecs = rows_u[local], vec_u[local]
        group_of[rows] = len(clusters)
        names = C.name_cluster([texts[r] for r in rows], index.df, cp.terms, cp.min_term_rows, lowercase_only)
        lang = Counter(langs[rows].tolist()).most_common(1)[0][0]
        cent = vecs.mean(0)
        centroids.append(cent / max(np.linalg.norm(cent), 1e-12))
        near = rows[np.argsort(-(vecs @ centroids[-1]))][:cp.examples]
        clusters.append({"cluster": len(clusters), "name": f"{lang}: " + (" / ".join(names) or "(no shared terms)"),
                         "lang": lang, "terms": names, "rows": int(len(rows)), "share": len(rows) / n,
                         "beyond_radius": int(far[rows].sum()), "crowded": int(crowded[rows].sum()),
                         "median_distance": float(np.median(dist[rows])), "examples": [str(ids[r]) for r in near]})
    expected_u = min(expected + cp.neighbour_alpha, 1.0)
    p_u = stats.binomial_excess(u, n, expected_u)
    result = {"quantile": cp.quantile, "radius": radius, "calibration_rows": int(len(index.calibration)),
              "rows": n, "beyond_radius": int(far.sum()), "beyond_radius_share": float(far.mean()) if n else 0.0,
              "beyond_radius_p": p_far, "neighbours": cp.neighbours, "pool_new_share": pool_share,
              "crowded": int(crowded.sum()), "uncovered": u, "share": u / n if n else 0.0,
              "expected_share": expected_u, "p": p_u, "max_share": cp.max_uncovered_share,
              "crossed": bool(u / n > cp.max_uncovered_share and p_u < alpha) if n else False,
              "clusters": clusters, "other_rows": int((group_of == -2).sum()),
              "terms_from": "redacted text" if not lowercase_only else
              "unredacted text: lowercase words only (no names, no digits), each used by several rows",
              "curve": _curve(index.calibration, dist)}
    dim = new.dim
    return result, dist, group_of, np.vstack(centroids) if centroids else np.zeros((0, dim), np.float32)


def _curve(calibration: np.ndarray, dist: np.ndarray) -> dict:
    qs = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
    radii = [float(np.quantile(calibration, q)) for q in qs] if len(calibration) else []
    return {"quantile": qs, "radius": radii,
            "new_share_beyond": [float((dist > r).mean()) if len(dist) else 0.0 for r in radii]}


# -- history (growth, coverage over time) ----------------------------------------------------------
def history_dir(version: Version, against: list[str]) -> Path:
    key = hashlib.sha256("+".join(against).encode()).hexdigest()[:12]
    return version.path.parent / "reports" / HISTORY / key


def _growth(clusters: list[dict], centroids: np.ndarray, folder: Path, number: int) -> None:
    earlier = sorted((int(p.stem[1:]), p) for p in folder.glob("v*.json") if p.stem[1:].isdigit()
                     and int(p.stem[1:]) < number)
    if not earlier:
        return
    prev_n, prev = earlier[-1]
    body = json.loads(prev.read_text())
    cents = folder / f"v{prev_n}.npy"
    if not cents.is_file() or not len(centroids):
        return
    old = np.load(cents)
    if old.shape[1:] != centroids.shape[1:]:
        return  # another embedder: groups cannot be matched
    sims = centroids @ old.T if len(old) else np.zeros((len(centroids), 1))
    for c, row in zip(clusters, sims):
        j = int(np.argmax(row))
        if len(old) and row[j] >= MATCH:
            was = body["coverage"]["clusters"][j]
            c["previous"] = {"window": body["new"], "rows": was["rows"], "share": was["share"]}
            c["growth"] = c["share"] / was["share"] if was["share"] else None
        else:
            c["previous"] = None
            c["growth"] = "new"


def timeline(folder: Path) -> list[dict]:
    out = []
    for p in sorted(folder.glob("v*.json"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else 0):
        body = json.loads(p.read_text())
        out.append({"window": body["new"], "share": body["coverage"]["share"]})
    return out


# -- the command -----------------------------------------------------------------------------------
def drift(new_ref: str, against: str, store: Store, policy: DriftPolicy | None = None, save: bool = True,
          executor: str = "local", workers: int = 1, batch_rows: int = BATCH_ROWS) -> dict:
    """Compare ``new_ref`` with the training data ``against`` (module doc); returns the result dict.
    ``executor`` / ``workers``: where the per-row work runs (``local`` or ``ray``, as ``sluice run``),
    in batches of ``batch_rows`` (what the driver holds of a window's vectors at a time)."""
    import shutil
    import uuid

    from sluice.executors import executor as make_executor
    from sluice.privacy import certificate

    policy = policy or DriftPolicy()
    t0 = time.perf_counter()
    new_version = store.resolve(new_ref)
    train_versions, trained_as = training_versions(against, store)
    embed = _embed_stage()
    key = embedder_key(embed)
    refs = [v.ref for v in train_versions]
    cp = policy.coverage
    # one detector on both sides: the recipe's lang / refusal_pattern columns only when every version has them
    reuse = tuple(c for c in REUSABLE if all(c in _columns(v) for v in [*train_versions, new_version]))
    index_key = hashlib.sha256(json.dumps([key, refs, policy.shift.metadata_keys, cp.calibration_rows, reuse,
                                           max(cp.reference_sample, policy.shift.classifier_rows)]).encode()).hexdigest()
    folder = C.index_folder(train_versions[0], index_key)
    cached = (folder / "meta.json").is_file()
    new_configs, new_how = _row_configs([new_version], store, policy, embed, reuse)
    scratch = new_version.path.parent / "drift-work" / f"{uuid.uuid4().hex[:12]}"
    engine = make_executor(executor, workers)
    try:
        if cached:
            index = C.TrainingIndex(folder)
        else:
            configs, how = _row_configs(train_versions, store, policy, embed, reuse)
            files = [f for fs in per_row(train_versions, configs, engine, scratch / "train", batch_rows) for f in fs]
            n = sum(v.num_rows() for v in train_versions)
            if not n:
                raise DataError(f"{', '.join(refs)} holds no rows: nothing to compare against",
                                hint="give the dataset the model was trained on (--against NAME@vN)")
            feats, dim = [], []

            def vectors():
                for f, v in _stream(files, refs, dim):
                    feats.append(f)
                    yield v

            index = C.build_index(train_versions[0], vectors(), n, lambda want: _user_texts(train_versions, want),
                                  _Lazy(feats), index_key, cp.calibration_rows,
                                  max(cp.reference_sample, policy.shift.classifier_rows), {"embeddings": how})
            shutil.rmtree(scratch / "train", ignore_errors=True)
            log.info("drift: training index built (%s rows)", f"{index.rows:,}")
        # the training side as every run sees it, cached or not: all rows' features, a sample of the vectors
        train = Window(refs, index.features, index.sample, index.meta["embeddings"])
        t_scan = time.perf_counter()
        n_new = new_version.num_rows()
        if not n_new:
            raise DataError(f"{new_version.ref} holds no rows", hint="give a window with conversations in it")
        new_files = per_row([new_version], new_configs, engine, scratch / "new", batch_rows)[0]
        if train.vectors.shape[1] != int(index.meta["dim"]):
            raise DataError(f"{index.folder}: its sample does not match its index", hint="delete the folder; it is rebuilt")
        new, dist, pick, picked, cls_train = read_new(new_files, n_new, new_version.ref, index, train, policy)
        new.embeddings = new_how
        if train.vectors.shape[1] != new.dim:
            raise DataError(f"embeddings differ in size ({train.vectors.shape[1]} training, {new.dim} new)",
                            hint="embed both with the same embedder")
        t_index = time.perf_counter()
        log.info("drift: new window read (%s rows); coverage and tests", f"{len(new.features):,}")
        redacted = certificate(new_version, store).redacted
        cov, dist, member, centroids = coverage(index, train, new, dist, pick, picked, [new_version], policy,
                                                lowercase_only=not redacted)
        sh = shifts(train, new, policy, cls_train)
    finally:
        engine.close()
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            scratch.parent.rmdir()  # the last run out removes the folder
        except OSError:
            pass
    t_tests = time.perf_counter()
    crossed = (["coverage"] if cov["crossed"] else []) + [s["feature"] for s in sh if s.get("crossed")]
    result = {"new": new_version.ref, "against": train.refs, "trained_as": trained_as,
              "rows": {"new": int(len(new.features)), "train": int(len(train.features))},
              "embedder": {**embed.model.identity, "text": embed.config.text, "tools": embed.config.tools},
              "embeddings": {"new": new.embeddings, "train": train.embeddings},
              "index": {"path": str(index.folder), "cached": cached, "rows": index.rows},
              "coverage": cov, "shifts": sh, "crossed": crossed, "policy": policy.model_dump(mode="json"),
              "seconds": {"training_side": round(t_scan - t0, 2), "new_side": round(t_index - t_scan, 2),
                          "tests": round(t_tests - t_index, 2)}}
    hist = history_dir(new_version, train.refs)
    _growth(cov["clusters"], centroids, hist, new_version.number)
    if save:
        hist.mkdir(parents=True, exist_ok=True)
        (hist / f"v{new_version.number}.json").write_text(json.dumps(result, indent=1, default=str))
        np.save(hist / f"v{new_version.number}.npy", centroids)
    result["timeline"] = timeline(hist)
    result["_members"] = (new.features["id"], dist, member)  # for --emit; dropped before JSON
    return result


def emit_uncovered(result: dict, store: Store, to: str) -> Version:
    """Publish the uncovered rows (beyond the radius or in a crowded neighbourhood) of the new window as
    ``to@vN`` (parent: the window); covered rows are
    accounted as rejected with reason ``covered`` (ids only). Adds ``drift_distance`` and ``drift_cluster``."""
    import pyarrow.compute as pc

    from sluice.schemas import REJECTED

    version = store.resolve(result["new"])
    ids, dist, member = result["_members"]
    radius = result["coverage"]["radius"]
    names = {c["cluster"]: c["name"] for c in result["coverage"]["clusters"]}
    by_id = {i: (float(d), names.get(int(m), "other")) for i, d, m in zip(ids.to_list(), dist, member) if m != -1}
    covered = [i for i, m in zip(ids.to_list(), member) if m == -1]
    stage = {"name": STEP, "index": 0, "rows_in": len(ids), "kept": len(by_id),
             "rejected": {COVERED: len(covered)} if covered else {}, "quarantined": {},
             "config": result["policy"]["coverage"],
             "info": {"class": "sluice.curate.drift.run:emit_uncovered", "version": 1, "against": result["against"],
                      "radius": radius, "quantile": result["coverage"]["quantile"],
                      "neighbours": result["coverage"]["neighbours"], "embedder": result["embedder"]}}
    accounting = {"rows_in": len(ids), "kept": len(by_id), "rejected_total": len(covered),
                  "rejected": {STEP: {COVERED: len(covered)}} if covered else {}, "quarantined_total": 0,
                  "quarantined": {}}
    with store.create(to, version.kind) as w:
        wanted = pa.array(list(by_id), pa.string())
        for batch in version.iter_batches(BATCH_ROWS):
            t = pa.Table.from_batches([batch])
            t = t.filter(pc.is_in(t.column("id"), wanted))
            if t.num_rows or not w.parts["data"].schema:
                got = t.column("id").to_pylist()
                t = t.append_column("drift_distance", pa.array([by_id[i][0] for i in got], pa.float32()))
                t = t.append_column("drift_cluster", pa.array([by_id[i][1] for i in got], pa.string()))
                w.write(t)
        for start in range(0, len(covered), 100_000):
            part = covered[start:start + 100_000]
            w.write_rejected(pa.table({"id": part, "stage": [STEP] * len(part), "reason": [COVERED] * len(part),
                                       "detail": [None] * len(part), "duplicate_of": [None] * len(part)},
                                      schema=REJECTED.schema))
        return w.publish(accounting, parents=[version.ref], stages=[stage],
                         reasons={STEP: {COVERED: "the row has a training row within the calibrated distance"}},
                         drift={"against": result["against"], "uncovered_share": result["coverage"]["share"],
                                "clusters": {c["name"]: c["rows"] for c in result["coverage"]["clusters"]}})
