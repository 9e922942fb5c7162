"""Webhook subscriptions and deliveries: matching, signing, retries, dead letters, disabling."""
from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from fengqiao import public
from fengqiao.events import make_event
from fengqiao.search import Scope
from services.webhooks import deliveries, dispatch, sending, subscriptions
from services.webhooks.deliveries import Attempt, WebhookPolicy
from services.webhooks.targets import TargetRefused, check_target

COUNTY = Scope(regions=("150102",))
POLICY = WebhookPolicy(retry_seconds=(5, 300), jitter=0.0, disable_after=timedelta(days=5), rng=random.Random(1))


@pytest.fixture
def hooks(memory_store):
    return dispatch.Webhooks(subscriptions.SUBSCRIPTIONS.open(memory_store), deliveries.DELIVERIES.open(memory_store),
                             POLICY, allow_private=True)


def assigned_event(now, region="150102001", category="labor_wage", case_id="c1") -> dict:
    event = make_event("case_assigned", case_id, {
        "assignment_no": 1, "level": "township", "region_code": region, "unit_id": "u1", "unit_name": "海拉尔东路街道",
        "category": category, "risk": 2, "reason": "张三丰拖欠工资，电话13912345678", "lead": "王书记"}, now)
    view = {"id": case_id, "number": "FQ-20260105-000001", "region_code": region, "category": category, "risk": 2,
            "status": "assigned", "assignment": {"level": "township", "unit_id": "u1", "due_at": None}}
    return json.loads(public.message(event, view).body)  # as a partner receives it


def subscribe(hooks, clock, **request):
    return subscriptions.create(hooks.subscriptions, "client:agency", COUNTY,
                                {"url": "http://127.0.0.1:9/hook", **request}, clock.now(), allow_private=True)


def test_a_subscription_gets_what_it_asked_for_inside_its_owners_jurisdiction(hooks, clock):
    labour = subscribe(hooks, clock, types=["case.assigned"], categories=["labor_wage"])
    assert labour["regions"] == ["150102"]  # none asked: the owner's whole jurisdiction
    assert subscriptions.matches(labour, assigned_event(clock.now()))
    assert not subscriptions.matches(labour, assigned_event(clock.now(), category="neighbor"))
    assert not subscriptions.matches(labour, assigned_event(clock.now(), region="150525"))
    with pytest.raises(subscriptions.SubscriptionRefused, match="outside your jurisdiction"):
        subscribe(hooks, clock, regions=["150525"])
    with pytest.raises(subscriptions.SubscriptionRefused, match="unknown event types"):
        subscribe(hooks, clock, types=["case.vanished"])
    assert dispatch.fan_out(hooks, [assigned_event(clock.now())], clock.now()) == [labour["id"]]
    assert dispatch.fan_out(hooks, [assigned_event(clock.now())], clock.now()) == []  # a redelivery adds none


def test_the_public_event_carries_no_personal_data_or_free_text(clock):
    text = str(assigned_event(clock.now()))
    assert "张三丰" not in text and "13912345678" not in text and "王书记" not in text and "拖欠工资" not in text


def test_targets_inside_the_platforms_network_are_refused():
    for url in ("http://127.0.0.1/x", "http://10.0.0.8/x", "http://169.254.169.254/latest", "http://[::1]/x",
                "http://192.168.1.2/x", "ftp://203.0.113.1/x", "http://user:pw@203.0.113.1/x"):
        with pytest.raises(TargetRefused):
            check_target(url, allow_private=False)
    with pytest.raises(TargetRefused, match="metadata"):
        check_target("http://169.254.169.254/", allow_private=True)
    assert check_target("http://127.0.0.1:8080/x", allow_private=True)


def test_every_live_secret_signs_and_the_standard_library_verifies_each(hooks, clock):
    sub = subscribe(hooks, clock)
    sub, new_secret = subscriptions.rotate_secret(hooks.subscriptions, sub["id"], "client:agency", clock.now())
    secrets = [s["value"] for s in subscriptions.live_secrets(sub, clock.now())]
    assert len(secrets) == 2 and secrets[0] == new_secret
    event = assigned_event(clock.now())
    body = sending.body_of(event)
    at = datetime.now(UTC)  # the receiver checks the timestamp against its own clock
    signed = sending.headers(event["id"], body, secrets, at)
    assert signed["webhook-id"] == event["id"] and signed["webhook-signature"].count("v1,") == 2
    for secret in secrets:  # old and new both verify during the overlap
        assert Webhook(secret).verify(body, signed)["id"] == event["id"]
    clock.advance(hours=25)
    assert [s["value"] for s in subscriptions.live_secrets(sub, clock.now())] == [new_secret]


def _attempt(clock, status=None, error=None, retry_after=None):
    return Attempt(clock.now(), status, error, 12, retry_after)


def test_retries_follow_the_schedule_honour_retry_after_and_end_in_the_dead_letters(hooks, clock):
    sub = subscribe(hooks, clock)
    deliveries.enqueue(hooks.deliveries, sub["id"], assigned_event(clock.now()), clock.now())
    [delivery] = dispatch.claim(hooks, clock.now())
    first = deliveries.record(hooks.deliveries, delivery[0], _attempt(clock, 500, "HTTP 500"), POLICY, None).delivery
    assert first["status"] == "pending" and first["next_attempt_at"] == "2026-01-05T09:00:05.000Z"
    clock.advance(seconds=5)
    second = deliveries.record(hooks.deliveries, first, _attempt(clock, 429, "HTTP 429", retry_after=900),
                               POLICY, None).delivery
    assert second["next_attempt_at"] == "2026-01-05T09:15:05.000Z"  # Retry-After beats the 300 s of the schedule
    third = deliveries.record(hooks.deliveries, second, _attempt(clock, None, "no answer within 15 s"), POLICY,
                              None).delivery
    assert third["status"] == "dead" and len(third["attempts"]) == 3


def test_a_gone_endpoint_disables_and_a_4xx_is_not_retried(hooks, clock):
    sub = subscribe(hooks, clock)
    deliveries.enqueue(hooks.deliveries, sub["id"], assigned_event(clock.now()), clock.now())
    [(delivery, _)] = dispatch.claim(hooks, clock.now())
    bad = deliveries.record(hooks.deliveries, delivery, _attempt(clock, 400, "HTTP 400"), POLICY, None)
    assert bad.delivery["status"] == "failed" and bad.disable is None
    gone = deliveries.record(hooks.deliveries, bad.delivery, _attempt(clock, 410, "HTTP 410"), POLICY, None)
    assert gone.delivery["status"] == "dead" and gone.disable


def test_five_days_of_failures_disable_the_subscription_but_replays_do_not_count(hooks, clock):
    sub = subscribe(hooks, clock)
    failing_since = "2026-01-01T09:00:00.000Z"  # four days and a bit before the clock
    deliveries.enqueue(hooks.deliveries, sub["id"], assigned_event(clock.now()), clock.now())
    delivery = hooks.deliveries.get(f"{sub['id']}:{assigned_event(clock.now())['id']}")
    clock.advance(days=1)
    replayed = deliveries.replay(hooks.deliveries, delivery["id"], sub["id"], clock.now())
    assert deliveries.record(hooks.deliveries, replayed, _attempt(clock, 503), POLICY, failing_since).disable is None
    again = hooks.deliveries.get(delivery["id"])
    assert deliveries.record(hooks.deliveries, again, _attempt(clock, 503), POLICY, failing_since).disable


def test_replaying_everything_that_failed_since_a_time(hooks, clock):
    sub = subscribe(hooks, clock)
    for n in range(3):
        event = assigned_event(clock.now(), case_id=f"c{n}")
        deliveries.enqueue(hooks.deliveries, sub["id"], event, clock.now())
        doc = hooks.deliveries.get(f"{sub['id']}:{event['id']}")
        deliveries.record(hooks.deliveries, doc, _attempt(clock, 404, "HTTP 404"), POLICY, None)
    assert deliveries.replay_failed_since(hooks.deliveries, sub["id"], clock.now() - timedelta(hours=1),
                                          clock.now()) == 3
    assert len(deliveries.log(hooks.deliveries, sub["id"], "pending", 10, None)["items"]) == 3


def test_a_slow_partner_fills_only_its_own_slots(hooks, clock):
    slow, quick = subscribe(hooks, clock), subscribe(hooks, clock)
    for n in range(10):
        event = assigned_event(clock.now(), case_id=f"c{n}")
        for sub in (slow, quick):
            deliveries.enqueue(hooks.deliveries, sub["id"], event, clock.now())
    first = dispatch.claim(hooks, clock.now())
    assert sorted(sub["id"] for _, sub in first).count(slow["id"]) == POLICY.per_subscription
    for delivery, sub in first:  # the quick partner answers; the slow one is still busy with all of its
        if sub["id"] == quick["id"]:
            hooks.in_flight[sub["id"]] -= 1
            deliveries.record(hooks.deliveries, delivery, _attempt(clock, 200), POLICY, None)
    second = dispatch.claim(hooks, clock.now())
    assert {sub["id"] for _, sub in second} == {quick["id"]}
