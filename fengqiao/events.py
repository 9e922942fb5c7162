"""The event catalog: every fact the services tell each other, with versioned payloads.

On the wire an event is an envelope dict::

    {"event_id", "type", "version", "source", "case_id", "occurred_at", "data"}

``event_id`` is deterministic for a fact (see ``fengqiao.ids.event_id``), so a redelivered or
re-emitted event carries the same id and consumers can deduplicate on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fengqiao.clock import isoformat
from fengqiao.ids import event_id

Channel = Literal["hotline_12345", "police_110", "petition", "court", "grid", "walk_in", "open311"]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
Level = Literal["city", "county", "township", "village", "grid"]
LEVELS: tuple[str, ...] = Level.__args__  # type: ignore[attr-defined]


class InvalidEvent(ValueError):
    """A message that can never be handled: it goes straight to the dead-letter queue."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Person(_Data):
    name: str | None = None
    phone: str | None = None
    id_number: str | None = None


class Party(Person):
    role: str | None = None
    kind: Literal["person", "organisation"] = "person"


class ReportContent(_Data):
    """What one channel submission said, in the case model's terms."""

    channel: Channel
    source_id: str
    text: str
    address: str | None = None
    region_code: str | None = None
    occurred_at: str | None = None
    reported_at: str | None = None
    reporter: Person | None = None
    parties: list[Party] = []
    facts: dict[str, Any] = {}


class ReportSubmitted(ReportContent):
    """A report accepted at the gateway; intake has not seen it yet. ``case_id`` of the
    envelope is the id the report's case gets if it is not merged into an existing one."""

    number: str
    original: dict[str, Any] = {}
    submitted_at: str
    submitted_by: str


class ReportBatchSubmitted(_Data):
    """Many report_submitted envelopes in one message: the bulk path (imports, batches)."""

    reports: list[dict[str, Any]]


class CaseReceived(ReportContent):
    """Intake registered a new case from its first report, cleaned."""

    number: str
    text_simplified: str = ""
    region_source: Literal["payload", "address", "none"] = "payload"
    phones: list[str] = []
    id_numbers: list[str] = []
    amounts: list[float] = []
    headcount: int | None = None
    received_at: str


class MatchSignal(_Data):
    name: str  # text, phone, place, time
    score: float
    detail: str


class MergedReport(_Data):
    report_id: str
    number: str
    channel: Channel
    source_id: str
    text: str
    reported_at: str | None = None
    reporter: Person | None = None
    import_job: str | None = None  # the ledger import it came in by, so the import counts it
    # The report's own receipt and channel facts (an Open311 request's service code), so that it
    # can still be shown as the request it was; absent from events written before they were added.
    received_at: str | None = None
    facts: dict[str, Any] = {}


class CaseMerged(_Data):
    """A later report about the same incident was linked to an existing case (重复诉求并单)."""

    report: MergedReport
    report_count: int = Field(ge=2)
    score: float
    signals: list[MatchSignal]
    merged_at: str


class CaseUnmerged(_Data):
    """Staff split a merged report back out; it becomes its own case (see case_received)."""

    report_id: str
    report_count: int = Field(ge=1)
    reason: str
    by: str
    unmerged_at: str


class CaseTriaged(_Data):
    """Routing read the case: its category and risk grade, and why."""

    triage_no: int = Field(ge=1)
    category: str
    risk: int = Field(ge=1, le=3)
    reasons: list[str]
    confidence: float
    report_count: int = 1


class UnitRef(_Data):
    unit_id: str
    unit_name: str


class CaseAssigned(_Data):
    """Routing gave the case to a unit (the first time, after a return, by hand, or one level up)."""

    assignment_no: int = Field(ge=1)
    level: Level
    region_code: str | None
    unit_id: str
    unit_name: str
    category: str
    risk: int = Field(ge=1, le=3)
    reason: str
    lead: str | None = None  # the named leader who takes the case (包案), for grade 3
    support: list[UnitRef] = []
    disposition: Literal["handle", "legal_transfer", "manual_dispatch"] = "handle"
    kind: Literal["auto", "return", "manual", "escalation", "regrade", "reopen"] = "auto"
    by: str = "routing"
    due_at: str | None = None  # the resolution deadline the unit works to (None: legal procedure)
    response_due_at: str | None = None  # when this assignment's first response is due (None: no such clock)


class CaseReturned(_Data):
    """A unit sent the case back (退单)."""

    unit_id: str
    unit_name: str
    reason: str
    by: str
    returns: int = Field(ge=1)


class CaseEscalated(_Data):
    """The case moved one level up: a problem case (提级督办) or an overdue one (督办)."""

    from_unit: UnitRef
    from_level: Level
    to_unit: UnitRef
    to_level: Level
    reason: str
    kind: Literal["problem_case", "overdue", "manual"]


class DeadlineWarning(_Data):
    deadline: str
    due_at: str
    hours_left: int
    unit_id: str
    unit_name: str


class CaseOverdue(_Data):
    deadline: str
    due_at: str
    unit_id: str
    unit_name: str


class ProgressReported(_Data):
    """The handling unit reported progress (the first response, then weekly updates)."""

    note: str
    by: str
    reported_at: str


# --- mediation -----------------------------------------------------------------------------

Origin = Literal["assignment", "court", "police", "petition"]  # 诉调、警调、访调 are referrals
Outcome = Literal["agreement", "no_agreement", "withdrawn", "transferred"]
MediationDeadline = Literal["mediation_target", "obligation", "confirmation_window", "court_acceptance",
                            "court_ruling"]


class MediatorRef(_Data):
    mediator_id: str
    name: str
    grade: str


class MediationOpened(_Data):
    mediation_id: str
    origin: Origin
    referral_no: str | None = None
    committee: UnitRef
    mediators: list[MediatorRef]
    parties: list[Party]
    category: str
    region_code: str | None
    level: Level
    target_due_at: str
    by: str


class MediationSessionLogged(_Data):
    mediation_id: str
    session_no: int = Field(ge=1)
    held_at: str
    mode: Literal["in_person", "video", "phone"]
    place: str | None = None
    attendees: list[str]
    notes: str
    by: str


class MediationConcluded(_Data):
    """The mediation ended without an agreement: none reached, withdrawn, or transferred."""

    mediation_id: str
    outcome: Literal["no_agreement", "withdrawn", "transferred"]
    transferred_to: Literal["court", "arbitration"] | None = None
    reasons: str
    by: str


class Obligation(_Data):
    no: int = Field(ge=1)
    party: str
    description: str
    amount: float | None = None
    due_date: str | None = None  # a date (YYYY-MM-DD), Beijing time


class AgreementSigned(_Data):
    mediation_id: str
    signed_at: str
    effective_at: str
    obligations: list[Obligation]
    total_amount: float
    parties_count: int
    confirmation_window_ends: str
    by: str


class ObligationPerformed(_Data):
    mediation_id: str
    obligation_no: int
    party: str
    performed_at: str
    note: str = ""
    by: str


class ObligationOverdue(_Data):
    mediation_id: str
    obligation_no: int
    party: str
    description: str
    due_at: str


class AgreementPerformed(_Data):
    mediation_id: str
    performed_at: str


class ConfirmationApplied(_Data):
    mediation_id: str
    court: str
    applied_at: str
    by: str


class ConfirmationAccepted(_Data):
    """The court decided whether to accept the application (within 3 days)."""

    mediation_id: str
    accepted: bool
    reference: str | None = None
    reason: str = ""
    ruling_due_at: str | None = None
    by: str


class ConfirmationRuled(_Data):
    mediation_id: str
    result: Literal["confirmed", "rejected"]
    reference: str | None = None
    reason: str = ""
    ruled_at: str
    by: str


class MediationDeadlineWarning(_Data):
    mediation_id: str
    deadline: MediationDeadline
    due_at: str
    hours_left: int
    detail: str


class MediationDeadlineMissed(_Data):
    mediation_id: str
    deadline: MediationDeadline
    due_at: str
    detail: str


class CaseResolved(_Data):
    """The matter is settled: a mediation agreement performed, or handled without mediation."""

    resolution: Literal["mediated", "handled"]
    summary: str
    mediation_id: str | None = None
    resolved_at: str
    by: str


# --- follow-up -------------------------------------------------------------------------------

Satisfaction = Literal["satisfied", "basically_satisfied", "unsatisfied"]  # 满意 / 基本满意 / 不满意
MonitoringReason = Literal["grievance", "unresolved", "volatile"]  # 事了心不顺 / 未实质化解 / 易暴雷


class FollowupPlanned(_Data):
    visit_no: int = Field(ge=1)
    due_at: str


class FollowupOverdue(_Data):
    visit_no: int = Field(ge=1)
    due_at: str


class FollowupDone(_Data):
    visit_no: int = Field(ge=1)
    method: Literal["phone", "in_person", "sms"]
    resolved: bool
    satisfaction: Satisfaction
    notes: str = ""
    visited_at: str
    by: str


class CaseReopened(_Data):
    reopen_no: int = Field(ge=1)
    reason: str
    by: str
    after_visit: int | None = None  # the visit that found the person unsatisfied, if any


class CaseClosed(_Data):
    visit_no: int
    note: str = ""
    closed_at: str
    by: str


class MonitoringStarted(_Data):
    reason: MonitoringReason
    note: str = ""
    interval_days: int = Field(ge=1)
    next_check_at: str
    by: str


class MonitoringCheckDue(_Data):
    check_no: int = Field(ge=1)
    due_at: str
    overdue_days: int = Field(ge=0)


class MonitoringChecked(_Data):
    check_no: int = Field(ge=1)
    note: str
    next_check_at: str
    by: str


class MonitoringReleased(_Data):
    reason: str
    by: str


# --- webhooks --------------------------------------------------------------------------------

class SubscriptionDisabled(_Data):
    """A partner's webhook subscription was switched off: its endpoint is gone or kept failing.
    (The envelope's ``case_id`` is the subscription's id: the fact is about no case.)"""

    subscription_id: str
    owner: str
    url: str
    reason: str
    disabled_at: str


@dataclass(frozen=True)
class EventSpec:
    type: str
    source: str  # the nameko service whose exchange carries it
    version: int
    data: type[_Data]


CATALOG: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec("report_submitted", "gateway", 1, ReportSubmitted),
        EventSpec("report_batch_submitted", "gateway", 1, ReportBatchSubmitted),
        EventSpec("case_received", "intake", 1, CaseReceived),
        EventSpec("case_merged", "intake", 1, CaseMerged),
        EventSpec("case_unmerged", "intake", 1, CaseUnmerged),
        EventSpec("case_triaged", "routing", 1, CaseTriaged),
        EventSpec("case_assigned", "routing", 1, CaseAssigned),
        EventSpec("case_returned", "routing", 1, CaseReturned),
        EventSpec("case_escalated", "routing", 1, CaseEscalated),
        EventSpec("deadline_warning", "routing", 1, DeadlineWarning),
        EventSpec("case_overdue", "routing", 1, CaseOverdue),
        EventSpec("progress_reported", "routing", 1, ProgressReported),
        EventSpec("mediation_opened", "mediation", 1, MediationOpened),
        EventSpec("mediation_session_logged", "mediation", 1, MediationSessionLogged),
        EventSpec("mediation_concluded", "mediation", 1, MediationConcluded),
        EventSpec("agreement_signed", "mediation", 1, AgreementSigned),
        EventSpec("obligation_performed", "mediation", 1, ObligationPerformed),
        EventSpec("obligation_overdue", "mediation", 1, ObligationOverdue),
        EventSpec("agreement_performed", "mediation", 1, AgreementPerformed),
        EventSpec("confirmation_applied", "mediation", 1, ConfirmationApplied),
        EventSpec("confirmation_accepted", "mediation", 1, ConfirmationAccepted),
        EventSpec("confirmation_ruled", "mediation", 1, ConfirmationRuled),
        EventSpec("mediation_deadline_warning", "mediation", 1, MediationDeadlineWarning),
        EventSpec("mediation_deadline_missed", "mediation", 1, MediationDeadlineMissed),
        EventSpec("case_resolved", "mediation", 1, CaseResolved),
        EventSpec("followup_planned", "followup", 1, FollowupPlanned),
        EventSpec("followup_overdue", "followup", 1, FollowupOverdue),
        EventSpec("followup_done", "followup", 1, FollowupDone),
        EventSpec("case_reopened", "followup", 1, CaseReopened),
        EventSpec("case_closed", "followup", 1, CaseClosed),
        EventSpec("monitoring_started", "followup", 1, MonitoringStarted),
        EventSpec("monitoring_check_due", "followup", 1, MonitoringCheckDue),
        EventSpec("monitoring_checked", "followup", 1, MonitoringChecked),
        EventSpec("monitoring_released", "followup", 1, MonitoringReleased),
        EventSpec("subscription_disabled", "webhooks", 1, SubscriptionDisabled),
    )
}


@dataclass(frozen=True)
class Event:
    event_id: str
    type: str
    version: int
    source: str
    case_id: str
    occurred_at: str
    data: Any  # the type's data model

    def to_message(self) -> dict:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "version": self.version,
            "source": self.source,
            "case_id": self.case_id,
            "occurred_at": self.occurred_at,
            "data": self.data.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Recorded:
    """What a command handler did: the event it (re-)emits, and whether it changed anything."""

    event: Event
    created: bool


def make_event(
    event_type: str, case_id: str, data: dict | _Data, occurred_at: datetime | str,
    discriminator: str | int = "",
) -> Event:
    spec = CATALOG[event_type]
    model = data if isinstance(data, spec.data) else spec.data.model_validate(data)
    return Event(
        event_id=event_id(event_type, case_id, discriminator),
        type=event_type,
        version=spec.version,
        source=spec.source,
        case_id=case_id,
        occurred_at=occurred_at if isinstance(occurred_at, str) else isoformat(occurred_at),
        data=model,
    )


def parse_event(message: Any, expected_type: str) -> Event:
    """Validate an incoming envelope; anything malformed raises ``InvalidEvent``."""
    if not isinstance(message, dict):
        raise InvalidEvent(f"{expected_type}: envelope must be an object, got {type(message).__name__}")
    spec = CATALOG[expected_type]
    missing = {"event_id", "type", "version", "case_id", "occurred_at", "data"} - message.keys()
    if missing:
        raise InvalidEvent(f"{expected_type}: envelope lacks {sorted(missing)}")
    if message["type"] != expected_type or message["version"] != spec.version:
        raise InvalidEvent(
            f"expected {expected_type} v{spec.version}, got {message['type']} v{message['version']}"
        )
    try:
        data = spec.data.model_validate(message["data"])
    except ValidationError as exc:
        raise InvalidEvent(f"{expected_type}: {exc}") from exc
    return Event(
        event_id=message["event_id"], type=expected_type, version=spec.version, source=spec.source,
        case_id=message["case_id"], occurred_at=message["occurred_at"], data=data,
    )
