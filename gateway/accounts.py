"""Who may call: API clients (systems, with X-API-Key) and staff (people, with a password and
short-lived tokens). Used by the gateway's admin routes and by the ``fengqiao clients|staff``
commands alike, over the gateway's own async store.

Keys are at least 32 random bytes, stored only as keyed digests (HMAC-SHA256 under a key
derived from the gateway's secret). With ``FQ_AUTH_SECRET`` set from a Secret, a copy of the store
alone can neither test guessed keys nor forge staff tokens; left unset, the secret is generated
once and kept in the store itself (one machine, or replicas sharing one store). Passwords are
argon2id hashes, computed off the event loop. Nothing is cached: every request reads the
account, so disabling it or changing its roles takes effect at once.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from fengqiao.access import Policy
from fengqiao.clock import isoformat
from fengqiao.directory import REGION_CODE
from fengqiao.ids import new_id
from fengqiao.store import CollectionSpec, DuplicateKeyError, Index

API_CLIENTS = CollectionSpec("api_clients", [Index(("key_digest",), unique=True), Index(("name",))])
STAFF = CollectionSpec("staff", [Index(("username",), unique=True), Index(("name",))])
SECRETS = CollectionSpec("secrets")
BOOTSTRAP_CLIENT_ID = "bootstrap-admin"
KEY_BYTES = 32
MIN_KEY_GUESSES_LOG10 = 38  # about 2**128 guesses, as zxcvbn estimates them
MIN_SECRET_LENGTH = 32
MIN_PASSWORD_LENGTH = 10
# Units' staff work their units' cases: a handler without units would see every unit's.
NEEDS_UNITS = {"handler"}
_hasher = PasswordHasher()


@dataclass(frozen=True)
class Keys:
    """Two keys derived from the one secret, so each does one job: signing staff tokens, and
    keying API-key digests."""

    tokens: bytes
    digests: bytes

    @classmethod
    def of(cls, secret: bytes) -> Keys:
        return cls(hmac.new(secret, b"fengqiao/staff-tokens", hashlib.sha256).digest(),
                   hmac.new(secret, b"fengqiao/api-key-digests", hashlib.sha256).digest())


class AccountError(ValueError):
    """A request about accounts that cannot be carried out as asked (the message says why)."""


class AccountNotFound(LookupError):
    pass


async def auth_keys(secrets_collection, configured: str | None) -> Keys:
    """The gateway's keys: from ``FQ_AUTH_SECRET``, or from a secret generated once and kept in
    the store, so that every gateway process and the CLI agree on them."""
    if configured:
        if len(configured) < MIN_SECRET_LENGTH or "change-me" in configured:
            raise AccountError(f"FQ_AUTH_SECRET must be at least {MIN_SECRET_LENGTH} random characters, not a "
                               "placeholder")
        return Keys.of(configured.encode())
    doc = await secrets_collection.get("auth")
    if doc is None:
        try:
            doc = await secrets_collection.insert({"id": "auth", "value": secrets.token_urlsafe(48)})
        except DuplicateKeyError:  # another process created it first
            doc = await secrets_collection.get("auth")
    return Keys.of(doc["value"].encode())


def key_digest(keys: Keys, key: str) -> str:
    return hmac.new(keys.digests, key.encode(), hashlib.sha256).hexdigest()


def check_key(key: str) -> str:
    """A custom key must be as hard to guess as a generated one: zxcvbn sees through sequences,
    keyboard walks, repeats and words that a character count would let pass."""
    if len(key) < 32 or zxcvbn(key[:100])["guesses_log10"] < MIN_KEY_GUESSES_LOG10:
        raise AccountError("a custom key needs at least 32 characters and about 128 bits of randomness "
                           "(no sequences, repeats or words); leave --key out to have one generated")
    return key


def _scope_fields(regions, units) -> dict:
    regions, units = list(regions or ()), list(units or ())
    bad = [r for r in regions if not REGION_CODE.fullmatch(r)]
    if bad:
        raise AccountError(f"not a region code: {', '.join(bad)}")
    return {"jurisdiction": regions or None, "units": units or None}


def _roles(policy: Policy, roles, units) -> list[str]:
    try:
        names = list(policy.check_roles(roles))
    except ValueError as exc:
        raise AccountError(str(exc)) from exc
    if NEEDS_UNITS & set(names) and not units:
        raise AccountError("a handler works for units: name them (--unit)")
    return names


def _client(client_id: str, name: str, digest: str, roles: list[str], regions, units, now) -> dict:
    return {"id": client_id, "name": name, "key_digest": digest, "roles": roles, **_scope_fields(regions, units),
            "active": True, "created_at": isoformat(now) if now else None}


async def add_client(clients, policy: Policy, keys: Keys, name: str, roles, regions=(), units=(),
                     key: str | None = None, now: datetime | None = None) -> tuple[dict, str]:
    """A new API client and its key (shown once: only the digest is kept)."""
    key = check_key(key) if key else secrets.token_urlsafe(KEY_BYTES)
    doc = _client(new_id(), name, key_digest(keys, key), _roles(policy, roles, units), regions, units, now)
    return await clients.insert(doc), key


LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def check_bootstrap_key(key: str, gateway_host: str) -> None:
    """The README's short key is fine on a gateway only this machine reaches; on one that
    listens to a network the bootstrap key must be as strong as a generated one."""
    if gateway_host not in LOOPBACK_HOSTS:
        try:
            check_key(key)
        except AccountError as exc:
            raise AccountError(f"FQ_BOOTSTRAP_ADMIN_KEY on a gateway listening on {gateway_host}: {exc}") from exc


async def bootstrap_admin(clients, keys: Keys, key: str, now: datetime) -> None:
    """Create the bootstrap admin client once. An existing one is left alone: disabled stays
    disabled and a rotated key stays rotated (``fengqiao clients rotate bootstrap-admin``)."""
    if await clients.get(BOOTSTRAP_CLIENT_ID) is None:
        try:
            await clients.insert(_client(BOOTSTRAP_CLIENT_ID, "初始管理员", key_digest(keys, key), ["admin"], (), (),
                                         now))
        except DuplicateKeyError:  # another gateway process made it at the same moment
            pass


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


async def rotate_client(clients, keys: Keys, client_id: str) -> tuple[dict, str]:
    """A new key for the client; the old one stops working at once."""
    key = secrets.token_urlsafe(KEY_BYTES)
    return await _change(clients, client_id, {"key_digest": key_digest(keys, key)}), key


async def client_of_key(clients, keys: Keys, key: str) -> dict | None:
    client = await clients.find_one({"key_digest": key_digest(keys, key)})
    return client if client and client.get("active", True) else None


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


async def _hash(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, check_password(password))


async def add_staff(staff, policy: Policy, username: str, name: str, password: str, roles, regions=(), units=(),
                    now: datetime | None = None) -> dict:
    if await staff.find_one({"username": username}):
        raise AccountError(f"a staff member {username!r} exists already")
    return await staff.insert({
        "id": new_id(), "username": username, "name": name, "password_hash": await _hash(password),
        "roles": _roles(policy, roles, units), **_scope_fields(regions, units), "active": True,
        "password_changed_at": isoformat(now) if now else None, "created_at": isoformat(now) if now else None})


async def change_staff(staff, policy: Policy, staff_id: str, *, roles=None, regions=None, units=None,
                       active: bool | None = None, password: str | None = None, now: datetime | None = None) -> dict:
    current = await staff.get(staff_id)
    if current is None:
        raise AccountNotFound(f"no account {staff_id}")
    units_after = current.get("units") if units is None else units
    changes: dict = {}
    if roles is not None:
        changes["roles"] = _roles(policy, roles, units_after)
    if regions is not None or units is not None:
        changes |= _scope_fields(current.get("jurisdiction") if regions is None else regions, units_after)
    if active is not None:
        changes["active"] = active
    if password is not None:
        # Tokens issued before a new password stop working (see auth.read_token).
        changes |= {"password_hash": await _hash(password), "password_changed_at": isoformat(now) if now else None}
    return await _change(staff, staff_id, changes)


async def staff_of_login(staff, username: str, password: str) -> dict | None:
    """The active staff member with this username and password, or None (never says which was wrong)."""
    member = await staff.find_one({"username": username})
    if member is None:
        await asyncio.to_thread(_hasher.hash, password)  # the same work either way: timing tells nothing
        return None
    try:
        await asyncio.to_thread(_hasher.verify, member["password_hash"], password)
    except (VerificationError, InvalidHashError):
        return None
    return member if member.get("active", True) else None


def public(account: dict) -> dict:
    """An account as listed: no digest, no hash."""
    return {k: v for k, v in account.items() if k not in ("key_digest", "password_hash", "version")}
