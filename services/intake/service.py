"""Intake: turns submitted reports into registered cases. Entrypoints only."""
from __future__ import annotations

from fengqiao.bus.dependencies import Clock, Emitter, Store
from fengqiao.bus.entrypoints import handle_event
from fengqiao.clock import parse_iso
from fengqiao.events import parse_event
from fengqiao.metrics import CASES_RECEIVED, INTAKE_SECONDS
from services.intake import registration


class IntakeService:
    name = "intake"

    store = Store(registration.CASES)
    clock = Clock()
    emit = Emitter()

    @handle_event("gateway", "report_submitted")
    def register_report(self, message):
        report = parse_event(message, "report_submitted")
        now = self.clock.now()
        result = registration.register(self.store.cases, report, now)
        # Emitted every time, also for a redelivered report: the event id is the same, so
        # downstream deduplicates, and a crash between insert and emit is healed by redelivery.
        self.emit(result.event)
        if result.created:
            CASES_RECEIVED.labels(report.data.channel).inc()
            INTAKE_SECONDS.observe(max(0.0, (now - parse_iso(report.data.submitted_at)).total_seconds()))
