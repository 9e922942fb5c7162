"""Registering cases from submitted reports. Plain domain logic: no nameko, no driver."""
from __future__ import annotations

from datetime import datetime

from fengqiao.clock import isoformat
from fengqiao.events import Event, Recorded, ReportSubmitted, make_event
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index

# One case per (channel, source_id): the unique index is what makes registration idempotent
# across redeliveries and concurrent consumers.
CASES = CollectionSpec("cases", [Index(("channel", "source_id"), unique=True), Index(("received_at",))])

CONTENT_FIELDS = ("number", "channel", "source_id", "text", "address", "region_code", "occurred_at", "reporter")


def register(cases: Collection, report: Event, now: datetime) -> Recorded:
    """Register the case a report describes. Its case_received event is the same (same id)
    however often the report arrives."""
    submitted: ReportSubmitted = report.data
    case = {
        "id": report.case_id,
        **submitted.model_dump(include=set(CONTENT_FIELDS), mode="json"),
        "received_at": isoformat(now),
        "submitted_at": submitted.submitted_at,
        "submitted_by": submitted.submitted_by,
    }
    try:
        cases.insert(case)
        return Recorded(received_event(case), created=True)
    except DuplicateKeyError:
        existing = cases.find_one({"channel": submitted.channel, "source_id": submitted.source_id})
        if existing is None:  # the id collided, not the source: a replay of the same message
            existing = cases.get(report.case_id)
        return Recorded(received_event(existing), created=False)


def received_event(case: dict) -> Event:
    data = {field: case.get(field) for field in CONTENT_FIELDS}
    return make_event(
        "case_received", case["id"], {**data, "received_at": case["received_at"]},
        occurred_at=case["received_at"],
    )
