"""Publishing outbox messages with publisher confirms: ``publish`` returns once RabbitMQ holds
every message, or raises and the messages stay in the outbox for the relay."""
from __future__ import annotations

from kombu import Connection
from kombu.pools import producers

from fengqiao.outbox import JSON, Message

PERSISTENT = 2
RETRY_POLICY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 2}


class ConfirmedPublisher:
    def __init__(self, amqp_uri: str):
        self._connection = Connection(amqp_uri, transport_options={"confirm_publish": True})

    def publish(self, messages: list[Message]) -> None:
        if not messages:
            return
        with producers[self._connection].acquire(block=True) as producer:
            for message in messages:
                encoded = {"serializer": "json"} if message.content_type == JSON else {
                    "content_type": message.content_type, "content_encoding": "utf-8"}
                producer.publish(message.body, exchange=message.exchange, routing_key=message.routing_key,
                                 delivery_mode=PERSISTENT, retry=True, retry_policy=RETRY_POLICY, **encoded)

    def close(self) -> None:
        self._connection.release()
