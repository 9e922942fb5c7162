"""Listing whole case views by filters the store answers directly, for ledger exports and
Open311. Plain domain logic. The case list and full-text search go through the search index
(``fengqiao.search``); this is for callers that need every field of each view.
"""
from __future__ import annotations

from dataclasses import dataclass

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
            prefix = region_prefix(self.region)  # a city's code (150100) covers its counties (1501…)
            where["region_code"] = {"$gte": prefix, "$lt": prefix + SUBTREE_END}
        received = {}
        if self.received_from:
            received["$gte"] = self.received_from
        if self.received_to:
            received["$lt"] = self.received_to
        if received:
            where["received_at"] = received
        return where


def find_cases(views: Collection, filters: CaseFilters, after: str | None = None, limit: int = 100):
    return views.find(filters.where(), order=Order("received_at", descending=True),
                      limit=min(max(limit, 1), MAX_PAGE), after=after)


def count_cases(views: Collection, filters: CaseFilters) -> int:
    return views.count(filters.where())
