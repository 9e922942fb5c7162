"""The search port: find cases by text and filters, within the caller's jurisdiction.

Two adapters answer every query the same way: SQLite FTS5 (embedded default) and Elasticsearch.
Both analyse text with ``fengqiao.search.analysis`` (bigrams after folding to simplified), keep
the same document (``indexed_case``), sort the same way, and make the same snippets.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from fengqiao.privacy import mask_numbers, phone_tail
from fengqiao.store.query import cursor_scalar

MAX_PAGE = 200
TOTAL_LIMIT = 10_000  # beyond this, totals are a lower bound (Elasticsearch's track_total_hits)
SORTS = ("received", "due", "risk")
SUBTREE_END = "\uffff"


class SearchError(Exception):
    """The index cannot be reached, or refused the operation."""


class InvalidQuery(ValueError):
    """A query the index cannot answer (an unknown sort, a cursor from another query)."""


def region_prefix(code: str) -> str:
    """The prefix every region code of ``code``'s subtree starts with.

    Codes below a county extend its six digits (150102 → 150102001 → 150102001001); a city's
    own code pads with zeros (150100 covers 150102), as does a province's (150000 covers 1501…).
    """
    if len(code) != 6:
        return code
    while code.endswith("00") and len(code) > 2:
        code = code[:-2]
    return code


def region_ancestors(code: str | None) -> list[str]:
    """The region and every region above it, down-most first: grid → village → … → city."""
    if not code:
        return []
    chain = [code[:n] for n in (15, 12, 9, 6) if len(code) >= n]
    if len(code) >= 6 and not code[:6].endswith("00"):
        chain.append(code[:4] + "00")
    return list(dict.fromkeys(chain))


@dataclass(frozen=True)
class Scope:
    """What a caller may see: a set of region subtrees and optionally units; None is everything."""

    regions: tuple[str, ...] | None = None
    units: tuple[str, ...] | None = None

    @property
    def unlimited(self) -> bool:
        return self.regions is None and self.units is None

    def covers_region(self, code: str | None) -> bool:
        return self.regions is None or bool(code) and any(
            code.startswith(region_prefix(r)) for r in self.regions)

    def covers(self, other: Scope) -> bool:
        """Whether everything ``other`` may see lies within this scope too."""
        regions_covered = self.regions is None or (
            other.regions is not None and all(self.covers_region(r) for r in other.regions))
        units_covered = self.units is None or (other.units is not None and set(other.units) <= set(self.units))
        return regions_covered and units_covered

    def allows(self, doc: dict) -> bool:
        """Whether an indexed case or a list item (``unit_id`` at the top) lies within the scope."""
        return self.covers_region(doc.get("region_code")) and (
            self.units is None or doc.get("unit_id") in self.units)

    def sees(self, view: dict) -> bool:
        """Whether a case view (its unit under ``assignment``) lies within the scope."""
        return self.allows({"region_code": view.get("region_code"),
                            "unit_id": (view.get("assignment") or {}).get("unit_id")})

    def as_dict(self) -> dict:
        """For RPC: ``Scope.of`` reads it back."""
        return asdict(self)

    @classmethod
    def of(cls, data: dict | None) -> Scope:
        if not data:
            return cls()
        def as_tuple(v):
            return (tuple(v) if v is not None else None)
        return cls(as_tuple(data.get("regions")), as_tuple(data.get("units")))


@dataclass(frozen=True)
class CaseQuery:
    """A case search: words in ``q`` must all occur (each as a phrase); filters narrow it."""

    q: str | None = None
    region: str | None = None  # a region code: its whole subtree
    level: str | None = None
    unit_id: str | None = None
    category: str | None = None
    risk: int | None = None
    status: str | None = None
    channel: str | None = None
    received_from: str | None = None  # ISO times: inclusive, exclusive
    received_to: str | None = None
    overdue: bool | None = None
    monitoring: bool | None = None
    sort: str = "received"

    def __post_init__(self):
        if self.sort not in SORTS:
            raise InvalidQuery(f"sort must be one of {', '.join(SORTS)}, got {self.sort!r}")

    def equalities(self) -> dict[str, Any]:
        """The filters that compare one field for equality, by index field name."""
        pairs = {"level": self.level, "unit_id": self.unit_id, "category": self.category, "risk": self.risk,
                 "status": self.status, "channel": self.channel, "overdue": self.overdue,
                 "monitoring": self.monitoring}
        return {k: v for k, v in pairs.items() if v is not None}

    def excludes_merged(self) -> bool:
        """A report merged into another case is found through that case, unless asked for."""
        return self.status is None


@dataclass
class SearchPage:
    items: list[dict]
    next_cursor: str | None
    total: int
    total_exact: bool = True

    def as_dict(self) -> dict:
        return asdict(self)


class SearchIndex(Protocol):
    def index(self, docs: Iterable[dict]) -> None:
        """Add or replace documents made by ``indexed_case``."""
        ...

    def search(self, query: CaseQuery, scope: Scope, cursor: str | None = None, limit: int = 50) -> SearchPage: ...

    def similar(self, case_id: str, scope: Scope, limit: int = 10) -> list[dict]:
        """Cases received before this one that read most alike, best first."""
        ...

    def rebuild(self, views: Callable[[], Iterable[dict]], total: int,
                progress: Callable[[int, int], None] = lambda done, total: None) -> int:
        """Build a new index from the case views ``views()`` while this one keeps answering,
        switch to it, then catch up with views that changed meanwhile (``views()`` again)."""
        ...

    def count(self) -> int: ...
    def close(self) -> None: ...


def batches(items: Iterable[dict], size: int) -> Iterable[list[dict]]:
    """``items`` in lists of ``size`` (the last may be shorter), for bulk writes."""
    batch: list[dict] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def open_index(uri: str) -> SearchIndex:
    """The search index, chosen by URI scheme (as ``FQ_SEARCH_URI``)."""
    if uri.startswith("sqlite://"):
        from fengqiao.search.sqlite import SqliteIndex

        return SqliteIndex.open(uri)
    if uri.startswith(("http://", "https://")):
        from fengqiao.search.elastic import ElasticIndex

        return ElasticIndex.open(uri)
    raise ValueError(f"FQ_SEARCH_URI must start with sqlite://, http:// or https://, got {uri!r}")


# --- the indexed document ----------------------------------------------------------------------

NO_DUE = "~"  # sorts after every ISO time, so cases without a deadline come last


SEQUENCE_HASH_BITS = 22


def sequence(received_at: str, case_id: str) -> int:
    """A number that orders cases by received time, then id: the index's natural order.

    Milliseconds since the epoch in the high bits, 22 bits of the id's hash below them: equal
    received times keep a fixed, id-determined order, the same in every backend.
    """
    digest = int.from_bytes(hashlib.blake2b(case_id.encode(), digest_size=4).digest(), "big")
    return (epoch_ms(received_at) << SEQUENCE_HASH_BITS) | (digest & ((1 << SEQUENCE_HASH_BITS) - 1))


def epoch_ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment).timestamp() * 1000) if moment else 0


def _tails(view: dict) -> list[str]:
    """Last four digits of the case's numbers (intake has already pulled them out of the text)."""
    people = [view.get("reporter") or {}, *(view.get("parties") or [])]
    numbers = [*(view.get("phones") or []), *(view.get("id_numbers") or []),
               *(p.get("phone") for p in people), *(p.get("id_number") for p in people)]
    return sorted({t for t in map(phone_tail, set(numbers) - {None, ""}) if t})


def indexed_case(view: dict) -> dict:
    """The search document of a case view: masked text, filter fields and the list summary."""
    assignment = view.get("assignment") or {}
    people = [view.get("reporter") or {}, *(view.get("parties") or [])]
    received_at = view.get("received_at") or ""
    mediation, followup = view.get("mediation") or {}, view.get("followup") or {}
    return {
        "id": view["id"],
        "seq": sequence(received_at, view["id"]),
        "version": view.get("version") or 0,
        "text": mask_numbers(view.get("text")) or "",
        "address": view.get("address") or "",
        "names": " ".join(p["name"] for p in people if p.get("name")),
        "tails": _tails(view),
        "region_code": view.get("region_code") or "",
        "level": assignment.get("level"),
        "unit_id": assignment.get("unit_id"),
        "category": view.get("category"),
        "risk": view.get("risk"),
        "status": view.get("status"),
        "channel": view.get("channel"),
        "received_at": received_at,
        "due_key": assignment.get("due_at") or NO_DUE,
        "overdue": bool(view.get("overdue")),
        "monitoring": bool((view.get("monitoring") or {}).get("active")),
        "summary": {
            "id": view["id"], "number": view.get("number"), "status": view.get("status"),
            "channel": view.get("channel"), "category": view.get("category"), "risk": view.get("risk"),
            "region_code": view.get("region_code"), "address": view.get("address"),
            "unit_id": assignment.get("unit_id"), "unit_name": assignment.get("unit_name"),
            "level": assignment.get("level"), "received_at": received_at, "due_at": assignment.get("due_at"),
            "overdue": bool(view.get("overdue")), "report_count": view.get("report_count", 0),
            "merged_into": view.get("merged_into"),
            # Who the case names: the gateway masks these names wherever they recur (snippets).
            "names": [p["name"] for p in people if p.get("name") and p.get("kind", "person") != "organisation"],
            "outcome": {"resolution": (view.get("resolution") or {}).get("summary"),
                        "mediation": mediation.get("outcome"), "satisfaction": followup.get("satisfaction"),
                        "closed_at": view.get("closed_at")},
        },
    }


# --- cursors: the sort key of the last item, opaque to clients ----------------------------------

def sort_key(doc: dict, sort: str) -> list:
    if sort == "due":
        return [doc["due_key"], doc["seq"]]
    if sort == "risk":
        return [doc["risk"] or 0, doc["seq"]]
    return [doc["seq"]]


def encode_cursor(sort: str, key: list) -> str:
    return base64.urlsafe_b64encode(json.dumps([sort, *key]).encode()).decode()


def decode_cursor(cursor: str | None, sort: str) -> list | None:
    if not cursor:
        return None
    try:
        kind, *key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise InvalidQuery("cursor is not one this search returned") from exc
    if kind != sort:
        raise InvalidQuery(f"cursor belongs to sort {kind!r}, not {sort!r}")
    # The key's shape is the sort's (see sort_key); nested or huge values would reach the index.
    if len(key) != (1 if sort == "received" else 2) or not all(cursor_scalar(part) for part in key):
        raise InvalidQuery("cursor is not one this search returned")
    return key
