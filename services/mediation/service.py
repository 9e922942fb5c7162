"""Mediation: mediators, mediation cases, agreements, performance, judicial confirmation. Entrypoints only."""
from __future__ import annotations

from nameko.dependency_providers import Config
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, DirectoryFile, Emitter, Store, answer_of
from fengqiao.bus.entrypoints import handle_event, handle_event_chunk, scan_timer
from fengqiao.clock import parse_iso
from fengqiao.events import parse_event
from fengqiao.lifecycle import IllegalTransition
from fengqiao.metrics import MEDIATIONS_CONCLUDED, MEDIATIONS_OPENED
from fengqiao.settings import service_setting
from services.mediation import figures, mediation

EXPECTED = (IllegalTransition, mediation.MediationNotFound, mediation.MediationRefused)


class MediationService:
    name = "mediation"

    store = Store(mediation.MEDIATIONS, mediation.CASES, mediation.LOADS, mediation.WATCHES, figures.FIGURES)
    directory = DirectoryFile()
    clock = Clock()
    config = Config()
    emit = Emitter()

    @handle_event_chunk("routing", "case_assigned")
    def note_assignment(self, messages):
        # A city's bulk import assigns thousands of cases a minute: one unit of work a chunk.
        assignments = [parse_event(message, "case_assigned") for message in messages]
        m = self._mediation()
        self.emit.change(lambda: [mediation.note_assignment(m, a) for a in assignments])

    @handle_event("followup", "case_reopened")
    def note_reopened(self, message):
        reopened = parse_event(message, "case_reopened")
        mediation.note_reopened(self._mediation(), reopened.case_id, reopened.data.reopen_no)

    @scan_timer()
    def check_deadlines(self):
        self.emit.commit(lambda: mediation.check_deadlines(self._mediation(), self.clock.now()))

    @rpc
    def list_mediators(self, region: str | None = None, category: str | None = None) -> list[dict]:
        return mediation.list_mediators(self._mediation(), region, category)

    @rpc(expected_exceptions=EXPECTED)
    def suggest_mediators(self, case_id: str, limit: int = 5) -> list[dict]:
        return mediation.suggest(self._mediation(), case_id, limit)

    @rpc(expected_exceptions=EXPECTED)
    def open_mediation(self, case_id: str, request: dict, by: str) -> dict:
        answer = self.emit.answer(lambda: mediation.open_mediation(
            self._mediation(), case_id, origin=request["origin"], referral_no=request.get("referral_no"),
            parties=request["parties"], mediator_ids=request["mediator_ids"],
            committee_id=request.get("committee_id"), by=by, now=self.clock.now()))
        MEDIATIONS_OPENED.labels(request["origin"]).inc()
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def get_mediation(self, mediation_id: str) -> dict:
        return mediation.get(self._mediation(), mediation_id)

    @rpc
    def mediations_of_case(self, case_id: str) -> list[dict]:
        return mediation.for_case(self._mediation(), case_id)

    @rpc(expected_exceptions=EXPECTED)
    def log_session(self, mediation_id: str, session: dict, by: str) -> dict:
        return self.emit.answer(lambda: mediation.log_session(
            self._mediation(), mediation_id, held_at=parse_iso(session["held_at"]), mode=session["mode"],
            place=session.get("place"), attendees=session["attendees"], notes=session["notes"], by=by,
            now=self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def conclude(self, mediation_id: str, outcome: str, reasons: str, transferred_to: str | None, by: str) -> dict:
        answer = self.emit.answer(lambda: mediation.conclude(
            self._mediation(), mediation_id, outcome=outcome, reasons=reasons, transferred_to=transferred_to, by=by,
            now=self.clock.now()))
        MEDIATIONS_CONCLUDED.labels(outcome).inc()
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def sign_agreement(self, mediation_id: str, agreement: dict, by: str) -> dict:
        answer = self.emit.answer(lambda: mediation.sign_agreement(
            self._mediation(), mediation_id, facts=agreement["facts"], obligations=agreement["obligations"],
            performance_method=agreement.get("performance_method") or "", by=by, now=self.clock.now()))
        MEDIATIONS_CONCLUDED.labels("agreement").inc()
        return answer

    @rpc(expected_exceptions=EXPECTED)
    def record_performance(self, mediation_id: str, obligation_no: int, note: str, by: str) -> dict:
        return self.emit.answer(lambda: mediation.record_performance(
            self._mediation(), mediation_id, obligation_no, note=note, by=by, now=self.clock.now()))

    @rpc(expected_exceptions=EXPECTED)
    def confirmation(self, mediation_id: str, step: dict, by: str) -> dict:
        """One step of judicial confirmation: apply, the court's decision, an extension, the ruling."""
        m, now = self._mediation(), self.clock.now()
        action = step["action"]
        if action == "apply":
            return self.emit.answer(lambda: mediation.apply_confirmation(m, mediation_id, court=step["court"], by=by,
                                                                         now=now))
        if action == "decide":
            return self.emit.answer(lambda: mediation.court_decides(
                m, mediation_id, accepted=step["accepted"], reference=step.get("reference"),
                reason=step.get("reason") or "", by=by, now=now))
        if action == "extend":
            self.emit.change(lambda: mediation.extend_ruling(m, mediation_id, by=by, now=now))
            return answer_of([])
        return self.emit.answer(lambda: mediation.court_rules(
            m, mediation_id, result=step["result"], reference=step.get("reference"),
            reason=step.get("reason") or "", by=by, now=now))

    @rpc(expected_exceptions=EXPECTED)
    def resolve_case(self, case_id: str, summary: str, by: str) -> dict:
        """The unit settled the case without mediation (直接办结)."""
        return self.emit.answer(lambda: mediation.resolve(self._mediation(), case_id, "handled", summary, by,
                                                          self.clock.now()))

    @rpc
    def figures(self, dimension: str) -> list[dict]:
        return figures.read(self.store.mediation_figures, self.directory, dimension)

    def _mediation(self) -> mediation.Mediation:
        store = self.store
        target = int(service_setting(self.config, "FQ_MEDIATION_TARGET_DAYS"))
        return mediation.Mediation(store.mediations, store.mediation_cases, store.mediator_loads,
                                   store.mediation_watches, store.mediation_figures, self.directory, target)
