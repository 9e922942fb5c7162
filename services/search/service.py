"""Search: keeps the case view every screen and staff member reads. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import rpc

from fengqiao.bus.dependencies import Store
from fengqiao.bus.entrypoints import handle_event
from fengqiao.events import CATALOG, parse_event
from services.search import projection, queries


class SearchService:
    name = "search"

    store = Store(projection.CASE_VIEWS)

    @rpc
    def get_case(self, case_id: str) -> dict | None:
        view = self.store.case_views.get(case_id)
        return projection.public_view(view) if view else None

    @rpc
    def find_cases(self, filters: dict, after: str | None = None, limit: int = 100, with_total: bool = False) -> dict:
        wanted = queries.CaseFilters(**filters)
        page = queries.find_cases(self.store.case_views, wanted, after, limit)
        total = queries.count_cases(self.store.case_views, wanted) if with_total else None
        return {"items": [projection.public_view(v) for v in page.items], "next_cursor": page.next_cursor,
                "total": total}

    def _project(self, message, event_type: str) -> None:
        projection.apply(self.store.case_views, parse_event(message, event_type))


def _projector(event_type: str):
    @handle_event(CATALOG[event_type].source, event_type)
    def project(self, message):
        self._project(message, event_type)

    project.__name__ = project.__qualname__ = f"project_{event_type}"
    return project


# One handler (and so one queue) per event the projection folds in; nameko finds them on the class.
for _event_type in projection.PROJECTIONS:
    setattr(SearchService, f"project_{_event_type}", _projector(_event_type))
