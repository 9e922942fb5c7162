"""Webhooks: partner agencies' subscriptions and the deliveries of public events to them.
Entrypoints only.

A sixth service rather than a gateway-side worker: it consumes ``fengqiao.public`` like any
other service consumes the bus (quorum queue, dead letters), scales on its own Deployment, and
keeps the gateway stateless about deliveries. It owns the subscriptions (the gateway reaches them
over RPC): whoever sends the deliveries needs them at every event.
"""
from __future__ import annotations

from datetime import timedelta

import eventlet
import requests
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc

from fengqiao.bus.dependencies import Clock, Emitter, Store
from fengqiao.bus.entrypoints import PUBLIC_EVENTS, handle_event_chunk, scan_timer
from fengqiao.clock import parse_iso
from fengqiao.events import InvalidEvent
from fengqiao.metrics import WEBHOOK_ATTEMPTS
from fengqiao.search import Scope
from fengqiao.settings import flag, service_setting
from services.webhooks import deliveries, dispatch, subscriptions
from services.webhooks.deliveries import WebhookPolicy

EXPECTED = (subscriptions.SubscriptionRefused, subscriptions.SubscriptionNotFound, LookupError)
SETTINGS = {"retry": "FQ_WEBHOOK_RETRY_SECONDS", "timeout": "FQ_WEBHOOK_TIMEOUT_SECONDS",
            "private": "FQ_WEBHOOK_ALLOW_PRIVATE", "slots": "FQ_WEBHOOK_PER_SUBSCRIPTION",
            "disable": "FQ_WEBHOOK_DISABLE_AFTER_DAYS"}


class Dispatcher(DependencyProvider):
    """Sends deliveries in green threads of its own, so a slow partner never holds a worker:
    each attempt runs apart, and each partner has only its few slots (WebhookPolicy)."""

    def setup(self):
        config = self.container.config
        retry = str(service_setting(config, SETTINGS["retry"]))
        self.policy = WebhookPolicy(
            retry_seconds=tuple(float(s) for s in retry.split(",") if s.strip()),
            timeout_seconds=float(service_setting(config, SETTINGS["timeout"])),
            per_subscription=int(service_setting(config, SETTINGS["slots"])),
            disable_after=timedelta(days=float(service_setting(config, SETTINGS["disable"]))))
        self.allow_private = flag(service_setting(config, SETTINGS["private"]))
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies from the environment: deliveries go where they say
        self.pool = eventlet.GreenPool(256)
        self.stopping = False

    def start(self):
        deps = self.container.dependencies
        store = next(d for d in deps if isinstance(d, Store)).collections
        self.emitter = next(d for d in deps if isinstance(d, Emitter))
        self.clock = next(d for d in deps if isinstance(d, Clock)).clock
        self.webhooks = dispatch.Webhooks(store.subscriptions, store.deliveries, self.policy, self.allow_private)

    def stop(self):
        # No new attempts; those under way finish (an interrupted one's lease runs out, and it is
        # sent again later, by this process or another).
        self.stopping = True
        self.pool.waitall()
        self.session.close()

    def kill(self):
        self.stopping = True

    def send_due(self, only: list[str] | None = None) -> int:
        if self.stopping:
            return 0
        work = dispatch.claim(self.webhooks, self.clock.now(), only)
        for delivery, sub in work:
            self.pool.spawn_n(self._deliver, delivery, sub)
        return len(work)

    def _deliver(self, delivery, sub):
        outcome = dispatch.deliver(self.webhooks, self.session, delivery, sub, self.clock,
                                   lambda work: self.emitter.commit(work, events_of=lambda done: done[1])[0])
        WEBHOOK_ATTEMPTS.labels(outcome.delivery["status"]).inc()
        self.send_due([sub["id"]])  # the slot is free: the partner's next delivery goes at once

    def get_dependency(self, worker_ctx):
        return self


class WebhooksService:
    name = "webhooks"

    store = Store(subscriptions.SUBSCRIPTIONS, deliveries.DELIVERIES)
    clock = Clock()
    emit = Emitter()
    dispatcher = Dispatcher()

    @handle_event_chunk(PUBLIC_EVENTS, "#")
    def fan_out(self, cloud_events):
        # Every public fact passes here, wanted or not: one unit of work a chunk.
        for cloud_event in cloud_events:
            if not isinstance(cloud_event, dict) or not {"id", "type", "data"} <= cloud_event.keys():
                raise InvalidEvent("not a structured CloudEvent")  # alone, when its chunk is split
        wanting = self.emit.change(lambda: dispatch.fan_out(self.dispatcher.webhooks, cloud_events, self.clock.now()))
        if wanting:
            self.dispatcher.send_due(wanting)  # at once, not at the next tick

    @scan_timer(key="FQ_WEBHOOK_SCAN_SECONDS")
    def send_due(self):
        self.dispatcher.send_due()

    @rpc(expected_exceptions=EXPECTED)
    def create_subscription(self, owner: str, owner_scope: dict, request: dict) -> dict:
        doc = self.emit.change(lambda: subscriptions.create(
            self.store.subscriptions, owner, Scope.of(owner_scope), request, self.clock.now(),
            self.dispatcher.allow_private))
        return {**subscriptions.public(doc), "secret": doc["secrets"][0]["value"]}

    @rpc
    def list_subscriptions(self, owner: str | None) -> list[dict]:
        found = self.store.subscriptions.find({"owner": owner} if owner else {}, limit=1000).items
        return [subscriptions.public(doc) for doc in found]

    @rpc(expected_exceptions=EXPECTED)
    def get_subscription(self, subscription_id: str, owner: str | None) -> dict:
        return subscriptions.public(subscriptions.get(self.store.subscriptions, subscription_id, owner))

    @rpc(expected_exceptions=EXPECTED)
    def change_subscription(self, subscription_id: str, owner: str | None, request: dict) -> dict:
        return subscriptions.public(self.emit.change(lambda: subscriptions.change(
            self.store.subscriptions, subscription_id, owner, request, self.clock.now(),
            self.dispatcher.allow_private)))

    @rpc(expected_exceptions=EXPECTED)
    def delete_subscription(self, subscription_id: str, owner: str | None) -> None:
        doc = subscriptions.get(self.store.subscriptions, subscription_id, owner)
        self.emit.change(lambda: deliveries.abandon(self.store.deliveries, doc["id"]) or
                         self.store.subscriptions.delete(doc["id"]))

    @rpc(expected_exceptions=EXPECTED)
    def rotate_secret(self, subscription_id: str, owner: str | None) -> dict:
        doc, secret = self.emit.change(lambda: subscriptions.rotate_secret(
            self.store.subscriptions, subscription_id, owner, self.clock.now()))
        return {**subscriptions.public(doc), "secret": secret}

    @rpc(expected_exceptions=EXPECTED)
    def deliveries(self, subscription_id: str, owner: str | None, status: str | None, limit: int,
                   cursor: str | None) -> dict:
        subscriptions.get(self.store.subscriptions, subscription_id, owner)
        return deliveries.log(self.store.deliveries, subscription_id, status, limit, cursor)

    @rpc(expected_exceptions=EXPECTED)
    def replay(self, subscription_id: str, owner: str | None, delivery_id: str | None, since: str | None) -> dict:
        subscriptions.get(self.store.subscriptions, subscription_id, owner)
        now = self.clock.now()
        if delivery_id:
            self.emit.change(lambda: deliveries.replay(self.store.deliveries, delivery_id, subscription_id, now))
            count = 1
        else:
            count = self.emit.change(lambda: deliveries.replay_failed_since(
                self.store.deliveries, subscription_id, parse_iso(since), now))
        self.dispatcher.send_due([subscription_id])
        return {"replayed": count}
