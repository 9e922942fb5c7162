"""Deadlines: set by policy, warned at 48 h and 24 h before, overdue when missed. Plain domain logic.

The deadlines are watches (``fengqiao.watches``); this module says how long each one runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from fengqiao import watches
from fengqiao.settings import DEFAULT_DEADLINES as DEFAULT_POLICY
from fengqiao.store import Collection, CollectionSpec

DEADLINES = CollectionSpec("deadlines", watches.INDEXES)
KINDS = ("first_response", "progress_update", "resolution")
TITLES = {"first_response": "首次答复", "progress_update": "进展更新", "resolution": "办结"}


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


def due(policy: Policy, kind: str, case: dict, start: datetime) -> datetime:
    return start + timedelta(hours=policy.hours(kind, case["channel"], case["category"], case["risk"]))


def open_deadline(deadlines: Collection, policy: Policy, case_id: str, kind: str, assignment: dict,
                  case: dict, start: datetime, key: str) -> dict:
    """Open a deadline (idempotent on ``key``); warnings already in the past are not owed."""
    due_at = due(policy, kind, case, start)
    return watches.watch(deadlines, {
        "id": f"{case_id}/{kind}/{key}", "case_id": case_id, "kind": kind, "unit_id": assignment["unit_id"],
        "unit_name": assignment["unit_name"]}, due_at, start, policy.warnings)


close_open = watches.close_open
scan = watches.scan
