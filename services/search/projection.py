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

CASE_VIEWS = CollectionSpec(
    "case_views",
    [Index(("status",)), Index(("received_at",)), Index(("assignment.unit_id",)), Index(("number",)),
     Index(("channel", "received_at"))],
)

# Fields that are bookkeeping of the projection, not part of what users see.
INTERNAL_FIELDS = ("applied_events", "status_at", "version")
MAX_CONFLICT_RETRIES = 20
# Lifecycle order: breaks ties between events stamped with the same time.
STAGE = {"merged": 0, "received": 1, "assigned": 2, "transferred": 2}
EVENT_ORDER = {"case_received": 0, "case_merged": 1, "case_unmerged": 1, "case_triaged": 2, "deadline_warning": 3,
               "case_overdue": 3, "case_returned": 3, "case_escalated": 4, "case_assigned": 5,
               "progress_reported": 6}
DEADLINES = {"first_response": "首次答复", "progress_update": "进展更新", "resolution": "办结"}
KIND_TITLES = {"auto": "分派", "return": "退单改派", "manual": "人工改派", "escalation": "提级交办",
               "regrade": "升级改派"}


@dataclass(frozen=True)
class Change:
    """What an event does to one view: its new status (None: unchanged) and timeline line."""

    status: str | None
    title: str
    detail: str


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
            "kind", "by"})
        view["overdue"] = False
        if not view.get("triage"):
            view["category"], view["risk"] = data.category, data.risk
    lead = f"，包案领导：{data.lead}" if data.lead else ""
    who = "" if data.by == "routing" else f"（{data.by}）"
    status = "transferred" if data.disposition == "legal_transfer" else "assigned"
    title = "依法导入法律程序" if status == "transferred" else KIND_TITLES[data.kind]
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


def _overdue(view: dict, event: Event) -> Change:
    data = event.data
    if view.get("assignment", {}) and view["assignment"].get("unit_id") == data.unit_id:
        view["overdue"] = True
    return Change(None, "逾期", f"{data.unit_name}{DEADLINES[data.deadline]}逾期（期限{data.due_at}）")


def _progress(view: dict, event: Event) -> Change:
    data = event.data
    view["last_progress_at"] = max(view.get("last_progress_at") or "", data.reported_at)
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
    return Change("merged", "并入已有案件", f"与已有案件为同一事项，已并入处理（匹配度 {event.data.score:.2f}）")


def _unmerged(view: dict, event: Event) -> Change:
    data = event.data
    _set_reports(view, [r for r in view["reports"] if r["report_id"] != data.report_id])
    return Change(None, "拆分重复诉求", f"反映 {data.report_id[:8]} 经核实非同一事项，已拆分为独立案件：{data.reason}")


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
}


def project(view: dict | None, view_id: str, event: Event,
            change_view: Callable[[dict, Event], Change]) -> dict | None:
    """The view after the event, or None when the event was already applied to it."""
    view = dict(view) if view else empty_view(view_id)
    if event.event_id in view["applied_events"]:
        return None
    change = change_view(view, event)
    current = (view["status_at"], STAGE.get(view["status"], -1))
    if change.status and (event.occurred_at, STAGE[change.status]) >= current:
        view["status"], view["status_at"] = change.status, event.occurred_at
    entry = {"event_id": event.event_id, "type": event.type, "at": event.occurred_at,
             "title": change.title, "detail": change.detail}
    view["timeline"] = sorted(
        [*view["timeline"], entry], key=lambda e: (e["at"], EVENT_ORDER[e["type"]], e["event_id"])
    )
    view["applied_events"] = [*view["applied_events"], event.event_id]
    return view


def apply(views: Collection, event: Event) -> bool:
    """Fold one event into every view it touches; True if any changed."""
    changed = False
    for view_id_of, change_view in PROJECTIONS[event.type]:
        changed |= _apply_to(views, view_id_of(event), event, change_view)
    return changed


def _apply_to(views: Collection, view_id: str, event: Event, change_view) -> bool:
    for _ in range(MAX_CONFLICT_RETRIES):
        current = views.get(view_id)
        updated = project(current, view_id, event, change_view)
        if updated is None:
            return False
        if current is None:
            try:
                views.insert(updated)
                return True
            except DuplicateKeyError:
                continue  # another consumer created it first; fold into theirs
        changes = {k: v for k, v in updated.items() if k not in ("id", "version")}
        if views.update(view_id, changes, expected_version=current["version"]):
            return True
    raise RuntimeError(f"case view {view_id}: gave up after {MAX_CONFLICT_RETRIES} write conflicts")


def public_view(view: dict) -> dict:
    return {k: v for k, v in view.items() if k not in INTERNAL_FIELDS}
