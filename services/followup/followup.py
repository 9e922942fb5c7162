"""Follow-up: the visit after resolution, satisfaction, reopening, closing, and long-term
monitoring. Plain domain logic.

Rules (DOMAIN.md): 销账必回访: no case closes without a visit; the visit is due within 7 days
of resolution by default; 不满意 or not resolved reopens the case and sends it back to routing;
事了心不顺, 未实质化解 and 易暴雷 cases go onto long-term monitoring (长效管控) with periodic
checks, and a missed check raises an event every day until it is done or the case released.

Each case has one follow-up record, created when it is first resolved. Every change is checked
against ``LIFECYCLE`` and written with the record's version before its events go out; events
are numbered by the record (visit number, reopen number, monitoring period and check).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fengqiao import watches
from fengqiao.clock import isoformat, parse_iso
from fengqiao.events import Event, make_event
from fengqiao.lifecycle import IllegalTransition, Lifecycle
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index, Order, changes

FOLLOWUPS = CollectionSpec("followups", [Index(("state",))])
MONITORING = CollectionSpec("monitoring", [Index(("state", "next_alert_at"))])
VISIT_WATCHES = CollectionSpec("visit_watches", watches.INDEXES)

LIFECYCLE = Lifecycle("回访", {
    "awaiting_visit": {"record_visit": "visited", "reopen": "reopened"},
    "satisfied": {"close": "closed", "reopen": "reopened"},
    "closed": {"reopen": "reopened"},
    # "reopened" waits for the handling side to resolve the case again
})
MONITOR = Lifecycle("长效管控", {"active": {"record_check": "active", "release": "released"},
                                "released": {"start": "active"}})
SATISFIED = ("satisfied", "basically_satisfied")
ALERT_EVERY = timedelta(days=1)
SCAN_LIMIT = 500
CLOSE_RULE = "销账必回访：须经回访、问题解决且群众满意后方可办结"


@dataclass(frozen=True)
class Followup:
    followups: Collection
    monitoring: Collection
    watches: Collection
    visit_days: int = 7


def get(f: Followup, case_id: str) -> dict | None:
    return f.followups.get(case_id)


def _existing(f: Followup, case_id: str, action: str, rule: str) -> dict:
    doc = f.followups.get(case_id)
    if doc is None:
        raise IllegalTransition("案件", "unresolved", action, [], rule)
    return doc


# --- visits ----------------------------------------------------------------------------------

def plan_visit(f: Followup, resolved: Event) -> list[Event]:
    """A resolved case gets a visit due ``visit_days`` later (once per resolution)."""
    resolved_at = parse_iso(resolved.data.resolved_at)
    visit = {"resolution_event": resolved.event_id, "planned_at": isoformat(resolved_at),
             "due_at": isoformat(resolved_at + timedelta(days=f.visit_days)), "state": "planned"}
    doc = f.followups.get(resolved.case_id)
    if doc is None:
        try:
            doc = f.followups.insert({"id": resolved.case_id, "state": "awaiting_visit", "reopen_no": 0,
                                      "visits": [{**visit, "visit_no": 1}]})
        except DuplicateKeyError:
            return plan_visit(f, resolved)
    else:
        def change(current):
            if any(v["resolution_event"] == resolved.event_id for v in current["visits"]):
                return None  # a redelivery
            if current["state"] != "reopened":
                return None  # resolved twice in one round: the planned visit stands
            numbered = {**visit, "visit_no": len(current["visits"]) + 1}
            return {"state": "awaiting_visit", "visits": [*current["visits"], numbered]}

        doc, _ = changes.update(f.followups, resolved.case_id, change)
    latest = doc["visits"][-1]
    watches.watch(f.watches, {"id": f"{doc['id']}/visit/{latest['visit_no']}", "case_id": doc["id"], "kind": "visit",
                              "visit_no": latest["visit_no"]}, parse_iso(latest["due_at"]),
                  parse_iso(latest["planned_at"]), warnings=())
    return [make_event("followup_planned", doc["id"], {"visit_no": latest["visit_no"], "due_at": latest["due_at"]},
                       occurred_at=latest["planned_at"], discriminator=latest["visit_no"])]


def record_visit(f: Followup, case_id: str, *, method: str, resolved: bool, satisfaction: str, notes: str,
                 by: str, now: datetime) -> list[Event]:
    """The visit's result: satisfied and resolved lets the case close; anything else reopens it."""
    content = resolved and satisfaction in SATISFIED

    def change(doc):
        LIFECYCLE.next(doc["state"], "record_visit", "回访在案件化解后进行")
        visit = {**doc["visits"][-1], "state": "done", "method": method, "resolved": resolved,
                 "satisfaction": satisfaction, "notes": notes, "visited_at": isoformat(now), "by": by}
        result = {"visits": [*doc["visits"][:-1], visit], "state": "satisfied" if content else "reopened"}
        if not content:
            result["reopen_no"] = doc["reopen_no"] + 1
        return result

    _existing(f, case_id, "record_visit", "案件尚未化解，没有待回访的记录")
    doc, _ = changes.update(f.followups, case_id, change)
    visit = doc["visits"][-1]
    watches.close(f.watches, f"{case_id}/visit/{visit['visit_no']}", "met")
    done = make_event("followup_done", case_id, {k: visit[k] for k in (
        "visit_no", "method", "resolved", "satisfaction", "notes", "visited_at", "by")},
        occurred_at=visit["visited_at"], discriminator=visit["visit_no"])
    if content:
        return [done]
    why = "回访不满意" if satisfaction == "unsatisfied" else "回访反映问题未解决"
    return [done, _reopened_event(doc, f"{why}：{notes}" if notes else why, by, visit["visited_at"],
                                  visit["visit_no"])]


def _reopened_event(doc: dict, reason: str, by: str, at: str, after_visit: int | None) -> Event:
    return make_event("case_reopened", doc["id"], {"reopen_no": doc["reopen_no"], "reason": reason, "by": by,
                                                   "after_visit": after_visit},
                      occurred_at=at, discriminator=doc["reopen_no"])


def reopen(f: Followup, case_id: str, *, reason: str, by: str, now: datetime) -> list[Event]:
    """Staff reopen a resolved or closed case (the matter resurfaced)."""
    _existing(f, case_id, "reopen", "只有已化解或已办结的案件可以重新打开")
    doc, _ = changes.update(f.followups, case_id, lambda d: {
        "state": LIFECYCLE.next(d["state"], "reopen"), "reopen_no": d["reopen_no"] + 1})
    return [_reopened_event(doc, reason, by, isoformat(now), None)]


def close(f: Followup, case_id: str, *, note: str, by: str, now: datetime) -> list[Event]:
    """Close a case: only after a visit found it resolved and the person satisfied, and never
    while it is on long-term monitoring."""
    _existing(f, case_id, "close", CLOSE_RULE)
    watch = f.monitoring.get(case_id)
    if watch and watch["state"] == "active":
        raise IllegalTransition("案件", "monitoring", "close", ["release_monitoring"], "长效管控中的案件须先解除管控")
    doc, _ = changes.update(f.followups, case_id, lambda d: {
        "state": LIFECYCLE.next(d["state"], "close", CLOSE_RULE),
        "closed": {"note": note, "by": by, "at": isoformat(now), "visit_no": d["visits"][-1]["visit_no"]}})
    closed = doc["closed"]
    return [make_event("case_closed", case_id, {"visit_no": closed["visit_no"], "note": note, "closed_at": closed["at"],
                                                "by": closed["by"]},
                       occurred_at=closed["at"], discriminator=closed["visit_no"])]


def check_visits(f: Followup, now: datetime) -> list[Event]:
    return [make_event("followup_overdue", due.watch["case_id"], {"visit_no": due.watch["visit_no"],
                                                                  "due_at": due.watch["due_at"]},
                       occurred_at=now, discriminator=due.watch["visit_no"])
            for due in watches.scan(f.watches, now) if due.kind == "overdue"]


# --- long-term monitoring (长效管控) -----------------------------------------------------------

def start_monitoring(f: Followup, case_id: str, *, reason: str, interval_days: int, note: str, by: str,
                     now: datetime) -> list[Event]:
    due = now + timedelta(days=interval_days)
    fields = {"state": "active", "reason": reason, "interval_days": interval_days, "note": note, "by": by,
              "started_at": isoformat(now), "check_no": 1, "due_at": isoformat(due), "next_alert_at": isoformat(due),
              "checks": []}
    current = f.monitoring.get(case_id)
    if current is None:
        try:
            doc = f.monitoring.insert({"id": case_id, "period": 1, **fields})
        except DuplicateKeyError:
            return start_monitoring(f, case_id, reason=reason, interval_days=interval_days, note=note, by=by, now=now)
    else:
        doc, _ = changes.update(f.monitoring, case_id, lambda d: {
            **fields, "state": MONITOR.next(d["state"], "start", "该案件已在长效管控中"), "period": d["period"] + 1})
    return [make_event("monitoring_started", case_id, {
        "reason": doc["reason"], "note": doc["note"], "interval_days": doc["interval_days"],
        "next_check_at": doc["due_at"], "by": doc["by"]}, occurred_at=doc["started_at"], discriminator=doc["period"])]


def _monitored(f: Followup, case_id: str, action: str) -> dict:
    doc = f.monitoring.get(case_id)
    if doc is None:
        raise IllegalTransition("长效管控", "none", action, ["start"], "该案件未列入长效管控")
    return doc


def record_check(f: Followup, case_id: str, *, note: str, by: str, now: datetime) -> list[Event]:
    """A monitoring check done: the next one is due an interval from now."""
    _monitored(f, case_id, "record_check")

    def change(doc):
        MONITOR.next(doc["state"], "record_check")
        due = now + timedelta(days=doc["interval_days"])
        check = {"check_no": doc["check_no"], "note": note, "by": by, "at": isoformat(now)}
        return {"checks": [*doc["checks"], check], "check_no": doc["check_no"] + 1, "due_at": isoformat(due),
                "next_alert_at": isoformat(due)}

    doc, _ = changes.update(f.monitoring, case_id, change)
    check = doc["checks"][-1]
    return [make_event("monitoring_checked", case_id, {"check_no": check["check_no"], "note": note, "by": by,
                                                       "next_check_at": doc["due_at"]},
                       occurred_at=check["at"], discriminator=f"{doc['period']}/{check['check_no']}")]


def release(f: Followup, case_id: str, *, reason: str, by: str, now: datetime) -> list[Event]:
    _monitored(f, case_id, "release")
    doc, _ = changes.update(f.monitoring, case_id, lambda d: {
        "state": MONITOR.next(d["state"], "release"), "released": {"reason": reason, "by": by, "at": isoformat(now)}})
    return [make_event("monitoring_released", case_id, {"reason": reason, "by": by}, occurred_at=isoformat(now),
                       discriminator=doc["period"])]


def check_monitoring(f: Followup, now: datetime) -> list[Event]:
    """Every check that is due and not done raises an event, again each day until it is done."""
    events = []
    due_now = f.monitoring.find({"state": "active", "next_alert_at": {"$lte": isoformat(now)}},
                                order=Order("next_alert_at"), limit=SCAN_LIMIT).items
    for doc in due_now:
        if not f.monitoring.update(doc["id"], {"next_alert_at": isoformat(now + ALERT_EVERY)},
                                   expected_version=doc["version"]):
            continue  # another worker took it
        overdue_days = max(0, (now - parse_iso(doc["due_at"])).days)
        events.append(make_event("monitoring_check_due", doc["id"], {
            "check_no": doc["check_no"], "due_at": doc["due_at"], "overdue_days": overdue_days},
            occurred_at=now, discriminator=f"{doc['period']}/{doc['check_no']}/{overdue_days}"))
    return events


def monitoring_of(f: Followup, case_id: str) -> dict | None:
    return f.monitoring.get(case_id)
