"""The outbox: the messages a unit of work emits, stored in the same transaction as its state.

Plain logic over the store port. A service's unit of work adds its events here inside
``store.atomically``, so a state change and the events it causes are written together or not at
all. After the commit the service publishes them at once; a relay publishes whatever a crash left
behind (``pending``). A message leaves the outbox once RabbitMQ has confirmed it. Ids are event
ids, so adding the same fact again (a redelivered command) adds nothing, and consumers, which
deduplicate by event id, see a republished message as the same fact.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from fengqiao.events import Event
from fengqiao.store import Collection, CollectionSpec, Index, Order

OUTBOX = CollectionSpec("outbox", [Index(("created_at",))])
JSON = "application/json"


@dataclass(frozen=True)
class Message:
    id: str  # the event id (a public copy prefixes it, so both can wait in one outbox)
    exchange: str
    routing_key: str
    body: dict | str  # a dict goes out as JSON (nameko's own format); a str is sent as it is
    content_type: str = JSON


def of_event(event: Event) -> Message:
    """An internal event as nameko's event handlers expect it: on its source's exchange."""
    return Message(event.event_id, f"{event.source}.events", event.type, event.to_message())


def messages(items: Iterable[Event | Message]) -> list[Message]:
    return [item if isinstance(item, Message) else of_event(item) for item in items]


def add(outbox: Collection, items: Iterable[Event | Message], created_at: float) -> list[Message]:
    """Store the messages not stored yet (call inside the unit of work); returns those added."""
    added = []
    for message in messages(items):
        # Looked up first rather than caught: on MongoDB a failed insert aborts the transaction.
        if outbox.get(message.id) is None:
            outbox.insert({**asdict(message), "created_at": created_at})
            added.append(message)
    return added


def pending(outbox: Collection, older_than: float, limit: int = 500) -> list[Message]:
    """What is still unsent though written before ``older_than`` (a crash left it behind)."""
    page = outbox.find({"created_at": {"$lt": older_than}}, order=Order("created_at"), limit=limit)
    return [Message(d["id"], d["exchange"], d["routing_key"], d["body"], d["content_type"]) for d in page.items]


def sent(outbox: Collection, ids: Iterable[str]) -> None:
    for message_id in ids:
        outbox.delete(message_id)


def wire_body(message: Message) -> str:
    return message.body if isinstance(message.body, str) else json.dumps(message.body, ensure_ascii=False)
