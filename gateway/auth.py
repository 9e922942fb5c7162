"""Who is calling: API keys for systems (staff tokens come with roles and jurisdiction).

Keys are stored as SHA-256 digests only. ``Caller`` is the seam later issues fill with roles
and a jurisdiction scope; every route depends on ``current_caller``.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from fengqiao.clock import isoformat
from fengqiao.search import Scope
from fengqiao.store import CollectionSpec, Index
from gateway.problems import Problem

API_CLIENTS = CollectionSpec("api_clients", [Index(("key_digest",), unique=True)])
BOOTSTRAP_CLIENT_ID = "bootstrap-admin"
API_KEY_HEADER = "X-API-Key"


@dataclass(frozen=True)
class Caller:
    client_id: str
    name: str
    roles: tuple[str, ...]
    # Region codes whose subtrees the caller may see; None means everything (admin).
    jurisdiction: tuple[str, ...] | None
    units: tuple[str, ...] | None = None  # and, if set, only these units' cases

    @property
    def scope(self) -> Scope:
        return Scope(self.jurisdiction, self.units)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def may_see_pii(self) -> bool:
        """Phones and ID numbers unmasked: only for roles granted it (the admin is not, by
        default: seeing everything and seeing personal data are different permissions)."""
        return "pii_reader" in self.roles


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def bootstrap_admin(clients, key: str, now) -> None:
    """Create the bootstrap admin client, or point it at a new key."""
    doc = {
        "name": "初始管理员", "key_digest": digest(key), "roles": ["admin"], "jurisdiction": None,
        "active": True, "created_at": isoformat(now),
    }
    existing = await clients.get(BOOTSTRAP_CLIENT_ID)
    if existing is None:
        await clients.insert({"id": BOOTSTRAP_CLIENT_ID, **doc})
    elif existing["key_digest"] != doc["key_digest"]:
        await clients.update(
            BOOTSTRAP_CLIENT_ID, {"key_digest": doc["key_digest"]}, expected_version=existing["version"]
        )


async def current_caller(request: Request) -> Caller:
    key = request.headers.get(API_KEY_HEADER)
    if not key:
        raise Problem(401, "unauthenticated", "需要身份认证", f"send an API key in the {API_KEY_HEADER} header",
                      headers={"WWW-Authenticate": "ApiKey"})
    client = await request.app.state.api_clients.find_one({"key_digest": digest(key)})
    if client is None or not client.get("active", True):
        raise Problem(401, "unauthenticated", "需要身份认证", "the API key is unknown or revoked",
                      headers={"WWW-Authenticate": "ApiKey"})
    jurisdiction, units = client.get("jurisdiction"), client.get("units")
    return Caller(client["id"], client["name"], tuple(client["roles"]),
                  tuple(jurisdiction) if jurisdiction is not None else None,
                  tuple(units) if units is not None else None)


CurrentCaller = Annotated[Caller, Depends(current_caller)]
