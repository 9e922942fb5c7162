"""Accepting a case at the gateway, durably and exactly once per (channel, source_id).

A receipt keyed by (channel, source_id) is written before publishing and holds the exact event
to publish. Whatever happens next (broker down, confirm lost, gateway killed) a retry of the same
submission republishes that same event, with the same case id and number, and intake's own
idempotency absorbs the repeats. A receipt is never deleted, so an id once handed out never
changes. ``accepted`` means RabbitMQ confirmed the event on a durable queue.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fengqiao.clock import CHINA_TZ, isoformat
from fengqiao.events import make_event
from fengqiao.ids import case_number, new_id
from fengqiao.store import CollectionSpec, DuplicateKeyError, Index
from gateway.auth import Caller
from gateway.schemas import CaseSubmission

RECEIPTS = CollectionSpec("receipts", [Index(("case_id",), unique=True)])


@dataclass(frozen=True)
class Receipt:
    case_id: str
    number: str
    replayed: bool  # the same submission had been accepted before


def receipt_key(channel: str, source_id: str) -> str:
    return f"{channel}/{source_id}"


async def accept(receipts, store, publisher, caller: Caller, submission: CaseSubmission, now: datetime) -> Receipt:
    source_id = submission.source_id or new_id()  # walk-ins have no source system
    key = receipt_key(submission.channel, source_id)
    receipt = await receipts.get(key)
    if receipt is None:
        receipt = await _new_receipt(receipts, store, caller, submission, source_id, key, now)
    if receipt["state"] == "accepted":
        return Receipt(receipt["case_id"], receipt["number"], replayed=True)
    await publisher.publish_message(receipt["event"])
    # Another request for the same submission may have marked it first; either way it is accepted.
    await receipts.update(key, {"state": "accepted", "accepted_at": isoformat(now)},
                          expected_version=receipt["version"])
    return Receipt(receipt["case_id"], receipt["number"], replayed=False)


async def _new_receipt(receipts, store, caller, submission, source_id, key, now) -> dict:
    case_id = new_id()
    sequence = await store.next_sequence(f"case-number/{now.astimezone(CHINA_TZ):%Y%m%d}")
    number = case_number(now.astimezone(CHINA_TZ), sequence)
    occurred = submission.occurred_at
    if occurred is not None and occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=CHINA_TZ)
    event = make_event("report_submitted", case_id, {
        "number": number,
        "channel": submission.channel,
        "source_id": source_id,
        "text": submission.text,
        "address": submission.address,
        "region_code": submission.region_code,
        "occurred_at": isoformat(occurred) if occurred else None,
        "reporter": submission.reporter.model_dump() if submission.reporter else None,
        "submitted_at": isoformat(now),
        "submitted_by": caller.client_id,
    }, occurred_at=now)
    doc = {"id": key, "case_id": case_id, "number": number, "state": "pending",
           "event": event.to_message(), "created_at": isoformat(now)}
    try:
        return await receipts.insert(doc)
    except DuplicateKeyError:  # a concurrent request for the same submission got there first
        return await receipts.get(key)


async def accepted_receipt(receipts, case_id: str) -> dict | None:
    return await receipts.find_one({"case_id": case_id, "state": "accepted"})
