"""Sending one webhook delivery, per Standard Webhooks: the body is the CloudEvent in structured
JSON, signed with every live secret of the subscription (``webhook-signature: v1,<sig> v1,<sig>``
during a rotation), with ``webhook-id`` the event id and ``webhook-timestamp`` the time of the
attempt. Redirects are not followed; the target is checked again before each attempt."""
from __future__ import annotations

import json
import time
from datetime import datetime
from email.utils import parsedate_to_datetime

import requests
from standardwebhooks import Webhook

from services.webhooks.deliveries import Attempt
from services.webhooks.targets import TargetRefused, check_target

CONTENT_TYPE = "application/cloudevents+json"


def body_of(cloud_event: dict) -> str:
    return json.dumps(cloud_event, ensure_ascii=False, separators=(",", ":"))


def headers(event_id: str, body: str, secrets: list[str], at: datetime) -> dict:
    signatures = " ".join(Webhook(secret).sign(event_id, at, body) for secret in secrets)
    return {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signatures,
            "content-type": CONTENT_TYPE, "user-agent": "Fengqiao-Webhooks/1"}


def retry_after(value: str | None, at: datetime) -> float | None:
    """Seconds from a Retry-After header (a number, or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - at).total_seconds())
    except (TypeError, ValueError):
        return None


def send(session: requests.Session, url: str, cloud_event: dict, secrets: list[str], at: datetime,
         timeout: float, allow_private: bool) -> Attempt:
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    body = body_of(cloud_event)
    try:
        check_target(url, allow_private)
        response = session.post(url, data=body.encode(), headers=headers(cloud_event["id"], body, secrets, at),
                                timeout=timeout, allow_redirects=False)
    except TargetRefused as exc:
        return Attempt(at, None, f"target refused: {exc}", took())
    except requests.Timeout:
        return Attempt(at, None, f"no answer within {timeout:g} s", took())
    except requests.RequestException as exc:
        return Attempt(at, None, f"connection failed: {type(exc).__name__}", took())
    error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
    return Attempt(at, response.status_code, error, took(), retry_after(response.headers.get("Retry-After"), at))
