"""The directory: regions at five levels and the units that handle cases in them.

A deployment loads its own directory from a JSON file (``FQ_DIRECTORY_FILE``); the packaged one
is a demo whose county codes are real and whose township, village and grid codes are made up.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from fengqiao.screen import EVERYWHERE

REGION_CODE = re.compile(r"^[0-9]{6}([0-9]{3}([0-9]{3}([0-9]{3})?)?)?$")  # ASCII digits only


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str
    parent: str | None


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str  # center, mediation_committee, grid_worker, industry_committee, department, triage_desk
    level: str
    region_code: str | None
    categories: tuple[str, ...] = ()  # the case categories it is competent for (谁主管谁负责)
    leaders: tuple[str, ...] = ()  # who can take a case personally (包案)


@dataclass(frozen=True)
class Mediator:
    """A people's mediator (人民调解员) of a committee or a center."""

    id: str
    name: str
    grade: str  # chief (首席), first (一级), ordinary (普通)
    committee_id: str  # the unit whose mediator they are
    region_code: str | None
    specialties: tuple[str, ...] = ()  # case categories
    background: str = ""  # 退休法官, 执业律师, 村（居）委会干部, …


MEDIATOR_GRADES = ("chief", "first", "ordinary")
LEVEL_ORDER = ("grid", "village", "township", "county", "city")
# Competent bodies: an industry committee mediates before a department steps in.
COMPETENT_KINDS = {"industry_committee": 0, "department": 1}
# Units that own a region's cases, in order of preference when a region has several.
LOCAL_KINDS = {"center": 0, "mediation_committee": 1, "grid_worker": 2}


class DirectoryError(ValueError):
    pass


class Directory:
    def __init__(self, regions: list[Region], units: list[Unit], triage_desk: str,
                 mediators: list[Mediator] = ()):
        self.regions = {r.code: r for r in regions}
        self.units = {u.id: u for u in units}
        self.mediators = {m.id: m for m in mediators}
        for mediator in mediators:
            if mediator.committee_id not in self.units:
                raise DirectoryError(f"mediator {mediator.id} belongs to unknown unit {mediator.committee_id}")
            if mediator.grade not in MEDIATOR_GRADES:
                raise DirectoryError(f"mediator {mediator.id}: grade must be one of {MEDIATOR_GRADES}")
        if triage_desk not in self.units:
            raise DirectoryError(f"triage desk unit {triage_desk!r} is not in the directory")
        self.triage_desk = self.units[triage_desk]
        self._local = {}
        for unit in sorted(units, key=lambda u: LOCAL_KINDS.get(u.kind, 99)):
            if unit.region_code and unit.kind in LOCAL_KINDS:
                self._local.setdefault(unit.region_code, unit)
        for region in regions:
            if region.parent and region.parent not in self.regions:
                raise DirectoryError(f"region {region.code} has unknown parent {region.parent}")

    @classmethod
    def load(cls, path: Path | str) -> Directory:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        try:
            regions = [Region(**r) for r in raw["regions"]]
            units = [Unit(**{**u, "categories": tuple(u.get("categories", ())),
                             "leaders": tuple(u.get("leaders", ()))}) for u in raw["units"]]
            mediators = [Mediator(**{**m, "specialties": tuple(m.get("specialties", ()))})
                         for m in raw.get("mediators", ())]
            return cls(regions, units, raw["triage_desk"], mediators)
        except (KeyError, TypeError) as exc:
            raise DirectoryError(f"{path}: {exc}") from exc

    def within(self, code: str | None, ancestor: str) -> bool:
        """Whether region ``code`` lies in ``ancestor``'s subtree."""
        return bool(code) and any(r.code == ancestor for r in self.lineage(code))

    def region(self, code: str | None) -> Region | None:
        return self.regions.get(code) if code else None

    def children_of(self, codes: tuple[str, ...]) -> dict[str, str]:
        """The names of the regions directly below these (everywhere: the top regions), by code."""
        parents = {None if code == EVERYWHERE else code for code in codes}
        return {r.code: r.name for r in self.regions.values() if r.parent in parents}

    def lineage(self, code: str) -> list[Region]:
        """The region and its ancestors, nearest first."""
        chain = []
        region = self.regions.get(code)
        while region:
            chain.append(region)
            region = self.regions.get(region.parent) if region.parent else None
        return chain

    def center_at(self, code: str, level: str) -> Unit | None:
        """The comprehensive center of the region's ancestor at ``level`` (or the nearest above)."""
        lineage = self.lineage(code)
        wanted = LEVEL_ORDER.index(level)
        for region in lineage:
            if LEVEL_ORDER.index(region.level) < wanted:
                continue
            center = self._local.get(region.code)
            if center and center.kind == "center":
                return center
        return None

    def competent(self, category: str, code: str) -> list[Unit]:
        """Units competent for a category, nearest to the region first; committees before departments."""
        for region in self.lineage(code):
            found = [u for u in self.units.values() if u.region_code == region.code and category in u.categories]
            if found:
                return sorted(found, key=lambda u: (COMPETENT_KINDS.get(u.kind, 9), u.id))
        return []

    def center_above(self, unit: Unit) -> Unit | None:
        """The center one level above a unit (督办, 提级): where escalations go."""
        if unit.region_code is None:
            return None
        above = LEVEL_ORDER.index(unit.level) + 1
        for region in self.lineage(unit.region_code):
            center = self._local.get(region.code)
            if center and center.kind == "center" and LEVEL_ORDER.index(center.level) >= above:
                return center
        return None

    def local_unit(self, code: str) -> Unit | None:
        """The unit that owns a region (属地管理): its own, or the nearest ancestor's."""
        for region in self.lineage(code):
            if region.code in self._local:
                return self._local[region.code]
        return None
