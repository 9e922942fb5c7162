"""Search: keeps the case view every screen and staff member reads. Entrypoints only."""
from __future__ import annotations

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, Emitter, Index, ScreenGauges, Store
from fengqiao.bus.entrypoints import handle_event_chunk
from fengqiao.clock import CHINA_TZ
from fengqiao.events import CATALOG, Event, InvalidEvent, parse_event
from fengqiao.metrics import SEARCH_SECONDS
from fengqiao.search import CaseQuery, Scope
from fengqiao.settings import service_setting
from services.search import counters, projection, queries, readmodel


class SearchService:
    name = "search"

    store = Store(projection.CASE_VIEWS, counters.COUNTERS)
    index = Index()
    clock = Clock()
    emit = Emitter()
    gauges = ScreenGauges()
    config = Config()

    @property
    def public_source(self) -> str:
        return service_setting(self.config, "FQ_PUBLIC_SOURCE")

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

    @rpc
    def search_cases(self, query: dict, scope: dict | None = None, cursor: str | None = None,
                     limit: int = 50) -> dict:
        """Full text and filters, newest (or soonest due, or riskiest) first, within the scope."""
        with SEARCH_SECONDS.labels("search").time():
            return self.index.search(CaseQuery(**query), Scope.of(scope), cursor, limit).as_dict()

    @rpc
    def similar_cases(self, case_id: str, scope: dict | None = None, limit: int = 10) -> list[dict]:
        with SEARCH_SECONDS.labels("similar").time():
            return self.index.similar(case_id, Scope.of(scope), limit)

    @rpc
    def stats(self, region: str | None = None, scope: dict | None = None, days: int = 7) -> dict:
        today = self.clock.now().astimezone(CHINA_TZ).date().isoformat()
        with SEARCH_SECONDS.labels("stats").time():
            return counters.read(self.store.screen_counters, Scope.of(scope), region, today, days)

    @rpc
    def screen_counters(self, codes: list[str]) -> dict:
        """The counter documents of these regions with their versions: a wall's starting point,
        which the notices on ``fengqiao.screen`` then keep current."""
        return counters.documents(self.store.screen_counters, codes)

    @rpc
    def screen_cases(self, codes: list[str], limit: int = 50) -> list[dict]:
        """The open grade-3 cases of these regions' subtrees, newest first, as the wall lists them
        (no text, no people)."""
        return queries.grade3_open(self.store.case_views, codes, limit)

    @rpc
    def screen_due_soon(self, codes: list[str], hours: int = 24) -> int:
        """Open cases of these regions' subtrees whose next deadline comes within ``hours``."""
        return queries.due_soon(self.store.case_views, codes, self.clock.now(), hours)

    @rpc
    def screen_matters(self, codes: list[str], limit: int = 10) -> dict:
        """The hot matters of these regions: the words of the last 24 hours' cases most
        over-represented against the week before (``counters.hot_matters``)."""
        return counters.hot_matters(self.store.screen_counters, codes, self.clock.now(), limit=limit)



def _projector(source: str, event_types: tuple[str, ...]):
    def parse(message) -> Event:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in event_types:
            raise InvalidEvent(f"search does not project {kind!r} from {source}")
        return parse_event(message, kind)

    @handle_event_chunk(source, event_types)
    def project(self, messages):
        events = [parse(message) for message in messages]
        # The views, counters and the facts' public copies commit together; the index follows.
        folded = self.emit.commit(lambda: readmodel.fold_many(self.store.case_views, self.store.screen_counters,
                                                              events),
                                  events_of=lambda chunk: readmodel.messages_of(chunk, self.public_source))
        readmodel.index_views(self.index, *(done for _, done in folded))

    project.__name__ = project.__qualname__ = f"project_{source}_events"
    return project


# One handler, and so one queue, per source service, bound to every event type of that source
# the projection folds in; nameko finds the handlers on the class.
for _source in sorted({CATALOG[t].source for t in projection.PROJECTIONS}):
    _types = tuple(t for t in projection.PROJECTIONS if CATALOG[t].source == _source)
    setattr(SearchService, f"project_{_source}_events", _projector(_source, _types))
