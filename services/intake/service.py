"""Intake: turns submitted reports into cases, one per incident. Entrypoints only."""
from __future__ import annotations

import eventlet
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, Emitter, Store, TriageModels, load_directory
from fengqiao.bus.entrypoints import handle_event, handle_event_chunk, scan_timer
from fengqiao.clock import parse_iso
from fengqiao.events import parse_event
from fengqiao.metrics import CASES_MERGED, CASES_RECEIVED, INTAKE_SECONDS
from services.intake import registration
from services.intake.places import RegionResolver

# Reports registered per unit of work: a 1,000-report batch holds the store's write lock a
# chunk at a time, and a failing report makes only its chunk's delivery fail and come again.
REGISTRATION_CHUNK = 50


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
    triage_models = TriageModels()
    clock = Clock()
    emit = Emitter()

    @handle_event_chunk("gateway", "report_submitted")
    def register_report(self, messages):
        # Reports posted one by one at the same moment are registered together.
        self._register([parse_event(message, "report_submitted") for message in messages])

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
        prepared = registration.prepare(reports, placements, now, self.triage_models)
        for start in range(0, len(prepared), REGISTRATION_CHUNK):
            # One unit of work per chunk: its cases and their events are stored together (outbox)
            # and published in one pipeline; chunks keep the store's write lock short.
            chunk = prepared[start:start + REGISTRATION_CHUNK]
            results = self.emit.commit(lambda c=chunk: _register_chunk(intake, c, now),
                                       events_of=lambda recorded: [r.event for r in recorded])
            for report, result in zip(reports[start:start + REGISTRATION_CHUNK], results, strict=True):
                if result.created:
                    self._count(report, result.event, now)

    @staticmethod
    def _count(report, event, now) -> None:
        (CASES_MERGED if event.type == "case_merged" else CASES_RECEIVED).labels(report.data.channel).inc()
        INTAKE_SECONDS.observe(max(0.0, (now - parse_iso(report.data.submitted_at)).total_seconds()))


def _register_chunk(intake: registration.Intake, chunk: list[registration.Prepared], now) -> list:
    recorded = []
    for report in chunk:
        recorded.append(registration.register_prepared(intake, report, now))
        # A pause after each report, inside the unit of work: the process's connections keep
        # answering the broker (heartbeats, handshakes) while concurrent batches take turns on
        # the store; a chunk without pauses starved a publisher's new connection past RabbitMQ's
        # handshake_timeout. Other workers wanting the store wait on its lock meanwhile.
        eventlet.sleep(0)
    return recorded
