"""The gateway's own consumers: kombu's ConsumerMixin on a daemon thread of its own."""
from __future__ import annotations

import logging
import threading

from kombu import Connection
from kombu.mixins import ConsumerMixin

JOIN_SECONDS = 5
log = logging.getLogger("fengqiao.gateway.consumers")


class BackgroundConsumer(ConsumerMixin):
    """Consumes on its own thread until stopped. A heartbeat makes a half-open connection
    noticed and remade."""

    def __init__(self, amqp_uri: str, name: str):
        self.connection = Connection(amqp_uri, heartbeat=30)
        self._thread = threading.Thread(target=self.run, name=name, daemon=True)
        self._connected = threading.Event()

    def on_decode_error(self, message, exc):
        # Rejected, not acknowledged as kombu would: a queue with dead-lettering keeps it for
        # someone to look at; one without (the screen's) drops it either way.
        log.error("rejecting a message that cannot be decoded (%s): %r", message.content_type, exc)
        message.reject(requeue=False)

    def on_connection_revived(self):
        self._connected.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.should_stop = True
        # A consumer that never reached the broker sleeps between retries for up to 30 s; it is a
        # daemon thread, so the gateway need not wait for it.
        if self._connected.is_set():
            self._thread.join(timeout=JOIN_SECONDS)
        self.connection.release()
