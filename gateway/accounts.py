"""Who may call: API clients (systems, with X-API-Key) and staff (people, with a password and
short-lived tokens). Used by the gateway's admin routes and by the ``fengqiao clients|staff``
commands alike, over the gateway's own async store.

Keys are at least 32 random bytes, stored only as keyed digests (HMAC-SHA256 under the gateway's
secret), so a copy of the store alone cannot be used to test guessed keys. Passwords are argon2id
hashes. Nothing is cached: every request reads the account, so disabling it or changing its
roles takes effect at once.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import Counter
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from fengqiao.access import Policy
from fengqiao.clock import isoformat
from fengqiao.directory import REGION_CODE
from fengqiao.ids import new_id
from fengqiao.store import CollectionSpec, Index

API_CLIENTS = CollectionSpec("api_clients", [Index(("key_digest",), unique=True), Index(("name",))])
STAFF = CollectionSpec("staff", [Index(("username",), unique=True), Index(("name",))])
SECRETS = CollectionSpec("secrets")
BOOTSTRAP_CLIENT_ID = "bootstrap-admin"
KEY_BYTES = 32
MIN_KEY_BITS = 128
MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()


class AccountError(ValueError):
    """A request about accounts that cannot be carried out as asked (the message says why)."""


class AccountNotFound(LookupError):
    pass


async def auth_secret(secrets_collection, configured: str | None) -> bytes:
    """The gateway's secret: from settings, or generated once and kept in the store so that every
    gateway process and the CLI agree on it."""
    if configured:
        return configured.encode()
    doc = await secrets_collection.get("auth")
    if doc is None:
        try:
            doc = await secrets_collection.insert({"id": "auth", "value": secrets.token_urlsafe(48)})
        except Exception:  # another process created it first
            doc = await secrets_collection.get("auth")
    return doc["value"].encode()


def key_digest(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def key_bits(key: str) -> float:
    """A generous estimate of a key's entropy: its length times the bits of its character spread.
    A generated key (43 URL-safe characters) has about 230; a repeated or dictionary-like one, far less."""
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values()) if key else 0.0
    return len(key) * per_char


def check_key(key: str) -> str:
    if len(key) < 32 or key_bits(key) < MIN_KEY_BITS:
        raise AccountError("a custom key needs at least 32 characters and about 128 bits of randomness; "
                           "leave --key out to have one generated")
    return key


def _scope_fields(regions, units) -> dict:
    regions, units = list(regions or ()), list(units or ())
    bad = [r for r in regions if not REGION_CODE.fullmatch(r)]
    if bad:
        raise AccountError(f"not a region code: {', '.join(bad)}")
    return {"jurisdiction": regions or None, "units": units or None}


def _roles(policy: Policy, roles) -> list[str]:
    try:
        return list(policy.check_roles(roles))
    except ValueError as exc:
        raise AccountError(str(exc)) from exc


async def add_client(clients, policy: Policy, secret: bytes, name: str, roles, regions=(), units=(),
                     key: str | None = None, now: datetime | None = None) -> tuple[dict, str]:
    """A new API client and its key (shown once: only the digest is kept)."""
    key = check_key(key) if key else secrets.token_urlsafe(KEY_BYTES)
    doc = {"id": new_id(), "name": name, "key_digest": key_digest(secret, key),
           "roles": _roles(policy, roles), **_scope_fields(regions, units), "active": True,
           "created_at": isoformat(now) if now else None}
    return await clients.insert(doc), key


async def bootstrap_admin(clients, secret: bytes, key: str, now: datetime) -> None:
    """Create the bootstrap admin client, or point it at a new key. Its key is whatever the
    operator set (the README's example uses a short one), so it is not held to ``check_key``."""
    digest = key_digest(secret, key)
    existing = await clients.get(BOOTSTRAP_CLIENT_ID)
    if existing is None:
        await clients.insert({"id": BOOTSTRAP_CLIENT_ID, "name": "初始管理员", "key_digest": digest,
                              "roles": ["admin"], "jurisdiction": None, "units": None, "active": True,
                              "created_at": isoformat(now)})
    elif existing["key_digest"] != digest or not existing.get("active", True):
        await clients.update(BOOTSTRAP_CLIENT_ID, {"key_digest": digest, "active": True},
                             expected_version=existing["version"])


async def _change(collection, doc_id: str, changes: dict) -> dict:
    doc = await collection.get(doc_id)
    if doc is None:
        raise AccountNotFound(f"no account {doc_id}")
    for _ in range(10):
        updated = await collection.update(doc_id, changes, expected_version=doc["version"])
        if updated:
            return updated
        doc = await collection.get(doc_id)
    raise AccountError(f"{doc_id} keeps changing; try again")


async def set_client_active(clients, client_id: str, active: bool) -> dict:
    return await _change(clients, client_id, {"active": active})


async def rotate_client(clients, secret: bytes, client_id: str) -> tuple[dict, str]:
    """A new key for the client; the old one stops working at once."""
    key = secrets.token_urlsafe(KEY_BYTES)
    return await _change(clients, client_id, {"key_digest": key_digest(secret, key)}), key


async def client_of_key(clients, secret: bytes, key: str) -> dict | None:
    client = await clients.find_one({"key_digest": key_digest(secret, key)})
    return client if client and client.get("active", True) else None


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


async def add_staff(staff, policy: Policy, username: str, name: str, password: str, roles, regions=(), units=(),
                    now: datetime | None = None) -> dict:
    if await staff.find_one({"username": username}):
        raise AccountError(f"a staff member {username!r} exists already")
    return await staff.insert({
        "id": new_id(), "username": username, "name": name, "password_hash": _hasher.hash(check_password(password)),
        "roles": _roles(policy, roles), **_scope_fields(regions, units), "active": True,
        "created_at": isoformat(now) if now else None})


async def change_staff(staff, policy: Policy, staff_id: str, *, roles=None, regions=None, units=None,
                       active: bool | None = None, password: str | None = None) -> dict:
    changes: dict = {}
    if roles is not None:
        changes["roles"] = _roles(policy, roles)
    if regions is not None or units is not None:
        current = await staff.get(staff_id) or {}
        changes |= _scope_fields(current.get("jurisdiction") if regions is None else regions,
                                 current.get("units") if units is None else units)
    if active is not None:
        changes["active"] = active
    if password is not None:
        changes["password_hash"] = _hasher.hash(check_password(password))
    return await _change(staff, staff_id, changes)


async def staff_of_login(staff, username: str, password: str) -> dict | None:
    """The active staff member with this username and password, or None (never says which was wrong)."""
    member = await staff.find_one({"username": username})
    if member is None:
        _hasher.hash(password)  # the same work either way, so timing does not tell who exists
        return None
    try:
        _hasher.verify(member["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return member if member.get("active", True) else None


def public(account: dict) -> dict:
    """An account as listed: no digest, no hash."""
    return {k: v for k, v in account.items() if k not in ("key_digest", "password_hash", "version")}
