"""Chunk handlers against the real broker: waiting events are handled in chunks, and a chunk
holding a poison event is handled again one event at a time, so only the poison is dead-lettered."""
from __future__ import annotations

from fengqiao.bus.dlq import list_dead_letters
from fengqiao.bus.entrypoints import handle_event_chunk
from fengqiao.bus.topology import declare_topology
from fengqiao.events import parse_event
from tests.factories import case_received
from tests.integration.conftest import DELIVERY_LIMIT
from tests.integration.helpers import eventually, publish, publish_raw

CHUNK = 10


class ChunkRecorder:
    """Records the event ids of every chunk it handled."""

    name = "chunk_recorder"
    chunks: list[list[str]] = []

    @handle_event_chunk("intake", "case_received")
    def consume(self, messages):
        events = [parse_event(message, "case_received") for message in messages]
        ChunkRecorder.chunks.append([event.event_id for event in events])


def test_waiting_events_come_in_chunks_and_a_poison_one_is_dead_lettered_alone(container_factory, config):
    declare_topology(config["AMQP_URI"], [ChunkRecorder], DELIVERY_LIMIT)
    ChunkRecorder.chunks = []
    now = config["FQ_CLOCK"].now()
    good = [case_received(now, source_id=f"C{n}") for n in range(25)]
    for event in good[:12]:
        publish(config, event)
    poison = case_received(now, source_id="POISON").to_message()
    del poison["data"]["text"]
    publish_raw(config, "intake", "case_received", poison)
    for event in good[12:]:
        publish(config, event)

    # Published before the consumer starts: they all wait, so full chunks can gather.
    chunked = container_factory(ChunkRecorder, {**config, "FQ_CHUNK_EVENTS": CHUNK, "FQ_CHUNK_LINGER_SECONDS": 0.5})
    chunked.start()

    def all_good_handled():
        return sorted(i for chunk in ChunkRecorder.chunks for i in chunk) == sorted(e.event_id for e in good)

    eventually(all_good_handled, timeout=30)
    letters = eventually(lambda: list_dead_letters(config["AMQP_URI"]))
    assert [(letter.event_id, letter.reason) for letter in letters] == [(poison["event_id"], "rejected")]
    sizes = [len(chunk) for chunk in ChunkRecorder.chunks]
    assert max(sizes) == CHUNK and all(size <= CHUNK for size in sizes), sizes
    # The poison's chunk was handled again one event at a time: its good events came alone.
    assert sizes.count(1) >= CHUNK - 1, sizes
