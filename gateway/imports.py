"""Ledger imports as durable jobs.

A job, its parsed rows (a chunk of them per document) and what became of each chunk live in the
gateway's store, so an import outlives the gateway that started it: on start-up the gateway
resumes every job still queueing, from its first chunk not yet sent. Rows go out through the
receipts (one per channel and source id), so a chunk sent again after a crash creates nothing
twice and its rows still count as this job's, not as replays.

Progress comes from intake's events (``gateway.import_feed``): each imported row's outcome,
created or merged, is written once under its report id, and a job's status is counted from
those documents in the gateway's own store, so it answers at once however busy intake is.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

from fengqiao.channels import Report
from fengqiao.clock import Clock, isoformat
from fengqiao.ledger import ParsedLedger
from fengqiao.store import CollectionSpec, DuplicateKeyError, Index
from fengqiao.store.aio import AsyncCollection, AsyncStore
from gateway import submissions
from gateway.bridge import BusUnavailable, EventPublisher

log = logging.getLogger("fengqiao.gateway.imports")
JOBS = CollectionSpec("imports", [Index(("created_at",)), Index(("state",))])
CHUNKS = CollectionSpec("import_chunks")  # id "<job>/<seq>": the parsed rows to send
SENT = CollectionSpec("import_sent", [Index(("job_id",))])  # id as the chunk's: how its rows went out
OUTCOMES = CollectionSpec("import_outcomes", [Index(("job_id", "outcome"))])  # id: a row's report id
MAX_LISTED_ERRORS = 1000
CHUNK_BYTES = 4 << 20
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 1.0, 30.0


@dataclass(frozen=True)
class Imports:
    """The collections of the import jobs, and what sending their rows needs."""

    jobs: AsyncCollection
    chunks: AsyncCollection
    sent: AsyncCollection
    outcomes: AsyncCollection
    receipts: AsyncCollection
    store: AsyncStore  # for case numbers
    publisher: EventPublisher
    clock: Clock
    chunk_rows: int
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


async def open_imports(store, receipts, publisher, clock: Clock, chunk_rows: int) -> Imports:
    return Imports(await JOBS.open_async(store), await CHUNKS.open_async(store), await SENT.open_async(store),
                   await OUTCOMES.open_async(store), receipts, store, publisher, clock, chunk_rows)


def chunk_id(job_id: str, seq: int) -> str:
    return f"{job_id}/{seq:06d}"


async def create(imports: Imports, job_id: str, parsed: ParsedLedger, filename: str, channel: str | None,
                 principal: str, creator_scope: dict) -> dict:
    """Store the parsed rows, then the job: a job that exists has all its rows."""
    chunks = _chunked([report.model_dump(mode="json") for _, report in parsed.rows], imports.chunk_rows)
    for seq, reports in enumerate(chunks):
        await imports.chunks.insert({"id": chunk_id(job_id, seq), "job_id": job_id, "reports": reports})
    return await imports.jobs.insert({
        "id": job_id, "filename": filename, "channel_default": channel, "state": "queueing",
        "rows": len(parsed.rows) + parsed.rejected_rows, "empty_rows": parsed.empty_rows,
        "rejected": parsed.rejected_rows, "error_count": len(parsed.errors),
        "errors": [e.__dict__ for e in parsed.errors[:MAX_LISTED_ERRORS]],
        "ignored_columns": parsed.ignored_columns, "chunks": len(chunks), "waiting_for": None,
        "created_by": principal, "creator_scope": creator_scope, "created_at": isoformat(imports.clock.now()),
    })


def _chunked(reports: list[dict], rows: int) -> list[list[dict]]:
    """At most ``rows`` reports a chunk, and at most CHUNK_BYTES of them: petitions' and court
    referrals' texts run to thousands of characters, and a MongoDB document to 16 MB."""
    chunks, current, size = [], [], 0
    for report in reports:
        weight = len(json.dumps(report, ensure_ascii=False).encode())
        if current and (len(current) == rows or size + weight > CHUNK_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(report)
        size += weight
    return chunks + [current] if current else chunks


def backoff(first: float = RETRY_FIRST_SECONDS, most: float = RETRY_MAX_SECONDS) -> Iterator[float]:
    """Waits between retries: doubling from ``first`` up to ``most``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


async def run_until_queued(imports: Imports, job_id: str) -> None:
    """Run a job, and again after a failure that is not the bus's (a store failing over): a job
    is never left queueing while its gateway runs."""
    for delay in backoff():
        try:
            return await run(imports, job_id)
        except Exception:
            log.exception("import %s failed; retrying in %.0f s", job_id, delay)
        await imports.sleep(delay)


async def run(imports: Imports, job_id: str) -> None:
    """Send a job's rows that have not been sent, a chunk at a time; then mark it queued and
    drop its rows (the receipts keep every sent report)."""
    job = await imports.jobs.get(job_id)
    chunks = job.get("chunks", 0)  # jobs made before imports were durable have none
    sent = {doc["id"] for doc in (await imports.sent.find({"job_id": job_id}, limit=max(1, chunks))).items}
    for seq in range(chunks):
        if chunk_id(job_id, seq) in sent:
            continue
        chunk = await imports.chunks.get(chunk_id(job_id, seq))
        if chunk is None:
            return  # another gateway resumed the job too, finished it and dropped its rows
        await _send_chunk(imports, job, chunk)
    await _set(imports, job_id, {"state": "queued", "waiting_for": None, "queued_at": isoformat(imports.clock.now())})
    for seq in range(chunks):
        await imports.chunks.delete(chunk_id(job_id, seq))


async def _send_chunk(imports: Imports, job: dict, chunk: dict) -> None:
    """Send one chunk until every row is on the bus, waiting out an outage with backoff."""
    reports = [Report.model_validate(r) for r in chunk["reports"]]
    waited = False
    for delay in backoff():
        outcomes = await submissions.accept_many(imports.receipts, imports.store, imports.publisher,
                                                 job["created_by"], reports, imports.clock.now())
        down = next((o for o in outcomes if isinstance(o, BusUnavailable)), None)
        if down is None:
            break
        log.warning("import %s waits for the bus: %s", job["id"], down)
        await _set(imports, job["id"], {"waiting_for": str(down)})
        waited = True
        await imports.sleep(delay)
    replayed = sum(1 for report, o in zip(reports, outcomes, strict=True) if _replay(job["id"], report, o))
    try:
        await imports.sent.insert({"id": chunk["id"], "job_id": job["id"], "queued": len(reports) - replayed,
                                   "replayed": replayed})
    except DuplicateKeyError:
        pass  # a second gateway resumed the same job and got here first: the counts are the same
    if waited:
        await _set(imports, job["id"], {"waiting_for": None})


def _replay(job_id: str, report: Report, receipt: submissions.Receipt) -> bool:
    """Imported before: by another job or another row. Its own row sent again is not a replay."""
    return receipt.replayed and receipt.import_row != (job_id, report.facts.get("ledger_row"))


async def _set(imports: Imports, job_id: str, changes: dict) -> None:
    # Two gateways started together may both run a job: a change is retried on their conflict.
    while True:
        job = await imports.jobs.get(job_id)
        if await imports.jobs.update(job_id, changes, expected_version=job["version"]) is not None:
            return


async def resume(imports: Imports, start: Callable[[str], None]) -> None:
    """Start the runner of every job that was still queueing when a gateway stopped."""
    for job in (await imports.jobs.find({"state": "queueing"}, limit=10_000)).items:
        log.info("resuming import %s (%s)", job["id"], job["filename"])
        start(job["id"])


async def record_outcome(imports: Imports, job_id: str, report_id: str, outcome: str) -> None:
    """Intake registered a row: count it once, whatever becomes of its case later."""
    try:
        await imports.outcomes.insert({"id": report_id, "job_id": job_id, "outcome": outcome})
    except DuplicateKeyError:
        pass  # a redelivered event, or the case restored after a split: counted already


async def view(imports: Imports, job: dict) -> dict:
    """The job with its progress: rows sent, and intake's outcomes so far."""
    sent = (await imports.sent.find({"job_id": job["id"]}, limit=max(1, job.get("chunks", 0)))).items
    by_outcome = await imports.outcomes.count_by("outcome", {"job_id": job["id"]})
    counts = {"queued": sum(s["queued"] for s in sent), "replayed": sum(s["replayed"] for s in sent),
              "created": by_outcome.get("created", 0), "merged": by_outcome.get("merged", 0)}
    done = job["rejected"] + counts["replayed"] + counts["created"] + counts["merged"]
    complete = job["state"] == "queued" and done >= job["rows"]
    return {k: v for k, v in job.items() if k != "version"} | counts | {
        "done": done, "state": "done" if complete else job["state"],
    }
