import pytest

from fengqiao.events import InvalidEvent, make_event, parse_event

ASSIGNED = {"assignment_no": 1, "level": "county", "region_code": "150102", "unit_id": "u1",
            "unit_name": "新城区综治中心", "category": "other", "risk": 1, "reason": "属地管理"}


def test_the_same_fact_always_has_the_same_event_id():
    first = make_event("case_assigned", "c1", ASSIGNED, "2026-01-05T09:00:00.000Z", discriminator=1)
    again = make_event("case_assigned", "c1", ASSIGNED, "2026-01-05T09:00:00.000Z", discriminator=1)
    other = make_event("case_assigned", "c1", {**ASSIGNED, "assignment_no": 2}, "2026-01-05T09:00:00.000Z", 2)
    assert first.event_id == again.event_id != other.event_id


def test_envelope_round_trips():
    event = make_event("case_assigned", "c1", ASSIGNED, "2026-01-05T09:00:00.000Z", 1)
    message = event.to_message()
    assert set(message) == {"event_id", "type", "version", "source", "case_id", "occurred_at", "data"}
    assert message["source"] == "routing" and message["version"] == 1
    assert parse_event(message, "case_assigned") == event


@pytest.mark.parametrize("mutate, reason", [
    (lambda m: m.pop("event_id"), "lacks"),
    (lambda m: m.update(type="case_received"), "expected case_assigned v1"),
    (lambda m: m.update(version=7), "expected case_assigned v1"),
    (lambda m: m["data"].update(risk=9), "risk"),
    (lambda m: m["data"].update(level="province"), "level"),
])
def test_malformed_envelopes_are_invalid_events(mutate, reason):
    message = make_event("case_assigned", "c1", ASSIGNED, "2026-01-05T09:00:00.000Z", 1).to_message()
    mutate(message)
    with pytest.raises(InvalidEvent, match=reason):
        parse_event(message, "case_assigned")


def test_a_non_object_is_an_invalid_event():
    with pytest.raises(InvalidEvent, match="must be an object"):
        parse_event(["not", "an", "envelope"], "case_received")
