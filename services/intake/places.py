"""Where a report happened: the region code inferred from its address text.

cpca (a maintained parser with the national division table) finds the province, city and
county; the directory then narrows to the township, village and grid names it knows inside
that county. Ambiguous county names (新城区 exists in several cities) resolve to the
deployment's own county through cpca's ``umap``. An explicit ``region_code`` always wins.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

from fengqiao.directory import Directory

# Below county level the directory's own names are what we match; the deepest level named in
# the address wins (清泉街社区 over 海拉尔东路街道), then the longest name.
LOCAL_LEVELS = ("township", "village", "grid")
DEPTH = {level: depth for depth, level in enumerate(LOCAL_LEVELS)}


@dataclass(frozen=True)
class Placement:
    region_code: str | None
    source: str  # "payload", "address" or "none"
    matched: str | None = None  # the part of the address that decided it


class RegionResolver:
    def __init__(self, directory: Directory):
        self.directory = directory
        counties = [r for r in directory.regions.values() if r.level == "county"]
        self._umap = {r.name: r.code for r in counties}
        self._local = sorted(
            (r for r in directory.regions.values() if r.level in LOCAL_LEVELS),
            key=lambda r: (-DEPTH[r.level], -len(r.name)),
        )

    def place(self, region_code: str | None, address: str | None) -> Placement:
        return self.place_many([(region_code, address)])[0]

    def place_many(self, items: list[tuple[str | None, str | None]]) -> list[Placement]:
        """Batch form: cpca parses all addresses in one call (it is vectorised)."""
        addresses = [address or "" for code, address in items if not code]
        counties = iter(self._counties(addresses)) if addresses else iter(())
        placements = []
        for code, address in items:
            if code:
                placements.append(Placement(code, "payload"))
                continue
            placements.append(self._narrow(next(counties), address or ""))
        return placements

    def _counties(self, addresses: list[str]) -> list[str | None]:
        import cpca

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            logging.getLogger("jieba").setLevel(logging.WARNING)
            frame = cpca.transform(addresses, umap=self._umap)
        return [code if isinstance(code, str) and code else None for code in frame["adcode"]]

    def _narrow(self, county: str | None, address: str) -> Placement:
        # The directory's own local names are more specific than cpca's reading (乌兰察布西路社区
        # is a community in 赛罕区, not 乌兰察布市); among several, the one in cpca's county wins.
        named = [r for r in self._local if r.name in address]
        if named:
            region = next((r for r in named if county and r.code.startswith(county)), named[0])
            return Placement(region.code, "address", region.name)
        if county:
            known = self.directory.region(county)
            return Placement(county, "address", known.name if known else county)
        return Placement(None, "none")
