"""The read side of a chunk of events: case views and the screen counters in one unit of work,
then the search index (a store of its own).

Each step is idempotent, so a redelivered event repairs whatever a crash left half done: the
view already holds the event (nothing to project), its pending counter difference is added if
it is still there, and the case is indexed again.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from fengqiao import public, screen
from fengqiao.events import Event
from fengqiao.outbox import Message
from fengqiao.search import SearchIndex, indexed_case
from fengqiao.store import Collection
from services.search import counters, matters, projection


@dataclass(frozen=True)
class Folded:
    views: list[dict]  # every view the event touches, as stored now
    changed: list[dict]  # those it changed (a redelivery changes none)
    counters: dict[str, dict] = field(default_factory=dict)  # the counter documents it moved, as now


def fold(views: Collection, counter_docs: Collection, event: Event) -> Folded:
    """Project the event and settle its counter differences (run it as one unit of work)."""
    touched = projection.apply(views, event, stamp=counters.stamp)
    moved = sorted({doc_id for view, _ in touched if view for doc_id in counters.pending(view, event.event_id)
                    if screen.is_region_document(doc_id)})  # the walls' figures; word counts are read on demand
    settled = [(counters.settle(views, counter_docs, view, event.event_id), changed)
               for view, changed in touched if view]
    return Folded([view for view, _ in settled], [view for view, changed in settled if changed],
                  counters.documents(counter_docs, moved) if moved else {})


def fold_many(views: Collection, counter_docs: Collection, events: list[Event]) -> list[tuple[Event, Folded]]:
    """Fold a chunk of events in their order (run it as one unit of work)."""
    return [(event, fold(views, counter_docs, event)) for event in events]


def messages_of(chunk: list[tuple[Event, Folded]], public_source: str) -> list[Message]:
    """What a folded chunk publishes: each new fact's public copy, then one notice for the walls."""
    return [*(m for event, done in chunk for m in public.messages(event, done.changed, public_source)),
            *screen_notice(chunk)]


def screen_notice(chunk: list[tuple[Event, Folded]]) -> list[Message]:
    """The newest state of the counters the chunk moved (none if it moved none). Nobody may be
    listening: RabbitMQ drops an unrouted notice, and a wall fetches the documents afresh when
    it (re)connects."""
    moved = {doc_id: doc for _, done in chunk for doc_id, doc in done.counters.items()}  # a later fold is newer
    if not moved:
        return []
    last = next(event for event, done in reversed(chunk) if done.counters)
    return [Message(f"screen.{last.event_id}", screen.EXCHANGE, screen.ROUTING_KEY, screen.notice_of(moved))]


def index_views(index: SearchIndex, *folded: Folded) -> None:
    """Index the views the folds touched, each once, as the last fold left it."""
    latest = {view["id"]: view for done in folded for view in done.views}
    index.index([indexed_case(view) for view in latest.values()])


def every_view(views: Collection, page_size: int = 1000) -> Iterator[dict]:
    cursor = None
    while True:
        page = views.find({}, limit=page_size, after=cursor)
        yield from page.items
        cursor = page.next_cursor
        if cursor is None:
            return


def reindex(views: Collection, index: SearchIndex, progress=lambda done, total: None) -> int:
    """Rebuild the search index from the case views; search answers from the old one meanwhile."""
    return index.rebuild(lambda: every_view(views), views.count(), progress)


def _count(totals: dict[str, Counter], view: dict) -> None:
    """Add what the view contributes to every counter document."""
    for region, deltas in counters.difference(None, view).items():
        totals.setdefault(region, Counter()).update(deltas)


def counted_afresh(views: Collection) -> dict[str, Counter]:
    """Every counter document's counts as the views give them now."""
    totals: dict[str, Counter] = {}
    for view in every_view(views):
        _count(totals, view)
    return totals


def drift(views: Collection, counter_docs: Collection) -> dict[str, dict[str, tuple[int, int]]]:
    """Where the counters differ from a fresh count of the views, as {document: {key: (held,
    counted)}}; empty when they agree. Reads only, so it may run beside the search service (a
    view with a difference not yet settled shows as drift until its event is folded)."""
    totals = counted_afresh(views)
    held = {doc["id"]: Counter(doc["counts"]) for doc in every_view(counter_docs)}
    found = {}
    for doc_id in sorted(set(totals) | set(held)):
        kept, counted = held.get(doc_id, Counter()), totals.get(doc_id, Counter())
        keys = sorted(k for k in set(kept) | set(counted) if kept[k] != counted[k])
        if keys:
            found[doc_id] = {k: (kept[k], counted[k]) for k in keys}
    return found


def recount(views: Collection, counter_docs: Collection) -> int:
    """Repair the counters by counting every view afresh; run it with the search service stopped.

    Not the serving path (the counters are kept per event); this mends the one crash window
    ``counters`` documents.
    """
    totals: dict[str, Counter] = {}
    for view in every_view(views):
        _count(totals, view)
        backfill = _backfill(view)
        if backfill:
            views.update(view["id"], backfill, expected_version=view["version"])
    regions = sum(map(screen.is_region_document, totals))
    for held in every_view(counter_docs):
        # In place, so each counter's version goes on rising: open walls keep only newer versions.
        counter_docs.update(held["id"], {"counts": dict(totals.pop(held["id"], Counter()))},
                      expected_version=held["version"])
    for region, counts in totals.items():
        counter_docs.insert({"id": region, "counts": dict(counts)})
    return regions


def _backfill(view: dict) -> dict:
    """What a recount writes back on a view: its settled differences cleared, and the fields a
    view projected by an older version lacks (its words, its next deadline)."""
    changes = {counters.PENDING: None} if view.get(counters.PENDING) else {}
    if view.get("matters") is None and view.get("received_at"):
        changes["matters"] = matters.words_of(view.get("text"))
    if "next_due_at" not in view:
        changes["next_due_at"] = projection.next_due(view)
    return changes
