"""Search: keeps the case view every screen and staff member reads. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import rpc

from fengqiao.bus.dependencies import Store
from fengqiao.bus.entrypoints import handle_event
from fengqiao.events import parse_event
from services.search import projection, queries


class SearchService:
    name = "search"

    store = Store(projection.CASE_VIEWS)

    @handle_event("intake", "case_received")
    def project_case_received(self, message):
        self._project(message, "case_received")

    @handle_event("intake", "case_merged")
    def project_case_merged(self, message):
        self._project(message, "case_merged")

    @handle_event("intake", "case_unmerged")
    def project_case_unmerged(self, message):
        self._project(message, "case_unmerged")

    @handle_event("routing", "case_triaged")
    def project_case_triaged(self, message):
        self._project(message, "case_triaged")

    @handle_event("routing", "case_assigned")
    def project_case_assigned(self, message):
        self._project(message, "case_assigned")

    @handle_event("routing", "case_returned")
    def project_case_returned(self, message):
        self._project(message, "case_returned")

    @handle_event("routing", "case_escalated")
    def project_case_escalated(self, message):
        self._project(message, "case_escalated")

    @handle_event("routing", "deadline_warning")
    def project_deadline_warning(self, message):
        self._project(message, "deadline_warning")

    @handle_event("routing", "case_overdue")
    def project_case_overdue(self, message):
        self._project(message, "case_overdue")

    @handle_event("routing", "progress_reported")
    def project_progress_reported(self, message):
        self._project(message, "progress_reported")

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
