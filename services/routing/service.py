"""Routing: triages every case, assigns it, keeps its deadlines. Entrypoints only."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, DirectoryFile, Emitter, Store, TriageModels, answer_of
from fengqiao.bus.entrypoints import handle_event, handle_event_chunk, scan_timer
from fengqiao.clock import parse_iso
from fengqiao.events import parse_event
from fengqiao.metrics import ASSIGNMENT_SECONDS, CASES_ASSIGNED
from fengqiao.settings import service_setting
from services.routing import assignment, deadlines

EXPECTED = (assignment.RoutingRefused, assignment.CaseNotRouted)


class DeadlinePolicy(DependencyProvider):
    def setup(self):
        path = service_setting(self.container.config, "FQ_DEADLINE_POLICY_FILE")
        self.policy = deadlines.Policy.load(path)

    def get_dependency(self, worker_ctx):
        return self.policy


class RoutingService:
    name = "routing"

    store = Store(assignment.ROUTINGS, deadlines.DEADLINES)
    directory = DirectoryFile()
    triage_models = TriageModels()
    policy = DeadlinePolicy()
    clock = Clock()
    emit = Emitter()

    @handle_event_chunk("intake", "case_received")
    def route_received_case(self, messages):
        cases = [parse_event(message, "case_received") for message in messages]
        received_at = {case.case_id: parse_iso(case.data.received_at) for case in cases}
        for event in self._commit(lambda: assignment.receive_many(self._routing(), cases, self.clock.now(),
                                                                  self.triage_models)):
            if event.type == "case_assigned":
                ASSIGNMENT_SECONDS.observe(max(0.0, (parse_iso(event.occurred_at)
                                                     - received_at[event.case_id]).total_seconds()))

    @handle_event("intake", "case_merged")
    def regrade_merged_case(self, message):
        merged = parse_event(message, "case_merged")
        self._commit(lambda: assignment.regrade_after_merge(self._routing(), merged.case_id, merged.data.report_count,
                                                            self.clock.now(), self.triage_models))

    @handle_event("mediation", "case_resolved")
    def stop_clocks_of_resolved_case(self, message):
        assignment.resolved(self._routing(), parse_event(message, "case_resolved").case_id)

    @handle_event("followup", "case_reopened")
    def route_reopened_case(self, message):
        reopened = parse_event(message, "case_reopened")
        self._commit(lambda: assignment.reopen(self._routing(), reopened.case_id, reopened.data.reopen_no,
                                               reopened.data.reason, self.clock.now()))

    @scan_timer()
    def check_deadlines(self):
        self._commit(lambda: assignment.check_deadlines(self._routing(), self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def return_case(self, case_id: str, reason: str, by: str) -> dict:
        return self._answer(lambda: assignment.return_case(self._routing(), case_id, reason, by, self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def reassign(self, case_id: str, unit_id: str, reason: str, by: str) -> dict:
        return self._answer(lambda: assignment.reassign_by_hand(self._routing(), case_id, unit_id, reason, by,
                                                                self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def escalate(self, case_id: str, reason: str, by: str) -> dict:
        return self._answer(lambda: assignment.escalate_by_hand(self._routing(), case_id, reason, by, self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def report_progress(self, case_id: str, note: str, by: str) -> dict:
        return self._answer(lambda: assignment.report_progress(self._routing(), case_id, note, by, self.clock.now()))

    def _routing(self) -> assignment.Routing:
        return assignment.Routing(self.store.routings, self.store.deadlines, self.directory, self.policy)

    def _commit(self, work) -> list:
        events = self.emit.commit(work)
        self._count(events)
        return events

    @staticmethod
    def _count(events) -> None:
        for event in events:
            if event.type == "case_assigned":
                CASES_ASSIGNED.labels(event.data.level).inc()

    def _answer(self, work) -> dict:
        events = self.emit.commit(work)
        self._count(events)
        return answer_of(events)
