"""The analysis both backends share, and the Elasticsearch mapping and queries this repo generates."""
from __future__ import annotations

from fengqiao.search import CaseQuery, Scope, indexed_case, region_ancestors, region_prefix
from fengqiao.search.analysis import query_terms, snippet, tokens
from fengqiao.search.elastic import MAPPINGS, es_document, search_body, similar_body


def test_han_runs_become_bigrams_after_folding_and_other_runs_words():
    assert tokens("樓上漏水") == ["楼上", "上漏", "漏水"]
    assert tokens("欠薪3.5万元 ABC") == ["欠薪", "3", "5", "万元", "abc"]
    assert tokens("水") == ["水"]
    assert query_terms("  漏水  物業 漏水 ") == ["漏水", "物业"]


def test_snippets_mark_terms_in_the_original_characters():
    assert snippet("樓上漏水嚴重", ["漏水"]) == "樓上<em>漏水</em>嚴重"
    long = "前" * 100 + "欠薪" + "后" * 100
    cut = snippet(long, ["欠薪"])
    assert cut.startswith("…") and cut.endswith("…") and "<em>欠薪</em>" in cut and len(cut) < 100


def test_region_subtrees_and_ancestors_follow_the_code_structure():
    assert region_prefix("150100") == "1501" and region_prefix("150000") == "15"
    assert region_prefix("150102") == "150102" and region_prefix("150102001") == "150102001"
    assert region_ancestors("150102001001001") == ["150102001001001", "150102001001", "150102001", "150102",
                                                   "150100"]
    assert region_ancestors("150100") == ["150100"]


def test_the_mapping_uses_the_builtin_cjk_analyzer_and_covers_every_document_field():
    props = MAPPINGS["properties"]
    for field in ("text", "address", "names"):
        assert props[field] == {"type": "text", "analyzer": "cjk"}
    assert MAPPINGS["dynamic"] == "strict"
    doc = es_document(indexed_case({"id": "c1", "text": "樓上漏水，电话13900000001", "received_at":
                                    "2026-03-01T09:00:00+08:00", "reporter": {"name": "王某"},
                                    "phones": ["13900000001"]}))
    assert set(doc) <= set(props)
    assert doc["text"] == "楼上漏水，电话139****0001"  # folded, and the number masked before it leaves
    assert doc["shown_text"] == "樓上漏水，电话139****0001" and doc["tails"] == ["0001"]


def test_a_search_becomes_phrases_filters_and_a_scope():
    body = search_body(CaseQuery(q="漏水 0001", region="150100", category="property_mgmt", overdue=True,
                                 received_from="2026-03-01T00:00:00+08:00"),
                       Scope(regions=("150102", "150525"), units=("U1",)), None, 20)
    must = body["query"]["bool"]["must"]
    assert must[0] == {"bool": {"should": [{"match_phrase": {"text": "漏水"}}, {"match_phrase": {"address": "漏水"}},
                                           {"match_phrase": {"names": "漏水"}}], "minimum_should_match": 1}}
    assert {"term": {"tails": "0001"}} in must[1]["bool"]["should"]
    filters = body["query"]["bool"]["filter"]
    assert {"term": {"category": "property_mgmt"}} in filters and {"term": {"overdue": True}} in filters
    assert {"prefix": {"region_code": "1501"}} in filters
    assert {"range": {"received_at": {"gte": "2026-03-01T00:00:00+08:00"}}} in filters
    assert {"bool": {"should": [{"prefix": {"region_code": "150102"}}, {"prefix": {"region_code": "150525"}}],
                     "minimum_should_match": 1}} in filters
    assert {"terms": {"unit_id": ["U1"]}} in filters
    assert body["query"]["bool"]["must_not"] == [{"term": {"status": "merged"}}]
    assert body["sort"] == [{"seq": "desc"}] and body["size"] == 21 and body["track_total_hits"] == 10_000


def test_pages_continue_after_the_last_sort_key():
    body = search_body(CaseQuery(sort="due", status="assigned"), Scope(), ["2026-03-10T09:00:00+08:00", 42], 5)
    assert body["sort"] == [{"due_key": "asc"}, {"seq": "asc"}]
    assert body["search_after"] == ["2026-03-10T09:00:00+08:00", 42]
    assert body["query"]["bool"]["must_not"] == []  # asking for a status includes merged reports when asked


def test_similar_cases_are_more_like_this_among_earlier_cases_in_scope():
    body = similar_body("c9", 1234, Scope(regions=("150102",)), 10)
    mlt = body["query"]["bool"]["must"][0]["more_like_this"]
    assert mlt["like"] == [{"_index": "cases", "_id": "c9"}] and mlt["fields"] == ["text"]
    assert {"range": {"seq": {"lt": 1234}}} in body["query"]["bool"]["filter"]
    assert {"bool": {"should": [{"prefix": {"region_code": "150102"}}], "minimum_should_match": 1}} \
        in body["query"]["bool"]["filter"]


def test_a_merged_reports_words_are_not_searchable_in_elasticsearch_either():
    merged = es_document(indexed_case({"id": "r1", "text": "楼上漏水", "status": "merged", "received_at": None,
                                       "phones": ["13900000001"]}))
    assert merged["text"] == "" and merged["tails"] == [] and merged["shown_text"] == "楼上漏水"
