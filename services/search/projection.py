"""The case view: a projection built purely from events. Plain domain logic.

Applying an event is idempotent (the view remembers the event ids it applied) and monotonic:
the status follows the latest event in occurred time, so an event that arrives late adds its
facts and its timeline entry without moving the case backwards.
"""
from __future__ import annotations

from collections.abc import Callable

from fengqiao import labels
from fengqiao.events import Event
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index

CASE_VIEWS = CollectionSpec(
    "case_views",
    [Index(("status",)), Index(("received_at",)), Index(("assignment.unit_id",)), Index(("number",))],
)

# Fields that are bookkeeping of the projection, not part of what users see.
INTERNAL_FIELDS = ("applied_events", "status_at", "version")
MAX_CONFLICT_RETRIES = 20


def empty_view(case_id: str) -> dict:
    return {
        "id": case_id,
        "status": None,
        "status_at": "",
        "category": None,
        "risk": None,
        "assignment": None,
        "timeline": [],
        "applied_events": [],
    }


def _received(view: dict, event: Event) -> tuple[str, str]:
    data = event.data
    view.update(data.model_dump(mode="json"))
    return "received", f"经{labels.CHANNELS[data.channel]}受理登记，编号 {data.number}"


def _assigned(view: dict, event: Event) -> tuple[str, str]:
    data = event.data
    if (view.get("assignment") or {}).get("assignment_no", 0) <= data.assignment_no:
        view["assignment"] = data.model_dump(
            mode="json", include={"assignment_no", "level", "region_code", "unit_id", "unit_name"}
        )
        view["category"] = data.category
        view["risk"] = data.risk
    return "assigned", f"分派至{data.unit_name}（{labels.LEVELS[data.level]}）：{data.reason}"


PROJECTORS: dict[str, Callable[[dict, Event], tuple[str, str]]] = {
    "case_received": _received,
    "case_assigned": _assigned,
}
TITLES = {"case_received": "受理登记", "case_assigned": "分派"}
# Lifecycle order of statuses: breaks ties between events stamped with the same time.
STAGE = {"received": 1, "assigned": 2}
EVENT_STAGE = {"case_received": 1, "case_assigned": 2}


def project(view: dict | None, event: Event) -> dict | None:
    """The view after the event, or None when the event was already applied."""
    view = dict(view) if view else empty_view(event.case_id)
    if event.event_id in view["applied_events"]:
        return None
    status, detail = PROJECTORS[event.type](view, event)
    if (event.occurred_at, STAGE[status]) >= (view["status_at"], STAGE.get(view["status"], 0)):
        view["status"], view["status_at"] = status, event.occurred_at
    entry = {
        "event_id": event.event_id, "type": event.type, "at": event.occurred_at,
        "title": TITLES[event.type], "detail": detail,
    }
    view["timeline"] = sorted(
        [*view["timeline"], entry], key=lambda e: (e["at"], EVENT_STAGE[e["type"]], e["event_id"])
    )
    view["applied_events"] = [*view["applied_events"], event.event_id]
    return view


def apply(views: Collection, event: Event) -> bool:
    """Fold one event into the stored view; True if it changed the view."""
    for _ in range(MAX_CONFLICT_RETRIES):
        current = views.get(event.case_id)
        updated = project(current, event)
        if updated is None:
            return False
        if current is None:
            try:
                views.insert(updated)
                return True
            except DuplicateKeyError:
                continue  # another consumer created it first; fold into theirs
        changes = {k: v for k, v in updated.items() if k not in ("id", "version")}
        if views.update(event.case_id, changes, expected_version=current["version"]):
            return True
    raise RuntimeError(f"case view {event.case_id}: gave up after {MAX_CONFLICT_RETRIES} write conflicts")


def public_view(view: dict) -> dict:
    return {k: v for k, v in view.items() if k not in INTERNAL_FIELDS}
