"""The screen's counters, kept per event and never by rescanning. Plain domain logic.

Every case view contributes a set of counts to its region and every region above it (and to
the whole platform): open cases by status, risk, level, category and channel, received and
resolved per day, overdue now, mediation and follow-up outcomes. When an event changes a view,
the counters move by the difference between the view's contribution after and before, so the
counters always equal a recount of the views.

Crash safety: the difference is written into the view itself (``pending_counts``, keyed by
event id) in the same write as the projection, then added to the counters, then removed from
the view. A redelivered event finds its own entry still pending and adds it then. One window
remains: a crash after the counters were written and before the entry was removed counts
that event's difference twice; ``fengqiao recount`` repairs it (``readmodel.recount``).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

from fengqiao import screen
from fengqiao.clock import CHINA_TZ
from fengqiao.screen import EVERYWHERE, OutOfScope  # noqa: F401 (the search service's RPC refusals name it)
from fengqiao.search import Scope, region_ancestors
from fengqiao.store import Collection, CollectionSpec
from fengqiao.store import changes as store_changes
from services.search import matters

COUNTERS = CollectionSpec("screen_counters")
SATISFIED = ("satisfied", "basically_satisfied")
PENDING = "pending_counts"


def _day(moment: str | None) -> str | None:
    return datetime.fromisoformat(moment).astimezone(CHINA_TZ).date().isoformat() if moment else None


def _hour(moment: str) -> str:
    return screen.hour_of(datetime.fromisoformat(moment))


def contribution(view: dict | None) -> Counter:
    """What one view adds to the counters of each region it lies in."""
    counts: Counter = Counter()
    if not view or not view.get("received_at") or view.get("status") in (None, "merged"):
        return counts  # a merged report is counted as part of the case it joined
    day = _day(view["received_at"])
    counts[f"received.{day}"] += 1
    counts[f"{screen.RECEIVED_BY_CHANNEL}.{day}.{view.get('channel')}"] += 1
    status = view["status"]
    if status != "closed":
        assignment = view.get("assignment") or {}
        values = {"status": status, "risk": view.get("risk"), "level": assignment.get("level"),
                  "category": view.get("category"), "channel": view.get("channel")}
        counts["open"] += 1
        for dimension, value in values.items():
            if value is not None:
                counts[f"open.{dimension}.{value}"] += 1
        # Level and risk together, for the fengqiao_cases_open{level,risk} gauge.
        counts[screen.open_level_risk(values["level"], values["risk"])] += 1
        if view.get("overdue"):
            counts["overdue"] += 1
    resolution = view.get("resolution")
    if resolution and status in ("resolved", "closed"):
        counts[f"resolved.{_day(resolution['resolved_at'])}"] += 1
    outcome = (view.get("mediation") or {}).get("outcome")
    if outcome:
        counts["mediation.concluded"] += 1
        counts["mediation.agreed"] += outcome == "agreement"
        counts["mediation.performed"] += (view.get("mediation") or {}).get("state") == "performed"
    response = view.get("response") or {}
    if response.get("due_at") and (response.get("responded_at") or response.get("missed")):
        # Due a first response once it came or its deadline passed; on time only before it.
        counts["response.due"] += 1
        counts["response.on_time"] += not response["missed"] and response["responded_at"] <= response["due_at"]
    followup = view.get("followup") or {}
    if followup.get("state") == "done":
        counts["followup.visited"] += 1
        counts["followup.satisfied"] += followup.get("satisfaction") in SATISFIED
        counts["followup.resolved"] += bool(followup.get("resolved"))
    return +counts  # drop zeros


def told(view: dict) -> Counter:
    """What one counted view adds to its hour's word counts: one case, and each of its words."""
    words = view.get("matters")
    if words is None:  # a view projected before words were kept (``fengqiao recount`` reads these)
        words = matters.words_of(view.get("text"))
    return Counter({matters.CASES: 1, **dict.fromkeys(words, 1)})


def contributions(view: dict | None) -> Iterator[tuple[str, Counter]]:
    """Every counter document the view adds to, with what it adds: its regions' counters, and
    their word counts of the hour it came in."""
    counts = contribution(view)
    if not counts:
        return
    regions = [EVERYWHERE, *region_ancestors(view.get("region_code"))]
    for region in regions:
        yield region, counts
    words, hour = told(view), _hour(view["received_at"])
    for region in regions:
        yield screen.words_document(region, hour), words


def difference(before: dict | None, after: dict) -> dict[str, dict[str, int]]:
    """How each counter document moves when a view goes from ``before`` to ``after``."""
    moves: dict[str, Counter] = {}
    for view, sign in ((before, -1), (after, 1)):
        for doc_id, counts in contributions(view):
            target = moves.setdefault(doc_id, Counter())
            for key, n in counts.items():
                target[key] += sign * n
    return {doc_id: {k: n for k, n in c.items() if n} for doc_id, c in moves.items()
            if any(c.values())}


def stamp(before: dict | None, after: dict, event_id: str) -> None:
    """Note the view's counter difference on the view itself, before it is written."""
    moves = difference(before, after)
    if moves:
        after[PENDING] = {**(after.get(PENDING) or {}), event_id: moves}


def add(counters: Collection, moves: dict[str, dict[str, int]]) -> None:
    for region, deltas in moves.items():
        def change(doc, deltas=deltas):
            counts = dict(doc["counts"])
            for key, n in deltas.items():
                counts[key] = counts.get(key, 0) + n
                if not counts[key]:
                    del counts[key]
            return {"counts": counts}

        store_changes.upsert(counters, region, change, {"counts": {}})


def pending(view: dict, event_id: str) -> dict[str, dict[str, int]]:
    """The event's counter difference still waiting on the view (none once settled)."""
    return (view.get(PENDING) or {}).get(event_id) or {}


def settle(views: Collection, counters: Collection, view: dict, event_id: str) -> dict:
    """Add the event's pending difference (if still pending) to the counters, then clear it."""
    moves = pending(view, event_id)
    if not moves:
        return view
    add(counters, moves)

    def clear(doc):
        pending = dict(doc.get(PENDING) or {})
        if event_id not in pending:
            return None
        del pending[event_id]
        return {PENDING: pending or None}

    settled, _ = store_changes.update(views, view["id"], clear)
    return settled


# --- reading ------------------------------------------------------------------------------------

def read(counters: Collection, scope: Scope, region: str | None, today: str, days: int = 7) -> dict:
    """The screen's figures for a region (or the caller's whole scope), with rates."""
    codes = screen.regions_in(scope, region)
    return screen.figures(screen.total((counters.get(code) or {}).get("counts", {}) for code in codes),
                          region, today, days)


def documents(counters: Collection, codes: list[str]) -> dict[str, dict]:
    """The counter documents of these regions, as a screen notice carries them (absent ones empty)."""
    docs = [counters.get(code) or {"id": code, "version": 0, "counts": {}} for code in codes]
    return screen.documents(docs)


def hot_matters(counter_docs: Collection, codes: list[str], now: datetime, **ranking) -> dict:
    """The hot matters of these regions: their words of the last 24 hours against the week before."""
    hours = [screen.hour_of(now - timedelta(hours=back)) for back in range(24 * 8)]
    last_day, recent, previous = set(hours[:24]), Counter(), Counter()
    for code in codes:
        where = {"id": {"$gte": screen.words_document(code, hours[-1]), "$lte": screen.words_document(code, hours[0])}}
        for doc in counter_docs.find(where, limit=len(hours)).items:
            window = recent if doc["id"].partition(screen.WORDS)[2] in last_day else previous
            window.update(doc["counts"])
    return matters.hot(recent, previous, **ranking)
