from fengqiao.events import make_event
from services.search import projection
from tests.factories import case_received


def assigned(case_id, now, no=1, unit=("center-150102", "新城区综治中心", "county")):
    return make_event("case_assigned", case_id, {
        "assignment_no": no, "level": unit[2], "region_code": "150102", "unit_id": unit[0],
        "unit_name": unit[1], "category": "other", "risk": 1, "reason": "属地管理：新城区",
    }, occurred_at=now, discriminator=no)


def changed(touched) -> bool:
    return any(was_changed for _, was_changed in touched)


def test_received_then_assigned_builds_the_view(memory_store, clock):
    views = projection.CASE_VIEWS.open(memory_store)
    received = case_received(clock.now())
    clock.advance(seconds=2)
    assert changed(projection.apply(views, received))
    assert changed(projection.apply(views, assigned(received.case_id, clock.now())))
    view = projection.public_view(views.get(received.case_id))
    assert view["status"] == "assigned"
    assert view["assignment"]["unit_name"] == "新城区综治中心"
    assert [e["title"] for e in view["timeline"]] == ["受理登记", "分派"]
    assert "applied_events" not in view


def test_replaying_events_changes_nothing(memory_store, clock):
    views = projection.CASE_VIEWS.open(memory_store)
    received = case_received(clock.now())
    events = [received, assigned(received.case_id, clock.advance(seconds=1))]
    for event in events:
        projection.apply(views, event)
    before = views.get(received.case_id)
    assert not any(changed(projection.apply(views, event)) for event in events)
    assert views.get(received.case_id) == before


def test_a_late_event_does_not_move_the_case_backwards(memory_store, clock):
    views = projection.CASE_VIEWS.open(memory_store)
    received = case_received(clock.now())
    late_assignment = assigned(received.case_id, clock.advance(seconds=3))
    projection.apply(views, late_assignment)  # arrives first
    projection.apply(views, received)
    view = views.get(received.case_id)
    assert view["status"] == "assigned"
    assert view["text"] == "来电人反映：楼上住户卫生间长期漏水。"
    assert [e["type"] for e in view["timeline"]] == ["case_received", "case_assigned"]


def test_an_older_assignment_does_not_replace_a_newer_one(memory_store, clock):
    views = projection.CASE_VIEWS.open(memory_store)
    received = case_received(clock.now())
    first = assigned(received.case_id, clock.advance(minutes=1), no=1)
    second = assigned(received.case_id, clock.advance(hours=1), no=2, unit=("triage-desk", "综治中心分流台", "city"))
    for event in (received, second, first):
        projection.apply(views, event)
    assert views.get(received.case_id)["assignment"]["unit_id"] == "triage-desk"


def test_events_stamped_with_the_same_time_keep_the_lifecycle_order(memory_store, clock):
    views = projection.CASE_VIEWS.open(memory_store)
    received = case_received(clock.now())
    same_time = assigned(received.case_id, clock.now())
    projection.apply(views, same_time)
    projection.apply(views, received)
    view = views.get(received.case_id)
    assert view["status"] == "assigned"
    assert [e["type"] for e in view["timeline"]] == ["case_received", "case_assigned"]
