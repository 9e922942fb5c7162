"""Every exchange, queue, binding and dead-letter route of the platform, in one place.

``fengqiao bus setup`` declares all of it before any service starts, so an event published
while its consumer is down waits in a durable queue instead of being dropped for lack of one.
Subscriptions are read from the service classes' own ``handle_event`` entrypoints, so this
module never drifts from the code that consumes.

Handler queues are quorum queues: replicated in a cluster, and they count deliveries, which
lets ``x-delivery-limit`` move a message that keeps failing to the dead-letter exchange.
"""
from __future__ import annotations

from dataclasses import dataclass

from amqp.exceptions import PreconditionFailed
from kombu import Connection, Exchange, Queue, binding
from nameko.constants import PERSISTENT
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from fengqiao.screen import EXCHANGE as SCREEN_EXCHANGE

DEAD_LETTER_EXCHANGE = "fengqiao.dlx"
PUBLIC_EXCHANGE = "fengqiao.public"  # CloudEvents for partner agencies (fengqiao.public)
PUBLIC_EVENTS = "public"  # the "source" a handler names to consume the public exchange
DEAD_LETTER_QUEUE = "fengqiao.dlq"
RPC_EXCHANGE = "nameko-rpc"


def event_exchange(source_service: str) -> Exchange:
    if source_service == PUBLIC_EVENTS:
        return public_exchange()
    # Same parameters as nameko.events.get_event_exchange, or RabbitMQ refuses the redeclare.
    return Exchange(
        f"{source_service}.events", type="topic", durable=True, delivery_mode=PERSISTENT,
        auto_delete=False,
    )


def queue_name(source_service: str, event_types: str | tuple[str, ...], service: str, method: str) -> str:
    # nameko's SERVICE_POOL naming, so tools that know nameko recognise the queues; a queue
    # bound to several event types of one source says "*" for them.
    event_types = (event_types,) if isinstance(event_types, str) else event_types
    what = event_types[0] if len(event_types) == 1 else "*"
    return f"evt-{source_service}-{what}--{service}.{method}"


def subscription_queue(
    source_service: str, event_types: tuple[str, ...], service: str, method: str, delivery_limit: int
) -> Queue:
    name = queue_name(source_service, event_types, service, method)
    exchange = event_exchange(source_service)
    return Queue(
        name,
        bindings=[binding(exchange, routing_key=event_type) for event_type in event_types],
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": name,
        },
    )


# The gateway counts an import's rows from intake's outcomes (gateway.import_feed); every gateway
# reads this one durable queue, so outcomes wait in it while no gateway runs.
IMPORT_PROGRESS = ("intake", ("case_received", "case_merged"), "gateway", "import_progress")


def import_progress_queue_name() -> str:
    return queue_name(*IMPORT_PROGRESS)


def public_exchange() -> Exchange:
    return Exchange(PUBLIC_EXCHANGE, type="topic", durable=True, delivery_mode=PERSISTENT, auto_delete=False)


def screen_exchange() -> Exchange:
    """The search service's counter notices for the walls (fengqiao.screen); transient: a
    gateway that misses some fetches the counters afresh when it reconnects."""
    return Exchange(SCREEN_EXCHANGE, type="topic", durable=True, auto_delete=False)


def dead_letter_queue() -> Queue:
    exchange = Exchange(DEAD_LETTER_EXCHANGE, type="topic", durable=True)
    return Queue(DEAD_LETTER_QUEUE, exchange=exchange, routing_key="#", durable=True)


def rpc_queue(service: str) -> Queue:
    # Matches nameko.rpc.RpcConsumer's declaration.
    exchange = Exchange(RPC_EXCHANGE, type="topic", durable=True, auto_delete=False)
    return Queue(f"rpc-{service}", exchange=exchange, routing_key=f"{service}.*", durable=True)


@dataclass(frozen=True)
class Subscription:
    service: str
    method: str
    source_service: str
    event_types: tuple[str, ...]


def subscriptions(service_classes) -> list[Subscription]:
    """The reliable event handlers declared on the given nameko service classes."""
    from fengqiao.bus.entrypoints import ReliableEventHandler

    found = []
    for cls in service_classes:
        for method_name in dir(cls):
            for entrypoint in getattr(getattr(cls, method_name), ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(entrypoint, ReliableEventHandler):
                    found.append(Subscription(
                        cls.name, method_name, entrypoint.source_service, entrypoint.event_types
                    ))
    return found


def has_rpc(cls) -> bool:
    from nameko.rpc import Rpc

    return any(
        isinstance(e, Rpc)
        for name in dir(cls)
        for e in getattr(getattr(cls, name), ENTRYPOINT_EXTENSIONS_ATTR, ())
    )


class TopologyMismatch(RuntimeError):
    """A queue exists with other arguments than this build declares (RabbitMQ cannot change
    a queue's arguments in place)."""


def _declare(connection, queue: Queue) -> None:
    try:
        queue(connection.default_channel).declare()  # the exchange and the binding too
    except PreconditionFailed as exc:
        raise TopologyMismatch(
            f"queue {queue.name} already exists with other arguments ({exc.reply_text}). "
            "Keep the old setting (e.g. FQ_DELIVERY_LIMIT), or drain and delete the queue and "
            "run `fengqiao bus setup` again."
        ) from exc


def declare_topology(amqp_uri: str, service_classes, delivery_limit: int) -> list[str]:
    """Declare everything; returns the names of the queues declared. Safe to run again."""
    queues = [dead_letter_queue()]
    queues += [
        subscription_queue(sub.source_service, sub.event_types, sub.service, sub.method, delivery_limit)
        for sub in subscriptions(service_classes)
    ]
    queues += [rpc_queue(cls.name) for cls in service_classes if has_rpc(cls)]
    queues.append(subscription_queue(*IMPORT_PROGRESS, delivery_limit))
    with Connection(amqp_uri, connect_timeout=10) as connection:
        for cls in service_classes:
            event_exchange(cls.name)(connection.default_channel).declare()
        public_exchange()(connection.default_channel).declare()
        screen_exchange()(connection.default_channel).declare()
        for queue in queues:
            _declare(connection, queue)
    return [queue.name for queue in queues]
