"""The one kind of event handler Fengqiao services use.

``@handle_event(source, type)`` is nameko's SERVICE_POOL handler with the platform's rules:
its queue is the quorum queue ``fengqiao bus setup`` declared; a handler that raises has its
message requeued until the queue's delivery limit dead-letters it; a message that can never be
handled (``InvalidEvent``, or a body that cannot even be decoded) is dead-lettered at once
instead of being retried.
"""
from __future__ import annotations

import logging

from nameko.events import SERVICE_POOL, EventHandler
from nameko.messaging import QueueConsumer
from nameko.timer import Timer

from fengqiao.bus import topology
from fengqiao.bus.topology import PUBLIC_EVENTS  # noqa: F401 (handlers name it as their source)
from fengqiao.events import InvalidEvent
from fengqiao.metrics import DEAD_LETTERED, EVENTS_HANDLED, HANDLER_FAILURES
from fengqiao.settings import service_setting

log = logging.getLogger("fengqiao.bus")
DELIVERY_LIMIT_KEY = "FQ_DELIVERY_LIMIT"
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
