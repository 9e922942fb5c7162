"""Mediation rules on the embedded store with a fake clock: suggestions, the lifecycle and its
refusals, the agreement and its obligations, judicial confirmation's time limits, figures."""
from datetime import timedelta

import pytest

from fengqiao.clock import CHINA_TZ
from fengqiao.directory import Directory
from fengqiao.events import make_event
from fengqiao.ids import new_id
from fengqiao.lifecycle import IllegalTransition
from fengqiao.settings import DEFAULT_DIRECTORY
from services.mediation import figures, mediation

DIRECTORY = Directory.load(DEFAULT_DIRECTORY)
COMMUNITY = "150102001001"
PARTIES = [{"name": "张桂兰", "role": "applicant", "kind": "person", "phone": "13912345678"},
           {"name": "李建国", "role": "respondent", "kind": "person", "phone": "13800001111"}]


@pytest.fixture
def m(memory_store):
    return mediation.Mediation(*(spec.open(memory_store) for spec in (
        mediation.MEDIATIONS, mediation.CASES, mediation.LOADS, mediation.WATCHES, figures.FIGURES)), DIRECTORY)


def assigned(m, clock, category="neighbor", risk=1, region=COMMUNITY, assignment_no=1, case_id=None):
    case_id = case_id or new_id()
    mediation.note_assignment(m, make_event("case_assigned", case_id, {
        "assignment_no": assignment_no, "level": "village", "region_code": region,
        "unit_id": "committee-150102001001", "unit_name": "清泉街社区人民调解委员会", "category": category,
        "risk": risk, "reason": "属地管理"}, occurred_at=clock.now()))
    return case_id


def opened(m, clock, case_id, mediators=("med-049",)):
    events = mediation.open_mediation(m, case_id, origin="assignment", referral_no=None, parties=PARTIES,
                                      mediator_ids=list(mediators), committee_id=None, by="staff", now=clock.now())
    return events[0].data.mediation_id


def signed(m, clock, mediation_id, obligations):
    return mediation.sign_agreement(m, mediation_id, facts="漏水致天花板发霉。", obligations=obligations,
                                    performance_method="银行转账", by="staff", now=clock.now())


def due_in(clock, days):
    return (clock.now().astimezone(CHINA_TZ) + timedelta(days=days)).date().isoformat()


def test_suggestions_prefer_specialty_and_place_and_avoid_loaded_mediators(m, clock):
    case_id = assigned(m, clock)
    first = mediation.suggest(m, case_id)
    assert first[0]["region_code"] == COMMUNITY and "擅长邻里纠纷" in first[0]["reasons"]
    assert all(x["region_code"].startswith("150102") for x in first)  # only the case's own county
    for _ in range(6):  # the favourite gets busy
        other = assigned(m, clock)
        opened(m, clock, other, mediators=(first[0]["id"],))
    again = mediation.suggest(m, case_id)
    assert again[0]["id"] != first[0]["id"] and "在办0件" in again[0]["reasons"]


def test_grade_three_cases_prefer_a_chief_mediator(m, clock):
    case_id = assigned(m, clock, category="labor_wage", risk=3)
    assert mediation.suggest(m, case_id)[0]["grade"] == "chief"


def test_a_case_must_be_assigned_and_has_one_active_mediation(m, clock):
    with pytest.raises(IllegalTransition, match="尚未交办"):
        opened(m, clock, new_id())
    case_id = assigned(m, clock)
    opened(m, clock, case_id)
    with pytest.raises(IllegalTransition, match="已有进行中的调解"):
        opened(m, clock, case_id)
    with pytest.raises(mediation.MediationRefused, match="no mediator nobody"):
        mediation.open_mediation(m, assigned(m, clock), origin="assignment", referral_no=None, parties=PARTIES,
                                 mediator_ids=["nobody"], committee_id=None, by="staff", now=clock.now())
    with pytest.raises(mediation.MediationRefused, match="referral needs"):
        mediation.open_mediation(m, assigned(m, clock), origin="court", referral_no=None, parties=PARTIES,
                                 mediator_ids=["med-049"], committee_id=None, by="staff", now=clock.now())


def test_illegal_steps_name_the_state_and_the_allowed_next_ones(m, clock):
    mediation_id = opened(m, clock, assigned(m, clock))
    with pytest.raises(IllegalTransition) as refused:
        mediation.record_performance(m, mediation_id, 1, note="", by="staff", now=clock.now())
    assert refused.value.state == "open"
    assert refused.value.allowed == ["conclude", "log_session", "sign_agreement"]
    mediation.conclude(m, mediation_id, outcome="no_agreement", reasons="双方分歧过大", transferred_to=None,
                       by="staff", now=clock.now())
    with pytest.raises(IllegalTransition) as final:
        signed(m, clock, mediation_id, [])
    assert final.value.state == "concluded" and final.value.allowed == []
    assert "当前允许：无" in str(final.value)


def test_an_agreement_resolves_the_case_when_every_obligation_is_performed(m, clock):
    case_id = assigned(m, clock)
    mediation_id = opened(m, clock, case_id)
    events = signed(m, clock, mediation_id, [
        {"party": "李建国", "description": "赔偿维修费", "amount": 3500.0, "due_date": due_in(clock, 10)},
        {"party": "李建国", "description": "重做防水", "due_date": due_in(clock, 10)}])
    assert [e.type for e in events] == ["agreement_signed"] and events[0].data.total_amount == 3500.0
    first = mediation.record_performance(m, mediation_id, 1, note="已转账", by="staff", now=clock.now())
    assert [e.type for e in first] == ["obligation_performed"]
    again = mediation.record_performance(m, mediation_id, 1, note="已转账", by="staff", now=clock.now())
    assert [e.event_id for e in again] == [e.event_id for e in first]  # a repeat re-emits, changes nothing
    last = mediation.record_performance(m, mediation_id, 2, note="已验收", by="staff", now=clock.now())
    assert [e.type for e in last] == ["obligation_performed", "agreement_performed", "case_resolved"]
    assert last[-1].case_id == case_id and last[-1].data.resolution == "mediated"


def test_an_agreement_that_owes_nothing_resolves_at_once(m, clock):
    mediation_id = opened(m, clock, assigned(m, clock))
    events = signed(m, clock, mediation_id, [])
    assert [e.type for e in events] == ["agreement_signed", "agreement_performed", "case_resolved"]


def test_overdue_obligations_raise_events_after_warnings(m, clock):
    mediation_id = opened(m, clock, assigned(m, clock))
    signed(m, clock, mediation_id, [{"party": "李建国", "description": "赔偿维修费", "amount": 800.0,
                                     "due_date": due_in(clock, 5)}])
    clock.advance(days=4)
    warned = mediation.check_deadlines(m, clock.now())
    assert [(e.type, e.data.deadline) for e in warned] == [("mediation_deadline_warning", "obligation")]
    clock.advance(days=2)
    overdue = mediation.check_deadlines(m, clock.now())
    assert [e.type for e in overdue] == ["obligation_overdue"] and overdue[0].data.party == "李建国"
    assert mediation.check_deadlines(m, clock.now()) == []  # said once


def test_judicial_confirmation_runs_on_its_time_limits(m, clock):
    mediation_id = opened(m, clock, assigned(m, clock))
    signed(m, clock, mediation_id, [{"party": "李建国", "description": "赔偿", "amount": 100.0,
                                     "due_date": due_in(clock, 60)}])
    with pytest.raises(IllegalTransition) as early:
        mediation.court_rules(m, mediation_id, result="confirmed", reference=None, reason="", by="court",
                              now=clock.now())
    assert early.value.state == "none" and early.value.allowed == ["apply"]
    clock.advance(days=29)
    window = [e for e in mediation.check_deadlines(m, clock.now()) if e.data.deadline == "confirmation_window"]
    assert window and window[0].data.hours_left == 24
    mediation.apply_confirmation(m, mediation_id, court="新城区人民法院", by="staff", now=clock.now())
    clock.advance(days=2)
    assert [e.data.deadline for e in mediation.check_deadlines(m, clock.now())] == ["court_acceptance"]
    decided = mediation.court_decides(m, mediation_id, accepted=True, reference="(2026)民特1号", reason="",
                                      by="court", now=clock.now())
    assert decided[0].data.ruling_due_at
    mediation.extend_ruling(m, mediation_id, by="court", now=clock.now())
    with pytest.raises(IllegalTransition, match="只能延长一次"):
        mediation.extend_ruling(m, mediation_id, by="court", now=clock.now())
    clock.advance(days=20)  # past 15 days, inside 15 + 10
    assert not [e for e in mediation.check_deadlines(m, clock.now()) if e.type == "mediation_deadline_missed"]
    ruled = mediation.court_rules(m, mediation_id, result="confirmed", reference="(2026)民特1号", reason="",
                                  by="court", now=clock.now())
    assert ruled[0].type == "confirmation_ruled"
    assert figures.read(m.figures, DIRECTORY, "all")[0]["confirmed"] == 1


def test_the_application_window_closes_thirty_days_after_the_agreement(m, clock):
    mediation_id = opened(m, clock, assigned(m, clock))
    signed(m, clock, mediation_id, [{"party": "李建国", "description": "赔偿", "due_date": due_in(clock, 60)}])
    clock.advance(days=31)
    with pytest.raises(IllegalTransition, match="申请期限已于"):
        mediation.apply_confirmation(m, mediation_id, court="新城区人民法院", by="staff", now=clock.now())


def test_a_case_resolves_once_per_round(m, clock):
    case_id = assigned(m, clock)
    first = mediation.resolve(m, case_id, "handled", "已处理", "unit", clock.now())
    assert mediation.resolve(m, case_id, "handled", "已处理", "unit", clock.now())[0].event_id == first[0].event_id
    mediation.note_reopened(m, case_id, 1)
    second = mediation.resolve(m, case_id, "handled", "再次处理", "unit", clock.now())
    assert second[0].event_id != first[0].event_id
    active = assigned(m, clock)
    opened(m, clock, active)
    with pytest.raises(IllegalTransition, match="进行中的调解"):
        mediation.resolve(m, active, "handled", "直接办结", "unit", clock.now())


def test_figures_count_outcomes_rates_amounts_and_parties_by_dimension(m, clock):
    agreed = []
    for amount in (3500.0, 1000.0):
        agreed.append(opened(m, clock, assigned(m, clock)))
        signed(m, clock, agreed[-1], [{"party": "李建国", "description": "赔偿", "amount": amount}])
    mediation.conclude(m, opened(m, clock, assigned(m, clock)), outcome="no_agreement", reasons="分歧大",
                       transferred_to=None, by="staff", now=clock.now())
    mediation.record_performance(m, agreed[0], 1, note="", by="staff", now=clock.now())
    by_region = {row["key"]: row for row in figures.read(m.figures, DIRECTORY, "region")}
    county = by_region["150102"]
    assert (county["opened"], county["mediated"], county["agreed"], county["performed"]) == (3, 3, 2, 1)
    assert county["success_rate"] == round(2 / 3, 4) and county["performed_rate"] == 0.5
    assert county["amount"] == 4500.0 and county["parties"] == 4 and county["name"] == "新城区"
    committees = figures.read(m.figures, DIRECTORY, "committee")
    assert committees[0]["name"] == DIRECTORY.units[committees[0]["key"]].name
    assert mediation.load_of(m, "med-049") == 0  # every mediation ended
