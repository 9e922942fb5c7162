"""One behaviour, every search backend: the search port's contract.

Runs against SQLite FTS5 always, and against Elasticsearch whenever FQ_TEST_ES_URL points at one
(on this machine's loopback only).
"""
from __future__ import annotations

import os
import random
from urllib.parse import urlparse

import pytest

from fengqiao.search import CaseQuery, InvalidQuery, Scope, indexed_case, region_prefix
from fengqiao.search.sqlite import SqliteIndex

ES_URL = os.environ.get("FQ_TEST_ES_URL")
NO_ES = "FQ_TEST_ES_URL is not set: no Elasticsearch server here, Elasticsearch contract runs skipped"


class RefreshingElastic:
    """The Elasticsearch adapter with a refresh after each write, so a test reads its own writes."""

    def __init__(self, index):
        self.inner = index

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def index(self, docs, **kw):
        self.inner.index(docs, **kw)
        self.inner.es.indices.refresh(index="cases*")

    def rebuild(self, views, total, progress=lambda d, t: None):
        done = self.inner.rebuild(views, total, progress)
        self.inner.es.indices.refresh(index="cases*")
        return done


@pytest.fixture(params=["sqlite", "elasticsearch"])
def index(request, tmp_path):
    if request.param == "sqlite":
        backend = SqliteIndex(tmp_path / "search")
        yield backend
        backend.close()
        return
    if not ES_URL:
        pytest.skip(NO_ES)
    host = urlparse(ES_URL).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        pytest.fail(f"FQ_TEST_ES_URL must point at this machine (127.0.0.0/8), not {host}")
    from elasticsearch import Elasticsearch

    from fengqiao.search.elastic import ElasticIndex

    client = Elasticsearch(ES_URL)
    client.indices.delete(index="cases*", ignore_unavailable=True, allow_no_indices=True)
    backend = ElasticIndex(client)
    backend.ensure()
    yield RefreshingElastic(backend)
    client.indices.delete(index="cases*", ignore_unavailable=True, allow_no_indices=True)
    backend.close()


def view(case_id, text, received_at, *, region="150102001001", status="assigned", category="property_mgmt",
         risk=1, channel="hotline_12345", unit="U-XC-JD", level="township", due="2026-03-20T09:00:00+08:00",
         address="新城区清泉街12号", phone=None, name="王某", overdue=False, monitoring=False, version=3,
         resolution=None, merged_into=None):
    return {
        "id": case_id, "number": f"FQ-{case_id}", "text": text, "address": address, "region_code": region,
        "status": status, "category": category, "risk": risk, "channel": channel, "received_at": received_at,
        "reporter": {"name": name, "phone": phone}, "parties": [{"name": "某物业公司", "kind": "organisation"}],
        "phones": [phone] if phone else [], "assignment": {"level": level, "unit_id": unit, "unit_name": "某单位",
                                                          "due_at": due},
        "overdue": overdue, "monitoring": {"active": monitoring}, "version": version, "report_count": 1,
        "resolution": {"summary": resolution} if resolution else None, "merged_into": merged_into,
    }


CASES = [
    view("a1", "楼上卫生间漏水，已经三个月了，物业不管。", "2026-03-01T09:00:00+08:00", phone="13900000001"),
    view("a2", "樓上漏水嚴重，天花板發霉，要求維修。", "2026-03-02T09:00:00+08:00", region="150102002001",
         risk=2, due="2026-03-10T09:00:00+08:00", resolution="物业维修后漏水已止"),
    view("a3", "工地拖欠工资二十多名工人，欠薪三万五千元。", "2026-03-03T09:00:00+08:00", region="150525100201",
         category="labor_wage", risk=3, unit="U-NM-RS", level="county", channel="police_110", overdue=True),
    view("a4", "小区停车位纠纷，邻居占用车位。", "2026-03-04T09:00:00+08:00", region="510183001001",
         category="neighbor", status="closed", unit="U-QL", level="village", due=None, monitoring=True),
    view("a5", "邻居家水管漏水淹了我家地板，协商赔偿未果。", "2026-03-05T09:00:00+08:00", region="150102001001001",
         category="neighbor", risk=2, level="grid", phone="13812345678"),
    view("a6", "楼上漏水三个月物业不管", "2026-03-06T09:00:00+08:00", status="merged", merged_into="a1"),
    view("a7", "包工头欠薪不还，工人讨薪无门。", "2026-02-20T09:00:00+08:00", region="150525100202",
         category="labor_wage", risk=3, unit="U-NM-RS", level="county", status="resolved",
         resolution="协调工程款发放到位"),
]


@pytest.fixture
def loaded(index):
    index.index([indexed_case(v) for v in CASES])
    return index


def ids(page_or_items):
    items = page_or_items.items if hasattr(page_or_items, "items") else page_or_items
    return [item["id"] for item in items]


def test_two_characters_find_their_cases_newest_first(loaded):
    page = loaded.search(CaseQuery(q="漏水"), Scope())
    assert ids(page) == ["a5", "a2", "a1"]  # a6 is merged into a1: found through a1
    assert page.total == 3 and page.total_exact


def test_traditional_and_simplified_find_each_other(loaded):
    assert ids(loaded.search(CaseQuery(q="楼上"), Scope())) == ["a2", "a1"]
    assert ids(loaded.search(CaseQuery(q="樓上漏水"), Scope())) == ["a2"]
    assert ids(loaded.search(CaseQuery(q="衛生間"), Scope())) == ["a1"]


def test_a_phrase_must_occur_as_written(loaded):
    assert ids(loaded.search(CaseQuery(q="水管漏水"), Scope())) == ["a5"]
    assert ids(loaded.search(CaseQuery(q="楼上水管"), Scope())) == []


def test_every_word_must_match(loaded):
    assert ids(loaded.search(CaseQuery(q="漏水 三个月"), Scope())) == ["a1"]
    assert ids(loaded.search(CaseQuery(q="欠薪"), Scope())) == ["a3", "a7"]


def test_address_and_names_are_searched(loaded):
    assert set(ids(loaded.search(CaseQuery(q="清泉街"), Scope()))) == {"a1", "a2", "a3", "a4", "a5", "a7"}
    assert ids(loaded.search(CaseQuery(q="物业公司", category="labor_wage"), Scope())) == ["a3", "a7"]


def test_snippets_mark_what_matched(loaded):
    first = loaded.search(CaseQuery(q="漏水"), Scope()).items[0]
    assert "<em>漏水</em>" in first["snippet"]
    traditional = loaded.search(CaseQuery(q="漏水 维修"), Scope()).items[0]
    assert traditional["id"] == "a2" and "<em>漏水</em>" in traditional["snippet"] \
        and "<em>維修</em>" in traditional["snippet"]


def test_phone_tails_are_searchable_but_whole_numbers_are_not_exposed(loaded):
    page = loaded.search(CaseQuery(q="0001"), Scope())
    assert ids(page) == ["a1"]
    assert ids(loaded.search(CaseQuery(q="13900000001"), Scope())) == []
    assert "13900000001" not in str(page.items)


def test_filters(loaded):
    def search(**kw):
        return (ids(loaded.search(CaseQuery(**kw), Scope())))
    assert search(region="150100") == ["a5", "a2", "a1"]  # the city's code covers its counties
    assert search(region="150102001") == ["a5", "a1"]
    assert search(category="labor_wage") == ["a3", "a7"]
    assert search(risk=3, status="resolved") == ["a7"]
    assert search(channel="police_110") == ["a3"]
    assert search(level="grid") == ["a5"]
    assert search(unit_id="U-NM-RS") == ["a3", "a7"]
    assert search(overdue=True) == ["a3"]
    assert search(monitoring=True) == ["a4"]
    assert search(status="merged") == ["a6"]
    assert search(received_from="2026-03-02T00:00:00+08:00", received_to="2026-03-04T09:00:00+08:00") == ["a3", "a2"]
    assert search(q="漏水", region="150102", received_from="2026-03-02T00:00:00+08:00") == ["a5", "a2"]


def test_sorts_and_cursors_walk_every_case_once(loaded):
    for sort, expected in (("received", ["a5", "a4", "a3", "a2", "a1", "a7"]),
                           ("due", ["a2", "a7", "a1", "a3", "a5", "a4"]),
                           ("risk", ["a3", "a7", "a5", "a2", "a4", "a1"])):
        seen, cursor = [], None
        while True:
            page = loaded.search(CaseQuery(sort=sort), Scope(), cursor, limit=2)
            seen += ids(page)
            assert page.total == 6
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, sort


def test_a_cursor_from_another_sort_is_refused(loaded):
    cursor = loaded.search(CaseQuery(sort="due"), Scope(), limit=1).next_cursor
    with pytest.raises(InvalidQuery, match="sort"):
        loaded.search(CaseQuery(sort="received"), Scope(), cursor)
    with pytest.raises(InvalidQuery):
        CaseQuery(sort="relevance")


def test_a_scope_never_lets_anything_outside_it_through(loaded):
    county = Scope(regions=("150102",))
    for query in (CaseQuery(), CaseQuery(q="漏水"), CaseQuery(q="欠薪"), CaseQuery(region="150100"),
                  CaseQuery(category="labor_wage"), CaseQuery(sort="risk")):
        for item in loaded.search(query, county).items:
            assert item["region_code"].startswith("150102"), (query, item)
    assert ids(loaded.search(CaseQuery(q="欠薪"), county)) == []
    both = Scope(regions=("150102002", "150525"), units=("U-NM-RS", "U-XC-JD"))
    assert ids(loaded.search(CaseQuery(), both)) == ["a3", "a2", "a7"]
    assert ids(loaded.search(CaseQuery(), Scope(regions=()))) == []
    for item in loaded.similar("a5", Scope(regions=("150102002",))):
        assert item["region_code"].startswith("150102002")


def test_similar_cases_are_earlier_and_say_how_they_ended(loaded):
    found = loaded.similar("a3", Scope())
    assert ids(found) == ["a7"]
    assert found[0]["outcome"]["resolution"] == "协调工程款发放到位"
    assert "a1" in ids(loaded.similar("a2", Scope()))
    assert loaded.similar("a1", Scope()) == []  # nothing came before it
    assert loaded.similar("nope", Scope()) == []


def test_an_older_version_never_overwrites_a_newer_one(loaded):
    newer = indexed_case({**CASES[0], "status": "resolved", "version": 9})
    loaded.index([newer])
    loaded.index([indexed_case({**CASES[0], "status": "assigned", "version": 5})])
    assert ids(loaded.search(CaseQuery(status="resolved"), Scope())) == ["a1", "a7"]
    text_changed = indexed_case({**CASES[0], "text": "楼上漏水已修好", "version": 10})
    loaded.index([text_changed])
    assert ids(loaded.search(CaseQuery(q="修好"), Scope())) == ["a1"]
    assert ids(loaded.search(CaseQuery(q="卫生间"), Scope())) == []


def test_rebuild_keeps_answering_from_the_old_index_until_the_new_one_is_complete(loaded):
    changed = [{**v, "text": v["text"] + "（已核实）", "version": v["version"] + 1} for v in CASES]
    answers_during = []

    def docs():  # called once to build, and once more to catch up after the switch
        for i, v in enumerate(changed):
            if i == 3 and not answers_during:
                answers_during.append(ids(loaded.search(CaseQuery(q="核实"), Scope())))
            yield v

    progress = []
    assert loaded.rebuild(docs, len(changed), lambda done, total: progress.append((done, total))) == 7
    assert answers_during == [[]]
    assert progress[-1] == (7, 7)
    assert ids(loaded.search(CaseQuery(q="核实"), Scope())) == ["a5", "a4", "a3", "a2", "a1", "a7"]
    assert loaded.count() == 7


def expected(query: CaseQuery, scope: Scope) -> list[str]:
    """The same filters and scope, applied in plain Python to the views: the oracle."""
    def keeps(v):
        doc = indexed_case(v)
        fields = {"level": doc["level"], "unit_id": doc["unit_id"], "category": doc["category"], "risk": doc["risk"],
                  "status": doc["status"], "channel": doc["channel"], "overdue": doc["overdue"],
                  "monitoring": doc["monitoring"]}
        return (all(fields[k] == value for k, value in query.equalities().items())
                and not (query.excludes_merged() and v["status"] == "merged")
                and (not query.region or v["region_code"].startswith(region_prefix(query.region)))
                and (not query.received_from or v["received_at"] >= query.received_from)
                and (not query.received_to or v["received_at"] < query.received_to)
                and scope.allows(doc))
    return [v["id"] for v in sorted(CASES, key=lambda v: v["received_at"], reverse=True) if keeps(v)]


def test_random_filters_within_random_scopes_match_a_plain_python_filter(loaded):
    rng = random.Random(4)
    regions = ["150100", "150102", "150102001", "150102002001", "150500", "150525", "510100", "510183001001"]
    for _ in range(150):
        query = CaseQuery(**{name: rng.choice(values) for name, values in (
            ("region", regions), ("category", ["property_mgmt", "labor_wage", "neighbor"]), ("risk", [1, 2, 3]),
            ("status", ["assigned", "resolved", "closed", "merged"]), ("level", ["township", "county", "grid"]),
            ("overdue", [True, False]), ("received_from", ["2026-03-02T00:00:00+08:00"]),
            ("received_to", ["2026-03-05T00:00:00+08:00"])) if rng.random() < 0.3})
        scope = Scope(regions=tuple(rng.sample(regions, rng.randrange(0, 3))) if rng.random() < 0.7 else None,
                      units=tuple(rng.sample(["U-XC-JD", "U-NM-RS", "U-QL"], 2)) if rng.random() < 0.3 else None)
        got = ids(loaded.search(query, scope, limit=200))
        assert got == expected(query, scope), (query, scope)
        assert all(scope.allows(item) for item in loaded.search(query, scope).items)


def test_a_case_whose_received_time_arrives_late_takes_its_place_in_the_order(loaded):
    early_facts = {**CASES[0], "id": "late", "received_at": None, "version": 1}
    loaded.index([indexed_case(early_facts)])
    loaded.index([indexed_case({**early_facts, "received_at": "2026-03-03T12:00:00+08:00", "version": 2})])
    assert ids(loaded.search(CaseQuery(q="卫生间"), Scope())) == ["late", "a1"]
    assert ids(loaded.search(CaseQuery(received_from="2026-03-03T00:00:00+08:00",
                                       received_to="2026-03-04T00:00:00+08:00"), Scope())) == ["late", "a3"]


def test_two_processes_writing_one_case_keep_the_newer_version(tmp_path):
    """Two search workers index the same case: one writes version 7 between the other's look at the
    stored version and its write of version 6. The look and the write are one transaction, so
    version 6 is refused (SQLite only: Elasticsearch compares external versions itself)."""
    older, newer = SqliteIndex(tmp_path / "search"), SqliteIndex(tmp_path / "search")
    try:
        older.index([indexed_case({**CASES[0], "version": 5})])
        racing = []

        def the_other_process_writes_first(statement: str) -> None:
            if statement.startswith("BEGIN") and not racing:
                racing.append(statement)
                newer.index([indexed_case({**CASES[0], "status": "resolved", "version": 7})])

        older._db().set_trace_callback(the_other_process_writes_first)
        older.index([indexed_case({**CASES[0], "status": "assigned", "version": 6})])
        assert racing, "the other process never got its turn"
        assert ids(older.search(CaseQuery(status="resolved"), Scope())) == ["a1"]
        assert ids(newer.search(CaseQuery(status="assigned"), Scope())) == []
    finally:
        older.close()
        newer.close()
