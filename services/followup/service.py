"""Follow-up: visits, satisfaction, reopening, closing, long-term monitoring. Entrypoints only."""
from __future__ import annotations

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, Emitter, Store, answer_of
from fengqiao.bus.entrypoints import handle_event, scan_timer
from fengqiao.events import parse_event
from fengqiao.lifecycle import IllegalTransition
from fengqiao.metrics import CASES_CLOSED, CASES_REOPENED, FOLLOWUPS_DONE
from fengqiao.settings import service_setting
from services.followup import followup

EXPECTED = (IllegalTransition,)


class FollowupService:
    name = "followup"

    store = Store(followup.FOLLOWUPS, followup.MONITORING, followup.VISIT_WATCHES)
    clock = Clock()
    config = Config()
    emit = Emitter()

    @handle_event("mediation", "case_resolved")
    def plan_visit(self, message):
        resolved = parse_event(message, "case_resolved")
        self.emit.commit(lambda: followup.plan_visit(self._followup(), resolved))

    @scan_timer()
    def check_due(self):
        now = self.clock.now()
        self.emit.commit(lambda: followup.check_visits(self._followup(), now))
        self.emit.commit(lambda: followup.check_monitoring(self._followup(), now))

    @rpc
    def get_followup(self, case_id: str) -> dict:
        f = self._followup()
        return {"case_id": case_id, "followup": followup.get(f, case_id),
                "monitoring": followup.monitoring_of(f, case_id)}

    @rpc(expected_exceptions=EXPECTED)
    def record_visit(self, case_id: str, visit: dict, by: str) -> dict:
        events = self.emit.commit(lambda: followup.record_visit(
            self._followup(), case_id, method=visit["method"], resolved=visit["resolved"],
            satisfaction=visit["satisfaction"], notes=visit.get("notes") or "", by=by, now=self.clock.now()))
        FOLLOWUPS_DONE.labels(visit["satisfaction"]).inc()
        if len(events) > 1:
            CASES_REOPENED.labels("visit").inc()
        return answer_of(events)

    @rpc(expected_exceptions=EXPECTED)
    def reopen_case(self, case_id: str, reason: str, by: str) -> dict:
        events = self.emit.commit(lambda: followup.reopen(self._followup(), case_id, reason=reason, by=by,
                                                          now=self.clock.now()))
        CASES_REOPENED.labels("staff").inc()
        return answer_of(events)

    @rpc(expected_exceptions=EXPECTED)
    def close_case(self, case_id: str, note: str, by: str) -> dict:
        events = self.emit.commit(lambda: followup.close(self._followup(), case_id, note=note, by=by,
                                                         now=self.clock.now()))
        CASES_CLOSED.inc()
        return answer_of(events)

    @rpc(expected_exceptions=EXPECTED)
    def start_monitoring(self, case_id: str, request: dict, by: str) -> dict:
        return self.emit.answer(lambda: followup.start_monitoring(
            self._followup(), case_id, reason=request["reason"], interval_days=request["interval_days"],
            note=request.get("note") or "", by=by, now=self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def record_check(self, case_id: str, note: str, by: str) -> dict:
        return self.emit.answer(lambda: followup.record_check(self._followup(), case_id, note=note, by=by,
                                                              now=self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def release_monitoring(self, case_id: str, reason: str, by: str) -> dict:
        return self.emit.answer(lambda: followup.release(self._followup(), case_id, reason=reason, by=by,
                                                         now=self.clock.now()))

    def _followup(self) -> followup.Followup:
        days = int(service_setting(self.config, "FQ_FOLLOWUP_VISIT_DAYS"))
        return followup.Followup(self.store.followups, self.store.monitoring, self.store.visit_watches, days)
