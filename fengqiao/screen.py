"""The screen's figures: a shared contract of the search service and the gateway.

The search service keeps one counter document per region (``services/search/counters.py``) and,
whenever an event moves some of them, publishes their new state on the ``fengqiao.screen``
exchange. The gateway keeps the documents its walls need and recomputes the figures with the
same functions as ``GET /api/v1/stats``, so the wall and the API always agree. Plain logic.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, timedelta

from fengqiao.clock import CHINA_TZ
from fengqiao.search import Scope, region_prefix

EXCHANGE = "fengqiao.screen"
ROUTING_KEY = "counters"
EVERYWHERE = "all"
OPEN_DIMENSIONS = ("status", "risk", "level", "category", "channel")
RECEIVED_BY_CHANNEL = "received_channel"  # received per day and channel
OPEN_LEVEL_RISK = "open_level_risk"  # not a figure of the wall: the Prometheus gauge's joint counts
UNSET = "none"


WORDS = "@"  # a region's word counts of one hour are the document "<region>@<YYYY-MM-DDTHH>"


def hour_of(moment: datetime) -> str:
    """The hour (Beijing time) a moment falls in, as the word counts are kept: 2026-12-01T09."""
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%dT%H")


def words_document(region: str, hour: str) -> str:
    return f"{region}{WORDS}{hour}"


def is_region_document(doc_id: str) -> bool:
    """A region's counters (the walls' figures), not one of its hours' word counts."""
    return WORDS not in doc_id


def open_level_risk(level: str | None, risk: int | None) -> str:
    return f"{OPEN_LEVEL_RISK}.{level or UNSET}.{risk or UNSET}"


def level_risk_counts(counts: dict) -> dict[tuple[str, str], int]:
    """The open cases by (level, risk) in a counter document's counts."""
    found = {}
    for key, n in counts.items():
        head, _, rest = key.partition(".")
        if head == OPEN_LEVEL_RISK:
            level, _, risk = rest.partition(".")
            found[(level, risk)] = n
    return found


class OutOfScope(Exception):
    """The caller asked for figures outside their jurisdiction."""


def regions_in(scope: Scope, region: str | None) -> list[str]:
    """The counter documents that add up to what the caller asked for and may see."""
    if scope.units is not None:
        raise OutOfScope("the screen's figures are kept per region, not per unit: a client limited to "
                         "units cannot read them")
    if region and not scope.covers_region(region):
        raise OutOfScope(f"region {region} is outside the caller's jurisdiction")
    if region:
        return [region]
    if scope.regions is None:
        return [EVERYWHERE]
    # A region inside another region of the scope is already counted by it.
    prefixes = sorted({region_prefix(r): r for r in scope.regions}.items())
    return [code for prefix, code in prefixes if not any(prefix != p and prefix.startswith(p) for p, _ in prefixes)]


def total(counts: Iterable[dict]) -> Counter:
    summed: Counter = Counter()
    for one in counts:
        summed.update(one)
    return summed


def figures(counts: Counter, region: str | None, today: str, days: int = 7) -> dict:
    """The figures of summed counter documents, with rates (``GET /api/v1/stats``)."""
    open_by = {d: {} for d in OPEN_DIMENSIONS}
    received, resolved, by_channel = {}, {}, {}
    for key, n in counts.items():
        head, _, rest = key.partition(".")
        if head == "open" and rest:
            dimension, _, value = rest.partition(".")
            open_by[dimension][value] = n
        elif head == "received":
            received[rest] = n
        elif head == "resolved":
            resolved[rest] = n
        elif head == RECEIVED_BY_CHANNEL and rest.startswith(f"{today}."):
            by_channel[rest.removeprefix(f"{today}.")] = n
    recent = [(date.fromisoformat(today) - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
    concluded, agreed, visited = counts["mediation.concluded"], counts["mediation.agreed"], counts["followup.visited"]
    return {
        "region": region, "open": counts["open"], "open_by": open_by, "overdue": counts["overdue"],
        "grade3_open": open_by["risk"].get("3", 0),
        "response": {"due": counts["response.due"], "on_time": counts["response.on_time"],
                     "rate": _rate(counts["response.on_time"], counts["response.due"])},
        "received_today": received.get(today, 0), "resolved_today": resolved.get(today, 0),
        "received_today_by_channel": by_channel,
        "per_day": [{"day": d, "received": received.get(d, 0), "resolved": resolved.get(d, 0)} for d in recent],
        "received_total": sum(received.values()), "resolved_total": sum(resolved.values()),
        "mediation": {"concluded": concluded, "agreed": agreed, "performed": counts["mediation.performed"],
                      "success_rate": _rate(agreed, concluded),
                      "performance_rate": _rate(counts["mediation.performed"], agreed)},
        "followup": {"visited": visited, "satisfied": counts["followup.satisfied"],
                     "resolved": counts["followup.resolved"],
                     "satisfaction_rate": _rate(counts["followup.satisfied"], visited),
                     "resolution_rate": _rate(counts["followup.resolved"], visited)},
    }


def documents(docs: Iterable[dict]) -> dict[str, dict]:
    """Counter documents by region, with their versions: a receiver keeps the newest state of
    each when two notices arrive out of order."""
    return {doc["id"]: {"version": doc["version"], "counts": doc["counts"]} for doc in docs}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def notice_of(documents: dict[str, dict]) -> dict:
    """The message body announcing these counter documents' new state."""
    return {"counters": documents}
