from datetime import timedelta

import pytest

from fengqiao.clock import isoformat
from fengqiao.directory import Directory
from fengqiao.settings import DEFAULT_DIRECTORY
from services.intake import registration
from services.intake.places import RegionResolver
from tests.factories import report_submitted
from tests.ledger_factory import estate

RESOLVER = RegionResolver(Directory.load(DEFAULT_DIRECTORY))


@pytest.fixture
def intake(memory_store):
    return registration.Intake(registration.REPORTS.open(memory_store), registration.CASES.open(memory_store),
                              registration.POSTINGS.open(memory_store))


def register(intake, report, now):
    return registration.register(intake, report, RESOLVER.place(report.data.region_code, report.data.address), now)


def test_a_first_report_opens_a_case_with_cleaned_fields(intake, clock):
    report = report_submitted(clock.now(), text="工頭跑了，欠二十多名工人工資三萬五千元，聯繫電話13912345678。",
                              region_code=None, address="奈曼旗大沁他拉镇西湖村")
    result = register(intake, report, clock.now())
    assert result.created and result.event.type == "case_received"
    data = result.event.data
    assert data.text.startswith("工頭跑了")  # the original is untouched
    assert data.text_simplified.startswith("工头跑了")
    assert data.phones == ["13800001234", "13912345678"]
    assert data.amounts == [35000.0] and data.headcount == 20
    assert (data.region_code, data.region_source) == ("150525100202", "address")
    assert intake.cases.get(report.case_id)["report_count"] == 1


def test_an_explicit_region_code_wins_over_the_address(intake, clock):
    report = report_submitted(clock.now(), region_code="150105", address="奈曼旗大沁他拉镇西湖村")
    data = register(intake, report, clock.now()).event.data
    assert (data.region_code, data.region_source) == ("150105", "payload")


def test_the_same_source_id_never_makes_a_second_case(intake, clock):
    first = register(intake, report_submitted(clock.now()), clock.now())
    clock.advance(minutes=5)
    # the same hotline order arriving again, even under another proposed case id
    again = register(intake, report_submitted(clock.now()), clock.now())
    assert not again.created and again.event == first.event
    assert intake.cases.count() == 1 and intake.reports.count() == 1


def test_a_report_of_the_same_incident_merges_and_explains_why(intake, clock):
    first = report_submitted(clock.now(), source_id="H-1")
    register(intake, first, clock.now())
    clock.advance(days=1)
    again = report_submitted(clock.now(), channel="grid", source_id="WG-9", phone="138****1234",
                             text="網格員走訪時住戶反映樓上衛生間漏水兩個月，天花板發黴，協商無果。",
                             address="清泉街社区3号楼2单元", region_code=None)
    result = register(intake, again, clock.now())
    assert result.created and result.event.type == "case_merged"
    assert result.event.case_id == first.case_id
    assert result.event.data.report_count == 2
    # the merged report keeps what it was received as (an Open311 request shows it)
    assert result.event.data.report.received_at == isoformat(clock.now())
    assert {s.name for s in result.event.data.signals} >= {"matter", "kind", "phone", "building"}
    case = intake.cases.get(first.case_id)
    assert [r["report_id"] for r in case["reports"]] == [first.case_id, again.case_id]
    assert intake.cases.get(again.case_id) is None
    # redelivery re-emits the same merge
    assert register(intake, again, clock.now()).event == result.event


def test_a_neighbouring_flat_is_not_the_same_incident(intake, clock):
    register(intake, report_submitted(clock.now(), source_id="H-1"), clock.now())
    other_flat = report_submitted(clock.now(), source_id="H-2", phone="13900009999",
                                  address="呼和浩特市新城区海拉尔东路街道清泉街社区3号楼2单元502")
    assert register(intake, other_flat, clock.now()).event.type == "case_received"


def test_the_same_flat_number_in_another_stairwell_is_another_home(intake, clock):
    register(intake, report_submitted(clock.now(), source_id="H-1"), clock.now())  # 3号楼2单元501
    other_stairwell = report_submitted(clock.now(), source_id="H-2", phone="13900009999",
                                       address="呼和浩特市新城区海拉尔东路街道清泉街社区3号楼1单元501")
    outcome = register(intake, other_stairwell, clock.now()).event
    assert outcome.type == "case_received"
    # A report that leaves the stairwell out may still be the same home.
    no_stairwell = report_submitted(clock.now(), channel="grid", source_id="WG-3", phone=None,
                                    text="网格员走访发现3号楼501室楼上卫生间漏水两个月，天花板发霉。",
                                    address="清泉街社区3号楼501室", region_code=None)
    merged = register(intake, no_stairwell, clock.now()).event
    assert merged.type == "case_merged"  # into either: it cannot tell them apart


def test_the_same_caller_a_year_later_is_a_new_case(intake, clock):
    register(intake, report_submitted(clock.now(), source_id="H-1"), clock.now())
    clock.advance(days=365)
    assert register(intake, report_submitted(clock.now(), source_id="H-2"), clock.now()).event.type == "case_received"


def test_unmerge_restores_the_report_as_its_own_case_and_keeps_them_apart(intake, clock):
    first = report_submitted(clock.now(), source_id="H-1")
    register(intake, first, clock.now())
    second = report_submitted(clock.now() + timedelta(hours=2), source_id="H-2")
    register(intake, second, clock.now())
    events = registration.unmerge(intake, first.case_id, second.case_id, "staff-7", "不同住户", clock.now())
    assert [e.type for e in events] == ["case_unmerged", "case_received"]
    assert events[1].case_id == second.case_id
    assert intake.cases.get(first.case_id)["report_count"] == 1
    assert intake.cases.get(second.case_id)["report_count"] == 1
    # asking again replays the same events
    assert registration.unmerge(intake, first.case_id, second.case_id, "staff-7", "不同住户", clock.now()) == events
    third = report_submitted(clock.now() + timedelta(hours=3), source_id="H-3")
    assert register(intake, third, clock.now()).event.case_id in {first.case_id, second.case_id}


def test_unmerge_refusals_name_the_rule(intake, clock):
    first = report_submitted(clock.now(), source_id="H-1")
    register(intake, first, clock.now())
    with pytest.raises(registration.UnmergeRefused, match="own first report"):
        registration.unmerge(intake, first.case_id, first.case_id, "s", "r", clock.now())
    lonely = report_submitted(clock.now(), source_id="H-9", region_code="510183", text="另一件事")
    register(intake, lonely, clock.now())
    with pytest.raises(registration.UnmergeRefused, match="not merged into"):
        registration.unmerge(intake, first.case_id, lonely.case_id, "s", "r", clock.now())
    with pytest.raises(registration.CaseNotFound):
        registration.unmerge(intake, "nope", lonely.case_id, "s", "r", clock.now())


def test_the_duplicate_is_found_among_many_newer_cases_of_the_county(intake, clock):
    first = report_submitted(clock.now(), source_id="H-1")
    register(intake, first, clock.now())
    # Hotline volume: more newer cases in the county than the 300 the matcher once scanned.
    for n in range(320):
        clock.advance(minutes=1)
        other = report_submitted(clock.now(), source_id=f"O-{n}", phone=f"1370000{n:04d}",
                                 text=f"来电反映第{n}号商铺门前占道经营，噪音扰民。", address=None)
        register(intake, other, clock.now())
    clock.advance(hours=2)
    again = report_submitted(clock.now(), channel="grid", source_id="WG-9", phone="138****1234",
                             text="網格員走訪時住戶反映樓上衛生間漏水兩個月，天花板發黴，協商無果。",
                             address="清泉街社区3号楼2单元", region_code=None)
    result = register(intake, again, clock.now())
    assert (result.event.type, result.event.case_id) == ("case_merged", first.case_id)


def test_the_candidate_index_follows_a_split_and_forgets_what_is_past_the_window(intake, clock):
    first = report_submitted(clock.now(), source_id="H-1")
    register(intake, first, clock.now())
    second = report_submitted(clock.now() + timedelta(hours=2), source_id="H-2")
    register(intake, second, clock.now())
    registration.unmerge(intake, first.case_id, second.case_id, "staff-7", "不同住户", clock.now())
    by_report = {p["report_id"]: p["case_id"] for p in intake.postings.find(limit=1000).items}
    assert by_report == {first.case_id: first.case_id, second.case_id: second.case_id}
    assert registration.prune_postings(intake, clock.now()) == 0
    clock.advance(days=intake.policy.window.days + 1)
    total = intake.postings.count()
    assert registration.prune_postings(intake, clock.now(), batch=total - 1) == total - 1
    assert registration.prune_postings(intake, clock.now()) == 1 and intake.postings.count() == 0


def test_a_template_shared_by_many_later_reports_does_not_hide_the_duplicate(intake, clock, monkeypatch):
    # A ledger imported in one go: the original, then later reports in the operators' same
    # template at other flats, then the original's repeat a day on. The template's words are on
    # more postings than are read for a key (scaled down here from the 100 read in service); the
    # phone tail and the compound's name still find the original.
    monkeypatch.setattr(registration, "POSTINGS_PER_KEY", 20)
    start = clock.now()
    template = "来电人反映{}小区{}号楼{}室楼上住户卫生间漏水，天花板发霉，协商无果。"
    first = report_submitted(start, source_id="H-0", phone="13900000001", reported_at=start,
                             text=template.format("金银华", 3, 201), address="新城区金银华小区3号楼201室")
    register(intake, first, clock.now())
    for n in range(60):
        at = start + timedelta(hours=2 + 12 * n)
        register(intake, report_submitted(at, source_id=f"H-{n + 1}", phone=f"1390001{n:04d}", reported_at=at,
                                          text=template.format("翠柏", n % 40 + 1, 100 + n), address=None),
                 clock.now())
    again = report_submitted(start, channel="grid", source_id="WG-1", phone="13900000001",
                             reported_at=start + timedelta(days=1),
                             text="金银华小区3号楼201室住户再次反映，漏水问题仍未解决，希望尽快处理。",
                             address="新城区金银华小区3号楼201室", region_code=None)
    result = register(intake, again, clock.now())
    assert (result.event.type, result.event.case_id) == ("case_merged", first.case_id)


def test_a_repeat_finds_its_original_by_a_rare_key_among_more_look_alikes_than_are_compared(intake, clock):
    # A grid worker's templated note shares as many keys with sixty other notes of the same
    # template (leaks at other estates) as with the hotline call it repeats; only the call shares
    # the phone tail and the estate. The rare keys must rank it among the cases compared.
    now = clock.now()

    def place(i):
        return f"{estate(i)}小区{i % 40 + 1}号楼{(i % 9 + 1) * 100 + i % 7 + 1}室"

    call = f"来电人反映{place(0)}楼上住户卫生间漏水，天花板发霉，协商无果。"
    original = report_submitted(now, source_id="H0", text=call, address=place(0), phone="13900000000",
                                reported_at=now - timedelta(days=3))
    register(intake, original, now)
    for i in range(1, registration.CANDIDATE_LIMIT + 11):
        note = f"{place(i)}住户再次反映，漏水问题仍未解决，希望尽快处理。"
        look_alike = report_submitted(now, source_id=f"D{i}", text=note, address=place(i), phone=f"139{i:08d}",
                                      reported_at=now - timedelta(days=2, minutes=i))
        assert register(intake, look_alike, now).event.type == "case_received"
    repeat = report_submitted(now, source_id="D0", text=f"{place(0)}住户再次反映，漏水问题仍未解决，希望尽快处理。",
                              address=place(0), phone="13900000000", reported_at=now - timedelta(days=2))
    result = register(intake, repeat, now)
    assert (result.event.type, result.event.case_id) == ("case_merged", original.case_id)


def test_a_key_lookup_reads_the_postings_index_alone_in_order(intake, memory_store, monkeypatch):
    # Each report looks up a dozen keys; a plan that sorts or opens the postings made the
    # lookups intake's largest cost (the index ends in the tie-breaking id and the fields read).
    statements = []
    query_all = memory_store.query_all
    monkeypatch.setattr(memory_store, "query_all", lambda sql, params=(): statements.append((sql, params))
                        or query_all(sql, params))
    registration._nearest_postings(intake, "漏水", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z",
                                   "2026-01-03T00:00:00Z")
    plans = [" ".join(row[3] for row in query_all("EXPLAIN QUERY PLAN " + sql, params))
             for sql, params in statements]
    assert len(plans) == 2
    for plan in plans:
        assert "USING INDEX match_postings__ix_key_reported_at_id_case_id_report_id" in plan
        assert "TEMP B-TREE" not in plan
