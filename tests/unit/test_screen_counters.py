"""The screen's counters, kept per event, equal a full recount of the case views."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from fengqiao.clock import CHINA_TZ, isoformat
from fengqiao.events import make_event
from fengqiao.metrics import CaseGauges
from fengqiao.search import Scope, region_prefix
from fengqiao.search.sqlite import SqliteIndex
from services.search import counters, projection, readmodel

TEXTS = ["来电反映楼上漏水，渗到我家天花板", "小区电梯又坏了，物业不修", "工地拖欠农民工工资三个月",
         "邻居家的狗半夜狂叫影响休息", "草场边界有争议，两户牧民吵起来", "广场舞音响太吵",
         "张建国反映王秀英占用楼道堆放杂物"]
REGIONS = ["150102", "150102001", "150102001001", "150102001001001", "150102002001", "150525100201", "510183"]
CATEGORIES = ["property_mgmt", "labor_wage", "neighbor", "marriage_family", "land"]
START = datetime(2026, 3, 1, 8, 0, tzinfo=CHINA_TZ)


@pytest.fixture
def read_side(memory_store, tmp_path):
    index = SqliteIndex(tmp_path / "search")
    yield projection.CASE_VIEWS.open(memory_store), counters.COUNTERS.open(memory_store), index
    index.close()


def life_of_a_case(rng: random.Random, n: int) -> list:
    """The events of one case, in the order they happened (stamped hours apart)."""
    case_id, at = f"case-{n:05d}", START + timedelta(hours=rng.randrange(0, 24 * 20))
    moments = iter(at + timedelta(hours=h) for h in range(0, 1000, 7))

    def event(kind, data, discriminator=None):
        return make_event(kind, case_id, data, occurred_at=next(moments), discriminator=discriminator)

    received = next(moments)
    events = [event("case_received", {
        "number": f"FQ-{n:06d}", "channel": rng.choice(["hotline_12345", "police_110", "grid", "petition"]),
        "source_id": f"S{n}", "text": rng.choice(TEXTS), "region_code": rng.choice(REGIONS),
        "received_at": isoformat(received)})]
    category, risk = rng.choice(CATEGORIES), rng.choice([1, 1, 2, 3])
    events.append(event("case_triaged", {"triage_no": 1, "category": category, "risk": risk, "reasons": ["关键词"],
                                         "confidence": 0.8}, 1))
    for no in range(1, rng.choice([2, 2, 3]) + 1):
        assigned = next(moments)
        events.append(make_event("case_assigned", case_id, {
            "assignment_no": no, "level": rng.choice(["county", "township", "village", "grid"]),
            "region_code": None, "unit_id": f"U{no}", "unit_name": "某单位", "category": category, "risk": risk,
            "reason": "属地管理", "kind": "auto" if no == 1 else "manual",
            "response_due_at": isoformat(assigned + timedelta(hours=rng.choice([4, 72])))},
            occurred_at=assigned, discriminator=no))
        if rng.random() < 0.3:  # the first response was missed (and may come late)
            events.append(event("case_overdue", {"deadline": "first_response", "due_at": isoformat(assigned),
                                                 "unit_id": f"U{no}", "unit_name": "某单位"}))
        if rng.random() < 0.5:
            at = next(moments)
            events.append(make_event("progress_reported", case_id, {"note": "已联系当事人", "by": "承办人",
                                                                    "reported_at": isoformat(at)},
                                     occurred_at=at, discriminator=isoformat(at)))
    if rng.random() < 0.3:
        events.append(event("case_overdue", {"deadline": "resolution", "due_at": isoformat(received),
                                             "unit_id": f"U{no}", "unit_name": "某单位"}))
    if rng.random() < 0.4:
        events.append(event("mediation_concluded", {"mediation_id": f"m-{n}", "outcome": rng.choice(
            ["no_agreement", "withdrawn"]), "reasons": "双方分歧较大", "by": "调解员"}))
    if rng.random() < 0.6:
        events.append(event("case_resolved", {"resolution": "handled", "summary": "已处理",
                                              "resolved_at": isoformat(next(moments)), "by": "u"}))
        satisfaction = rng.choice(["satisfied", "basically_satisfied", "unsatisfied"])
        events.append(event("followup_done", {"visit_no": 1, "method": "phone", "resolved": True,
                                              "satisfaction": satisfaction, "visited_at": isoformat(received),
                                              "by": "回访员"}, 1))
        if satisfaction == "unsatisfied":
            events.append(event("case_reopened", {"reopen_no": 1, "reason": "不满意", "by": "followup"}, 1))
        elif rng.random() < 0.7:
            events.append(event("case_closed", {"visit_no": 1, "closed_at": isoformat(received), "by": "u"}))
    return events


def a_mixed_stream(rng: random.Random, cases: int) -> list:
    """Every case's events interleaved, some delivered twice, some neighbours swapped."""
    lives = [life_of_a_case(rng, n) for n in range(cases)]
    stream = []
    while any(lives):
        life = rng.choice([life for life in lives if life])
        stream.append(life.pop(0))
        if rng.random() < 0.1:
            stream.append(stream[-1])  # at-least-once: delivered again
    for i in range(0, len(stream) - 1, 5):
        stream[i], stream[i + 1] = stream[i + 1], stream[i]  # and not always in order
    return stream


def recount(views, region: str | None) -> dict:
    """The figures counted afresh from every view, through store queries."""
    where = {} if region is None else {"region_code": {"$gte": region_prefix(region),
                                                      "$lt": region_prefix(region) + "\uffff"}}
    everything = views.find(where, limit=100_000).items
    live = [v for v in everything if v.get("received_at") and v["status"] not in (None, "merged")]
    open_ = [v for v in live if v["status"] != "closed"]

    def by(values):
        counted = {}
        for value in values:
            if value is not None:
                counted[str(value)] = counted.get(str(value), 0) + 1
        return counted

    concluded = [v for v in live if (v.get("mediation") or {}).get("outcome")]
    visited = [v for v in live if (v.get("followup") or {}).get("state") == "done"]
    return {
        "open": len(open_), "overdue": sum(1 for v in open_ if v.get("overdue")),
        "open_by": {"status": by(v["status"] for v in open_), "risk": by(v.get("risk") for v in open_),
                    "level": by((v.get("assignment") or {}).get("level") for v in open_),
                    "category": by(v.get("category") for v in open_), "channel": by(v["channel"] for v in open_)},
        "received_total": len(live),
        "resolved_total": sum(1 for v in live if v.get("resolution") and v["status"] in ("resolved", "closed")),
        "mediation": len(concluded),
        "satisfied": sum(1 for v in visited if v["followup"]["satisfaction"] != "unsatisfied"),
        "visited": len(visited),
        "resolved_at_visit": sum(1 for v in visited if v["followup"].get("resolved")),
        "performed": sum(1 for v in concluded if v["mediation"].get("state") == "performed"),
        "received_by_channel": by(v["channel"] for v in live),
        "response": _responses(live),
        "words": _words(live),
    }


def _responses(live: list[dict]) -> dict:
    answered = [r for v in live for r in [v.get("response") or {}] if r.get("responded_at") or r.get("missed")]
    on_time = sum(1 for r in answered if not r["missed"] and r["responded_at"] <= r["due_at"])
    return {"due": len(answered), "on_time": on_time}


def _words(live: list[dict]) -> Counter:
    """Each hour's word counts, as (hour, word) → cases, counted afresh from the views."""
    from fengqiao import screen
    from services.search import matters

    counted = Counter()
    for view in live:
        hour = screen.hour_of(datetime.fromisoformat(view["received_at"]))
        counted.update({(hour, word): 1 for word in [matters.CASES, *view["matters"]]})
    return counted


EVERYTHING = Scope()


def fold(views, screen, index, event) -> None:
    readmodel.index_views(index, readmodel.fold(views, screen, event))


def figures(screen, region: str | None, scope=EVERYTHING) -> dict:
    read = counters.read(screen, scope, region, "2026-03-10")
    return {"open": read["open"], "overdue": read["overdue"], "open_by": read["open_by"],
            "received_total": read["received_total"], "resolved_total": read["resolved_total"],
            "mediation": read["mediation"]["concluded"], "satisfied": read["followup"]["satisfied"],
            "visited": read["followup"]["visited"], "resolved_at_visit": read["followup"]["resolved"],
            "performed": read["mediation"]["performed"],
            "received_by_channel": channels_received(screen, scope, region),
            "response": {"due": read["response"]["due"], "on_time": read["response"]["on_time"]},
            "words": words_kept(screen, region)}


def words_kept(screen, region: str | None) -> Counter:
    """The hours' word counts the counters kept for a region."""
    from fengqiao import screen as wall

    kept = Counter()
    for doc in readmodel.every_view(screen):
        code, _, hour = doc["id"].partition(wall.WORDS)
        if hour and code == (region or wall.EVERYWHERE):
            kept.update({(hour, word): n for word, n in doc["counts"].items()})
    return kept


def channels_received(screen, scope, region) -> dict:
    """Received per channel over every day, summed from each day's figures."""
    summed = Counter()
    for day in {key.split(".")[1] for doc in readmodel.every_view(screen) for key in doc["counts"]
                if key.startswith("received_channel.")}:
        summed.update(counters.read(screen, scope, region, day)["received_today_by_channel"])
    return dict(summed)


def test_counters_equal_a_recount_after_thousands_of_mixed_events(read_side):
    views, screen, index = read_side
    stream = a_mixed_stream(random.Random(6), 500)
    assert len(stream) > 3000
    for event in stream:
        fold(views, screen, index, event)
    for region in (None, "150100", "150102", "150102001", "150102001001001", "150525", "510183"):
        assert figures(screen, region) == recount(views, region), region
    everywhere = figures(screen, None)
    assert everywhere["open"] > 100 and everywhere["resolved_total"] > 100 and everywhere["visited"] > 100
    assert 100 < everywhere["response"]["on_time"] < everywhere["response"]["due"]  # some late, some missed
    words = Counter()
    for (_, word), n in everywhere["words"].items():
        words[word] += n
    assert words["漏水"] > 20 and "张建国" not in words  # matters, never names
    assert index.count() == 500  # and every case reached the index


def test_a_crash_between_the_view_and_the_counters_is_repaired_by_the_redelivery(read_side):
    views, screen, index = read_side
    events = life_of_a_case(random.Random(1), 1)
    for event in events[:-1]:
        fold(views, screen, index, event)
    projection.apply(views, events[-1], stamp=counters.stamp)  # the view is written, then the process dies
    assert views.get(events[-1].case_id)["pending_counts"]
    fold(views, screen, index, events[-1])  # redelivered
    assert figures(screen, None) == recount(views, None)
    assert not views.get(events[-1].case_id)["pending_counts"]


def test_recount_repairs_counters_that_drifted(read_side):
    views, screen, index = read_side
    for event in a_mixed_stream(random.Random(3), 80):
        fold(views, screen, index, event)
    assert readmodel.drift(views, screen) == {}
    held = {doc_id: screen.get(doc_id)["counts"] for doc_id in ("all", "150102")}
    counters.add(screen, {"all": {"open": 5}, "150102": {"overdue": -2}})  # a double count, say
    assert figures(screen, None) != recount(views, None)
    assert readmodel.drift(views, screen) == {
        "all": {"open": (held["all"].get("open", 0) + 5, held["all"].get("open", 0))},
        "150102": {"overdue": (held["150102"].get("overdue", 0) - 2, held["150102"].get("overdue", 0))}}
    before = {doc["id"]: doc["version"] for doc in readmodel.every_view(screen)}
    readmodel.recount(views, screen)
    for region in (None, "150102", "510183"):
        assert figures(screen, region) == recount(views, region)
    assert readmodel.drift(views, screen) == {}
    # Versions go on rising, so the walls that hold the old counters take the repaired ones.
    assert all(screen.get(code)["version"] > version for code, version in before.items())


def test_rates_and_days_and_a_scope_of_several_regions(read_side):
    views, screen, index = read_side
    for event in a_mixed_stream(random.Random(2), 120):
        fold(views, screen, index, event)
    read = counters.read(screen, Scope(), None, "2026-03-10")
    assert len(read["per_day"]) == 7 and read["per_day"][-1]["day"] == "2026-03-10"
    followup = read["followup"]
    assert followup["satisfaction_rate"] == round(followup["satisfied"] / followup["visited"], 4)
    assert read["mediation"]["success_rate"] == 0.0  # none of these mediations reached an agreement
    assert read["grade3_open"] == read["open_by"]["risk"].get("3", 0)
    scoped = figures(screen, None, Scope(regions=("150102001", "150102", "510183")))  # 150102001 lies in 150102
    whole = [recount(views, r) for r in ("150102", "510183")]
    assert scoped["open"] == sum(w["open"] for w in whole)
    assert scoped["received_total"] == sum(w["received_total"] for w in whole)


def test_a_crash_inside_the_unit_of_work_leaves_neither_view_nor_counters_changed(memory_store, tmp_path):
    views, screen = projection.CASE_VIEWS.open(memory_store), counters.COUNTERS.open(memory_store)
    events = life_of_a_case(random.Random(4), 1)
    for event in events[:-1]:
        memory_store.atomically(lambda e=event: readmodel.fold(views, screen, e))
    before = (views.get(events[-1].case_id), figures(screen, None))

    def dies_after_folding():
        readmodel.fold(views, screen, events[-1])
        raise RuntimeError("the process dies before the commit")

    with pytest.raises(RuntimeError):
        memory_store.atomically(dies_after_folding)
    assert (views.get(events[-1].case_id), figures(screen, None)) == before
    memory_store.atomically(lambda: readmodel.fold(views, screen, events[-1]))  # redelivered
    assert figures(screen, None) == recount(views, None)


def test_the_case_gauges_read_the_counters_and_equal_a_recount(read_side):
    views, screen, index = read_side
    stream = list(a_mixed_stream(random.Random(4), 150))
    gauges = CaseGauges(lambda: screen.get(counters.EVERYWHERE)["counts"])
    for event in stream[:40]:
        fold(views, screen, index, event)
    gauges.refresh()
    for event in stream[40:]:
        fold(views, screen, index, event)
    gauges.refresh()
    open_ = [v for v in readmodel.every_view(views) if v["status"] not in ("merged", "closed")]
    expected = Counter(((v.get("assignment") or {}).get("level") or "none", str(v.get("risk") or "none"))
                       for v in open_)
    samples = {(s.labels["level"], s.labels["risk"]): s.value
               for metric in REGISTRY.collect() if metric.name == "fengqiao_cases_open" for s in metric.samples}
    # A pair whose last open case went away between the refreshes reads 0, not its old figure.
    assert {pair: n for pair, n in samples.items() if n} == expected and sum(samples.values()) == len(open_) > 20
    assert REGISTRY.get_sample_value("fengqiao_cases_overdue") == sum(1 for v in open_ if v.get("overdue"))
    assert REGISTRY.get_sample_value("fengqiao_cases_grade3_open") == sum(1 for v in open_ if v.get("risk") == 3)
