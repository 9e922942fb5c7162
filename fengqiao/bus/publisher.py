"""Publishing outbox messages with publisher confirms: ``publish`` returns once RabbitMQ holds
every message, or raises and the messages stay in the outbox for the relay.

The confirms are pipelined: every message of a call is sent, then the call waits once for the
broker to confirm them all (RabbitMQ acks many tags at a time), instead of a round trip per
message as kombu's ``confirm_publish`` option does.
"""
from __future__ import annotations

import time

from amqp import Message as AmqpMessage
from kombu import Connection
from kombu.utils.json import dumps

from fengqiao.outbox import JSON, Message

PERSISTENT = 2
CONFIRM_SECONDS = 30
POOL_SIZE = 11  # nameko's 10 workers and the outbox relay


class PublishNotConfirmed(RuntimeError):
    """The broker refused (nack) or did not confirm a message in time; it may be queued or not."""


class Confirms:
    """The delivery tags of a confirm-mode channel still waiting for the broker's ack."""

    def __init__(self, channel):
        self.sent = 0
        self.waiting: set[int] = set()
        self.refused = False
        channel.confirm_select()
        channel.events["basic_ack"].add(self._ack)
        channel.events["basic_nack"].add(self._nack)

    def sending(self) -> None:
        self.sent += 1
        self.waiting.add(self.sent)

    def _ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self.waiting = {t for t in self.waiting if t > delivery_tag}
        else:
            self.waiting.discard(delivery_tag)

    def _nack(self, delivery_tag: int, multiple: bool, requeue: bool = False) -> None:
        self.refused = True
        self._ack(delivery_tag, multiple)


class ConfirmedPublisher:
    def __init__(self, amqp_uri: str, confirm_seconds: float = CONFIRM_SECONDS, connections: int = POOL_SIZE):
        # Socket timeouts: a broker that stops reading (an alarm, a partition) fails the call
        # instead of blocking its worker for good.
        self._connection = Connection(amqp_uri, connect_timeout=10, transport_options={
            "read_timeout": confirm_seconds, "write_timeout": confirm_seconds})
        self._pool = self._connection.Pool(limit=connections)
        self._confirm_seconds = confirm_seconds

    def publish(self, messages: list[Message]) -> None:
        if not messages:
            return
        try:
            self._publish_pooled(messages)
        except OSError as error:
            if isinstance(error, TimeoutError):
                raise
            # A pooled connection the broker closed meanwhile (a restart): once more on a fresh
            # one. Consumers drop what they already have, so sending a message twice is safe.
            self._publish_pooled(messages)

    def _publish_pooled(self, messages: list[Message]) -> None:
        connection = self._pool.acquire(block=True, timeout=self._confirm_seconds)
        try:
            self._publish_all(connection, messages)
        except Exception:
            # Dropped without the close handshake a stuck broker would never answer; a
            # half-confirmed channel is never reused, and the next call reconnects.
            connection.collect()
            raise
        finally:
            connection.release()

    def _publish_all(self, connection: Connection, messages: list[Message]) -> None:
        connection.ensure_connection(max_retries=3, interval_start=0.2, interval_step=0.5, interval_max=2)
        channel = connection.default_channel
        confirms = getattr(channel, "fq_confirms", None) or Confirms(channel)
        channel.fq_confirms = confirms
        for message in messages:
            confirms.sending()
            channel.basic_publish(self._amqp_message(message), exchange=message.exchange,
                                  routing_key=message.routing_key)
        deadline = time.monotonic() + self._confirm_seconds
        while confirms.waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishNotConfirmed(f"{len(confirms.waiting)} messages not confirmed in time")
            connection.drain_events(timeout=remaining)
        if confirms.refused:
            confirms.refused = False
            raise PublishNotConfirmed("the broker refused a message (nack)")

    @staticmethod
    def _amqp_message(message: Message) -> AmqpMessage:
        # A dict goes out as kombu's json serializer writes it, what nameko's consumers decode.
        body = dumps(message.body) if message.content_type == JSON else message.body
        return AmqpMessage(body, content_type=message.content_type, content_encoding="utf-8",
                           delivery_mode=PERSISTENT)

    def close(self) -> None:
        self._pool.force_close_all()
