"""Mediation figures for the command center, kept incrementally: each fact adds to a counter
per dimension (all, county, committee level, category, committee), never a rescan. Plain logic.

A fact is counted by the command that changed the mediation's state, right after that write; a
crash between the two loses that one increment (see the closing note of issue 5).
"""
from __future__ import annotations

from fengqiao import labels
from fengqiao.directory import Directory
from fengqiao.store import Collection, CollectionSpec, Index, changes

FIGURES = CollectionSpec("mediation_figures", [Index(("dimension",))])
DIMENSIONS = ("all", "region", "level", "category", "committee")
FIELDS = ("opened", "mediated", "agreed", "performed", "confirmed", "amount", "parties")


def _keys(mediation: dict) -> list[tuple[str, str]]:
    return [("all", "all"), ("region", (mediation["region_code"] or "")[:6] or "unknown"),
            ("level", mediation["committee"]["level"]), ("category", mediation["category"]),
            ("committee", mediation["committee"]["unit_id"])]


def count(figures: Collection, mediation: dict, **deltas: float) -> None:
    unknown = set(deltas) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown mediation figures {sorted(unknown)}")
    for dimension, key in _keys(mediation):
        _add(figures, f"{dimension}:{key}", dimension, key, deltas)


def _add(figures: Collection, doc_id: str, dimension: str, key: str, deltas: dict) -> None:
    initial = {"dimension": dimension, "key": key, **{f: 0 for f in FIELDS}}
    changes.upsert(figures, doc_id, lambda doc: {f: doc[f] + v for f, v in deltas.items()}, initial)


def _name(directory: Directory, dimension: str, key: str) -> str:
    if dimension == "region":
        region = directory.region(key)
        return region.name if region else "属地不明"
    if dimension == "level":
        return labels.LEVELS.get(key, key)
    if dimension == "category":
        return labels.CATEGORIES.get(key, key)
    if dimension == "committee":
        unit = directory.units.get(key)
        return unit.name if unit else key
    return "全部"


def _region(directory: Directory, dimension: str, key: str) -> str | None:
    """The region a row belongs to, so that a caller limited to some regions sees only theirs."""
    if dimension == "region":
        return None if key == "unknown" else key
    if dimension == "committee":
        unit = directory.units.get(key)
        return unit.region_code if unit else None
    return None


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def read(figures: Collection, directory: Directory, dimension: str) -> list[dict]:
    """One row per value of the dimension: the counts, and the success and performance rates."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    rows = []
    for doc in figures.find({"dimension": dimension}, limit=10_000).items:
        rows.append({"key": doc["key"], "name": _name(directory, dimension, doc["key"]),
                     "region_code": _region(directory, dimension, doc["key"]),
                     **{f: doc[f] for f in FIELDS},
                     "success_rate": _rate(doc["agreed"], doc["mediated"]),
                     "performed_rate": _rate(doc["performed"], doc["agreed"])})
    return sorted(rows, key=lambda r: (-r["opened"], r["key"]))
