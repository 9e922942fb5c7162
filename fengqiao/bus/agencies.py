"""Partner agencies on the bus: each its own RabbitMQ user, reading only its own queue, which is
bound to ``fengqiao.public`` for the event types, counties and categories it may see.

The user, its permissions and the queue are made through RabbitMQ's management API (as the
messaging-topology operator would in a cluster). An agency's type gives the defaults DOMAIN.md
names (police: public order; human resources: wages and social security …) when no category is given.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import quote, urlparse, urlunparse

import httpx
from kombu import Connection, Queue, binding

from fengqiao.bus.topology import public_exchange
from fengqiao.directory import Directory
from fengqiao.public import PUBLIC_TYPES
from fengqiao.search import region_prefix

KINDS = {  # DOMAIN.md: who subscribes to what
    "police": ("公安", ("public_safety",)),
    "court": ("法院", ()),
    "petition": ("信访局", ()),
    "hr": ("人社局", ("labor_wage", "social_security")),
    "housing": ("住建局", ("property_mgmt",)),
    "women": ("妇联", ("marriage_family",)),
    "other": ("其他部门", ()),
}


class AgencyRefused(ValueError):
    pass


@dataclass(frozen=True)
class AgencyAccess:
    user: str
    password: str
    queue: str
    amqp_uri: str  # what the agency connects with
    bindings: list[str]


def agency_id(name: str) -> str:
    return "agency-" + hashlib.blake2b(name.encode(), digest_size=5).hexdigest()


def counties(directory: Directory, regions: list[str]) -> list[str]:
    """The county codes the regions cover (routing keys name counties)."""
    found = []
    for region in regions:
        if len(region) >= 6 and not region[:6].endswith("00"):
            found.append(region[:6])  # a county, or a place inside one
            continue
        prefix = region_prefix(region)
        found += [r.code for r in directory.regions.values() if r.level == "county" and r.code.startswith(prefix)]
    if regions and not found:
        raise AgencyRefused(f"no county lies in {', '.join(regions)}")
    return sorted(set(found))


def routing_patterns(event_types: list[str], county_codes: list[str], categories: list[str]) -> list[str]:
    for t in event_types:
        if t not in PUBLIC_TYPES:
            raise AgencyRefused(f"unknown event type {t}; see /asyncapi.json")
    return [f"{t}.{county}.{category}" if t != "#" else f"#.{county}.{category}"
            for t in (event_types or ["#"]) for county in (county_codes or ["*"]) for category in (categories or ["*"])]


def management_url(amqp_uri: str, configured: str | None) -> str:
    if configured:
        return configured.rstrip("/")
    return f"http://{urlparse(amqp_uri).hostname or '127.0.0.1'}:15672"


def add_agency(amqp_uri: str, management: str, directory: Directory, name: str, kind: str, regions: list[str],
               categories: list[str], event_types: list[str]) -> AgencyAccess:
    if kind not in KINDS:
        raise AgencyRefused(f"unknown agency type {kind}; one of {', '.join(KINDS)}")
    wanted = categories or list(KINDS[kind][1])
    patterns = routing_patterns([_full(t) for t in event_types], counties(directory, regions), wanted)
    user, password = agency_id(name), secrets.token_urlsafe(24)
    queue = f"agency.{user.removeprefix('agency-')}"
    parts = urlparse(amqp_uri)
    vhost = parts.path.lstrip("/") or "/"
    auth = (parts.username or "guest", parts.password or "guest")
    with httpx.Client(base_url=management, auth=auth, timeout=15) as api:
        _ok(api.put(f"/api/users/{quote(user, safe='')}", json={"password": password, "tags": ""}))
        _ok(api.put(f"/api/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", json={
            "configure": "^$", "write": "^$", "read": f"^{re.escape(queue)}$"}))
    exchange = public_exchange()
    with Connection(amqp_uri, connect_timeout=10) as connection:
        Queue(queue, bindings=[binding(exchange, routing_key=p) for p in patterns], durable=True,
              queue_arguments={"x-queue-type": "quorum"})(connection.default_channel).declare()
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.hostname}" + (
        f":{parts.port}" if parts.port else "")
    return AgencyAccess(user, password, queue, urlunparse(parts._replace(netloc=netloc)), patterns)


def _full(event_type: str) -> str:
    return event_type if event_type.startswith("cn.fengqiao.") else f"cn.fengqiao.{event_type}"


def _ok(response: httpx.Response) -> None:
    if response.status_code >= 400:
        raise AgencyRefused(f"RabbitMQ management answered {response.status_code}: {response.text[:200]}")
