"""Webhook subscriptions of partner agencies: what they want, where to send it, how to sign it.
Plain domain logic.

A subscription names a URL, the public event types it wants (or ``*``), and the regions and
categories it may receive, within its owner's jurisdiction. Its secrets sign every delivery
(Standard Webhooks); after a rotation the old secret keeps signing beside the new one for a day,
so the receiver can switch without losing a delivery.
"""
from __future__ import annotations

import base64
import secrets
from datetime import datetime, timedelta

from fengqiao.clock import isoformat, parse_iso
from fengqiao.ids import new_id
from fengqiao.public import PUBLIC_TYPES
from fengqiao.search import Scope, region_prefix
from fengqiao.store import Collection, CollectionSpec, Index, changes
from services.webhooks.targets import TargetRefused, check_target

SUBSCRIPTIONS = CollectionSpec("subscriptions", [Index(("owner",)), Index(("active",))])
ROTATION_OVERLAP = timedelta(hours=24)
EVERY_TYPE = "*"


class SubscriptionRefused(ValueError):
    """A subscription that cannot be made as asked (the message says why)."""


class SubscriptionNotFound(LookupError):
    pass


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def _types(types: list[str]) -> list[str]:
    """``case.assigned`` or ``cn.fengqiao.case.assigned`` → the full type; ``*`` for all."""
    if types == [EVERY_TYPE]:
        return types
    full = [t if t.startswith("cn.fengqiao.") else f"cn.fengqiao.{t}" for t in types]
    unknown = [t for t in full if t not in PUBLIC_TYPES]
    if unknown:
        raise SubscriptionRefused(f"unknown event types {unknown}; see /asyncapi.json")
    return sorted(set(full))


def _regions(regions: list[str], owner_scope: Scope) -> list[str] | None:
    """The regions asked for, inside the owner's jurisdiction; none asked: the whole of it."""
    if not regions:
        return list(owner_scope.regions) if owner_scope.regions is not None else None
    outside = [r for r in regions if not owner_scope.covers_region(r)]
    if outside:
        raise SubscriptionRefused(f"regions {outside} are outside your jurisdiction")
    return sorted(set(regions))


def _url(url: str, allow_private: bool) -> str:
    try:
        return check_target(url, allow_private)
    except TargetRefused as exc:
        raise SubscriptionRefused(str(exc)) from exc


def create(subs: Collection, owner: str, owner_scope: Scope, request: dict, now: datetime,
           allow_private: bool) -> dict:
    secret = new_secret()
    doc = {"id": new_id(), "owner": owner, "owner_scope": {"regions": owner_scope.regions, "units": owner_scope.units},
           "url": _url(request["url"], allow_private), "types": _types(request.get("types") or [EVERY_TYPE]),
           "regions": _regions(request.get("regions") or [], owner_scope),
           "categories": sorted(set(request.get("categories") or [])) or None,
           "secrets": [{"value": secret, "expires_at": None}], "active": True, "disabled_reason": None,
           "failing_since": None, "created_at": isoformat(now)}
    return subs.insert(doc)


def get(subs: Collection, subscription_id: str, owner: str | None) -> dict:
    """The subscription, if ``owner`` owns it (None: an administrator, who sees every one)."""
    doc = subs.get(subscription_id)
    if doc is None or (owner is not None and doc["owner"] != owner):
        raise SubscriptionNotFound(f"no subscription {subscription_id}")
    return doc


def change(subs: Collection, subscription_id: str, owner: str | None, request: dict, now: datetime,
           allow_private: bool) -> dict:
    doc = get(subs, subscription_id, owner)
    scope = Scope.of(doc["owner_scope"])
    fields = {}
    if "url" in request:
        fields["url"] = _url(request["url"], allow_private)
    if "types" in request:
        fields["types"] = _types(request["types"] or [EVERY_TYPE])
    if "regions" in request:
        fields["regions"] = _regions(request["regions"] or [], scope)
    if "categories" in request:
        fields["categories"] = sorted(set(request["categories"] or [])) or None
    if "active" in request:
        # Turning it on again forgets the failures that turned it off.
        fields |= {"active": request["active"], "disabled_reason": None if request["active"] else "由订阅方停用",
                   "failing_since": None}
    return changes.update(subs, doc["id"], lambda _: fields or None)[0]


def rotate_secret(subs: Collection, subscription_id: str, owner: str | None, now: datetime) -> tuple[dict, str]:
    secret = new_secret()
    until = isoformat(now + ROTATION_OVERLAP)

    def rotated(doc):
        kept = [{**s, "expires_at": s["expires_at"] or until} for s in live_secrets(doc, now)]
        return {"secrets": [{"value": secret, "expires_at": None}, *kept]}

    doc = changes.update(subs, get(subs, subscription_id, owner)["id"], rotated)[0]
    return doc, secret


def live_secrets(doc: dict, now: datetime) -> list[dict]:
    return [s for s in doc["secrets"] if s["expires_at"] is None or parse_iso(s["expires_at"]) > now]


def matches(doc: dict, cloud_event: dict) -> bool:
    """Whether the subscription wants this public event (its type, county and category)."""
    if not doc["active"]:
        return False
    if doc["types"] != [EVERY_TYPE] and cloud_event["type"] not in doc["types"]:
        return False
    case = cloud_event["data"]["case"]
    region = case.get("region_code") or ""
    if doc["regions"] is not None and not any(region.startswith(region_prefix(r)) for r in doc["regions"]):
        return False
    return doc["categories"] is None or case.get("category") in doc["categories"]


def public(doc: dict) -> dict:
    """A subscription as its owner reads it: no secret (those are shown once, when made)."""
    return {k: v for k, v in doc.items() if k not in ("secrets", "version")} | {"secret_count": len(doc["secrets"])}


def active(subs: Collection) -> list[dict]:
    return subs.find({"active": True}, limit=10_000).items
