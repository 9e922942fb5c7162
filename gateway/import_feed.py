"""Intake's outcomes of imported rows, read from the gateway's durable queue.

Every gateway consumes the same queue (``topology.import_progress_queue_name``), declared by
``fengqiao bus setup`` so outcomes wait there while no gateway runs. A message is acknowledged
only once its outcome is in the store; while the store refuses, the consumer retries with
backoff, and a gateway stopping meanwhile hands the message back to the queue.
"""
from __future__ import annotations

import asyncio
import logging
import time

from kombu import Queue

from fengqiao.bus import topology
from gateway import imports
from gateway.consumers import BackgroundConsumer

log = logging.getLogger("fengqiao.gateway.import_feed")
STORE_TIMEOUT_SECONDS = 30
RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS = 0.5, 10.0


class UnreadableOutcome(ValueError):
    """A message on the feed that no intake ever wrote: dead-lettered, never retried."""


def imported_row(envelope) -> tuple[str, str, str] | None:
    """(job id, report id, outcome) of an event about an imported row; None for any other."""
    try:
        return _imported_row(envelope)
    except (AttributeError, KeyError, TypeError) as exc:
        raise UnreadableOutcome(f"not an event of intake's: {exc!r}") from exc


def _imported_row(envelope: dict) -> tuple[str, str, str] | None:
    data = envelope.get("data") or {}
    if envelope.get("type") == "case_received":
        job_id = (data.get("facts") or {}).get("import_job")
        return (_text(job_id), _text(envelope["case_id"]), "created") if job_id else None
    if envelope.get("type") == "case_merged":
        report = data.get("report") or {}
        return (_text(report["import_job"]), _text(report["report_id"]), "merged") if report.get("import_job") \
            else None
    return None


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{value!r} is not text")
    return value


class ImportProgressFeed(BackgroundConsumer):
    def __init__(self, amqp_uri: str, loop: asyncio.AbstractEventLoop, jobs: imports.Imports):
        super().__init__(amqp_uri, "fq-import-feed")
        self._loop, self._jobs = loop, jobs

    def get_consumers(self, consumer, channel):
        # The queue is the topology's to declare, with its dead-lettering; the gateway only reads it.
        queue = Queue(topology.import_progress_queue_name(), no_declare=True)
        return [consumer(queues=[queue], callbacks=[self._on_message], accept=["json"], prefetch_count=200)]

    def _on_message(self, body, message):
        try:
            row = imported_row(body)
        except UnreadableOutcome as exc:
            log.error("dead-lettering a message on the import feed: %s", exc)
            message.reject(requeue=False)
            return
        if row is None:
            message.ack()
            return
        # Retried here, not handed back to the broker: its delivery limit would dead-letter the
        # outcome of a row during a store failover, and the job would never be done.
        delays = imports.backoff(RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS)
        while not self._stored(row):
            if self.should_stop:
                message.requeue()
                return
            time.sleep(next(delays))
        message.ack()

    def _stored(self, row: tuple[str, str, str]) -> bool:
        stored = asyncio.run_coroutine_threadsafe(imports.record_outcome(self._jobs, *row), self._loop)
        try:
            stored.result(STORE_TIMEOUT_SECONDS)
            return True
        except Exception:
            log.exception("cannot record the outcome of imported row %s yet", row[1])
            return False
