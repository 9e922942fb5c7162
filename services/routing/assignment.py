"""Routing a case: triage it, give it to the unit that must handle it, keep its clock, and move it
when it is returned, reassigned by hand, overdue or re-graded. Plain domain logic.

Rules (DOMAIN.md): 属地管理 and 谁主管谁负责. Grade 3 goes to the county center with a named lead
(包案); grade 2 to the township center; grade 1 to the industry committee or competent department
for industry matters, otherwise to the village/grid unit that owns the place; ``other`` goes to
the triage desk for manual dispatch. Matters for litigation, arbitration, discipline inspection,
administrative reconsideration or information disclosure are transferred to the legal channel.
The third return, or a third unit with no lead, makes a problem case escalated one level up.

Every operation records its outcome on the case's routing record before the events go out, and
the events' ids are numbered by that record (triage_no, assignment_no, return count), so a
repeated command re-emits the same events instead of doing the work twice.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from fengqiao import labels
from fengqiao.clock import isoformat
from fengqiao.directory import Directory, Unit
from fengqiao.events import Event, make_event
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index, changes
from fengqiao.triage import Signals, Triage, triage_many
from services.routing import deadlines as clock_rules

ROUTINGS = CollectionSpec("routings", [Index(("assignment.unit_id",)), Index(("problem_case",))])
INDUSTRY = {"medical", "traffic", "property_mgmt", "campus", "labor_wage", "consumer", "finance", "land",
            "environment", "social_security"}
SUPPORT = {"marriage_family": "marriage_family", "public_safety": "public_safety", "neighbor": "public_safety"}
LEGAL = re.compile(r"已(经)?(起诉|立案|申请仲裁|提起诉讼)|起诉到法院|仲裁委|劳动仲裁|行政复议|纪委|纪检|监委|"
                   r"信息公开申请|申请信息公开")
LEGAL_REASONS = {"仲裁": "仲裁", "复议": "行政复议", "纪": "纪检监察", "监委": "纪检监察", "信息公开": "政府信息公开"}
PROBLEM_RETURNS = 3
PROBLEM_UNITS = 3


class RoutingRefused(ValueError):
    """The command does not fit the case's state (unknown unit, nothing to return, …)."""


class CaseNotRouted(LookupError):
    pass


@dataclass(frozen=True)
class Decision:
    unit: Unit
    reason: str
    lead: str | None = None
    support: list[Unit] = field(default_factory=list)
    disposition: str = "handle"


@dataclass(frozen=True)
class Routing:
    routings: Collection
    deadlines: Collection
    directory: Directory
    policy: clock_rules.Policy


def _legal_reason(text: str) -> str | None:
    match = LEGAL.search(text)
    if not match:
        return None
    what = next((name for key, name in LEGAL_REASONS.items() if key in match.group(0)), "诉讼")
    return f"涉及{what}程序（『{match.group(0)}』），依法导入法律程序"


def decide(directory: Directory, case: dict, excluded: frozenset[str] = frozenset()) -> Decision | None:
    """Where the case goes now; None when every fitting unit has been excluded."""
    region = directory.region(case.get("region_code"))
    if region is None:
        why = "未提供属地" if not case.get("region_code") else f"属地代码 {case['region_code']} 不在目录中"
        return Decision(directory.triage_desk, f"{why}，转分流台人工分派", disposition="manual_dispatch")
    legal = _legal_reason(case["text"]) if case["channel"] != "court" else None
    if legal:
        center = directory.center_at(region.code, "county")
        return Decision(center, legal, disposition="legal_transfer") if center else None
    for decision in _candidates(directory, region.code, case):
        if decision.unit.id not in excluded:
            return decision
    return None


def _candidates(directory: Directory, code: str, case: dict):
    category, risk = case["category"], case["risk"]
    competent = directory.competent(category, code)
    support = directory.competent(SUPPORT[category], code)[:1] if category in SUPPORT else []
    if risk == 3:
        center = directory.center_at(code, "county")
        if center:
            lead = center.leaders[0] if center.leaders else None
            yield Decision(center, f"三级（重大）风险，县级综治中心包案：{lead or '中心主任'}", lead=lead,
                           support=(competent[:1] or support))
    if risk >= 2:
        center = directory.center_at(code, "township")
        if center:
            yield Decision(center, "二级（较大）风险，乡镇（街道）综治中心承办", support=(competent[:1] or support))
    if category == "other":
        yield Decision(directory.triage_desk, "类别未明，转分流台人工分派", disposition="manual_dispatch")
    if case.get("candidates"):
        shown = "、".join(f"{labels.CATEGORIES[c]} {p:.2f}" for c, p in case["candidates"])
        yield Decision(directory.triage_desk, f"类别把握不足，转分流台人工分派（候选：{shown}）",
                       disposition="manual_dispatch")
    if category in INDUSTRY:
        for unit in competent:
            yield Decision(unit, f"谁主管谁负责：{unit.name}", support=[u for u in [directory.local_unit(code)] if u])
    local = directory.local_unit(code)
    if local:
        yield Decision(local, f"属地管理：{directory.region(code).name}", support=support)
    for level in ("township", "county", "city"):
        center = directory.center_at(code, level)
        if center:
            yield Decision(center, f"属地管理：{center.name}", support=support)


# --- the routing record ---------------------------------------------------------------------

def _case_facts(event: Event) -> dict:
    data = event.data
    return {"text": data.text_simplified or data.text, "channel": data.channel, "region_code": data.region_code,
            "headcount": data.headcount, "max_amount": max(data.amounts) if data.amounts else None,
            "previous_petitions": data.facts.get("previous_count", 0) or 0,
            "higher_level_threat": bool(data.facts.get("higher_level_threat")), "report_count": 1,
            "received_at": data.received_at}


def _signals(facts: dict) -> Signals:
    return Signals(channel=facts["channel"], report_count=facts["report_count"], headcount=facts["headcount"],
                   max_amount=facts["max_amount"], previous_petitions=facts["previous_petitions"],
                   higher_level_threat=facts["higher_level_threat"])


def _triage_record(result: Triage, number: int, report_count: int, now: datetime) -> dict:
    return {"triage_no": number, "category": result.category, "risk": result.risk, "reasons": result.reasons,
            "confidence": result.confidence, "candidates": [list(c) for c in result.candidates],
            "report_count": report_count, "at": isoformat(now)}


def _assignment_record(routing: dict, decision: Decision, number: int, kind: str, by: str, now: datetime) -> dict:
    unit = decision.unit
    return {"assignment_no": number, "level": unit.level, "region_code": routing["facts"]["region_code"],
            "unit_id": unit.id, "unit_name": unit.name, "category": routing["triage"]["category"],
            "risk": routing["triage"]["risk"], "reason": decision.reason, "lead": decision.lead,
            "support": [{"unit_id": u.id, "unit_name": u.name} for u in decision.support],
            "disposition": decision.disposition, "kind": kind, "by": by, "at": isoformat(now)}


def triaged_event(case_id: str, record: dict) -> Event:
    fields = ("triage_no", "category", "risk", "reasons", "confidence", "report_count")
    return make_event("case_triaged", case_id, {f: record[f] for f in fields}, occurred_at=record["at"],
                      discriminator=record["triage_no"])


def assigned_event(case_id: str, record: dict) -> Event:
    fields = ("assignment_no", "level", "region_code", "unit_id", "unit_name", "category", "risk", "reason",
              "lead", "support", "disposition", "kind", "by")
    data = {f: record[f] for f in fields} | {"due_at": record.get("due_at"),
                                             "response_due_at": record.get("response_due_at")}
    return make_event("case_assigned", case_id, data, occurred_at=record["at"],
                      discriminator=record["assignment_no"])


def receive(routing: Routing, case: Event, now: datetime) -> list[Event]:
    """Triage and assign a newly received case; a repeat re-emits what was decided."""
    return receive_many(routing, [case], now)


def receive_many(routing: Routing, cases: list[Event], now: datetime, models=None) -> list[Event]:
    """``receive`` for a chunk of cases: the new ones are triaged together, in one model call
    (``models``, or the shipped ones fitted on first use)."""
    facts = {case.case_id: _case_facts(case) for case in cases if routing.routings.get(case.case_id) is None}
    triaged = dict(zip(facts, triage_many([(f["text"], _signals(f)) for f in facts.values()], models),
                       strict=True)) if facts else {}
    return [event for case in cases for event in _route(routing, case, facts.get(case.case_id),
                                                         triaged.get(case.case_id), now)]


def _route(routing: Routing, case: Event, facts: dict | None, triaged: Triage | None, now: datetime) -> list[Event]:
    existing = routing.routings.get(case.case_id)
    if existing:  # a redelivery, or the same event twice in one chunk
        return [triaged_event(case.case_id, existing["triage"]), assigned_event(case.case_id, existing["assignment"])]
    doc = {"id": case.case_id, "facts": facts, "triage": _triage_record(triaged, 1, 1, now), "history": [],
           "returns": 0, "units_tried": [], "problem_case": False, "events": []}
    decision = decide(routing.directory, {**facts, **doc["triage"]}) or Decision(
        routing.directory.triage_desk, "未找到承办单位，转分流台人工分派", disposition="manual_dispatch")
    doc["assignment"] = _assignment_record(doc, decision, 1, "auto", "routing", now)
    doc["assignment"]["due_at"] = _due(routing, "resolution", doc, now)
    doc["assignment"]["response_due_at"] = _due(routing, "first_response", doc, now)
    doc["units_tried"] = [decision.unit.id]
    try:
        routing.routings.insert(doc)
    except DuplicateKeyError:  # a concurrent delivery won; re-emit its decision
        return _route(routing, case, facts, triaged, now)
    _open_assignment_deadlines(routing, case.case_id, doc, now, first=True)
    return [triaged_event(case.case_id, doc["triage"]), assigned_event(case.case_id, doc["assignment"])]


def _open_assignment_deadlines(routing: Routing, case_id: str, doc: dict, now: datetime, first: bool) -> None:
    assignment = doc["assignment"]
    if assignment["disposition"] == "legal_transfer":
        return
    case = {"channel": doc["facts"]["channel"], "category": doc["triage"]["category"], "risk": doc["triage"]["risk"]}
    key = str(assignment["assignment_no"])
    clock_rules.open_deadline(routing.deadlines, routing.policy, case_id, "first_response", assignment, case, now, key)
    if first:
        clock_rules.open_deadline(routing.deadlines, routing.policy, case_id, "resolution", assignment, case, now, "1")


def _due(routing: Routing, kind: str, doc: dict, now: datetime) -> str | None:
    """When the unit owes the first response or the resolution of its assignment, as the
    deadline opened with it will say; a case sent to legal procedure has no such clocks."""
    if doc["assignment"]["disposition"] == "legal_transfer":
        return None
    case = {"channel": doc["facts"]["channel"], **doc["triage"]}
    return isoformat(clock_rules.due(routing.policy, kind, case, now))


def _update(routing: Routing, case_id: str, change) -> tuple[dict, bool]:
    return changes.update(routing.routings, case_id, change,
                          missing=lambda: CaseNotRouted(f"case {case_id} has not been routed"))


def _reassign(routing: Routing, case_id: str, decision: Decision, kind: str, by: str, now: datetime,
              extra: dict | None = None, expected_no: int | None = None) -> tuple[dict, bool]:
    def change(doc):
        if expected_no is not None and doc["assignment"]["assignment_no"] != expected_no:
            return None  # someone moved it already: this command's work is done
        record = _assignment_record(doc, decision, doc["assignment"]["assignment_no"] + 1, kind, by, now)
        # A new unit inherits the case's resolution deadline; only a reopen starts a fresh one.
        record["due_at"] = _due(routing, "resolution", {**doc, "assignment": record}, now) if kind == "reopen" \
            else doc["assignment"].get("due_at")
        # Every new assignment owes its own first response (its deadline opens below).
        record["response_due_at"] = _due(routing, "first_response", {**doc, "assignment": record}, now)
        tried = doc["units_tried"] + ([decision.unit.id] if decision.unit.id not in doc["units_tried"] else [])
        return {"assignment": record, "history": doc["history"] + [doc["assignment"]], "units_tried": tried,
                **(extra or {})}

    doc, changed = _update(routing, case_id, change)
    if changed:
        clock_rules.close_open(routing.deadlines, case_id, ("first_response", "progress_update"), "superseded")
        _open_assignment_deadlines(routing, case_id, doc, now, first=False)
    return doc, changed


def _escalation(routing: Routing, doc: dict, reason: str, kind: str, by: str, now: datetime) -> list[Event]:
    current = routing.directory.units.get(doc["assignment"]["unit_id"])
    above = routing.directory.center_above(current) if current else None
    if above is None:
        return []
    lead = above.leaders[0] if above.leaders else None
    decision = Decision(above, reason, lead=lead)
    extra = {"problem_case": True} if kind == "problem_case" else {}
    moved, changed = _reassign(routing, doc["id"], decision, "escalation", by, now, extra,
                               expected_no=doc["assignment"]["assignment_no"])
    if not changed:
        return []
    previous = doc["assignment"]
    escalated = make_event("case_escalated", doc["id"], {
        "from_unit": {"unit_id": previous["unit_id"], "unit_name": previous["unit_name"]},
        "from_level": previous["level"], "to_unit": {"unit_id": above.id, "unit_name": above.name},
        "to_level": above.level, "reason": reason, "kind": kind,
    }, occurred_at=now, discriminator=moved["assignment"]["assignment_no"])
    return [escalated, assigned_event(doc["id"], moved["assignment"])]


def return_case(routing: Routing, case_id: str, reason: str, by: str, now: datetime) -> list[Event]:
    """The assigned unit sends the case back (退单): reassign, or escalate a problem case."""
    doc = routing.routings.get(case_id)
    if doc is None:
        raise CaseNotRouted(f"case {case_id} has not been routed")
    assignment = doc["assignment"]
    if assignment["disposition"] == "legal_transfer":
        raise RoutingRefused("the case was transferred to the legal channel; there is nothing to return")
    returns = doc["returns"] + 1
    returned = make_event("case_returned", case_id, {
        "unit_id": assignment["unit_id"], "unit_name": assignment["unit_name"], "reason": reason, "by": by,
        "returns": returns}, occurred_at=now, discriminator=returns)
    doc, changed = _update(routing, case_id, lambda d: {"returns": returns} if d["returns"] == returns - 1 else None)
    if not changed:
        raise RoutingRefused(f"the case was returned meanwhile (now {doc['returns']} returns); look again")
    if returns >= PROBLEM_RETURNS or (len(doc["units_tried"]) >= PROBLEM_UNITS and not assignment["lead"]):
        why = f"第{returns}次退单，列为问题案件提级督办" if returns >= PROBLEM_RETURNS else \
            f"已流转{len(doc['units_tried'])}个单位仍无牵头单位，列为问题案件提级督办"
        return [returned, *_escalation(routing, doc, why, "problem_case", by, now)]
    facts = {**doc["facts"], **doc["triage"]}
    decision = decide(routing.directory, facts, excluded=frozenset(doc["units_tried"]))
    if decision is None:
        return [returned, *_escalation(routing, doc, "无其他可承办单位，提级督办", "problem_case", by, now)]
    decision = Decision(decision.unit, f"退单后改派：{decision.reason}", decision.lead, decision.support,
                        decision.disposition)
    moved, _ = _reassign(routing, case_id, decision, "return", by, now)
    return [returned, assigned_event(case_id, moved["assignment"])]


def reassign_by_hand(routing: Routing, case_id: str, unit_id: str, reason: str, by: str, now: datetime) -> list[Event]:
    unit = routing.directory.units.get(unit_id)
    if unit is None:
        raise RoutingRefused(f"no unit {unit_id!r} in the directory")
    doc = routing.routings.get(case_id)
    if doc is None:
        raise CaseNotRouted(f"case {case_id} has not been routed")
    if doc["assignment"]["unit_id"] == unit_id:
        return [assigned_event(case_id, doc["assignment"])]
    lead = unit.leaders[0] if unit.leaders and doc["triage"]["risk"] == 3 else None
    moved, _ = _reassign(routing, case_id, Decision(unit, f"人工改派：{reason}", lead=lead), "manual", by, now)
    return [assigned_event(case_id, moved["assignment"])]


def escalate_by_hand(routing: Routing, case_id: str, reason: str, by: str, now: datetime) -> list[Event]:
    """A dispatcher or leader moves the case one level up (提级督办)."""
    doc = routing.routings.get(case_id)
    if doc is None:
        raise CaseNotRouted(f"case {case_id} has not been routed")
    if doc["assignment"]["disposition"] == "legal_transfer":
        raise RoutingRefused("the case was transferred to the legal channel; there is nothing to escalate")
    events = _escalation(routing, doc, f"人工提级：{reason}", "manual", by, now)
    if not events:
        raise RoutingRefused(f"{doc['assignment']['unit_name']} has no center above it to escalate to")
    return events


def regrade_after_merge(routing: Routing, case_id: str, report_count: int, now: datetime,
                        models=None) -> list[Event]:
    """Another report of the same incident: repeat counts feed the risk grade (``models`` as in
    ``receive_many``)."""
    doc = routing.routings.get(case_id)
    if doc is None or report_count <= doc["facts"]["report_count"]:
        return []
    facts = {**doc["facts"], "report_count": report_count}
    result = triage_many([(facts["text"], _signals(facts))], models)[0]
    rises = result.risk > doc["triage"]["risk"]
    record = _triage_record(result, doc["triage"]["triage_no"] + 1, report_count, now) if rises else doc["triage"]

    def change(current):
        if current["facts"]["report_count"] >= report_count:
            return None
        return {"facts": facts, "triage": record}

    doc, changed = _update(routing, case_id, change)
    if not (changed and rises):
        return []
    events = [triaged_event(case_id, record)]
    decision = decide(routing.directory, {**facts, **record})
    if decision and decision.unit.id != doc["assignment"]["unit_id"]:
        regraded = Decision(decision.unit, f"风险升级为{record['risk']}级：{decision.reason}", decision.lead,
                            decision.support, decision.disposition)
        moved, _ = _reassign(routing, case_id, regraded, "regrade", "routing", now)
        events.append(assigned_event(case_id, moved["assignment"]))
    return events


def reopen(routing: Routing, case_id: str, reopen_no: int, reason: str, now: datetime) -> list[Event]:
    """The person was not satisfied: the case goes back out, to another unit than the one that
    handled it (or the center above when there is none), with its clocks started again."""
    doc = routing.routings.get(case_id)
    if doc is None:
        raise CaseNotRouted(f"case {case_id} has not been routed")
    if doc.get("reopens", 0) >= reopen_no:
        return [assigned_event(case_id, doc["assignment"])]  # a redelivery: re-emit what was decided
    current = routing.directory.units.get(doc["assignment"]["unit_id"])
    decision = decide(routing.directory, {**doc["facts"], **doc["triage"]}, excluded=frozenset({current.id})
                      if current else frozenset())
    above = routing.directory.center_above(current) if decision is None and current is not None else None
    if above is not None:
        decision = Decision(above, f"上级中心：{above.name}", lead=above.leaders[0] if above.leaders else None)
    decision = decision or Decision(current, "无其他可承办单位，原单位重新办理")
    why = Decision(decision.unit, f"回访不满意，重新交办（{reason}）：{decision.reason}", decision.lead,
                   decision.support, decision.disposition)
    moved, changed = _reassign(routing, case_id, why, "reopen", "routing", now, {"reopens": reopen_no},
                               expected_no=doc["assignment"]["assignment_no"])
    if changed:
        case = {"channel": doc["facts"]["channel"], "category": doc["triage"]["category"],
                "risk": doc["triage"]["risk"]}
        clock_rules.open_deadline(routing.deadlines, routing.policy, case_id, "resolution", moved["assignment"], case,
                                  now, f"reopen-{reopen_no}")
    return [assigned_event(case_id, moved["assignment"])]


def resolved(routing: Routing, case_id: str) -> None:
    """A resolved case owes no more answers, updates or resolution: its clocks stop."""
    clock_rules.close_open(routing.deadlines, case_id, clock_rules.KINDS, "met")


def report_progress(routing: Routing, case_id: str, note: str, by: str, now: datetime) -> list[Event]:
    doc = routing.routings.get(case_id)
    if doc is None:
        raise CaseNotRouted(f"case {case_id} has not been routed")
    clock_rules.close_open(routing.deadlines, case_id, ("first_response", "progress_update"), "met")
    case = {"channel": doc["facts"]["channel"], "category": doc["triage"]["category"], "risk": doc["triage"]["risk"]}
    clock_rules.open_deadline(routing.deadlines, routing.policy, case_id, "progress_update", doc["assignment"],
                              case, now, isoformat(now))
    return [make_event("progress_reported", case_id, {"note": note, "by": by, "reported_at": isoformat(now)},
                       occurred_at=now, discriminator=isoformat(now))]


def check_deadlines(routing: Routing, now: datetime) -> list[Event]:
    """The timer's work: warnings before, and overdue-plus-escalation after, each deadline."""
    events = []
    for due in clock_rules.scan(routing.deadlines, now):
        deadline = due.watch
        common = {"deadline": deadline["kind"], "due_at": deadline["due_at"], "unit_id": deadline["unit_id"],
                  "unit_name": deadline["unit_name"]}
        if due.kind == "warning":
            events.append(make_event("deadline_warning", deadline["case_id"], {**common, "hours_left": due.hours_left},
                                     occurred_at=now, discriminator=f"{deadline['id']}/{due.hours_left}"))
            continue
        events.append(make_event("case_overdue", deadline["case_id"], common, occurred_at=now,
                                 discriminator=deadline["id"]))
        doc = routing.routings.get(deadline["case_id"])
        if doc and doc["assignment"]["unit_id"] == deadline["unit_id"]:
            why = f"{clock_rules.TITLES[deadline['kind']]}逾期（应于{deadline['due_at']}前），提级督办"
            events += _escalation(routing, doc, why, "overdue", "routing", now)
    return events
