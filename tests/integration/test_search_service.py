"""The search service's methods with injected dependencies (nameko's worker_factory)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from nameko.testing.services import worker_factory

from fengqiao.bus.dependencies import Collections, Emit, LocalEmitter
from fengqiao.search.sqlite import SqliteIndex
from services.search import counters, projection
from services.search.counters import OutOfScope
from services.search.service import SearchService
from tests.factories import case_received


@pytest.fixture
def published():
    return []


@pytest.fixture
def search(memory_store, tmp_path, clock, published):
    index = SqliteIndex(tmp_path / "search")
    yield worker_factory(SearchService, store=Collections(memory_store, (projection.CASE_VIEWS, counters.COUNTERS)),
                         index=index, clock=clock, emit=Emit(LocalEmitter(memory_store, published.append)))
    index.close()


def test_events_become_searchable_cases_and_counted_figures(search, clock, published):
    inside = case_received(clock.now(), region_code="150102001001", source_id="A")
    outside = case_received(clock.now() + timedelta(minutes=1), region_code="150525", source_id="B")
    for event in (inside, outside, inside):  # the first one delivered twice
        search.project_intake_events([event.to_message()])
    # Each new fact has its public copy and a notice of the counters it moved; the redelivery adds none.
    assert [(m.exchange, m.routing_key) for m in published] == [
        ("fengqiao.public", "cn.fengqiao.case.received.150102.unknown"), ("fengqiao.screen", "counters"),
        ("fengqiao.public", "cn.fengqiao.case.received.150525.unknown"), ("fengqiao.screen", "counters")]
    first, second = (m.body["counters"] for m in published if m.exchange == "fengqiao.screen")
    assert sorted(first) == ["150100", "150102", "150102001", "150102001001", "all"]
    assert sorted(second) == ["150500", "150525", "all"]
    assert first["all"]["counts"]["open"] == 1 and second["all"]["counts"]["open"] == 2
    assert second["all"]["version"] > first["all"]["version"]  # a wall keeps the newer of two notices
    assert search.screen_counters(["150102", "150199"]) == {
        "150102": first["150102"], "150199": {"version": 0, "counts": {}}}
    page = search.search_cases({"q": "漏水"}, None)
    assert [item["id"] for item in page["items"]] == [outside.case_id, inside.case_id]
    assert "<em>漏水</em>" in page["items"][0]["snippet"]
    county = {"regions": ["150102"], "units": None}
    assert [i["id"] for i in search.search_cases({"q": "漏水"}, county)["items"]] == [inside.case_id]
    assert search.stats(None, None)["open"] == 2
    assert search.stats(None, county)["open"] == 1
    assert search.stats("150102001", county)["received_total"] == 1
    with pytest.raises(OutOfScope):
        search.stats("150525", county)
    with pytest.raises(OutOfScope, match="per region"):  # figures of a whole region would show other units
        search.stats(None, {"regions": ["150102"], "units": ["center-150102"]})
    assert [i["id"] for i in search.similar_cases(outside.case_id, None)] == [inside.case_id]
    assert search.similar_cases(inside.case_id, None) == []  # nothing came before it
