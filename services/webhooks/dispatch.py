"""Sending due deliveries without letting any partner hold up another. Plain logic, run by the
service's dispatcher in green threads of its own (``service.Dispatcher``)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from fengqiao.clock import isoformat
from fengqiao.events import Event, make_event
from fengqiao.store import Collection, changes
from services.webhooks import deliveries, sending, subscriptions
from services.webhooks.deliveries import WebhookPolicy


@dataclass
class Webhooks:
    subscriptions: Collection
    deliveries: Collection
    policy: WebhookPolicy
    allow_private: bool
    in_flight: Counter = field(default_factory=Counter)  # per subscription, in this process


def fan_out(w: Webhooks, cloud_events: list[dict], now) -> list[str]:
    """A delivery of each public event for every subscription that wants it; the subscriptions
    given a new one (a redelivered event gives none)."""
    active, given = subscriptions.active(w.subscriptions), set()
    for event in cloud_events:
        for sub in active:
            if subscriptions.matches(sub, event) and deliveries.enqueue(w.deliveries, sub["id"], event, now):
                given.add(sub["id"])
    return sorted(given)


def claim(w: Webhooks, now, only: list[str] | None = None) -> list[tuple[dict, dict]]:
    """Due deliveries to send now, with their subscriptions: no more per partner than its free slots.
    Only active subscriptions are looked at, so a switched-off partner's backlog costs nothing."""
    work = []
    wanted = set(only) if only else None
    for sub in subscriptions.active(w.subscriptions):
        free = w.policy.per_subscription - w.in_flight[sub["id"]]
        if (wanted is not None and sub["id"] not in wanted) or free <= 0:
            continue
        for delivery in deliveries.claim_due(w.deliveries, sub["id"], now, w.policy, free):
            w.in_flight[sub["id"]] += 1
            work.append((delivery, sub))
    return work


def deliver(w: Webhooks, session, delivery: dict, sub: dict, clock, commit: Callable) -> deliveries.Outcome:
    """One attempt at one delivery, logged; the subscription's failure streak kept, and the
    subscription switched off (with an event saying so) when the partner is gone or keeps failing."""
    try:
        now = clock.now()
        secrets = [s["value"] for s in subscriptions.live_secrets(sub, now)]
        attempt = sending.send(session, sub["url"], delivery["event"], secrets, now, w.policy.timeout_seconds,
                               w.allow_private)
        return commit(lambda: _settle(w, delivery, sub, attempt))
    finally:
        w.in_flight[sub["id"]] -= 1


def _settle(w: Webhooks, delivery: dict, sub: dict, attempt) -> tuple[deliveries.Outcome, list[Event]]:
    outcome = deliveries.record(w.deliveries, delivery, attempt, w.policy, sub.get("failing_since"))
    if attempt.delivered:
        changes.update(w.subscriptions, sub["id"], lambda s: {"failing_since": None} if s["failing_since"] else None)
    elif not delivery.get("replaying"):
        changes.update(w.subscriptions, sub["id"],
                       lambda s: None if s["failing_since"] else {"failing_since": isoformat(attempt.at)})
    if outcome.disable is None:
        return outcome, []
    _, changed = changes.update(w.subscriptions, sub["id"], lambda s: {
        "active": False, "disabled_reason": outcome.disable} if s["active"] else None)
    if not changed:
        return outcome, []
    return outcome, [make_event("subscription_disabled", sub["id"], {
        "subscription_id": sub["id"], "owner": sub["owner"], "url": sub["url"], "reason": outcome.disable,
        "disabled_at": isoformat(attempt.at)}, occurred_at=attempt.at)]
