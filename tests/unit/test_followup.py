"""Follow-up rules on the embedded store with a fake clock: the visit after resolution, closing
only after a satisfied visit, reopening, and long-term monitoring's checks."""
from datetime import timedelta

import pytest

from fengqiao.clock import isoformat
from fengqiao.events import make_event
from fengqiao.ids import new_id
from fengqiao.lifecycle import IllegalTransition
from services.followup import followup


@pytest.fixture
def f(memory_store):
    return followup.Followup(followup.FOLLOWUPS.open(memory_store), followup.MONITORING.open(memory_store),
                             followup.VISIT_WATCHES.open(memory_store))


def resolved(clock, case_id, round_no=0):
    return make_event("case_resolved", case_id, {"resolution": "handled", "summary": "已处理", "by": "unit",
                                                 "resolved_at": isoformat(clock.now())},
                      occurred_at=clock.now(), discriminator=round_no)


def visit(f, clock, case_id, satisfaction="satisfied", solved=True):
    return followup.record_visit(f, case_id, method="phone", resolved=solved, satisfaction=satisfaction, notes="",
                                 by="staff", now=clock.now())


def test_a_visit_is_planned_seven_days_after_resolution_once(f, clock):
    case_id = new_id()
    planned = followup.plan_visit(f, resolved(clock, case_id))
    assert planned[0].data.due_at == isoformat(clock.now() + timedelta(days=7))
    assert followup.plan_visit(f, resolved(clock, case_id))[0].event_id == planned[0].event_id
    clock.advance(days=8)
    overdue = followup.check_visits(f, clock.now())
    assert [e.type for e in overdue] == ["followup_overdue"] and followup.check_visits(f, clock.now()) == []


def test_no_case_closes_without_a_satisfied_visit(f, clock):
    case_id = new_id()
    with pytest.raises(IllegalTransition, match="销账必回访") as unknown:
        followup.close(f, case_id, note="", by="staff", now=clock.now())
    assert unknown.value.state == "unresolved"
    followup.plan_visit(f, resolved(clock, case_id))
    with pytest.raises(IllegalTransition) as waiting:
        followup.close(f, case_id, note="", by="staff", now=clock.now())
    assert waiting.value.state == "awaiting_visit" and waiting.value.allowed == ["record_visit", "reopen"]
    assert [e.type for e in visit(f, clock, case_id, "basically_satisfied")] == ["followup_done"]
    assert followup.close(f, case_id, note="", by="staff", now=clock.now())[0].type == "case_closed"


@pytest.mark.parametrize("satisfaction, solved", [("unsatisfied", True), ("satisfied", False)])
def test_unsatisfied_or_unresolved_reopens_and_the_next_resolution_plans_a_new_visit(f, clock, satisfaction, solved):
    case_id = new_id()
    followup.plan_visit(f, resolved(clock, case_id))
    events = visit(f, clock, case_id, satisfaction, solved)
    assert [e.type for e in events] == ["followup_done", "case_reopened"]
    assert events[1].data.reopen_no == 1 and events[1].data.after_visit == 1
    with pytest.raises(IllegalTransition) as reopened:
        visit(f, clock, case_id)
    assert reopened.value.state == "reopened" and reopened.value.allowed == []
    second = followup.plan_visit(f, resolved(clock, case_id, round_no=1))
    assert second[0].data.visit_no == 2


def test_staff_reopen_a_closed_case(f, clock):
    case_id = new_id()
    followup.plan_visit(f, resolved(clock, case_id))
    visit(f, clock, case_id)
    followup.close(f, case_id, note="", by="staff", now=clock.now())
    events = followup.reopen(f, case_id, reason="群众再次来访反映", by="staff", now=clock.now())
    assert events[0].type == "case_reopened" and events[0].data.after_visit is None


def test_missed_monitoring_checks_alert_daily_until_done_or_released(f, clock):
    case_id = new_id()
    followup.start_monitoring(f, case_id, reason="volatile", interval_days=7, note="", by="staff", now=clock.now())
    with pytest.raises(IllegalTransition, match="已在长效管控中"):
        followup.start_monitoring(f, case_id, reason="volatile", interval_days=7, note="", by="staff",
                                  now=clock.now())
    clock.advance(days=6)
    assert followup.check_monitoring(f, clock.now()) == []
    clock.advance(days=1)
    assert [e.data.overdue_days for e in followup.check_monitoring(f, clock.now())] == [0]
    assert followup.check_monitoring(f, clock.now()) == []  # once a day
    clock.advance(days=1)
    assert [e.data.overdue_days for e in followup.check_monitoring(f, clock.now())] == [1]
    checked = followup.record_check(f, case_id, note="情绪稳定", by="grid", now=clock.now())
    assert checked[0].data.check_no == 1
    clock.advance(days=7)
    assert [e.data.check_no for e in followup.check_monitoring(f, clock.now())] == [2]
    followup.release(f, case_id, reason="已化解", by="staff", now=clock.now())
    clock.advance(days=30)
    assert followup.check_monitoring(f, clock.now()) == []
