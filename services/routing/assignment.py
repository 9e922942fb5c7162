"""Assigning a case to the unit that must handle it. Plain domain logic.

Until triage is built every case is category ``other`` at risk grade 1, and the rule is
属地管理: the unit that owns the case's region handles it; a case with no known region goes
to the center's triage desk for manual dispatch.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fengqiao.clock import isoformat
from fengqiao.directory import Directory, Unit
from fengqiao.events import CaseReceived, Event, Recorded, make_event
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index

ASSIGNMENTS = CollectionSpec("assignments", [Index(("unit_id",)), Index(("assigned_at",))])

UNTRIAGED_CATEGORY = "other"
UNTRIAGED_RISK = 1


@dataclass(frozen=True)
class Decision:
    unit: Unit
    region_code: str | None
    reason: str


def decide(directory: Directory, region_code: str | None) -> Decision:
    if not region_code:
        return Decision(directory.triage_desk, None, "未提供属地，转分流台人工分派")
    region = directory.region(region_code)
    if region is None:
        return Decision(directory.triage_desk, region_code, f"属地代码 {region_code} 不在目录中，转分流台人工分派")
    unit = directory.local_unit(region_code)
    if unit is None:
        return Decision(directory.triage_desk, region_code, f"{region.name}无承办单位，转分流台人工分派")
    return Decision(unit, region_code, f"属地管理：{region.name}")


def assign(assignments: Collection, directory: Directory, case: Event, now: datetime) -> Recorded:
    """Record the first assignment of a received case; a repeat returns the recorded one."""
    existing = assignments.get(case.case_id)
    if existing:
        return Recorded(assigned_event(existing), created=False)
    received: CaseReceived = case.data
    decision = decide(directory, received.region_code)
    record = {
        "id": case.case_id,
        "assignment_no": 1,
        "level": decision.unit.level,
        "region_code": decision.region_code,
        "unit_id": decision.unit.id,
        "unit_name": decision.unit.name,
        "category": UNTRIAGED_CATEGORY,
        "risk": UNTRIAGED_RISK,
        "reason": decision.reason,
        "assigned_at": isoformat(now),
    }
    try:
        assignments.insert(record)
    except DuplicateKeyError:  # a concurrent delivery of the same event won the race
        return Recorded(assigned_event(assignments.get(case.case_id)), created=False)
    return Recorded(assigned_event(record), created=True)


def assigned_event(record: dict) -> Event:
    fields = ("assignment_no", "level", "region_code", "unit_id", "unit_name", "category", "risk", "reason")
    return make_event(
        "case_assigned", record["id"], {f: record[f] for f in fields},
        occurred_at=record["assigned_at"], discriminator=record["assignment_no"],
    )
