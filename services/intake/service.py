"""Intake: turns submitted reports into cases, one per incident. Entrypoints only."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, Emitter, Store, load_directory
from fengqiao.bus.entrypoints import handle_event, scan_timer
from fengqiao.clock import parse_iso
from fengqiao.events import parse_event
from fengqiao.metrics import CASES_MERGED, CASES_RECEIVED, INTAKE_SECONDS
from services.intake import registration
from services.intake.places import RegionResolver


class Places(DependencyProvider):
    """The address parser over the directory, built once per container."""

    def setup(self):
        self.resolver = RegionResolver(load_directory(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.resolver


class Signatures(DependencyProvider):
    """Candidate signatures decoded once per container, shared by its workers."""

    def setup(self):
        self.cache = registration.SignatureCache()

    def get_dependency(self, worker_ctx):
        return self.cache


class IntakeService:
    name = "intake"

    store = Store(registration.REPORTS, registration.CASES, registration.POSTINGS)
    places = Places()
    signatures = Signatures()
    clock = Clock()
    emit = Emitter()

    @handle_event("gateway", "report_submitted")
    def register_report(self, message):
        self._register([parse_event(message, "report_submitted")])

    @handle_event("gateway", "report_batch_submitted")
    def register_report_batch(self, message):
        batch = parse_event(message, "report_batch_submitted")
        self._register([parse_event(report, "report_submitted") for report in batch.data.reports])

    @rpc(expected_exceptions=(registration.UnmergeRefused, registration.CaseNotFound))
    def unmerge(self, case_id: str, report_id: str, by: str, reason: str) -> dict:
        self.emit.commit(lambda: registration.unmerge(self._intake(), case_id, report_id, by, reason, self.clock.now()))
        return {"case_id": case_id, "restored_case_id": report_id}

    @scan_timer()
    def prune_candidate_index(self):
        # One batch a tick keeps each unit of work short; at the default 30 s, a day's ticks drop
        # 2.9 M postings, more than a city of 58,000 reports a day writes.
        self.emit.change(lambda: registration.prune_postings(self._intake(), self.clock.now()))

    def _intake(self) -> registration.Intake:
        return registration.Intake(self.store.reports, self.store.cases, self.store.match_postings,
                                   signatures=self.signatures)

    def _register(self, reports) -> None:
        placements = self.places.place_many([(r.data.region_code, r.data.address) for r in reports])
        now, intake = self.clock.now(), self._intake()
        for report, placement in zip(reports, placements, strict=True):
            # One unit of work per report: its case and its event are stored together (outbox).
            # Committing and publishing after each report (it waits for the broker's confirm) also
            # lets the other workers of this process run: a whole batch without a pause starved
            # them long enough that RabbitMQ closed their half-opened connections (handshake_timeout).
            result = self.emit.commit(lambda r=report, p=placement: registration.register(intake, r, p, now),
                                      events_of=lambda recorded: [recorded.event])
            if not result.created:
                continue
            (CASES_MERGED if result.event.type == "case_merged" else CASES_RECEIVED).labels(report.data.channel).inc()
            INTAKE_SECONDS.observe(max(0.0, (now - parse_iso(report.data.submitted_at)).total_seconds()))
