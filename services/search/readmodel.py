"""The read side of one event: case views, then the screen counters, then the search index.

Each step is idempotent, so a redelivered event repairs whatever a crash left half done: the
view already holds the event (nothing to project), its pending counter difference is added if
it is still there, and the case is indexed again.
"""
from __future__ import annotations

from fengqiao.events import Event
from fengqiao.search import SearchIndex, indexed_case
from fengqiao.store import Collection
from services.search import counters, projection


def fold(views: Collection, screen: Collection, index: SearchIndex, event: Event) -> None:
    touched = projection.apply(views, event, stamp=counters.stamp)
    settled = [counters.settle(views, screen, view, event.event_id) for view, _ in touched if view]
    index.index([indexed_case(view) for view in settled])
