"""Listing whole case views by filters the store answers directly, for ledger exports and
Open311. Plain domain logic. The case list and full-text search go through the search index
(``fengqiao.search``); this is for callers that need every field of each view.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fengqiao.clock import isoformat
from fengqiao.screen import EVERYWHERE
from fengqiao.search import SUBTREE_END, region_prefix
from fengqiao.store import Collection, Filter, Order

MAX_PAGE = 1000


@dataclass(frozen=True)
class CaseFilters:
    channel: str | None = None
    status: str | None = None
    region: str | None = None  # a region code: its whole subtree
    unit_id: str | None = None
    category: str | None = None
    risk: int | None = None
    received_from: str | None = None  # ISO times, inclusive / exclusive
    received_to: str | None = None
    include_merged: bool = False

    def where(self) -> Filter:
        where: Filter = {}
        for field, value in (("channel", self.channel), ("status", self.status), ("category", self.category),
                             ("risk", self.risk), ("assignment.unit_id", self.unit_id)):
            if value is not None:
                where[field] = value
        if self.status is None and not self.include_merged:
            where["status"] = {"$ne": "merged"}
        if self.region:
            where["region_code"] = subtree(self.region)
        received = {}
        if self.received_from:
            received["$gte"] = self.received_from
        if self.received_to:
            received["$lt"] = self.received_to
        if received:
            where["received_at"] = received
        return where


def subtree(code: str) -> dict:
    """The filter on region_code for a region's whole subtree: a city's code (150100) covers its
    counties (1501…)."""
    prefix = region_prefix(code)
    return {"$gte": prefix, "$lt": prefix + SUBTREE_END}


def find_cases(views: Collection, filters: CaseFilters, after: str | None = None, limit: int = 100):
    return views.find(filters.where(), order=Order("received_at", descending=True),
                      limit=min(max(limit, 1), MAX_PAGE), after=after)


def count_cases(views: Collection, filters: CaseFilters) -> int:
    return views.count(filters.where())


def grade3_open(views: Collection, codes: list[str], limit: int = 50) -> list[dict]:
    """The open grade-3 cases in these regions' subtrees ("all": everywhere), newest first, each
    with only what a wall shows: number, category, place, unit and when it came in."""
    found = []
    for code in codes:
        where: Filter = {"risk": 3, "status": {"$ne": "closed"}}
        if code != EVERYWHERE:
            where["region_code"] = subtree(code)
        page = views.find(where, order=Order("received_at", descending=True), limit=min(limit, MAX_PAGE))
        found += [view for view in page.items if view.get("status") != "merged"]
    found.sort(key=lambda view: view["received_at"], reverse=True)
    return [_listed(view) for view in found[:limit]]


def due_soon(views: Collection, codes: list[str], now: datetime, hours: int = 24) -> int:
    """Open cases in these regions' subtrees whose next deadline comes within ``hours``: the ones
    about to become overdue (an overdue case has no next deadline; it is counted as overdue)."""
    total, window = 0, {"$gte": isoformat(now), "$lt": isoformat(now + timedelta(hours=hours))}
    for code in codes:
        where: Filter = {"next_due_at": window}
        if code != EVERYWHERE:
            where["region_code"] = subtree(code)
        total += views.count(where)
    return total


def _listed(view: dict) -> dict:
    assignment = view.get("assignment") or {}
    return {"number": view.get("number"), "category": view.get("category"), "region_code": view.get("region_code"),
            "level": assignment.get("level"), "unit_name": assignment.get("unit_name"),
            "received_at": view["received_at"], "overdue": bool(view.get("overdue"))}
