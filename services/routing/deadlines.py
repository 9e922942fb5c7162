"""Deadlines: set by policy, warned at 48 h and 24 h before, overdue when missed. Plain domain logic.

Each deadline is a document with the next moment it needs attention (``next_check_at``: the
next warning or the due time), indexed, so the timer reads only what is due now, never every
case. The clock is passed in.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from fengqiao.clock import isoformat, parse_iso
from fengqiao.settings import DEFAULT_DEADLINES as DEFAULT_POLICY
from fengqiao.store import Collection, CollectionSpec, Index, Order

DEADLINES = CollectionSpec("deadlines", [Index(("state", "next_check_at")), Index(("case_id", "state"))])
KINDS = ("first_response", "progress_update", "resolution")
TITLES = {"first_response": "首次答复", "progress_update": "进展更新", "resolution": "办结"}
SCAN_LIMIT = 500


@dataclass(frozen=True)
class Policy:
    rules: dict
    warnings: tuple[int, ...]

    @classmethod
    def load(cls, path: Path | str = DEFAULT_POLICY) -> Policy:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        unknown = set(raw) - {*KINDS, "warnings"}
        if unknown:
            raise ValueError(f"{path}: unknown deadline kinds {sorted(unknown)}")
        return cls({k: raw[k] for k in KINDS}, tuple(sorted(raw.get("warnings", (48, 24)), reverse=True)))

    def hours(self, kind: str, channel: str, category: str, risk: int) -> int:
        rule = self.rules[kind]
        for key, value in (("risk", risk), ("category", category), ("channel", channel)):
            if value in (rule.get(key) or {}):
                return rule[key][value]
        return rule["default"]


@dataclass(frozen=True)
class Due:
    """Something the timer found: a warning or an overdue deadline."""

    deadline: dict
    kind: str  # "warning" or "overdue"
    hours_left: int = 0


def _next_check(due_at: datetime, warnings_left: list[int]) -> datetime:
    return min([due_at - timedelta(hours=h) for h in warnings_left] + [due_at])


def open_deadline(deadlines: Collection, policy: Policy, case_id: str, kind: str, assignment: dict,
                  case: dict, start: datetime, key: str) -> dict:
    """Open a deadline (idempotent on ``key``); warnings already in the past are not owed."""
    doc_id = f"{case_id}/{kind}/{key}"
    existing = deadlines.get(doc_id)
    if existing:
        return existing
    due_at = start + timedelta(hours=policy.hours(kind, case["channel"], case["category"], case["risk"]))
    warnings_left = [h for h in policy.warnings if due_at - timedelta(hours=h) > start]
    return deadlines.insert({
        "id": doc_id, "case_id": case_id, "kind": kind, "unit_id": assignment["unit_id"],
        "unit_name": assignment["unit_name"], "due_at": isoformat(due_at), "warnings_left": warnings_left,
        "next_check_at": isoformat(_next_check(due_at, warnings_left)), "state": "open",
    })


def close_open(deadlines: Collection, case_id: str, kinds: tuple[str, ...], state: str) -> list[dict]:
    """Mark a case's open deadlines of the given kinds met (or superseded by a reassignment)."""
    closed = []
    for doc in deadlines.find({"case_id": case_id, "state": "open"}, limit=100).items:
        if doc["kind"] in kinds and deadlines.update(doc["id"], {"state": state}, expected_version=doc["version"]):
            closed.append(doc)
    return closed


def scan(deadlines: Collection, now: datetime) -> list[Due]:
    """Everything due by ``now``: advance each deadline past what fired, and report it."""
    found = []
    page = deadlines.find({"state": "open", "next_check_at": {"$lte": isoformat(now)}},
                          order=Order("next_check_at"), limit=SCAN_LIMIT)
    for doc in page.items:
        due_at = parse_iso(doc["due_at"])
        if now >= due_at:
            if deadlines.update(doc["id"], {"state": "overdue"}, expected_version=doc["version"]):
                found.append(Due(doc, "overdue"))
            continue
        fired = [h for h in doc["warnings_left"] if now >= due_at - timedelta(hours=h)]
        left = [h for h in doc["warnings_left"] if h not in fired]
        changes = {"warnings_left": left, "next_check_at": isoformat(_next_check(due_at, left))}
        if deadlines.update(doc["id"], changes, expected_version=doc["version"]):
            # Only the most urgent warning is worth sending if several fell due at once.
            found.append(Due(doc, "warning", min(fired)))
    return found
