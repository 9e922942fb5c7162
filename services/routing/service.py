"""Routing: assigns every received case to a unit. Entrypoints only."""
from __future__ import annotations

from fengqiao.bus.dependencies import Clock, DirectoryFile, Emitter, Store
from fengqiao.bus.entrypoints import handle_event
from fengqiao.events import parse_event
from fengqiao.metrics import CASES_ASSIGNED
from services.routing import assignment


class RoutingService:
    name = "routing"

    store = Store(assignment.ASSIGNMENTS)
    directory = DirectoryFile()
    clock = Clock()
    emit = Emitter()

    @handle_event("intake", "case_received")
    def assign_received_case(self, message):
        case = parse_event(message, "case_received")
        result = assignment.assign(self.store.assignments, self.directory, case, self.clock.now())
        self.emit(result.event)
        if result.created:
            CASES_ASSIGNED.labels(result.event.data.level).inc()
