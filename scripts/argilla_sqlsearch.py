"""A SQL-backed search engine for argilla-server — the ONE replaced part of the test server.

Runs inside argilla-server's own virtualenv (`.argilla-venv/`), never in sluice's. Production
Argilla uses Elasticsearch (see docker-compose.yml); Elasticsearch/OpenSearch cannot be
installed on the CI machine, so `scripts/argilla-server.sh` starts the real argilla-server with
``ARGILLA_SEARCH_ENGINE=sqlsearch`` through `scripts/argilla_serve.py`, which imports this module
first so that argilla-server's own ``SearchEngine.register`` hook knows the name.

The records already live in argilla-server's database, so "indexing" is a no-op and every query
reads the database: search (text, record/response/metadata/suggestion filters, sorting),
progress counts, metadata metrics and exact cosine similarity search. It scans one dataset in
Python per call — fine for the tens of thousands of records of a test or a review round, not
meant to replace Elasticsearch at scale.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, List, Optional, Union

from argilla_server.database import AsyncSessionLocal
from argilla_server.enums import MetadataPropertyType, ResponseStatusFilter, SimilarityOrder, SortOrder
from argilla_server.models import Dataset, MetadataProperty, Record, Response, Suggestion, User, Vector, VectorSettings
from argilla_server.search_engine.base import (
    AndFilter,
    Filter,
    FloatMetadataMetrics,
    IntegerMetadataMetrics,
    MetadataFilterScope,
    MetadataMetrics,
    Order,
    RangeFilter,
    RecordFilterScope,
    ResponseFilterScope,
    SearchEngine,
    SearchResponseItem,
    SearchResponses,
    SuggestionFilterScope,
    TermsFilter,
    TermsMetrics,
    TextQuery,
)
from sqlalchemy import select
from sqlalchemy.orm import selectinload

NAME = "sqlsearch"


class _Row:
    """One record with what filters need: fields, metadata, status, responses, suggestions."""

    __slots__ = ("record", "responses", "suggestions")

    def __init__(self, record: Record):
        self.record = record
        self.responses: list[Response] = []
        self.suggestions: list[Suggestion] = []


async def _rows(dataset_id) -> list[_Row]:
    async with AsyncSessionLocal() as db:
        records = (await db.execute(
            select(Record).where(Record.dataset_id == dataset_id).order_by(Record.inserted_at, Record.id)
        )).scalars().all()
        rows = {r.id: _Row(r) for r in records}
        if not rows:
            return []
        responses = (await db.execute(
            select(Response).join(Record).where(Record.dataset_id == dataset_id))).scalars().all()
        for resp in responses:
            rows[resp.record_id].responses.append(resp)
        suggestions = (await db.execute(
            select(Suggestion).join(Record).where(Record.dataset_id == dataset_id)
            .options(selectinload(Suggestion.question)))).scalars().all()
        for sug in suggestions:
            rows[sug.record_id].suggestions.append(sug)
        return list(rows.values())


def _text_match(row: _Row, query: Optional[Union[TextQuery, str]]) -> bool:
    if not query:
        return True
    q = query if isinstance(query, str) else query.q
    field = None if isinstance(query, str) else query.field
    if q in ("", "*"):
        return True
    values = [row.record.fields.get(field)] if field else list(row.record.fields.values())
    needles = q.lower().split()
    text = " ".join(str(v) for v in values if v is not None).lower()
    return all(n in text for n in needles)


def _answer(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) else value


def _values_of(row: _Row, scope) -> list[Any]:
    """Every value the scope points at on a row (several for responses of several users)."""
    if isinstance(scope, RecordFilterScope):
        return [getattr(row.record, scope.property, None)]
    if isinstance(scope, MetadataFilterScope):
        return [(row.record.metadata_ or {}).get(scope.metadata_property)]
    if isinstance(scope, SuggestionFilterScope):
        out = []
        for s in row.suggestions:
            if s.question.name == scope.question:
                out.append(s.value if scope.property == "value" else getattr(s, scope.property, None))
        return out
    if isinstance(scope, ResponseFilterScope):
        responses = [r for r in row.responses if scope.user is None or r.user_id == scope.user.id]
        if scope.question:
            return [_answer((r.values or {}).get(scope.question)) for r in responses]
        return [getattr(r, scope.property or "status", None) for r in responses]
    raise ValueError(f"sqlsearch: unsupported filter scope {scope!r}")


def _norm(v: Any) -> Any:
    return getattr(v, "value", v)


def _matches(row: _Row, flt: Filter) -> bool:
    if isinstance(flt, AndFilter):
        return all(_matches(row, f) for f in flt.filters)
    scope = flt.scope
    if isinstance(flt, TermsFilter) and isinstance(scope, ResponseFilterScope) and not scope.question:
        wanted = {str(v) for v in flt.values}
        mine = [r for r in row.responses if scope.user is None or r.user_id == scope.user.id]
        if ResponseStatusFilter.pending.value in wanted and not mine:
            return True
        return any(str(_norm(r.status)) in wanted for r in mine)
    values = _values_of(row, scope)
    for v in values:
        items = v if isinstance(v, list) else [v]
        for item in items:
            item = _norm(item)
            if item is None:
                continue
            if isinstance(flt, TermsFilter) and str(item) in {str(x) for x in flt.values}:
                return True
            if isinstance(flt, RangeFilter) and isinstance(item, (int, float)):
                if (flt.ge is None or item >= flt.ge) and (flt.le is None or item <= flt.le):
                    return True
    return False


def _sort_key(row: _Row, order: Order):
    values = [_norm(v) for v in _values_of(row, order.scope) if v is not None]
    value = values[0] if values else None
    # None sorts last in both directions
    return (value is None, value if value is not None else 0)


def _sorted(rows: list[_Row], sort: Optional[List[Order]]) -> list[_Row]:
    for order in reversed(sort or []):
        present = [r for r in rows if _sort_key(r, order)[0] is False]
        absent = [r for r in rows if _sort_key(r, order)[0] is True]
        present.sort(key=lambda r: _sort_key(r, order)[1], reverse=order.order == SortOrder.desc)
        rows = present + absent
    return rows


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return dot / (na * nb)


@SearchEngine.register(engine_name=NAME)
class SQLSearchEngine(SearchEngine):
    @classmethod
    async def new_instance(cls) -> "SQLSearchEngine":
        return cls()

    async def close(self):
        pass

    async def ping(self) -> bool:
        return True

    async def info(self) -> dict:
        return {"distribution": NAME, "version": "1", "note": "test-only SQL search engine (sluice harness)"}

    # The records live in the database already: indexing is a no-op.
    async def create_index(self, dataset: Dataset):
        pass

    async def delete_index(self, dataset: Dataset):
        pass

    async def configure_metadata_property(self, dataset: Dataset, metadata_property: MetadataProperty):
        pass

    async def configure_index_vectors(self, vector_settings: VectorSettings):
        pass

    async def index_records(self, dataset: Dataset, records: Iterable[Record]):
        pass

    async def partial_record_update(self, record: Record, **update):
        pass

    async def delete_records(self, dataset: Dataset, records: Iterable[Record]):
        pass

    async def update_record_response(self, response: Response):
        pass

    async def delete_record_response(self, response: Response):
        pass

    async def update_record_suggestion(self, suggestion: Suggestion):
        pass

    async def delete_record_suggestion(self, suggestion: Suggestion):
        pass

    async def get_dataset_progress(self, dataset: Dataset) -> dict:
        if dataset.is_draft:
            return {}
        rows = await _rows(dataset.id)
        counts: dict[str, int] = {}
        for row in rows:
            key = str(_norm(row.record.status))
            counts[key] = counts.get(key, 0) + 1
        return {"total": len(rows), **counts}

    async def get_dataset_user_progress(self, dataset: Dataset, user: User) -> dict:
        if dataset.is_draft:
            return {}
        counts: dict[str, int] = {}
        total = 0
        for row in await _rows(dataset.id):
            for r in row.responses:
                if r.user_id == user.id:
                    key = str(_norm(r.status))
                    counts[key] = counts.get(key, 0) + 1
                    total += 1
        return {"total": total, **counts}

    async def search(self, dataset: Dataset, query=None, filter=None, sort=None, offset: int = 0,
                     limit: int = 100, user_id=None) -> SearchResponses:
        rows = [r for r in await _rows(dataset.id) if _text_match(r, query)]
        if filter:
            rows = [r for r in rows if _matches(r, filter)]
        rows = _sorted(rows, sort)
        page = rows[offset:offset + limit]
        return SearchResponses(items=[SearchResponseItem(record_id=r.record.id, score=1.0) for r in page],
                               total=len(rows))

    async def compute_metrics_for(self, metadata_property: MetadataProperty) -> MetadataMetrics:
        values = []
        for row in await _rows(metadata_property.dataset_id):
            v = (row.record.metadata_ or {}).get(metadata_property.name)
            if v is not None:
                values.extend(v if isinstance(v, list) else [v])
        if metadata_property.type == MetadataPropertyType.terms:
            counts: dict[str, int] = {}
            for v in values:
                counts[str(v)] = counts.get(str(v), 0) + 1
            terms = [TermsMetrics.TermCount(term=t, count=c) for t, c in sorted(counts.items(), key=lambda x: -x[1])]
            return TermsMetrics(total=len(counts), values=terms)
        cls = IntegerMetadataMetrics if metadata_property.type == MetadataPropertyType.integer else FloatMetadataMetrics
        return cls(min=min(values) if values else None, max=max(values) if values else None)

    async def similarity_search(self, dataset: Dataset, vector_settings: VectorSettings, value=None, record=None,
                                query=None, filter=None, max_results: int = 100,
                                order: SimilarityOrder = SimilarityOrder.most_similar,
                                threshold=None) -> SearchResponses:
        if bool(value) == bool(record):
            raise ValueError("Must provide either vector value or record to compute the similarity search")
        target = value or record.vector_value_by_vector_settings(vector_settings)
        rows = {r.record.id: r for r in await _rows(dataset.id) if _text_match(r, query)}
        if filter:
            rows = {k: r for k, r in rows.items() if _matches(r, filter)}
        async with AsyncSessionLocal() as db:
            vectors = (await db.execute(
                select(Vector).where(Vector.vector_settings_id == vector_settings.id))).scalars().all()
        scored = [(v.record_id, _cosine(target, v.value)) for v in vectors
                  if v.record_id in rows and (record is None or v.record_id != record.id)]
        scored.sort(key=lambda x: x[1], reverse=order == SimilarityOrder.most_similar)
        if threshold is not None:
            scored = [s for s in scored if s[1] >= threshold]
        items = [SearchResponseItem(record_id=rid, score=score) for rid, score in scored[:max_results]]
        return SearchResponses(items=items, total=len(items))
