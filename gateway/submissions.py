"""Accepting reports at the gateway, durably and exactly once per (channel, source_id).

A receipt keyed by (channel, source_id) is written before publishing and holds the exact event
to publish. Whatever happens next (broker down, confirm lost, gateway killed) a retry of the same
submission republishes that same event, with the same case id and number, and intake's own
idempotency absorbs the repeats. A receipt is never deleted, so an id once handed out never
changes. ``accepted`` means RabbitMQ confirmed the event on a durable queue.

Batches take the bulk path: their receipts are written together and their events travel as
``report_batch_submitted`` messages of up to ``BATCH_MESSAGE_SIZE`` reports each.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from fengqiao.channels import Report
from fengqiao.clock import CHINA_TZ, isoformat
from fengqiao.events import make_event
from fengqiao.ids import EVENT_NAMESPACE, case_number, new_id
from fengqiao.store import CollectionSpec, DuplicateKeyError, Index
from gateway.bridge import BusUnavailable

RECEIPTS = CollectionSpec("receipts", [Index(("case_id",), unique=True), Index(("token",))])
BATCH_MESSAGE_SIZE = 200


@dataclass(frozen=True)
class Receipt:
    case_id: str
    number: str
    replayed: bool  # the same submission had been made before (accepted, or still being accepted)
    submitted_by: str = ""  # the principal that first submitted it
    token: str | None = None  # what an Open311 client looks the request up by
    import_row: tuple[str, int] | None = None  # the ledger import job and row that made it, if any


def receipt_key(channel: str, source_id: str) -> str:
    return f"{channel}/{source_id}"


async def accept(receipts, store, publisher, submitted_by: str, report: Report, now: datetime) -> Receipt:
    [(receipt, created)] = await _receipts(receipts, store, submitted_by, [report], now)
    if receipt["state"] != "accepted":  # new, or an earlier attempt that never got its confirm
        await publisher.publish_message(receipt["event"])
        await _mark_accepted(receipts, receipt, now)
    return _receipt(receipt, replayed=not created)


def _receipt(doc: dict, replayed: bool) -> Receipt:
    data = doc["event"]["data"]
    facts = data.get("facts") or {}
    row = (facts["import_job"], facts.get("ledger_row")) if facts.get("import_job") else None
    return Receipt(doc["case_id"], doc["number"], replayed, data.get("submitted_by", ""), doc.get("token"), row)


async def accept_many(receipts, store, publisher, submitted_by: str, reports: list[Report],
                      now: datetime) -> list[Receipt | BusUnavailable]:
    """Accept many reports; each gets its receipt, or the bus error that stopped it."""
    found = await _receipts(receipts, store, submitted_by, reports, now)
    docs = [doc for doc, _ in found]
    outcomes: list[Receipt | BusUnavailable] = [_receipt(d, replayed=True) for d in docs]
    # A report repeated inside the batch is sent once; its repeats answer as replayed.
    first: dict[str, int] = {}
    for i, doc in enumerate(docs):
        first.setdefault(doc["id"], i)
    pending = [i for i, d in enumerate(docs) if d["state"] != "accepted" and first[d["id"]] == i]
    for start in range(0, len(pending), BATCH_MESSAGE_SIZE):
        chunk = pending[start:start + BATCH_MESSAGE_SIZE]
        try:
            await publisher.publish_message(batch_message([docs[i]["event"] for i in chunk], now))
        except BusUnavailable as exc:
            for i in chunk:
                outcomes[i] = exc
            continue
        for i in chunk:
            await _mark_accepted(receipts, docs[i], now)
            outcomes[i] = _receipt(docs[i], replayed=not found[i][1])
    return outcomes


def batch_message(events: list[dict], now: datetime) -> dict:
    batch_id = uuid.uuid5(EVENT_NAMESPACE, "/".join(e["event_id"] for e in events)).hex
    return make_event("report_batch_submitted", batch_id, {"reports": events}, occurred_at=now).to_message()


async def _receipts(receipts, store, submitted_by: str, reports: list[Report],
                    now: datetime) -> list[tuple[dict, bool]]:
    """The receipt of each report, and whether this call made it: the existing one, or a new one."""
    keyed = [(receipt_key(r.channel, r.source_id or new_id()), r) for r in reports]  # walk-ins have no source id
    found = {key: await receipts.get(key) for key, _ in keyed}
    missing, seen = [], set()
    for key, report in keyed:
        if found[key] is None and key not in seen:
            seen.add(key)
            missing.append((key, report))
    made = set()
    if missing:
        day = now.astimezone(CHINA_TZ)
        last = await store.next_sequence(f"case-number/{day:%Y%m%d}", len(missing))
        for offset, (key, report) in enumerate(missing):
            number = case_number(day, last - len(missing) + 1 + offset)
            found[key], created = await _new_receipt(receipts, submitted_by, report, key, number, now)
            if created:
                made.add(key)
    first = {}  # the first of a key within this call is the one it made; its repeats are replays
    return [(found[key], key in made and first.setdefault(key, i) == i) for i, (key, _) in enumerate(keyed)]


async def _new_receipt(receipts, submitted_by: str, report: Report, key: str, number: str,
                       now: datetime) -> tuple[dict, bool]:
    case_id = new_id()
    data = report.model_dump(mode="json", exclude={"occurred_at", "reported_at"})
    data.update(
        source_id=key.split("/", 1)[1], number=number,
        occurred_at=isoformat(report.occurred_at) if report.occurred_at else None,
        reported_at=isoformat(report.reported_at) if report.reported_at else None,
        submitted_at=isoformat(now), submitted_by=submitted_by,
    )
    event = make_event("report_submitted", case_id, data, occurred_at=now)
    doc = {"id": key, "case_id": case_id, "number": number, "state": "pending",
           "event": event.to_message(), "created_at": isoformat(now),
           # Open311 hands its clients a token to look the request up by; no other channel's is.
           "token": new_id() if report.channel == "open311" else None}
    try:
        return await receipts.insert(doc), True
    except DuplicateKeyError:  # a concurrent request for the same submission got there first
        return await receipts.get(key), False


async def _mark_accepted(receipts, receipt: dict, now: datetime) -> None:
    # Another request for the same submission may have marked it first; either way it is accepted.
    await receipts.update(receipt["id"], {"state": "accepted", "accepted_at": isoformat(now)},
                          expected_version=receipt["version"])


async def receipt_of_token(receipts, token: str) -> dict | None:
    return await receipts.find_one({"token": token, "state": "accepted"}) if token else None


async def accepted_receipt(receipts, case_id: str) -> dict | None:
    return await receipts.find_one({"case_id": case_id, "state": "accepted"})


def received_view(receipt: dict) -> dict:
    """What is known of an accepted case that the read model has not projected yet."""
    data = receipt["event"]["data"]
    return {"id": receipt["case_id"], "number": receipt["number"], "status": "received", "channel": data["channel"],
            "text": data["text"], "address": data.get("address"), "region_code": data.get("region_code"),
            "reporter": data.get("reporter"), "timeline": []}
