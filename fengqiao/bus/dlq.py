"""Reading and replaying the dead-letter queue.

Listing takes every message without acknowledging it and closes the channel, which returns
them all to the queue untouched. Replay publishes a message back to the queue it died in
(through the default exchange, so no other subscriber sees it twice), waits for the broker's
confirm, and only then removes it from the dead-letter queue.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from kombu import Connection

from fengqiao.bus.topology import DEAD_LETTER_QUEUE


@dataclass(frozen=True)
class DeadLetter:
    origin_queue: str
    reason: str
    deaths: int
    event_type: str | None
    event_id: str | None
    case_id: str | None
    body: str


def _describe(message) -> DeadLetter:
    deaths = (message.headers or {}).get("x-death") or [{}]
    # A poison message may not even be text: shown with its undecodable bytes replaced.
    raw = message.body.decode(errors="replace") if isinstance(message.body, bytes) else str(message.body)
    try:
        envelope = json.loads(raw)
    except ValueError:
        envelope = {}
    if not isinstance(envelope, dict):
        envelope = {}
    return DeadLetter(
        origin_queue=deaths[0].get("queue") or message.delivery_info.get("routing_key", ""),
        reason=str(deaths[0].get("reason", "")),
        deaths=int(sum(d.get("count", 1) for d in deaths)),
        event_type=envelope.get("type"),
        event_id=envelope.get("event_id"),
        case_id=envelope.get("case_id"),
        body=raw,
    )


def _drain(channel, limit: int):
    for _ in range(limit):
        message = channel.basic_get(DEAD_LETTER_QUEUE, no_ack=False)
        if message is None:
            return
        yield message


def list_dead_letters(amqp_uri: str, limit: int = 10_000) -> list[DeadLetter]:
    with Connection(amqp_uri, connect_timeout=10) as connection:
        channel = connection.channel()
        letters = [_describe(channel.message_to_python(m)) for m in _drain(channel, limit)]
        channel.close()  # unacked messages go back to the queue
    return letters


def replay_dead_letters(amqp_uri: str, event_ids: set[str] | None = None, limit: int = 10_000) -> list[DeadLetter]:
    """Replay the selected messages (all when ``event_ids`` is None); returns what was replayed."""
    replayed = []
    with Connection(amqp_uri, connect_timeout=10, transport_options={"confirm_publish": True}) as connection:
        channel = connection.channel()
        producer = connection.Producer(channel=connection.channel())
        for raw in list(_drain(channel, limit)):
            message = channel.message_to_python(raw)
            letter = _describe(message)
            if event_ids is not None and letter.event_id not in event_ids:
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
            producer.publish(
                message.body, exchange="", routing_key=letter.origin_queue,
                content_type=message.content_type, content_encoding=message.content_encoding,
                headers=headers, delivery_mode=2, retry=False,
            )
            message.ack()
            replayed.append(letter)
        channel.close()
    return replayed
