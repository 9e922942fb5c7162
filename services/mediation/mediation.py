"""Mediation: from an assigned case (or a referral) to a signed agreement, its performance and its
judicial confirmation. Plain domain logic.

Rules (DOMAIN.md, 人民调解法 2010): the agreement takes effect when the parties and the mediator
sign and the committee seals it; the parties may apply to a court for judicial confirmation
(司法确认) within 30 days of that; the court decides on acceptance within 3 days and rules within
15 days, extendable by 10. A case is resolved when its agreement is fully performed (or at
signing, when the agreement owes nothing), or when the unit settles it without mediation.

Every change is checked against ``LIFECYCLE`` / ``CONFIRMATION`` and written with the record's
version before its events go out; events are numbered by the record (session number, obligation
number, the case's round), so a repeated command or message re-emits the same event ids.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from fengqiao import labels, watches
from fengqiao.clock import CHINA_TZ, isoformat, parse_iso
from fengqiao.directory import Directory, Mediator
from fengqiao.events import Event, make_event
from fengqiao.lifecycle import IllegalTransition, Lifecycle
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index, changes
from services.mediation import figures

MEDIATIONS = CollectionSpec("mediations", [Index(("case_id",)), Index(("state",))])
CASES = CollectionSpec("mediation_cases", [])  # what mediation knows of each assigned case
LOADS = CollectionSpec("mediator_loads", [])
WATCHES = CollectionSpec("mediation_watches", watches.INDEXES)

LIFECYCLE = Lifecycle("调解案件", {
    "open": {"log_session": "open", "sign_agreement": "agreed", "conclude": "concluded"},
    "agreed": {"record_performance": "agreed", "apply_confirmation": "agreed"},
    "performed": {"apply_confirmation": "performed"},
})
CONFIRMATION = Lifecycle("司法确认", {
    "none": {"apply": "applied"},
    "applied": {"court_accepts": "accepted", "court_refuses": "not_accepted"},
    "accepted": {"extend_ruling": "accepted", "rule": "ruled"},
})
ACTIVE = ("open", "agreed")
CONFIRMATION_WINDOW = timedelta(days=30)
COURT_ACCEPTANCE = timedelta(days=3)
COURT_RULING = timedelta(days=15)
RULING_EXTENSION = timedelta(days=10)
MAX_PANEL = 5


class MediationNotFound(LookupError):
    pass


class MediationRefused(ValueError):
    """The command names something that is not there or not fitting (unknown mediator, …)."""


@dataclass(frozen=True)
class Mediation:
    """The service's collections and settings, as one handle for the functions below."""

    mediations: Collection
    cases: Collection
    loads: Collection
    watches: Collection
    figures: Collection
    directory: Directory
    target_days: int = 30


# --- what mediation knows of cases ---------------------------------------------------------

def note_assignment(m: Mediation, event: Event) -> None:
    """Keep the latest assignment of a case: mediations open from it."""
    data = event.data
    fields = {"category": data.category, "risk": data.risk, "region_code": data.region_code, "level": data.level,
              "unit_id": data.unit_id, "unit_name": data.unit_name, "assignment_no": data.assignment_no}
    _upsert_case(m, event.case_id, lambda doc: fields if doc.get("assignment_no", 0) < data.assignment_no else None)


def note_reopened(m: Mediation, case_id: str, reopen_no: int) -> None:
    """A reopened case starts a new round: it may be mediated and resolved again."""
    _upsert_case(m, case_id, lambda doc: {"round": reopen_no} if doc.get("round", 0) < reopen_no else None)


def _upsert_case(m: Mediation, case_id: str, change) -> None:
    changes.upsert(m.cases, case_id, change, {"round": 0, "resolved_round": None})


def _assigned_case(m: Mediation, case_id: str) -> dict:
    case = m.cases.get(case_id)
    if case is None or "unit_id" not in case:
        raise IllegalTransition("案件", "not_assigned", "open_mediation", [], "案件尚未交办，不能启动调解")
    return case


# --- mediators -------------------------------------------------------------------------------

def load_of(m: Mediation, mediator_id: str) -> int:
    doc = m.loads.get(mediator_id)
    return doc["open"] if doc else 0


def _change_load(m: Mediation, mediator_ids: list[str], delta: int) -> None:
    for mediator_id in mediator_ids:
        changes.upsert(m.loads, mediator_id, lambda doc: {"open": max(0, doc["open"] + delta)}, {"open": 0})


def mediator_view(m: Mediation, mediator: Mediator, load: int | None = None) -> dict:
    unit = m.directory.units[mediator.committee_id]
    return {"id": mediator.id, "name": mediator.name, "grade": mediator.grade,
            "grade_name": labels.MEDIATOR_GRADES[mediator.grade], "committee_id": unit.id,
            "committee_name": unit.name, "level": unit.level, "region_code": mediator.region_code,
            "specialties": list(mediator.specialties), "background": mediator.background,
            "load": load_of(m, mediator.id) if load is None else load}


def list_mediators(m: Mediation, region: str | None = None, category: str | None = None) -> list[dict]:
    found = [x for x in m.directory.mediators.values()
             if (region is None or m.directory.within(x.region_code, region) or x.region_code == region)
             and (category is None or category in x.specialties)]
    return [mediator_view(m, x) for x in sorted(found, key=lambda x: x.id)]


def suggest(m: Mediation, case_id: str, limit: int = 5) -> list[dict]:
    """Mediators for a case, best first: specialty, nearness to the place, grade for the risk, load."""
    case = _assigned_case(m, case_id)
    lineage = [r.code for r in m.directory.lineage(case["region_code"])] if case["region_code"] else []
    if not lineage:
        return []
    county = next((c for c in lineage if m.directory.regions[c].level == "county"), lineage[-1])
    wanted_grade = {3: "chief", 2: "first"}.get(case["risk"])
    scored = []
    for mediator in m.directory.mediators.values():
        if not m.directory.within(mediator.region_code, county):
            continue  # mediators work in their own county
        score, reasons = 0.0, []
        if case["category"] in mediator.specialties:
            score += 3
            reasons.append(f"擅长{labels.CATEGORIES[case['category']]}")
        if mediator.region_code in lineage:
            nearness = 3 - min(2, lineage.index(mediator.region_code))
            score += nearness
            reasons.append(f"属地：{m.directory.regions[mediator.region_code].name}")
        if wanted_grade and mediator.grade == wanted_grade:
            score += 2
            reasons.append(f"{case['risk']}级风险宜由{labels.MEDIATOR_GRADES[wanted_grade]}主持")
        load = load_of(m, mediator.id)
        score -= 0.5 * load
        reasons.append(f"在办{load}件")
        scored.append((score, mediator.id, mediator, load, reasons))
    scored.sort(key=lambda s: (-s[0], s[1]))
    return [{**mediator_view(m, mediator, load), "score": score, "reasons": reasons}
            for score, _, mediator, load, reasons in scored[:limit]]


# --- the mediation record ------------------------------------------------------------------

def get(m: Mediation, mediation_id: str) -> dict:
    doc = m.mediations.get(mediation_id)
    if doc is None:
        raise MediationNotFound(f"no mediation {mediation_id}")
    return doc


def for_case(m: Mediation, case_id: str) -> list[dict]:
    return m.mediations.find({"case_id": case_id}, limit=100).items


def _update(m: Mediation, mediation_id: str, change) -> tuple[dict, bool]:
    return changes.update(m.mediations, mediation_id, change,
                          missing=lambda: MediationNotFound(f"no mediation {mediation_id}"))


def _event(event_type: str, doc: dict, data: dict, at: datetime | str, discriminator: str | int) -> Event:
    return make_event(event_type, doc["case_id"], {"mediation_id": doc["id"], **data}, occurred_at=at,
                      discriminator=f"{doc['id']}/{discriminator}")


def _watch(m: Mediation, doc: dict, kind: str, key: str, due_at: datetime, now: datetime, detail: str) -> None:
    watches.watch(m.watches, {"id": f"{doc['id']}/{kind}/{key}", "case_id": doc["case_id"], "mediation_id": doc["id"],
                              "kind": kind, "key": key, "detail": detail}, due_at, now)


def open_mediation(m: Mediation, case_id: str, *, origin: str, referral_no: str | None, parties: list[dict],
                   mediator_ids: list[str], committee_id: str | None, by: str, now: datetime) -> list[Event]:
    case = _assigned_case(m, case_id)
    if not 1 <= len(mediator_ids) <= MAX_PANEL or len(set(mediator_ids)) != len(mediator_ids):
        raise MediationRefused(f"pick 1 to {MAX_PANEL} different mediators")
    unknown = [x for x in mediator_ids if x not in m.directory.mediators]
    if unknown:
        raise MediationRefused(f"no mediator {', '.join(unknown)} in the directory")
    if origin != "assignment" and not referral_no:
        raise MediationRefused(f"a {origin} referral needs the referring body's number (referral_no)")
    mediators = [m.directory.mediators[x] for x in mediator_ids]
    committee = m.directory.units.get(committee_id or mediators[0].committee_id)
    if committee is None:
        raise MediationRefused(f"no unit {committee_id} in the directory")
    previous = for_case(m, case_id)
    active = [d for d in previous if d["state"] in ACTIVE]
    if active:
        raise IllegalTransition("案件", "mediating", "open_mediation", [],
                                f"已有进行中的调解 {active[0]['id']}，须先结束")
    doc = {
        "id": f"{case_id}-m{len(previous) + 1}", "case_id": case_id, "round": case.get("round", 0),
        "origin": origin, "referral_no": referral_no, "state": "open", "confirmation": {"state": "none"},
        "committee": {"unit_id": committee.id, "unit_name": committee.name, "level": committee.level},
        "mediators": [{"mediator_id": x.id, "name": x.name, "grade": x.grade} for x in mediators],
        "parties": parties, "category": case["category"], "region_code": case["region_code"],
        "risk": case["risk"], "sessions": [], "agreement": None, "outcome": None,
        "opened_at": isoformat(now), "target_due_at": isoformat(now + timedelta(days=m.target_days)), "by": by,
    }
    try:
        m.mediations.insert(doc)
    except DuplicateKeyError as exc:
        raise IllegalTransition("案件", "mediating", "open_mediation", [], "同一案件的调解刚刚启动，请刷新") from exc
    _change_load(m, mediator_ids, +1)
    figures.count(m.figures, doc, opened=1)
    _watch(m, doc, "mediation_target", "1", parse_iso(doc["target_due_at"]), now, "调解期限")
    return [opened_event(doc)]


def opened_event(doc: dict) -> Event:
    committee = {"unit_id": doc["committee"]["unit_id"], "unit_name": doc["committee"]["unit_name"]}
    return _event("mediation_opened", doc, {
        "origin": doc["origin"], "referral_no": doc["referral_no"], "committee": committee,
        "mediators": doc["mediators"], "parties": doc["parties"], "category": doc["category"],
        "region_code": doc["region_code"], "level": doc["committee"]["level"], "target_due_at": doc["target_due_at"],
        "by": doc["by"]}, doc["opened_at"], "opened")


def log_session(m: Mediation, mediation_id: str, *, held_at: datetime, mode: str, place: str | None,
                attendees: list[str], notes: str, by: str, now: datetime) -> list[Event]:
    def change(doc):
        LIFECYCLE.next(doc["state"], "log_session")
        session = {"session_no": len(doc["sessions"]) + 1, "held_at": isoformat(held_at), "mode": mode,
                   "place": place, "attendees": attendees, "notes": notes, "by": by, "logged_at": isoformat(now)}
        return {"sessions": [*doc["sessions"], session]}

    doc, _ = _update(m, mediation_id, change)
    session = doc["sessions"][-1]
    return [_event("mediation_session_logged", doc, {k: v for k, v in session.items() if k != "logged_at"},
                   session["logged_at"], f"session/{session['session_no']}")]


def conclude(m: Mediation, mediation_id: str, *, outcome: str, reasons: str, transferred_to: str | None,
             by: str, now: datetime) -> list[Event]:
    """End without an agreement: none reached, withdrawn, or transferred to court or arbitration."""
    if outcome == "transferred" and transferred_to is None:
        raise MediationRefused("a transfer names where to: court or arbitration")

    def change(doc):
        return {"state": LIFECYCLE.next(doc["state"], "conclude"),
                "outcome": {"outcome": outcome, "reasons": reasons, "transferred_to": transferred_to, "by": by,
                            "at": isoformat(now)}}

    doc, changed = _update(m, mediation_id, change)
    if changed:
        _finish_mediating(m, doc, mediated=1)
    result = doc["outcome"]
    return [_event("mediation_concluded", doc, {"outcome": result["outcome"], "reasons": result["reasons"],
                                                "transferred_to": result["transferred_to"], "by": result["by"]},
                   result["at"], "concluded")]


def _finish_mediating(m: Mediation, doc: dict, **counts) -> None:
    _change_load(m, [x["mediator_id"] for x in doc["mediators"]], -1)
    watches.close_open(m.watches, doc["case_id"], ("mediation_target",), "met")
    figures.count(m.figures, doc, **counts)


def _end_of_day(day: str) -> datetime:
    """A due date means the end of that day, Beijing time."""
    return datetime.combine(date.fromisoformat(day), time(23, 59, 59), tzinfo=CHINA_TZ)


def sign_agreement(m: Mediation, mediation_id: str, *, facts: str, obligations: list[dict],
                   performance_method: str, by: str, now: datetime) -> list[Event]:
    """The agreement signed and sealed: it takes effect now; its obligations start their clocks."""
    for obligation in obligations:
        if obligation.get("due_date"):
            _end_of_day(obligation["due_date"])  # a bad date refuses the command before anything is written

    def change(doc):
        numbered = [{**o, "no": i, "state": "open", "performed_at": None} for i, o in enumerate(obligations, 1)]
        agreement = {"facts": facts, "obligations": numbered, "performance_method": performance_method,
                     "signed_at": isoformat(now), "effective_at": isoformat(now), "by": by,
                     "confirmation_window_ends": isoformat(now + CONFIRMATION_WINDOW),
                     "total_amount": sum(o.get("amount") or 0 for o in obligations)}
        return {"state": LIFECYCLE.next(doc["state"], "sign_agreement"), "agreement": agreement,
                "outcome": {"outcome": "agreement", "reasons": "", "transferred_to": None, "by": by,
                            "at": isoformat(now)}}

    doc, changed = _update(m, mediation_id, change)
    agreement = doc["agreement"]
    if changed:
        _finish_mediating(m, doc, mediated=1, agreed=1, amount=agreement["total_amount"],
                          parties=len(doc["parties"]))
        for obligation in agreement["obligations"]:
            if obligation.get("due_date"):
                _watch(m, doc, "obligation", str(obligation["no"]), _end_of_day(obligation["due_date"]), now,
                       f"{obligation['party']}：{obligation['description']}")
        _watch(m, doc, "confirmation_window", "1", parse_iso(agreement["confirmation_window_ends"]), now,
               "自协议生效之日起30日内可共同申请司法确认")
    events = [signed_event(doc)]
    if not agreement["obligations"]:  # nothing to perform: the agreement settles the matter at once
        events += _performed(m, doc, now, by)
    return events


def signed_event(doc: dict) -> Event:
    agreement = doc["agreement"]
    obligations = [{k: o.get(k) for k in ("no", "party", "description", "amount", "due_date")}
                   for o in agreement["obligations"]]
    return _event("agreement_signed", doc, {
        "signed_at": agreement["signed_at"], "effective_at": agreement["effective_at"], "obligations": obligations,
        "total_amount": agreement["total_amount"], "parties_count": len(doc["parties"]),
        "confirmation_window_ends": agreement["confirmation_window_ends"], "by": agreement["by"]},
        agreement["signed_at"], "agreement")


def record_performance(m: Mediation, mediation_id: str, obligation_no: int, *, note: str, by: str,
                       now: datetime) -> list[Event]:
    def change(doc):
        LIFECYCLE.next(doc["state"], "record_performance", "协议履行只在协议生效后、全部履行前登记")
        obligations = doc["agreement"]["obligations"]
        if not 1 <= obligation_no <= len(obligations):
            raise MediationRefused(f"the agreement has obligations 1 to {len(obligations)}, not {obligation_no}")
        if obligations[obligation_no - 1]["state"] == "performed":
            return None  # already recorded: re-emit below
        done = {**obligations[obligation_no - 1], "state": "performed", "performed_at": isoformat(now),
                "note": note, "performed_by": by}
        updated = [done if o["no"] == obligation_no else o for o in obligations]
        return {"agreement": {**doc["agreement"], "obligations": updated}}

    doc, changed = _update(m, mediation_id, change)
    obligation = doc["agreement"]["obligations"][obligation_no - 1]
    if changed:
        watches.close(m.watches, f"{doc['id']}/obligation/{obligation_no}", "met")
    events = [_event("obligation_performed", doc, {
        "obligation_no": obligation_no, "party": obligation["party"], "performed_at": obligation["performed_at"],
        "note": obligation.get("note", ""), "by": obligation.get("performed_by", by)},
        obligation["performed_at"], f"obligation/{obligation_no}")]
    if all(o["state"] == "performed" for o in doc["agreement"]["obligations"]):
        events += _performed(m, doc, now, by)
    return events


def _performed(m: Mediation, doc: dict, now: datetime, by: str) -> list[Event]:
    """Every obligation done: the agreement is performed and the case resolved (once per round)."""
    doc, changed = _update(m, doc["id"], lambda d: None if d["state"] == "performed" else {
        "state": "performed", "performed_at": isoformat(now)})
    if changed:
        figures.count(m.figures, doc, performed=1)
    performed = _event("agreement_performed", doc, {"performed_at": doc["performed_at"]}, doc["performed_at"],
                       "performed")
    summary = f"经{doc['committee']['unit_name']}调解达成协议并履行完毕"
    return [performed, *resolve(m, doc["case_id"], "mediated", summary, by, now, mediation_id=doc["id"])]


def resolve(m: Mediation, case_id: str, resolution: str, summary: str, by: str, now: datetime,
            mediation_id: str | None = None) -> list[Event]:
    """The case is resolved in its current round; a repeat re-emits the same event."""
    case = m.cases.get(case_id)
    if case is None:
        raise IllegalTransition("案件", "not_assigned", "resolve", [], "案件尚未交办，不能化解办结")
    if resolution == "handled" and any(d["state"] in ACTIVE for d in for_case(m, case_id)):
        raise IllegalTransition("案件", "mediating", "resolve", [], "案件有进行中的调解，须经调解结果化解")
    record = {"resolution": resolution, "summary": summary, "mediation_id": mediation_id, "by": by,
              "resolved_at": isoformat(now)}
    _upsert_case(m, case_id, lambda doc: None if doc.get("resolved_round") == doc.get("round", 0) else {
        "resolved_round": doc.get("round", 0), "resolution": record})
    case = m.cases.get(case_id)
    return [make_event("case_resolved", case_id, case["resolution"], occurred_at=case["resolution"]["resolved_at"],
                       discriminator=case["round"])]


# --- judicial confirmation -----------------------------------------------------------------

def _confirmation(m: Mediation, mediation_id: str, action: str, now: datetime, rule: str = "", **changes):
    def change(doc):
        LIFECYCLE.next(doc["state"], "apply_confirmation", "司法确认须在调解协议生效后申请")
        current = doc["confirmation"]
        state = CONFIRMATION.next(current["state"], action, rule)
        return {"confirmation": {**current, **changes, "state": state, f"{action}_at": isoformat(now)}}

    return _update(m, mediation_id, change)


def apply_confirmation(m: Mediation, mediation_id: str, *, court: str, by: str, now: datetime) -> list[Event]:
    doc = get(m, mediation_id)
    ends = doc["agreement"] and parse_iso(doc["agreement"]["confirmation_window_ends"])
    if ends and now > ends and doc["confirmation"]["state"] == "none":
        raise IllegalTransition("司法确认", "window_closed", "apply", [],
                                f"申请期限已于{ends.astimezone(CHINA_TZ):%Y-%m-%d %H:%M}届满（协议生效后30日）")
    doc, changed = _confirmation(m, mediation_id, "apply", now, court=court, applied_by=by)
    if changed:
        watches.close(m.watches, f"{doc['id']}/confirmation_window/1", "met")
        _watch(m, doc, "court_acceptance", "1", now + COURT_ACCEPTANCE, now, f"{court}决定是否受理")
    confirmation = doc["confirmation"]
    data = {"court": confirmation["court"], "applied_at": confirmation["apply_at"], "by": confirmation["applied_by"]}
    return [_event("confirmation_applied", doc, data, confirmation["apply_at"], "applied")]


def court_decides(m: Mediation, mediation_id: str, *, accepted: bool, reference: str | None, reason: str, by: str,
                  now: datetime) -> list[Event]:
    action = "court_accepts" if accepted else "court_refuses"
    ruling_due = now + COURT_RULING if accepted else None
    doc, changed = _confirmation(m, mediation_id, action, now, reference=reference, decision_reason=reason,
                                 ruling_due_at=isoformat(ruling_due) if ruling_due else None)
    confirmation = doc["confirmation"]
    if changed:
        watches.close(m.watches, f"{doc['id']}/court_acceptance/1", "met")
        if accepted:
            _watch(m, doc, "court_ruling", "1", ruling_due, now, f"{confirmation['court']}作出裁定")
    return [_event("confirmation_accepted", doc, {
        "accepted": accepted, "reference": confirmation["reference"], "reason": confirmation["decision_reason"],
        "ruling_due_at": confirmation["ruling_due_at"], "by": by}, confirmation[f"{action}_at"], "decision")]


def extend_ruling(m: Mediation, mediation_id: str, *, by: str, now: datetime) -> dict:
    """The court extends its ruling time by 10 days, once."""
    doc = get(m, mediation_id)
    if doc["confirmation"].get("extended"):
        raise IllegalTransition("司法确认", "accepted", "extend_ruling", ["rule"], "裁定期限只能延长一次（10日）")
    due = parse_iso(doc["confirmation"].get("ruling_due_at") or isoformat(now)) + RULING_EXTENSION
    doc, changed = _confirmation(m, mediation_id, "extend_ruling", now, rule="延长须在受理后、裁定前",
                                 extended=True, ruling_due_at=isoformat(due))
    if changed:
        watches.close(m.watches, f"{doc['id']}/court_ruling/1", "superseded")
        _watch(m, doc, "court_ruling", "2", due, now, f"{doc['confirmation']['court']}延长后作出裁定")
    return doc


def court_rules(m: Mediation, mediation_id: str, *, result: str, reference: str | None, reason: str, by: str,
                now: datetime) -> list[Event]:
    doc, changed = _confirmation(m, mediation_id, "rule", now, result=result, ruling_reference=reference,
                                 ruling_reason=reason, ruled_by=by)
    confirmation = doc["confirmation"]
    if changed:
        watches.close_open(m.watches, doc["case_id"], ("court_ruling",), "met")
        if result == "confirmed":
            figures.count(m.figures, doc, confirmed=1)
    return [_event("confirmation_ruled", doc, {
        "result": confirmation["result"], "reference": confirmation["ruling_reference"],
        "reason": confirmation["ruling_reason"], "ruled_at": confirmation["rule_at"], "by": confirmation["ruled_by"]},
        confirmation["rule_at"], "ruling")]


# --- the clock -------------------------------------------------------------------------------

def check_deadlines(m: Mediation, now: datetime) -> list[Event]:
    """Warnings before, and events after, every mediation time limit."""
    events = []
    for due in watches.scan(m.watches, now):
        watch = due.watch
        doc = {"id": watch["mediation_id"], "case_id": watch["case_id"]}
        common = {"deadline": watch["kind"], "due_at": watch["due_at"], "detail": watch["detail"]}
        key = f"{watch['kind']}/{watch['key']}"
        if due.kind == "warning":
            events.append(_event("mediation_deadline_warning", doc, {**common, "hours_left": due.hours_left}, now,
                                 f"{key}/warning/{due.hours_left}"))
        elif watch["kind"] == "obligation":
            obligation = next(o for o in get(m, doc["id"])["agreement"]["obligations"]
                              if str(o["no"]) == watch["key"])
            events.append(_event("obligation_overdue", doc, {
                "obligation_no": obligation["no"], "party": obligation["party"],
                "description": obligation["description"], "due_at": watch["due_at"]}, now, f"{key}/overdue"))
        else:
            events.append(_event("mediation_deadline_missed", doc, common, now, f"{key}/missed"))
    return events

