"""The wall's hot matters, cases due within 24 hours and 响应率, from folded events."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from fengqiao.clock import CHINA_TZ, isoformat
from fengqiao.events import make_event
from fengqiao.search import Scope
from services.search import counters, matters, projection, queries, readmodel

NOW = datetime(2026, 12, 1, 15, 30, tzinfo=CHINA_TZ)


@pytest.fixture
def read_side(memory_store):
    return projection.CASE_VIEWS.open(memory_store), counters.COUNTERS.open(memory_store)


def received(views, screen, n: int, text: str, at: datetime, region: str = "150102001") -> str:
    case_id = f"case-{n:05d}"
    readmodel.fold(views, screen, make_event("case_received", case_id, {
        "number": f"FQ-{n:06d}", "channel": "hotline_12345", "source_id": f"S{n}", "text": text,
        "region_code": region, "received_at": isoformat(at)}, occurred_at=at))
    return case_id


def assigned(views, screen, case_id: str, at: datetime, response_hours: float | None, resolution_days: float = 30,
             no: int = 1) -> None:
    readmodel.fold(views, screen, make_event("case_assigned", case_id, {
        "assignment_no": no, "level": "township", "region_code": "150102001", "unit_id": f"U{no}",
        "unit_name": "海拉尔东路街道", "category": "property_mgmt", "risk": 1, "reason": "属地管理",
        "due_at": isoformat(at + timedelta(days=resolution_days)),
        "response_due_at": isoformat(at + timedelta(hours=response_hours)) if response_hours else None},
        occurred_at=at, discriminator=no))


def progress(views, screen, case_id: str, at: datetime) -> None:
    readmodel.fold(views, screen, make_event("progress_reported", case_id, {
        "note": "已电话联系", "by": "承办人", "reported_at": isoformat(at)}, occurred_at=at,
        discriminator=isoformat(at)))


def overdue(views, screen, case_id: str, deadline: str, at: datetime) -> None:
    readmodel.fold(views, screen, make_event("case_overdue", case_id, {
        "deadline": deadline, "due_at": isoformat(at), "unit_id": "U1", "unit_name": "海拉尔东路街道"},
        occurred_at=at))


def test_a_word_that_rose_today_outranks_one_that_is_always_there():
    week = Counter({matters.CASES: 700, "漏水": 70, "电梯": 7, "停水": 0})
    today = Counter({matters.CASES: 100, "漏水": 10, "电梯": 5, "停水": 15, "噪音": 2})
    hot = matters.hot(today, week)
    assert hot["basis"] == "week"
    assert [m["word"] for m in hot["matters"]] == ["停水", "电梯"]  # 漏水 is as usual; 噪音 too few to tell
    assert hot["matters"][0]["cases"] == 15 and hot["matters"][1]["week_daily"] == 1.0


def test_without_a_week_before_the_words_are_ranked_by_their_cases():
    hot = matters.hot(Counter({matters.CASES: 40, "漏水": 9, "停水": 9, "开始": 9, "电梯": 2}), Counter())
    assert hot["basis"] == "recent"
    assert [m["word"] for m in hot["matters"]][-1] == "开始"  # as often, but said of everything


def test_the_last_24_hours_are_weighed_against_the_week_before_from_the_counters(read_side):
    views, screen = read_side
    n = 0
    for day in range(1, 8):  # the week before: lifts break down now and then, water never
        for k in range(6):
            n += 1
            text = "电梯又坏了，困在里面" if k == 0 else "楼上漏水渗到天花板"
            received(views, screen, n, text, NOW - timedelta(days=day, hours=2))
    for k in range(8):  # today: the water is off all over the township
        n += 1
        received(views, screen, n, "小区突然停水，老人没水喝" if k < 5 else "楼上漏水渗到天花板",
                 NOW - timedelta(hours=k * 2))
    n += 1
    received(views, screen, n, "停水两天了", NOW - timedelta(days=20))  # long ago: in neither window
    hot = counters.hot_matters(screen, ["150102"], NOW)
    assert hot["basis"] == "week" and hot["matters"][0]["word"] == "停水"
    assert hot["matters"][0]["cases"] == 5 and hot["matters"][0]["week_daily"] == 0.0
    assert "漏水" not in [m["word"] for m in hot["matters"]]
    assert counters.hot_matters(screen, ["150525"], NOW) == {"basis": "recent", "matters": []}  # elsewhere
    assert counters.read(screen, Scope(), None, "2026-12-01")["received_total"] == n  # figures unaffected


def test_the_first_response_counts_on_time_late_or_missed(read_side):
    views, screen = read_side
    start = NOW - timedelta(days=5)
    on_time, late, missed, waiting, by_resolution = (received(views, screen, n, "楼道堆物", start) for n in range(5))
    for case_id in (on_time, late, missed, waiting, by_resolution):
        assigned(views, screen, case_id, start, response_hours=72)
    progress(views, screen, on_time, start + timedelta(hours=20))
    overdue(views, screen, late, "first_response", start + timedelta(hours=72))
    progress(views, screen, late, start + timedelta(hours=80))
    overdue(views, screen, missed, "first_response", start + timedelta(hours=72))
    readmodel.fold(views, screen, make_event("case_resolved", by_resolution, {
        "resolution": "handled", "summary": "已清理", "resolved_at": isoformat(start + timedelta(hours=30)),
        "by": "承办人"}, occurred_at=start + timedelta(hours=30)))
    response = counters.read(screen, Scope(), None, "2026-12-01")["response"]
    assert response == {"due": 4, "on_time": 2, "rate": 0.5}  # the one still waiting is not due yet
    # A new unit owes its own first response: the case waits again, so it is not due.
    assigned(views, screen, on_time, start + timedelta(days=2), response_hours=72, no=2)
    assert counters.read(screen, Scope(), None, "2026-12-01")["response"]["due"] == 3


def test_due_within_24_hours_counts_the_next_deadline_still_owed(read_side):
    views, screen = read_side
    start = NOW - timedelta(hours=60)
    answer_soon = received(views, screen, 1, "楼道堆物", start)
    answered = received(views, screen, 2, "楼道堆物", start)
    resolve_soon = received(views, screen, 3, "楼道堆物", start)
    late = received(views, screen, 4, "楼道堆物", start)
    elsewhere = received(views, screen, 5, "楼道堆物", start, region="150525100201")
    for case_id in (answer_soon, answered, late, elsewhere):
        assigned(views, screen, case_id, start, response_hours=72)  # due in 12 h
    assigned(views, screen, resolve_soon, start, response_hours=None, resolution_days=3)  # due in 12 h
    progress(views, screen, answered, start + timedelta(hours=1))  # now only the resolution, in 27 days
    overdue(views, screen, late, "resolution", NOW - timedelta(hours=1))
    assert projection.next_due(views.get(answered)) == isoformat(start + timedelta(days=30))
    assert queries.due_soon(views, ["150102"], NOW) == 2
    assert queries.due_soon(views, ["all"], NOW) == 3
    assert queries.due_soon(views, ["150102"], NOW, hours=6) == 0


def test_the_first_response_holds_when_events_arrive_out_of_order(read_side):
    views, screen = read_side
    start = NOW - timedelta(days=5)
    early_answer = received(views, screen, 1, "楼道堆物", start)
    stale_overdue = received(views, screen, 2, "楼道堆物", start)
    progress(views, screen, early_answer, start + timedelta(hours=3))  # delivered before its assignment
    assigned(views, screen, early_answer, start + timedelta(hours=1), response_hours=72)
    assert views.get(early_answer)["response"]["responded_at"] == isoformat(start + timedelta(hours=3))
    assigned(views, screen, stale_overdue, start, response_hours=72)
    assigned(views, screen, stale_overdue, start + timedelta(days=3), response_hours=72, no=2)  # the same unit id
    overdue(views, screen, stale_overdue, "first_response", start + timedelta(hours=72))  # the first one's, late
    assert not views.get(stale_overdue)["response"]["missed"]
    assert counters.read(screen, Scope(), None, "2026-12-01")["response"] == {"due": 1, "on_time": 1, "rate": 1.0}


def test_recount_gives_views_of_an_older_version_their_words_and_next_deadline(read_side):
    views, screen = read_side
    case_id = received(views, screen, 1, "小区突然停水，老人没水喝", NOW - timedelta(hours=2))
    assigned(views, screen, case_id, NOW - timedelta(hours=1), response_hours=72)
    old = views.get(case_id)
    views.update(case_id, {"matters": None}, expected_version=old["version"])
    older = views.get(case_id)
    del older["next_due_at"]
    views.delete(case_id)
    views.insert({k: v for k, v in older.items() if k != "version"})
    readmodel.recount(views, screen)
    mended = views.get(case_id)
    assert "停水" in mended["matters"] and mended["next_due_at"] == old["next_due_at"]
    assert counters.hot_matters(screen, ["all"], NOW, min_cases=1)["matters"]
