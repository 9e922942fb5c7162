"""The one kind of event handler Fengqiao services use.

``@handle_event(source, type)`` is nameko's SERVICE_POOL handler with the platform's rules:
its queue is the quorum queue ``fengqiao bus setup`` declared; a handler that raises has its
message requeued until the queue's delivery limit dead-letters it; a message that can never be
handled (``InvalidEvent``, or a body that cannot even be decoded) is dead-lettered at once
instead of being retried. ``@handle_event_chunk`` is the same for consumers that take their
events in chunks.
"""
from __future__ import annotations

import logging
from functools import partial

import eventlet
from nameko.events import SERVICE_POOL, EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer
from nameko.timer import Timer

from fengqiao.bus import topology
from fengqiao.bus.topology import PUBLIC_EVENTS  # noqa: F401 (handlers name it as their source)
from fengqiao.events import InvalidEvent
from fengqiao.metrics import DEAD_LETTERED, EVENTS_HANDLED, HANDLER_FAILURES
from fengqiao.settings import service_setting

log = logging.getLogger("fengqiao.bus")
DELIVERY_LIMIT_KEY = "FQ_DELIVERY_LIMIT"
CHUNK_EVENTS_KEY = "FQ_CHUNK_EVENTS"
CHUNK_LINGER_KEY = "FQ_CHUNK_LINGER_SECONDS"
SCAN_SECONDS_KEY = "FQ_DEADLINE_SCAN_SECONDS"


class DeadLetteringQueueConsumer(QueueConsumer):
    """nameko's queue consumer, except that a body it cannot decode (not JSON, a foreign content
    type) goes to the dead-letter queue for someone to look at; kombu would acknowledge it, and
    the message would be gone without a trace but a log line."""

    def on_decode_error(self, message, exc):
        log.error("dead-lettering a message that cannot be decoded (%s, %s): %r",
                  message.content_type, message.delivery_info.get("routing_key"), exc)
        DEAD_LETTERED.labels(self.container.service_name).inc()
        message.reject(requeue=False)


class ReliableEventHandler(EventHandler):
    """Handles one event type, or several of one source through one queue (a read model that
    folds in many kinds of facts needs one queue per source, not one per kind)."""

    queue_consumer = DeadLetteringQueueConsumer()

    def __init__(self, source_service: str, event_types: str | tuple[str, ...], **kwargs):
        self.event_types = (event_types,) if isinstance(event_types, str) else tuple(event_types)
        super().__init__(
            source_service, self.event_types[0], handler_type=SERVICE_POOL,
            reliable_delivery=True, requeue_on_error=True, **kwargs,
        )

    def setup(self):
        super().setup()
        # Consumers are created at start from self.queue, so replacing the classic queue nameko
        # built with the declared quorum queue before then is enough.
        self.queue = topology.subscription_queue(
            self.source_service, self.event_types, self.container.service_name, self.method_name,
            int(service_setting(self.container.config, DELIVERY_LIMIT_KEY)),
        )

    def handle_message_processed(self, message, result=None, exc_info=None):
        service = self.container.service_name
        if exc_info is None:
            EVENTS_HANDLED.labels(service, message.delivery_info.get("routing_key", self.event_type)).inc()
            self.queue_consumer.ack_message(message)
            return
        HANDLER_FAILURES.labels(service, self.method_name).inc()
        if issubclass(exc_info[0], InvalidEvent):
            DEAD_LETTERED.labels(service).inc()
            if message.channel.connection:
                message.reject(requeue=False)
            return
        self.queue_consumer.requeue_message(message)


handle_event = ReliableEventHandler.decorator


class ChunkingQueueConsumer(DeadLetteringQueueConsumer):
    """The queue consumer of chunk handlers: two chunks' worth of messages in flight per queue,
    so one chunk gathers while the one before is handled (nameko's own lets in one per worker)."""

    @property
    def prefetch_count(self):
        return 2 * int(service_setting(self.container.config, CHUNK_EVENTS_KEY))


class ChunkEventHandler(ReliableEventHandler):
    """``@handle_event_chunk(source, types)``: the handler is called with a list of up to
    ``FQ_CHUNK_EVENTS`` message bodies, gathered for at most ``FQ_CHUNK_LINGER_SECONDS``, and
    handles them in one unit of work: one transaction, one model call, one pipelined publish.

    Messages stay one fact each on the bus (subscribers, the dead-letter queue and redelivery
    see single events); only the consumer takes them together. A chunk whose handler raises is
    handled again one message at a time in the same delivery, so a message that cannot be
    handled is requeued or dead-lettered alone, exactly as ``handle_event`` would, and the
    rest of its chunk goes through. Handlers are idempotent per event, so a chunk holding the
    same event twice, or redelivered after a crash, changes nothing the second time.
    """

    queue_consumer = ChunkingQueueConsumer()

    def setup(self):
        super().setup()
        config = self.container.config
        self.chunk_events = int(service_setting(config, CHUNK_EVENTS_KEY))
        self.linger_seconds = float(service_setting(config, CHUNK_LINGER_KEY))
        self._gathering: list = []  # (body, message) not yet handed to a worker
        self._timer = None

    def handle_message(self, body, message):
        self._gathering.append((body, message))
        if len(self._gathering) >= self.chunk_events:
            self._hand_over()
        elif self._timer is None:
            self._timer = self.container.spawn_managed_thread(
                self._hand_over_after_linger, identifier=f"{self.method_name}.chunk_linger")

    def _hand_over_after_linger(self):
        eventlet.sleep(self.linger_seconds)
        self._timer = None
        self._hand_over()

    def _hand_over(self):
        chunk, self._gathering = self._gathering, []
        if chunk:
            self._spawn(chunk)

    def _spawn(self, chunk: list) -> None:
        bodies = [body for body, _ in chunk]
        try:
            self.container.spawn_worker(self, (bodies,), {}, context_data=self.unpack_message_headers(chunk[0][1]),
                                        handle_result=partial(self._handled, chunk))
        except ContainerBeingKilled:
            for _, message in chunk:
                self.queue_consumer.requeue_message(message)

    def _spawn_each(self, chunk: list) -> None:
        for item in chunk:
            self._spawn([item])

    def _handled(self, chunk, worker_ctx, result=None, exc_info=None):
        if exc_info is not None and len(chunk) > 1:
            log.warning("%s: a chunk of %d failed (%s); handling its messages one at a time",
                        self.method_name, len(chunk), exc_info[1])
            # From a thread of its own: spawning a worker waits for a free slot, and this one holds one.
            self.container.spawn_managed_thread(partial(self._spawn_each, chunk),
                                                identifier=f"{self.method_name}.chunk_split")
            return result, exc_info
        for _, message in chunk:
            self.handle_message_processed(message, result, exc_info)
        return result, exc_info


handle_event_chunk = ChunkEventHandler.decorator


class ScanTimer(Timer):
    """nameko's timer with its interval from the config (``FQ_DEADLINE_SCAN_SECONDS`` unless told
    another key; tests run it every fraction of a second): how often a service looks for due
    deadlines, checks, visits or deliveries."""

    def __init__(self, key: str = SCAN_SECONDS_KEY, **kwargs):
        self.key = key
        super().__init__(interval=None, **kwargs)  # known at setup, from the config

    def setup(self):
        self.interval = float(service_setting(self.container.config, self.key))
        super().setup()


scan_timer = ScanTimer.decorator
