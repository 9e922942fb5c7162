"""The case view: a projection built purely from events. Plain domain logic.

Applying an event is idempotent (a view remembers the event ids it applied) and monotonic:
the status follows the latest status-changing event in occurred time, so an event that arrives
late adds its facts and its timeline entry without moving the case backwards. An event may
touch more than one view: a merge updates the case and turns the merged report's own id into
a pointer to it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fengqiao import labels
from fengqiao.events import Event
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index
from services.search import matters

CASE_VIEWS = CollectionSpec(
    "case_views",
    [Index(("status",)), Index(("received_at",)), Index(("assignment.unit_id",)), Index(("number",)),
     Index(("channel", "received_at")), Index(("next_due_at",))],
)

# Fields that are bookkeeping of the projection, not part of what users see.
INTERNAL_FIELDS = ("applied_events", "status_at", "status_stage", "version", "pending_counts", "matters")
MAX_CONFLICT_RETRIES = 20
# Lifecycle order: breaks ties between events stamped with the same time.
# A reassignment after a reopen outranks the reopen it follows.
STAGE = {"merged": 0, "received": 1, "assigned": 2, "transferred": 2, "mediating": 3, "agreed": 4,
         "resolved": 5, "closed": 6, "reopened": 7, "reassigned": 8}
EVENT_ORDER = {"case_received": 0, "case_merged": 1, "case_unmerged": 1, "case_triaged": 2, "deadline_warning": 3,
               "case_overdue": 3, "case_returned": 3, "case_escalated": 4, "case_assigned": 5,
               "progress_reported": 6, "mediation_opened": 7, "mediation_session_logged": 8,
               "mediation_concluded": 9, "agreement_signed": 9, "obligation_performed": 10,
               "obligation_overdue": 10, "mediation_deadline_warning": 10, "mediation_deadline_missed": 10,
               "agreement_performed": 11, "confirmation_applied": 12, "confirmation_accepted": 13,
               "confirmation_ruled": 14, "case_resolved": 15, "followup_planned": 16, "followup_overdue": 17,
               "followup_done": 18, "case_reopened": 19, "case_closed": 20, "monitoring_started": 21,
               "monitoring_check_due": 22, "monitoring_checked": 23, "monitoring_released": 24}
DEADLINES = {"first_response": "首次答复", "progress_update": "进展更新", "resolution": "办结"}
KIND_TITLES = {"auto": "分派", "return": "退单改派", "manual": "人工改派", "escalation": "提级交办",
               "regrade": "升级改派", "reopen": "重新交办"}


@dataclass(frozen=True)
class Change:
    """What an event does to one view: its new status (None: unchanged) and timeline line."""

    status: str | None
    title: str
    detail: str
    stage: str | None = None  # the status's rank when it is not the status's own (see STAGE)
    order: float | None = None  # the timeline rank when it is not the event type's own (EVENT_ORDER)


def empty_view(case_id: str) -> dict:
    return {
        "id": case_id, "status": None, "status_at": "", "category": None, "risk": None,
        "assignment": None, "report_count": 0, "reports": [], "timeline": [], "applied_events": [],
    }


def _report_entry(report_id: str, data) -> dict:
    return {"report_id": report_id, "number": data.number, "channel": data.channel,
            "source_id": data.source_id, "reported_at": data.reported_at}


def _set_reports(view: dict, reports: list[dict]) -> None:
    view["reports"] = sorted(reports, key=lambda r: (r["reported_at"] or "", r["report_id"]))
    view["report_count"] = len(view["reports"])


def _received(view: dict, event: Event) -> Change:
    data = event.data
    view.update(data.model_dump(mode="json"))
    view["merged_into"] = None
    view["matters"] = matters.words_of(data.text)  # once, here: the counters read them on every event
    own = [r for r in view["reports"] if r["report_id"] != event.case_id]
    _set_reports(view, [_report_entry(event.case_id, data), *own])
    return Change("received", "受理登记", f"经{labels.CHANNELS[data.channel]}受理登记，编号 {data.number}")


def _triaged(view: dict, event: Event) -> Change:
    data = event.data
    if (view.get("triage") or {}).get("triage_no", 0) <= data.triage_no:
        view["triage"] = data.model_dump(mode="json", include={"triage_no", "reasons", "confidence"})
        view["category"], view["risk"] = data.category, data.risk
    return Change(None, "研判", f"{labels.CATEGORIES[data.category]}，{data.risk}级风险：{'；'.join(data.reasons)}")


def _assigned(view: dict, event: Event) -> Change:
    data = event.data
    if (view.get("assignment") or {}).get("assignment_no", 0) <= data.assignment_no:
        view["assignment"] = data.model_dump(mode="json", include={
            "assignment_no", "level", "region_code", "unit_id", "unit_name", "lead", "support", "disposition",
            "kind", "by", "due_at"})
        view["overdue"] = False
        # Each assignment owes its unit's first response; 响应率 counts whether it came in time.
        view["response"] = {"assignment_no": data.assignment_no, "since": event.occurred_at,
                            "due_at": data.response_due_at, "responded_at": None, "missed": False}
        for entry in view["timeline"]:  # an answer delivered before this assignment's own event
            if entry["type"] in ANSWERS:
                _responded(view, entry["at"])
        if not view.get("triage"):
            view["category"], view["risk"] = data.category, data.risk
    lead = f"，包案领导：{data.lead}" if data.lead else ""
    who = "" if data.by == "routing" else f"（{data.by}）"
    status = "transferred" if data.disposition == "legal_transfer" else "assigned"
    title = "依法导入法律程序" if status == "transferred" else KIND_TITLES[data.kind]
    if data.kind == "reopen":  # after the reopen it follows, even when stamped with the same time
        return Change(status, title, f"{data.unit_name}（{labels.LEVELS[data.level]}）：{data.reason}{lead}{who}",
                      stage="reassigned", order=EVENT_ORDER["case_reopened"] + 0.5)
    return Change(status, title, f"{data.unit_name}（{labels.LEVELS[data.level]}）：{data.reason}{lead}{who}")


def _returned(view: dict, event: Event) -> Change:
    data = event.data
    view["returns"] = max(view.get("returns", 0), data.returns)
    return Change(None, "退单", f"{data.unit_name}退单（第{data.returns}次）：{data.reason}")


def _escalated(view: dict, event: Event) -> Change:
    data = event.data
    view["escalated"] = True
    if data.kind == "problem_case":
        view["problem_case"] = True
    return Change(None, "提级督办", f"由{data.from_unit.unit_name}提级至{data.to_unit.unit_name}：{data.reason}")


def _warned(view: dict, event: Event) -> Change:
    data = event.data
    return Change(None, "临期预警", f"{DEADLINES[data.deadline]}期限{data.due_at}，剩余{data.hours_left}小时"
                                   f"（{data.unit_name}）")


ANSWERS = ("progress_reported", "case_resolved")  # what answers a case (its first response)


def _responded(view: dict, at: str) -> None:
    """The current assignment's first response came at ``at`` (the first one after it began counts)."""
    response = view.get("response")
    if response and not response["responded_at"] and at >= response["since"]:
        view["response"] = {**response, "responded_at": at}


def _overdue(view: dict, event: Event) -> Change:
    data = event.data
    if view.get("assignment", {}) and view["assignment"].get("unit_id") == data.unit_id:
        view["overdue"] = True
        response = view.get("response")
        # Only this assignment's deadline: an earlier one's, delivered late, has another due time.
        if data.deadline == "first_response" and response and response["due_at"] == data.due_at:
            view["response"] = {**response, "missed": True}
    return Change(None, "逾期", f"{data.unit_name}{DEADLINES[data.deadline]}逾期（期限{data.due_at}）")


def _progress(view: dict, event: Event) -> Change:
    data = event.data
    view["last_progress_at"] = max(view.get("last_progress_at") or "", data.reported_at)
    _responded(view, data.reported_at)
    return Change(None, "办理进展", f"{data.note}（{data.by}）")


def _explain(data) -> str:
    return "、".join(s.detail for s in data.signals)


def _merged(view: dict, event: Event) -> Change:
    report = event.data.report
    others = [r for r in view["reports"] if r["report_id"] != report.report_id]
    _set_reports(view, [*others, _report_entry(report.report_id, report)])
    return Change(None, "合并重复诉求", f"{labels.CHANNELS[report.channel]}再次反映（{report.number}），"
                                      f"匹配度 {event.data.score:.2f}：{_explain(event.data)}")


def _merged_report(view: dict, event: Event) -> Change:
    report = event.data.report
    view.update({"number": report.number, "channel": report.channel, "source_id": report.source_id,
                 "merged_into": event.case_id})
    if report.received_at:  # events written before it was carried leave the view as it was
        view.update(received_at=report.received_at, facts=report.facts)
    return Change("merged", "并入已有案件", f"与已有案件为同一事项，已并入处理（匹配度 {event.data.score:.2f}）")


def _unmerged(view: dict, event: Event) -> Change:
    data = event.data
    _set_reports(view, [r for r in view["reports"] if r["report_id"] != data.report_id])
    return Change(None, "拆分重复诉求", f"反映 {data.report_id[:8]} 经核实非同一事项，已拆分为独立案件：{data.reason}")


def _yuan(amount: float) -> str:
    return f"{amount:,.2f}元"


def _mediation(view: dict) -> dict:
    view["mediation"] = dict(view.get("mediation") or {})
    return view["mediation"]


def _mediation_opened(view: dict, event: Event) -> Change:
    data = event.data
    mediation = _mediation(view)
    if mediation.get("mediation_id") != data.mediation_id:
        mediation.clear()
        mediation.update({"mediation_id": data.mediation_id, "state": "open", "sessions": 0, "agreement": None,
                          "confirmation": None})
    mediation.update({"origin": data.origin, "committee": data.committee.model_dump(mode="json"),
                      "mediators": [m.name for m in data.mediators], "target_due_at": data.target_due_at})
    names = "、".join(m.name for m in data.mediators)
    origin = labels.ORIGINS[data.origin]
    return Change("mediating", "启动调解", f"{origin}，{data.committee.unit_name}，调解员：{names}")


def _same_mediation(view: dict, data) -> dict | None:
    mediation = _mediation(view)
    return mediation if mediation.get("mediation_id") in (None, data.mediation_id) else None


def _session_logged(view: dict, event: Event) -> Change:
    data = event.data
    mediation = _same_mediation(view, data)
    if mediation is not None:
        mediation["sessions"] = max(mediation.get("sessions", 0), data.session_no)
    mode = labels.SESSION_MODES[data.mode]
    return Change(None, "调解会", f"第{data.session_no}次调解（{mode}，{data.place or mode}）：{data.notes}")


def _concluded(view: dict, event: Event) -> Change:
    data = event.data
    mediation = _same_mediation(view, data)
    if mediation is not None:
        mediation.update({"state": "concluded", "outcome": data.outcome})
    where = {"court": "（转诉讼）", "arbitration": "（转仲裁）"}.get(data.transferred_to or "", "")
    return Change("assigned", labels.OUTCOMES[data.outcome], f"{data.reasons}{where}", stage="reassigned")


def _agreement_signed(view: dict, event: Event) -> Change:
    data = event.data
    mediation = _same_mediation(view, data)
    if mediation is not None:
        mediation.update({"state": mediation.get("state") if mediation.get("state") == "performed" else "agreed",
                          "outcome": "agreement",
                          "agreement": {"signed_at": data.signed_at, "total_amount": data.total_amount,
                                        "obligations": len(data.obligations),
                                        "confirmation_window_ends": data.confirmation_window_ends}})
    return Change("agreed", "达成调解协议", f"签订人民调解协议书，{len(data.obligations)}项履行义务，"
                                          f"涉及金额{_yuan(data.total_amount)}")


def _obligation_performed(view: dict, event: Event) -> Change:
    data = event.data
    return Change(None, "履行", f"第{data.obligation_no}项义务已履行（{data.party}）{data.note}")


def _obligation_overdue(view: dict, event: Event) -> Change:
    data = event.data
    return Change(None, "履行逾期", f"第{data.obligation_no}项义务逾期未履行（{data.party}：{data.description}，"
                                    f"期限{data.due_at}）")


def _agreement_performed(view: dict, event: Event) -> Change:
    mediation = _same_mediation(view, event.data)
    if mediation is not None:
        mediation["state"] = "performed"
    return Change(None, "协议履行完毕", "调解协议约定的义务已全部履行")


def _confirmation(view: dict, data, state: str) -> None:
    mediation = _same_mediation(view, data)
    if mediation is not None:
        mediation["confirmation"] = state


def _confirmation_applied(view: dict, event: Event) -> Change:
    _confirmation(view, event.data, "applied")
    return Change(None, "申请司法确认", f"双方共同向{event.data.court}申请司法确认")


def _confirmation_accepted(view: dict, event: Event) -> Change:
    data = event.data
    _confirmation(view, data, "accepted" if data.accepted else "not_accepted")
    detail = f"法院已受理（{data.reference or '案号待补'}），应于{data.ruling_due_at}前裁定" if data.accepted \
        else f"法院不予受理：{data.reason}"
    return Change(None, "司法确认受理", detail)


def _confirmation_ruled(view: dict, event: Event) -> Change:
    data = event.data
    _confirmation(view, data, data.result)
    verdict = "裁定调解协议有效" if data.result == "confirmed" else f"裁定驳回申请：{data.reason}"
    return Change(None, "司法确认裁定", f"{verdict}（{data.reference or '案号待补'}）")


def _mediation_warning(view: dict, event: Event) -> Change:
    data = event.data
    return Change(None, "调解临期预警", f"{labels.MEDIATION_DEADLINES[data.deadline]}{data.due_at}，"
                                        f"剩余{data.hours_left}小时：{data.detail}")


def _mediation_missed(view: dict, event: Event) -> Change:
    data = event.data
    what = labels.MEDIATION_DEADLINES[data.deadline]
    return Change(None, "调解期限届满", f"{what}已于{data.due_at}届满：{data.detail}")


def _resolved(view: dict, event: Event) -> Change:
    data = event.data
    view["resolution"] = data.model_dump(mode="json")
    view["overdue"] = False
    _responded(view, data.resolved_at)  # resolving a case answers it too
    return Change("resolved", "化解办结", f"{data.summary}（{data.by}）")


def _followup(view: dict) -> dict:
    view["followup"] = dict(view.get("followup") or {})
    return view["followup"]


def _followup_planned(view: dict, event: Event) -> Change:
    followup = _followup(view)
    if followup.get("visit_no", 0) <= event.data.visit_no:
        followup.update({"visit_no": event.data.visit_no, "due_at": event.data.due_at, "state": "planned"})
    return Change(None, "安排回访", f"第{event.data.visit_no}次回访，应于{event.data.due_at}前完成")


def _followup_overdue(view: dict, event: Event) -> Change:
    return Change(None, "回访逾期", f"第{event.data.visit_no}次回访逾期（期限{event.data.due_at}）")


def _followup_done(view: dict, event: Event) -> Change:
    data = event.data
    followup = _followup(view)
    if followup.get("visit_no", 0) <= data.visit_no:
        followup.update({"visit_no": data.visit_no, "state": "done", "satisfaction": data.satisfaction,
                         "resolved": data.resolved, "visited_at": data.visited_at})
    solved = "问题已解决" if data.resolved else "问题未解决"
    how, feeling = labels.VISIT_METHODS[data.method], labels.SATISFACTION[data.satisfaction]
    return Change(None, "回访", f"{how}：{solved}，{feeling}" + (f"。{data.notes}" if data.notes else ""))


def _reopened(view: dict, event: Event) -> Change:
    view["reopens"] = max(view.get("reopens", 0), event.data.reopen_no)
    return Change("reopened", "重新打开", f"{event.data.reason}（{event.data.by}）")


def _closed(view: dict, event: Event) -> Change:
    view["closed_at"] = event.data.closed_at
    return Change("closed", "办结销号", f"经第{event.data.visit_no}次回访群众满意，准予办结"
                                      + (f"：{event.data.note}" if event.data.note else ""))


def _monitoring(view: dict) -> dict:
    view["monitoring"] = dict(view.get("monitoring") or {})
    return view["monitoring"]


def _monitoring_started(view: dict, event: Event) -> Change:
    data = event.data
    _monitoring(view).update({"active": True, "reason": data.reason, "interval_days": data.interval_days,
                              "next_check_at": data.next_check_at})
    return Change(None, "列入长效管控", f"{labels.MONITORING_REASONS[data.reason]}，每{data.interval_days}天回查一次"
                                        + (f"：{data.note}" if data.note else ""))


def _monitoring_check_due(view: dict, event: Event) -> Change:
    data = event.data
    late = f"，已逾期{data.overdue_days}天" if data.overdue_days else ""
    return Change(None, "管控回查到期", f"第{data.check_no}次回查应于{data.due_at}完成{late}")


def _monitoring_checked(view: dict, event: Event) -> Change:
    data = event.data
    monitoring = _monitoring(view)
    monitoring["next_check_at"] = max(monitoring.get("next_check_at") or "", data.next_check_at)
    return Change(None, "管控回查", f"第{data.check_no}次回查：{data.note}")


def _monitoring_released(view: dict, event: Event) -> Change:
    _monitoring(view)["active"] = False
    return Change(None, "解除长效管控", f"{event.data.reason}（{event.data.by}）")


# For each event type, the views it touches: (which view id, what it does there).
Target = tuple[Callable[[Event], str], Callable[[dict, Event], Change]]
PROJECTIONS: dict[str, list[Target]] = {
    "case_received": [(lambda e: e.case_id, _received)],
    "case_triaged": [(lambda e: e.case_id, _triaged)],
    "case_assigned": [(lambda e: e.case_id, _assigned)],
    "case_returned": [(lambda e: e.case_id, _returned)],
    "case_escalated": [(lambda e: e.case_id, _escalated)],
    "deadline_warning": [(lambda e: e.case_id, _warned)],
    "case_overdue": [(lambda e: e.case_id, _overdue)],
    "progress_reported": [(lambda e: e.case_id, _progress)],
    "case_merged": [(lambda e: e.case_id, _merged), (lambda e: e.data.report.report_id, _merged_report)],
    "case_unmerged": [(lambda e: e.case_id, _unmerged)],
    "mediation_opened": [(lambda e: e.case_id, _mediation_opened)],
    "mediation_session_logged": [(lambda e: e.case_id, _session_logged)],
    "mediation_concluded": [(lambda e: e.case_id, _concluded)],
    "agreement_signed": [(lambda e: e.case_id, _agreement_signed)],
    "obligation_performed": [(lambda e: e.case_id, _obligation_performed)],
    "obligation_overdue": [(lambda e: e.case_id, _obligation_overdue)],
    "agreement_performed": [(lambda e: e.case_id, _agreement_performed)],
    "confirmation_applied": [(lambda e: e.case_id, _confirmation_applied)],
    "confirmation_accepted": [(lambda e: e.case_id, _confirmation_accepted)],
    "confirmation_ruled": [(lambda e: e.case_id, _confirmation_ruled)],
    "mediation_deadline_warning": [(lambda e: e.case_id, _mediation_warning)],
    "mediation_deadline_missed": [(lambda e: e.case_id, _mediation_missed)],
    "case_resolved": [(lambda e: e.case_id, _resolved)],
    "followup_planned": [(lambda e: e.case_id, _followup_planned)],
    "followup_overdue": [(lambda e: e.case_id, _followup_overdue)],
    "followup_done": [(lambda e: e.case_id, _followup_done)],
    "case_reopened": [(lambda e: e.case_id, _reopened)],
    "case_closed": [(lambda e: e.case_id, _closed)],
    "monitoring_started": [(lambda e: e.case_id, _monitoring_started)],
    "monitoring_check_due": [(lambda e: e.case_id, _monitoring_check_due)],
    "monitoring_checked": [(lambda e: e.case_id, _monitoring_checked)],
    "monitoring_released": [(lambda e: e.case_id, _monitoring_released)],
}


SYSTEMS = {"intake": "受理登记系统", "routing": "分派研判系统", "mediation": "调解系统", "followup": "回访系统"}


UNCLOCKED = (None, "merged", "resolved", "closed")  # statuses whose deadlines have all stopped


def next_due(view: dict) -> str | None:
    """The soonest deadline the unit has still to meet: the first response while it is owed,
    else the resolution. None when the case is overdue already, stopped or unassigned."""
    if view.get("status") in UNCLOCKED or view.get("overdue"):
        return None
    response = view.get("response") or {}
    owed = [response["due_at"]] if response.get("due_at") and not response["responded_at"] \
        and not response["missed"] else []
    resolution = (view.get("assignment") or {}).get("due_at")
    return min([*owed, *([resolution] if resolution else [])], default=None)


def actor(event: Event) -> str:
    """Who did it: the person or system a command names, or the service whose rule did it."""
    by = getattr(event.data, "by", None)
    if by and by != event.source:
        return by
    return SYSTEMS.get(event.source, event.source) + "（系统）"


def project(view: dict | None, view_id: str, event: Event,
            change_view: Callable[[dict, Event], Change]) -> dict | None:
    """The view after the event, or None when the event was already applied to it."""
    view = dict(view) if view else empty_view(view_id)
    if event.event_id in view["applied_events"]:
        return None
    change = change_view(view, event)
    current = (view["status_at"], STAGE.get(view.get("status_stage") or view["status"], -1))
    if change.status and (event.occurred_at, STAGE[change.stage or change.status]) >= current:
        view["status"], view["status_at"] = change.status, event.occurred_at
        view["status_stage"] = change.stage or change.status
    view["next_due_at"] = next_due(view)
    entry = {"event_id": event.event_id, "type": event.type, "at": event.occurred_at,
             "title": change.title, "detail": change.detail, "by": actor(event),
             "order": EVENT_ORDER[event.type] if change.order is None else change.order}
    view["timeline"] = sorted([*view["timeline"], entry], key=lambda e: (e["at"], e["order"], e["event_id"]))
    view["applied_events"] = [*view["applied_events"], event.event_id]
    return view


Stamp = Callable[[dict | None, dict, str], None]


def apply(views: Collection, event: Event, stamp: Stamp | None = None) -> list[tuple[dict, bool]]:
    """Fold one event into every view it touches: each view as stored now, and whether it changed.

    ``stamp(before, after, event_id)`` may add to a view just before it is written (the counters
    note their pending difference there, in the same write).
    """
    return [_apply_to(views, view_id_of(event), event, change_view, stamp)
            for view_id_of, change_view in PROJECTIONS[event.type]]


def _apply_to(views: Collection, view_id: str, event: Event, change_view, stamp: Stamp | None) -> tuple[dict, bool]:
    for _ in range(MAX_CONFLICT_RETRIES):
        current = views.get(view_id)
        updated = project(current, view_id, event, change_view)
        if updated is None:
            return current, False
        if stamp:
            stamp(current, updated, event.event_id)
        if current is None:
            try:
                return views.insert(updated), True
            except DuplicateKeyError:
                continue  # another consumer created it first; fold into theirs
        changes = {k: v for k, v in updated.items() if k not in ("id", "version")}
        written = views.update(view_id, changes, expected_version=current["version"])
        if written:
            return written, True
    raise RuntimeError(f"case view {view_id}: gave up after {MAX_CONFLICT_RETRIES} write conflicts")


def public_view(view: dict) -> dict:
    return {k: v for k, v in view.items() if k not in INTERNAL_FIELDS}
