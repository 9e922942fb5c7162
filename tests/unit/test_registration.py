from services.intake import registration
from tests.factories import report_submitted


def test_a_report_registers_one_case(memory_store, clock):
    cases = registration.CASES.open(memory_store)
    report = report_submitted(clock.now())
    result = registration.register(cases, report, clock.now())
    assert result.created
    assert result.event.type == "case_received" and result.event.case_id == report.case_id
    stored = cases.get(report.case_id)
    assert stored["number"] == "FQ-20260105-000001" and stored["reporter"]["phone"] == "13800001234"


def test_the_same_source_id_never_makes_a_second_case(memory_store, clock):
    cases = registration.CASES.open(memory_store)
    first = registration.register(cases, report_submitted(clock.now()), clock.now())
    clock.advance(minutes=5)
    # the same hotline order arriving again, even under another proposed case id
    again = registration.register(cases, report_submitted(clock.now()), clock.now())
    assert not again.created
    assert again.event == first.event
    assert cases.count() == 1


def test_a_redelivered_message_re_emits_the_same_event(memory_store, clock):
    cases = registration.CASES.open(memory_store)
    report = report_submitted(clock.now())
    first = registration.register(cases, report, clock.now())
    again = registration.register(cases, report, clock.now())
    assert again.event.event_id == first.event.event_id and not again.created


def test_other_channels_may_reuse_a_source_id(memory_store, clock):
    cases = registration.CASES.open(memory_store)
    registration.register(cases, report_submitted(clock.now(), channel="hotline_12345", source_id="1001"), clock.now())
    registration.register(cases, report_submitted(clock.now(), channel="police_110", source_id="1001"), clock.now())
    assert cases.count() == 2
