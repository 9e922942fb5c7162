"""Webhook deliveries: one per (subscription, public event), each attempt logged, retried on a
schedule until it is delivered or dead-lettered. Plain domain logic; the clock is passed in.

A delivery is claimed before it is sent (its ``lease_until``), so several webhooks workers never
send the same one at once, and a worker that dies mid-send loses only a lease. Each partner gets a
few deliveries in flight at a time (``WebhookPolicy.per_subscription``): a slow or failing partner
fills only its own slots and never delays another's.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fengqiao.clock import isoformat, parse_iso
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index, Order, changes

DELIVERIES = CollectionSpec("deliveries", [Index(("status", "next_attempt_at")),
                                           Index(("subscription_id", "status", "next_attempt_at")),
                                           Index(("subscription_id", "created_at"))])
STATUSES = ("pending", "delivered", "failed", "dead")
RETRYABLE_STATUS = {429} | set(range(500, 600))


@dataclass(frozen=True)
class WebhookPolicy:
    # Seconds to wait after the 1st, 2nd … failed attempt; after the last, the delivery is dead.
    retry_seconds: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    jitter: float = 0.2  # up to this share of a wait is added at random, so retries do not march in step
    timeout_seconds: float = 15.0
    per_subscription: int = 4  # deliveries in flight per partner
    lease_seconds: float = 60.0
    disable_after: timedelta = timedelta(days=5)  # an endpoint failing this long is switched off
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def wait(self, failures: int) -> float | None:
        """Seconds before the next attempt after ``failures`` failed ones; None: no attempt left."""
        if failures > len(self.retry_seconds):
            return None
        base = self.retry_seconds[failures - 1]
        return base + self.rng.uniform(0, self.jitter * base)


@dataclass(frozen=True)
class Attempt:
    """What one try at a delivery got: an HTTP status, or an error before any status came back."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: float | None = None  # seconds, from the receiver's Retry-After

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        return self.status_code is None or self.status_code in RETRYABLE_STATUS

    @property
    def gone(self) -> bool:
        return self.status_code == 410


def enqueue(deliveries: Collection, subscription_id: str, cloud_event: dict, now: datetime) -> bool:
    """A delivery of the event to the subscription, due now; False if it exists (a redelivery)."""
    try:
        deliveries.insert({
            "id": f"{subscription_id}:{cloud_event['id']}", "subscription_id": subscription_id,
            "event_id": cloud_event["id"], "type": cloud_event["type"], "event": cloud_event,
            "status": "pending", "next_attempt_at": isoformat(now), "lease_until": None, "attempts": [],
            "failures": 0, "created_at": isoformat(now)})
    except DuplicateKeyError:
        return False
    return True


def claim_due(deliveries: Collection, subscription_id: str, now: datetime, policy: WebhookPolicy,
              limit: int) -> list[dict]:
    """Up to ``limit`` due deliveries of one subscription, leased to this worker."""
    page = deliveries.find({"subscription_id": subscription_id, "status": "pending",
                            "next_attempt_at": {"$lte": isoformat(now)}}, order=Order("next_attempt_at"),
                           limit=limit * 2)
    claimed, until = [], isoformat(now + timedelta(seconds=policy.lease_seconds))
    for doc in page.items:
        if len(claimed) >= limit:
            break
        if doc["lease_until"] and doc["lease_until"] > isoformat(now):
            continue  # another worker is sending it
        taken = deliveries.update(doc["id"], {"lease_until": until}, expected_version=doc["version"])
        if taken:
            claimed.append(taken)
    return claimed


def abandon(deliveries: Collection, subscription_id: str) -> int:
    """The subscription is gone: what waited for it never goes out."""
    abandoned = 0
    while page := deliveries.find({"subscription_id": subscription_id, "status": "pending"}, limit=500).items:
        for doc in page:
            changes.update(deliveries, doc["id"], lambda _: {"status": "dead", "dead_reason": "订阅已删除"})
            abandoned += 1
    return abandoned


@dataclass(frozen=True)
class Outcome:
    delivery: dict
    disable: str | None = None  # why the subscription must be switched off, if it must


def record(deliveries: Collection, delivery: dict, attempt: Attempt, policy: WebhookPolicy,
           failing_since: str | None) -> Outcome:
    """Log the attempt and decide what comes next: delivered, retried, or dead."""
    replay = bool(delivery.get("replaying"))
    entry = {"at": isoformat(attempt.at), "status_code": attempt.status_code, "error": attempt.error,
             "duration_ms": attempt.duration_ms, "replay": replay}
    fields: dict = {"attempts": [*delivery["attempts"], entry], "lease_until": None, "replaying": False}
    disable = None
    if attempt.delivered:
        fields |= {"status": "delivered", "delivered_at": isoformat(attempt.at)}
    elif attempt.gone:
        fields |= {"status": "dead", "dead_reason": "接收方返回410，订阅已停用"}
        disable = "接收方返回410 Gone"
    elif not attempt.retryable:
        fields |= {"status": "failed", "dead_reason": f"接收方返回{attempt.status_code}，不再重试"}
    else:
        failures = delivery["failures"] + 1
        wait = policy.wait(failures)
        if wait is None:
            fields |= {"status": "dead", "failures": failures, "dead_reason": f"{failures}次投递均失败"}
        else:
            wait = max(wait, attempt.retry_after or 0)
            fields |= {"failures": failures, "next_attempt_at": isoformat(attempt.at + timedelta(seconds=wait))}
        # Replays are asked for by the partner: they do not count toward switching it off.
        if not replay and failing_since and attempt.at - parse_iso(failing_since) >= policy.disable_after:
            disable = f"连续失败超过{policy.disable_after.days}天"
    updated = changes.update(deliveries, delivery["id"], lambda _: fields)[0]
    return Outcome(updated, disable)


def replay(deliveries: Collection, delivery_id: str, subscription_id: str, now: datetime) -> dict:
    """Send the delivery again now, whatever became of it."""
    doc = deliveries.get(delivery_id)
    if doc is None or doc["subscription_id"] != subscription_id:
        raise LookupError(f"no delivery {delivery_id}")
    return changes.update(deliveries, delivery_id, lambda _: {
        "status": "pending", "next_attempt_at": isoformat(now), "lease_until": None, "replaying": True})[0]


def replay_failed_since(deliveries: Collection, subscription_id: str, since: datetime, now: datetime) -> int:
    """Send again every failed or dead delivery of the subscription made since ``since``."""
    replayed = 0
    for status in ("failed", "dead"):
        where = {"subscription_id": subscription_id, "status": status, "created_at": {"$gte": isoformat(since)}}
        # Each replay leaves the set it was found in, so the first page is read until it is empty.
        while page := deliveries.find(where, limit=500).items:
            for doc in page:
                replay(deliveries, doc["id"], subscription_id, now)
                replayed += 1
    return replayed


def log(deliveries: Collection, subscription_id: str, status: str | None, limit: int,
        cursor: str | None) -> dict:
    where = {"subscription_id": subscription_id} | ({"status": status} if status else {})
    page = deliveries.find(where, order=Order("created_at", descending=True), limit=limit, after=cursor)
    return {"items": [{k: v for k, v in d.items() if k not in ("version", "lease_until", "replaying")}
                      for d in page.items], "next_cursor": page.next_cursor}
