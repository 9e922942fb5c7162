"""Search on Elasticsearch, through the official client. Production's backend.

The index is reached through the alias ``cases``; a rebuild fills a new concrete index
(``cases-<time>``) and moves the alias in one atomic call, so search keeps answering from the
old index until the new one is complete. Text is folded to simplified before it is sent (the
built-in ``cjk`` analyzer does not fold), and each write carries the view's version as an
external version, so an older version never overwrites a newer one.

The queries and the mapping are plain functions, unit-tested without a server; the contract
suite runs them against a real one when ``FQ_TEST_ES_URL`` is set.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from fengqiao.search import (
    MAX_PAGE,
    TOTAL_LIMIT,
    CaseQuery,
    Scope,
    SearchError,
    SearchPage,
    batches,
    decode_cursor,
    encode_cursor,
    indexed_case,
    region_prefix,
    sort_key,
)
from fengqiao.search.analysis import fold, is_tail, query_terms, snippet

ALIAS = "cases"
BATCH = 2000
SIMILAR_TERMS = 12
_CJK_TEXT = {"type": "text", "analyzer": "cjk"}
_KEYWORD = {"type": "keyword"}
INDEX_SETTINGS = {"number_of_shards": 1, "refresh_interval": "1s"}
MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "id": _KEYWORD, "seq": {"type": "long"}, "version": {"type": "long"},
        "text": _CJK_TEXT, "address": _CJK_TEXT, "names": _CJK_TEXT, "tails": _KEYWORD,
        "region_code": _KEYWORD, "level": _KEYWORD, "unit_id": _KEYWORD, "category": _KEYWORD,
        "risk": {"type": "integer"}, "status": _KEYWORD, "channel": _KEYWORD,
        "received_at": {"type": "date"}, "due_key": _KEYWORD, "overdue": {"type": "boolean"},
        "monitoring": {"type": "boolean"},
        # What the list shows and snippets are cut from: kept, never searched.
        "shown_text": {"type": "text", "index": False},
        "summary": {"type": "object", "enabled": False},
    },
}
SORTS = {"received": [{"seq": "desc"}], "due": [{"due_key": "asc"}, {"seq": "asc"}],
         "risk": [{"risk": "desc"}, {"seq": "desc"}]}


def es_document(doc: dict) -> dict:
    """The document as Elasticsearch stores it: searchable text folded, the original kept aside.
    A merged report's words are left out, as in SQLite: text finds it through its case."""
    searchable = doc["status"] != "merged"
    words = {field: fold(doc[field]) if searchable else "" for field in ("text", "address", "names")}
    return {**doc, **words, "tails": doc["tails"] if searchable else [], "risk": doc["risk"] or 0,
            "received_at": doc["received_at"] or None, "shown_text": doc["text"]}


def filter_clauses(query: CaseQuery, scope: Scope) -> tuple[list[dict], list[dict]]:
    """(filter, must_not) clauses of a query within a scope."""
    filters: list[dict] = [{"term": {field: value}} for field, value in query.equalities().items()]
    must_not: list[dict] = [{"term": {"status": "merged"}}] if query.excludes_merged() else []
    if query.region:
        filters.append({"prefix": {"region_code": region_prefix(query.region)}})
    received = {}
    if query.received_from:
        received["gte"] = query.received_from
    if query.received_to:
        received["lt"] = query.received_to
    if received:
        filters.append({"range": {"received_at": received}})
    if scope.regions is not None:
        filters.append({"bool": {"should": [{"prefix": {"region_code": region_prefix(r)}} for r in scope.regions],
                                 "minimum_should_match": 1}})
    if scope.units is not None:
        filters.append({"terms": {"unit_id": list(scope.units)}})
    return filters, must_not


def term_clause(term: str) -> dict:
    """One query term: a phrase in the text, address or names, or a phone/ID tail."""
    should: list[dict] = [{"match_phrase": {field: term}} for field in ("text", "address", "names")]
    if is_tail(term):
        should.append({"term": {"tails": term}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def search_body(query: CaseQuery, scope: Scope, after: list | None, limit: int) -> dict:
    filters, must_not = filter_clauses(query, scope)
    body = {
        "query": {"bool": {"must": [term_clause(t) for t in query_terms(query.q)], "filter": filters,
                           "must_not": must_not}},
        "sort": SORTS[query.sort], "size": limit + 1, "track_total_hits": TOTAL_LIMIT,
        "_source": ["seq", "due_key", "risk", "shown_text", "summary"],
    }
    if after is not None:
        body["search_after"] = after
    return body


def similar_body(case_id: str, seq: int, scope: Scope, limit: int) -> dict:
    filters, must_not = filter_clauses(CaseQuery(), scope)
    return {
        "query": {"bool": {
            "must": [{"more_like_this": {"fields": ["text"], "like": [{"_index": ALIAS, "_id": case_id}],
                                         "min_term_freq": 1, "min_doc_freq": 2,
                                         "max_query_terms": SIMILAR_TERMS}}],
            "filter": [*filters, {"range": {"seq": {"lt": seq}}}], "must_not": must_not}},
        "sort": ["_score", {"seq": "desc"}], "size": limit,
        "_source": ["seq", "due_key", "risk", "shown_text", "summary"],
    }


def _item(hit: dict, terms: list[str]) -> dict:
    source = hit["_source"]
    return {**source["summary"], "snippet": snippet(source["shown_text"], terms)}


class ElasticIndex:
    def __init__(self, client):
        self.es = client

    @classmethod
    def open(cls, url: str) -> ElasticIndex:
        from elasticsearch import Elasticsearch

        index = cls(Elasticsearch(url, request_timeout=30, retry_on_timeout=True, max_retries=3))
        index.ensure()
        return index

    def ensure(self) -> None:
        if not self.es.indices.exists_alias(name=ALIAS):
            self._create(ALIAS + "-" + str(time.time_ns()), alias=True)

    def _create(self, name: str, alias: bool) -> None:
        aliases = {ALIAS: {}} if alias else {}
        self.es.indices.create(index=name, settings=INDEX_SETTINGS, mappings=MAPPINGS, aliases=aliases)

    def close(self) -> None:
        self.es.close()

    def index(self, docs: Iterable[dict], target: str = ALIAS) -> None:
        from elasticsearch import helpers

        actions = ({"_op_type": "index", "_index": target, "_id": doc["id"], "version": doc.get("version") or 0,
                    "version_type": "external_gte", "_source": es_document(doc)} for doc in docs)
        _, errors = helpers.bulk(self.es, actions, chunk_size=BATCH, raise_on_error=False, stats_only=False)
        # A version conflict means the index already holds a newer version: that is the point.
        failed = [e for e in errors if next(iter(e.values())).get("status") != 409]
        if failed:
            raise SearchError(f"{len(failed)} documents were not indexed; first: {failed[0]}")

    def rebuild(self, views: Callable[[], Iterable[dict]], total: int,
                progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        name = ALIAS + "-" + str(time.time_ns())
        self._create(name, alias=False)
        done = 0
        for batch in batches(views(), BATCH):
            self.index((indexed_case(v) for v in batch), target=name)
            done += len(batch)
            progress(done, total)
        progress(done, total)  # also when there was nothing to index
        old = list(self.es.indices.get_alias(name=ALIAS))
        self.es.indices.update_aliases(actions=[
            *({"remove": {"index": o, "alias": ALIAS}} for o in old), {"add": {"index": name, "alias": ALIAS}}])
        # The catch-up sends every view again: external versions keep whatever is newer.
        self.index(indexed_case(v) for v in views())
        for o in old:
            self.es.indices.delete(index=o)
        return done

    def count(self) -> int:
        return self.es.count(index=ALIAS)["count"]

    def search(self, query: CaseQuery, scope: Scope, cursor: str | None = None, limit: int = 50) -> SearchPage:
        limit = min(max(limit, 1), MAX_PAGE)
        after = decode_cursor(cursor, query.sort)
        answer = self.es.search(index=ALIAS, **search_body(query, scope, after, limit))
        hits = answer["hits"]["hits"]
        terms = query_terms(query.q)
        last = hits[limit - 1]["_source"] if len(hits) > limit else None
        total = answer["hits"]["total"]
        return SearchPage([_item(h, terms) for h in hits[:limit]],
                          encode_cursor(query.sort, sort_key(last, query.sort)) if last else None,
                          total["value"], total["relation"] == "eq")

    def similar(self, case_id: str, scope: Scope, limit: int = 10) -> list[dict]:
        found = self.es.options(ignore_status=404).get(index=ALIAS, id=case_id, source_includes=["seq", "text"])
        if not found.get("found"):
            return []
        answer = self.es.search(index=ALIAS, **similar_body(case_id, found["_source"]["seq"], scope, limit))
        return [_item(h, []) for h in answer["hits"]["hits"]]
