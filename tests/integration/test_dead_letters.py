"""Poison messages: retried up to the delivery limit, dead-lettered, listed and replayed."""
from __future__ import annotations

from click.testing import CliRunner
from nameko.testing.services import entrypoint_waiter

from fengqiao.bus.dlq import list_dead_letters, replay_dead_letters
from fengqiao.bus.entrypoints import handle_event
from fengqiao.bus.topology import TopologyMismatch, declare_topology, queue_name
from fengqiao.cli import main
from fengqiao.events import parse_event
from services.intake.service import IntakeService
from tests.factories import case_received, report_submitted
from tests.integration.conftest import DELIVERY_LIMIT
from tests.integration.helpers import eventually, publish, publish_raw, service_store


class FlakyConsumer:
    """A consumer whose store is 'down' until the test says it is back."""

    name = "flaky"
    store_down = True
    attempts: list[str] = []

    @handle_event("intake", "case_received")
    def consume(self, message):
        event = parse_event(message, "case_received")
        FlakyConsumer.attempts.append(event.event_id)
        if FlakyConsumer.store_down:
            raise ConnectionError("store unreachable")


def test_a_message_that_can_never_be_handled_is_dead_lettered_at_once(container_factory, config):
    intake = container_factory(IntakeService, config)
    intake.start()
    broken = report_submitted(config["FQ_CLOCK"].now()).to_message()
    del broken["data"]["text"]
    publish_raw(config, "gateway", "report_submitted", broken)
    letters = eventually(lambda: list_dead_letters(config["AMQP_URI"]))
    assert len(letters) == 1
    letter = letters[0]
    assert letter.origin_queue == queue_name("gateway", "report_submitted", "intake", "register_report")
    assert letter.reason == "rejected" and letter.event_id == broken["event_id"]
    assert service_store(config, "intake").collection("cases").count() == 0
    # listing does not consume
    assert len(list_dead_letters(config["AMQP_URI"])) == 1


def test_a_body_that_cannot_be_decoded_is_dead_lettered_not_dropped(container_factory, config):
    # kombu's default acknowledges such a message: it would be gone with only a log line.
    from kombu import Connection

    intake = container_factory(IntakeService, config)
    intake.start()
    queue = queue_name("gateway", "report_submitted", "intake", "register_report")
    with Connection(config["AMQP_URI"]) as connection:
        producer = connection.Producer()
        producer.publish(b"\xff{not json", exchange="", routing_key=queue, content_type="application/json",
                         content_encoding="binary", delivery_mode=2)
        producer.publish(b"<report/>", exchange="", routing_key=queue, content_type="application/xml",
                         content_encoding="binary", delivery_mode=2)

    def both_dead():
        found = list_dead_letters(config["AMQP_URI"])
        return found if len(found) == 2 else None

    letters = eventually(both_dead)
    assert {letter.origin_queue for letter in letters} == {queue}
    assert {letter.reason for letter in letters} == {"rejected"}
    assert sorted(letter.body for letter in letters) == ["<report/>", "\ufffd{not json"]  # listed, not a crash


def test_a_failing_handler_is_retried_to_the_limit_then_replayed(container_factory, config):
    declare_topology(config["AMQP_URI"], [FlakyConsumer], DELIVERY_LIMIT)
    FlakyConsumer.store_down, FlakyConsumer.attempts = True, []
    flaky = container_factory(FlakyConsumer, config)
    flaky.start()
    event = case_received(config["FQ_CLOCK"].now())
    publish(config, event)
    letters = eventually(lambda: list_dead_letters(config["AMQP_URI"]))
    assert letters[0].reason == "delivery_limit" and letters[0].event_id == event.event_id
    # RabbitMQ dead-letters once the delivery count passes the limit
    assert len(FlakyConsumer.attempts) == DELIVERY_LIMIT + 1

    FlakyConsumer.store_down = False
    with entrypoint_waiter(flaky, "consume", timeout=20):
        replayed = replay_dead_letters(config["AMQP_URI"], {event.event_id})
    assert [r.event_id for r in replayed] == [event.event_id]
    assert list_dead_letters(config["AMQP_URI"]) == []


def test_replay_leaves_unselected_letters_in_place(container_factory, config):
    intake = container_factory(IntakeService, config)
    intake.start()
    for n in range(2):
        broken = report_submitted(config["FQ_CLOCK"].now(), source_id=f"BAD{n}").to_message()
        broken["data"]["channel"] = "fax"
        publish_raw(config, "gateway", "report_submitted", broken)
    def both_dead():
        found = list_dead_letters(config["AMQP_URI"])
        return found if len(found) == 2 else None

    letters = eventually(both_dead)
    replay_dead_letters(config["AMQP_URI"], {letters[0].event_id})
    # the replayed one is still poison and comes back; the other never left
    eventually(lambda: len(list_dead_letters(config["AMQP_URI"])) == 2)


def test_the_cli_sets_up_the_bus_and_reads_the_dlq(config, monkeypatch, rabbit_manager):
    monkeypatch.setenv("FQ_AMQP_URI", config["AMQP_URI"])
    runner = CliRunner()
    monkeypatch.setenv("FQ_DELIVERY_LIMIT", str(DELIVERY_LIMIT + 1))
    mismatch = runner.invoke(main, ["bus", "setup"])
    assert isinstance(mismatch.exception, TopologyMismatch)
    assert "already exists with other arguments" in str(mismatch.exception)
    monkeypatch.setenv("FQ_DELIVERY_LIMIT", str(DELIVERY_LIMIT))
    setup = runner.invoke(main, ["bus", "setup"])
    assert setup.exit_code == 0, setup.output
    assert "evt-intake-case_received--routing.route_received_case" in setup.output
    queue = rabbit_manager.get_queue(config["vhost"], "evt-intake-case_received--routing.route_received_case")
    assert queue["type"] == "quorum" and queue["arguments"]["x-delivery-limit"] == DELIVERY_LIMIT
    assert queue["arguments"]["x-dead-letter-exchange"] == "fengqiao.dlx"

    publish_raw(config, "gateway", "report_submitted", {"not": "an envelope"})
    assert "0 dead letters" in runner.invoke(main, ["dlq", "list"]).output  # nothing consumed it yet
    intake_queue = queue_name("gateway", "report_submitted", "intake", "register_report")
    from kombu import Connection

    with Connection(config["AMQP_URI"]) as conn:  # reject it by hand, as a consumer would
        channel = conn.default_channel
        channel.basic_reject(channel.basic_get(intake_queue).delivery_tag, requeue=False)
    listed = runner.invoke(main, ["dlq", "list", "--json"])
    assert intake_queue in listed.output
    assert runner.invoke(main, ["dlq", "replay"]).exit_code == 2  # must name ids or --all
    replayed = runner.invoke(main, ["dlq", "replay", "--all"])
    assert f"to {intake_queue}" in replayed.output
