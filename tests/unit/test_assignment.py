"""Routing rules on the embedded store with a fake clock: levels, leads, legal transfers,
returns and problem cases, manual reassignment, re-grading after merges, deadlines."""
from datetime import timedelta

import pytest

from fengqiao.clock import isoformat
from fengqiao.directory import Directory
from fengqiao.events import make_event
from fengqiao.ids import new_id
from fengqiao.settings import DEFAULT_DIRECTORY
from fengqiao.store.sqlite import SqliteStore
from services.routing import assignment, deadlines

DIRECTORY = Directory.load(DEFAULT_DIRECTORY)
POLICY = deadlines.Policy.load()


@pytest.fixture
def routing(memory_store):
    return assignment.Routing(assignment.ROUTINGS.open(memory_store), deadlines.DEADLINES.open(memory_store),
                              DIRECTORY, POLICY)


def received(now, text, region="150102001001", channel="hotline_12345", facts=None, headcount=None, amounts=()):
    return make_event("case_received", new_id(), {
        "number": "FQ-1", "channel": channel, "source_id": new_id(), "text": text, "text_simplified": text,
        "region_code": region, "facts": facts or {}, "headcount": headcount, "amounts": list(amounts),
        "received_at": isoformat(now),
    }, occurred_at=now)


def assigned(events):
    return [e for e in events if e.type == "case_assigned"][-1].data


@pytest.mark.parametrize("text, region, unit, level", [
    ("来电人反映楼上漏水，天花板发霉，协商无果。", "150102001001", "committee-150102001001", "village"),
    ("来电人反映在医院做手术后感染，医院拒不承认过错。", "150102001001", "ic-150102-medical", "county"),
    ("来电人咨询办理居住证需要哪些材料。", "150102001001", "triage-desk", "city"),
    ("邻居因排水沟问题扬言要拿刀砍死他全家。", "150102001001", "center-150102", "county"),
    ("两户因院墙推搡，无人受伤。", "150525100202", "center-150525100", "township"),
    ("草场纠纷", None, "triage-desk", "city"),
])
def test_cases_go_to_the_right_unit_at_the_right_level(routing, clock, text, region, unit, level):
    events = assignment.receive(routing, received(clock.now(), text, region), clock.now())
    assert [e.type for e in events] == ["case_triaged", "case_assigned"]
    data = assigned(events)
    assert (data.unit_id, data.level) == (unit, level), data.reason


def test_grade_three_has_a_named_lead_and_support(routing, clock):
    data = assigned(assignment.receive(routing, received(clock.now(), "老板欠薪半年，他说不想活了。"), clock.now()))
    assert data.unit_name == "新城区综治中心" and data.lead and "（" in data.lead
    assert data.support and data.support[0].unit_id.endswith("labor_wage")
    assert "包案" in data.reason


def test_legal_matters_are_transferred_with_a_reason(routing, clock):
    case = received(clock.now(), "工资纠纷我已经申请仲裁了，想问问进度。")
    data = assigned(assignment.receive(routing, case, clock.now()))
    assert data.disposition == "legal_transfer" and "仲裁" in data.reason


def test_a_repeat_of_the_same_event_re_emits_the_decision(routing, clock):
    case = received(clock.now(), "楼上漏水")
    first = assignment.receive(routing, case, clock.now())
    assert assignment.receive(routing, case, clock.now() + timedelta(hours=1)) == first


def test_a_chunk_is_routed_as_each_case_alone_and_a_case_twice_in_it_once(routing, clock):
    texts = ["来电人反映楼上漏水，天花板发霉，协商无果。", "邻居因排水沟问题扬言要拿刀砍死他全家。",
             "来电人咨询办理居住证需要哪些材料。"]
    cases = [received(clock.now(), text) for text in texts]
    chunk = assignment.receive_many(routing, [*cases, cases[1]], clock.now())
    assert [(e.type, e.case_id) for e in chunk] == [
        (kind, case.case_id) for case in [*cases, cases[1]] for kind in ("case_triaged", "case_assigned")]
    assert chunk[-2:] == chunk[2:4]  # the repeat re-emits the decision, with the same event ids
    assert routing.routings.count() == 3
    # Triaged together, each is graded and assigned as it would be alone.
    elsewhere = SqliteStore(":memory:")
    alone = assignment.Routing(assignment.ROUTINGS.open(elsewhere), deadlines.DEADLINES.open(elsewhere),
                               DIRECTORY, POLICY)
    for i, case in enumerate(cases):
        alone_events = assignment.receive(alone, case, clock.now())
        assert [e.data for e in alone_events] == [e.data for e in chunk[2 * i:2 * i + 2]]
    elsewhere.close()


def test_returns_reassign_then_the_third_escalates_a_problem_case(routing, clock):
    case = received(clock.now(), "来电人反映在医院做手术后感染，医院拒不承认过错。")
    assignment.receive(routing, case, clock.now())
    first = assignment.return_case(routing, case.case_id, "非本单位职责", "unit-a", clock.now())
    assert [e.type for e in first] == ["case_returned", "case_assigned"]
    assert assigned(first).unit_id != "ic-150102-medical" and assigned(first).kind == "return"
    second = assignment.return_case(routing, case.case_id, "不属于本村", "unit-b", clock.now())
    assert [e.type for e in second][0] == "case_returned"
    third = assignment.return_case(routing, case.case_id, "仍不属于", "unit-c", clock.now())
    types = [e.type for e in third]
    assert types == ["case_returned", "case_escalated", "case_assigned"]
    escalated = third[1].data
    assert escalated.kind == "problem_case" and "提级督办" in escalated.reason
    assert routing.routings.get(case.case_id)["problem_case"] is True


def test_dispatchers_reassign_by_hand_and_unknown_units_are_refused(routing, clock):
    case = received(clock.now(), "楼上漏水")
    assignment.receive(routing, case, clock.now())
    events = assignment.reassign_by_hand(routing, case.case_id, "center-150102001", "需街道统筹", "dispatcher-1",
                                         clock.now())
    data = assigned(events)
    assert (data.unit_id, data.kind, data.by) == ("center-150102001", "manual", "dispatcher-1")
    with pytest.raises(assignment.RoutingRefused, match="no unit"):
        assignment.reassign_by_hand(routing, case.case_id, "nowhere", "x", "d", clock.now())
    with pytest.raises(assignment.CaseNotRouted):
        assignment.return_case(routing, "missing", "x", "d", clock.now())


def test_a_third_report_of_the_incident_raises_the_grade_and_the_level(routing, clock):
    case = received(clock.now(), "楼上漏水，天花板发霉")
    assignment.receive(routing, case, clock.now())
    assert assignment.regrade_after_merge(routing, case.case_id, 2, clock.now()) == []
    events = assignment.regrade_after_merge(routing, case.case_id, 3, clock.now())
    assert [e.type for e in events] == ["case_triaged", "case_assigned"]
    assert events[0].data.risk == 2 and "第3次反映" in " ".join(events[0].data.reasons)
    assert assigned(events).level == "township" and assigned(events).kind == "regrade"


def test_deadlines_warn_at_48_and_24_hours_then_go_overdue_and_escalate(routing, clock):
    start = clock.now()
    case = received(start, "楼上漏水")
    assignment.receive(routing, case, start)  # first response due in 72 h
    assert assignment.check_deadlines(routing, start + timedelta(hours=23)) == []
    warned = assignment.check_deadlines(routing, start + timedelta(hours=24))
    assert [(e.type, e.data.hours_left, e.data.deadline) for e in warned] == [
        ("deadline_warning", 48, "first_response")]
    assert assignment.check_deadlines(routing, start + timedelta(hours=30)) == []
    assert [e.data.hours_left for e in assignment.check_deadlines(routing, start + timedelta(hours=48))] == [24]
    overdue = assignment.check_deadlines(routing, start + timedelta(hours=72))
    assert [e.type for e in overdue] == ["case_overdue", "case_escalated", "case_assigned"]
    assert overdue[1].data.kind == "overdue" and overdue[2].data.unit_id == "center-150102001"
    assert assignment.check_deadlines(routing, start + timedelta(hours=73)) == []  # nothing fires twice


def test_progress_meets_the_first_response_and_starts_the_weekly_clock(routing, clock):
    start = clock.now()
    case = received(start, "楼上漏水")
    assignment.receive(routing, case, start)
    assignment.report_progress(routing, case.case_id, "已上门了解情况", "unit", start + timedelta(hours=5))
    due = routing.deadlines.find({"case_id": case.case_id, "state": "open"}).items
    assert sorted(d["kind"] for d in due) == ["progress_update", "resolution"]
    later = assignment.check_deadlines(routing, start + timedelta(hours=5 + 168))
    assert [e.type for e in later][0] == "case_overdue" and later[0].data.deadline == "progress_update"


def test_grade_three_is_due_within_hours_without_stale_warnings(routing, clock):
    start = clock.now()
    case = received(start, "他说要拿刀去找邻居拼命。")
    assignment.receive(routing, case, start)
    first = routing.deadlines.get(f"{case.case_id}/first_response/1")
    assert first["due_at"] == isoformat(start + timedelta(hours=4)) and first["warnings_left"] == []


def test_the_policy_prefers_the_most_specific_rule():
    assert POLICY.hours("first_response", "petition", "land", 1) == 360
    assert POLICY.hours("first_response", "petition", "land", 3) == 4
    assert POLICY.hours("resolution", "hotline_12345", "land", 2) == 720
