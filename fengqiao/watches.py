"""Watches: due dates that warn ahead and fire when missed, scanned by a timer. Plain logic.

Each watch is a document with the next moment it needs attention (``next_check_at``: the next
warning or the due time), indexed, so a timer reads only what is due now, never every case.
Routing keeps its deadlines this way, mediation its obligations and court time limits, follow-up
its visits. The clock is passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fengqiao.clock import isoformat, parse_iso
from fengqiao.store import Collection, Index, Order

INDEXES = [Index(("state", "next_check_at")), Index(("case_id", "state"))]
SCAN_LIMIT = 500
DEFAULT_WARNINGS = (48, 24)  # hours before a due time (DOMAIN.md: Otog Banner practice)


@dataclass(frozen=True)
class Due:
    """Something the timer found: a warning or a missed due time."""

    watch: dict
    kind: str  # "warning" or "overdue"
    hours_left: int = 0


def _next_check(due_at: datetime, warnings_left: list[int]) -> datetime:
    return min([due_at - timedelta(hours=h) for h in warnings_left] + [due_at])


def watch(watches: Collection, doc: dict, due_at: datetime, start: datetime,
          warnings: tuple[int, ...] = DEFAULT_WARNINGS) -> dict:
    """Start watching ``doc`` (idempotent on its id); warnings already in the past are not owed."""
    existing = watches.get(doc["id"])
    if existing:
        return existing
    warnings_left = sorted((h for h in warnings if due_at - timedelta(hours=h) > start), reverse=True)
    return watches.insert({**doc, "due_at": isoformat(due_at), "warnings_left": warnings_left,
                           "next_check_at": isoformat(_next_check(due_at, warnings_left)), "state": "open"})


def close(watches: Collection, watch_id: str, state: str) -> dict | None:
    """Stop an open watch (met, superseded, …); None when it was not open."""
    doc = watches.get(watch_id)
    if doc is None or doc["state"] != "open":
        return None
    return watches.update(watch_id, {"state": state}, expected_version=doc["version"])


def close_open(watches: Collection, case_id: str, kinds: tuple[str, ...], state: str) -> list[dict]:
    """Stop a case's open watches of the given kinds."""
    closed = []
    for doc in watches.find({"case_id": case_id, "state": "open"}, limit=100).items:
        if doc["kind"] in kinds and watches.update(doc["id"], {"state": state}, expected_version=doc["version"]):
            closed.append(doc)
    return closed


def scan(watches: Collection, now: datetime) -> list[Due]:
    """Everything due by ``now``: advance each watch past what fired, and report it."""
    found = []
    page = watches.find({"state": "open", "next_check_at": {"$lte": isoformat(now)}},
                        order=Order("next_check_at"), limit=SCAN_LIMIT)
    for doc in page.items:
        due_at = parse_iso(doc["due_at"])
        if now >= due_at:
            if watches.update(doc["id"], {"state": "overdue"}, expected_version=doc["version"]):
                found.append(Due(doc, "overdue"))
            continue
        fired = [h for h in doc["warnings_left"] if now >= due_at - timedelta(hours=h)]
        left = [h for h in doc["warnings_left"] if h not in fired]
        changes = {"warnings_left": left, "next_check_at": isoformat(_next_check(due_at, left))}
        if watches.update(doc["id"], changes, expected_version=doc["version"]):
            # Only the most urgent warning is worth sending if several fell due at once.
            found.append(Due(doc, "warning", min(fired)))
    return found
