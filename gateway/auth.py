"""Who is calling and what they may do: every route declares its permission here, once.

Systems send ``X-API-Key``; staff send ``Authorization: Bearer <token>`` from
``POST /api/v1/auth/token``. Either way the account is read from the store on every request,
so a disabled account or a changed role takes effect at once. ``Allowed("case.assign")`` in a
route's signature authenticates the caller, refuses it without the permission (403), notes the
access for the audit log, and hands the route the ``Caller``. ``PUBLIC`` marks the few routes
that need no caller (probes, metrics, the Open311 public reads, the token endpoint).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

import jwt
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBearer

from fengqiao.access import Policy
from fengqiao.clock import parse_iso
from fengqiao.ids import new_id
from fengqiao.search import Scope
from gateway import accounts
from gateway.problems import Problem

API_KEY_HEADER = "X-API-Key"
TOKEN_ALGORITHM = "HS256"
ISSUER = "fengqiao"
CHALLENGE = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}
# Declared for the OpenAPI document; the check itself is ``authenticate``.
API_KEY_SCHEME = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey",
                              description="系统接入密钥（API key）")
BEARER_SCHEME = HTTPBearer(auto_error=False, scheme_name="StaffToken",
                           description="工作人员令牌：POST /api/v1/auth/token 获取")


@dataclass(frozen=True)
class Caller:
    kind: Literal["client", "staff"]
    id: str
    name: str
    login: str  # a staff member's username; a client's id
    roles: tuple[str, ...]
    permissions: frozenset[str]
    # Region codes whose subtrees the caller may see; None means everywhere.
    jurisdiction: tuple[str, ...] | None
    units: tuple[str, ...] | None = None  # and, if set, only these units' cases

    @property
    def principal(self) -> str:
        """A stable id across both kinds (receipts and jobs record who submitted them)."""
        return f"{self.kind}:{self.id}"

    @property
    def actor(self) -> str:
        """Who did it, as the timeline says: the person, or the system."""
        return f"{self.name}（{self.login}）" if self.kind == "staff" else f"{self.name}（系统）"

    @property
    def scope(self) -> Scope:
        return Scope(self.jurisdiction, self.units)

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def may_see_pii(self) -> bool:
        return self.may("pii.read")


# Who a refused, unauthenticated request came from, as far as the audit log can say.
UNKNOWN_CALLER = Caller("client", "", "未认证调用方", "", (), frozenset(), ())


def signing_in(username: str, member: dict | None, policy: Policy) -> Caller:
    """The caller a sign-in is recorded under: the staff member, or just the name given."""
    if member is None:
        return Caller("staff", "", username, username, (), frozenset(), ())
    return _caller("staff", member, member["username"], policy)


def _caller(kind, account: dict, login: str, policy: Policy) -> Caller:
    jurisdiction, units = account.get("jurisdiction"), account.get("units")
    return Caller(kind, account["id"], account["name"], login, tuple(account["roles"]),
                  policy.permissions_of(account["roles"]),
                  tuple(jurisdiction) if jurisdiction is not None else None,
                  tuple(units) if units is not None else None)


def unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", "需要身份认证", detail, headers=CHALLENGE)


async def caller_of_key(state, key: str) -> Caller | None:
    client = await accounts.client_of_key(state.api_clients, state.keys, key)
    return _caller("client", client, client["id"], state.policy) if client else None


async def authenticate(request: Request) -> Caller:
    state = request.app.state
    key = request.headers.get(API_KEY_HEADER)
    if key:
        caller = await caller_of_key(state, key)
        if caller is None:
            raise unauthenticated("the API key is unknown or revoked")
        return caller
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        member = await staff_of_token(state, read_token(state, token.strip(), "access"))
        return _caller("staff", member, member["username"], state.policy)
    raise unauthenticated(f"send an API key in the {API_KEY_HEADER} header, or a staff token as "
                          "Authorization: Bearer")


async def staff_of_token(state, claims: dict) -> dict:
    """The staff member a token was issued to, if still active and the token is newer than the
    member's last password change (a new password ends every older session)."""
    member = await state.staff.get(claims["sub"])
    if member is None or not member.get("active", True):
        raise unauthenticated("the staff account is disabled")
    changed = member.get("password_changed_at")
    if changed and claims["iat"] < int(parse_iso(changed).timestamp()):
        raise unauthenticated("the password changed after this token was issued; sign in again")
    return member


def issue_tokens(state, member: dict, now: datetime) -> dict:
    settings = state.settings
    lifetimes = {"access": timedelta(minutes=settings.access_token_minutes),
                 "refresh": timedelta(hours=settings.refresh_token_hours)}
    tokens = {kind: jwt.encode({"iss": ISSUER, "aud": ISSUER, "sub": member["id"], "typ": kind,
                                "iat": int(now.timestamp()),
                                "exp": int((now + life).timestamp()), "jti": new_id()},
                               state.keys.tokens, algorithm=TOKEN_ALGORITHM)
              for kind, life in lifetimes.items()}
    return {"access_token": tokens["access"], "token_type": "bearer",
            "expires_in": int(lifetimes["access"].total_seconds()), "refresh_token": tokens["refresh"]}


def read_token(state, token: str, kind: str) -> dict:
    """The claims of a valid token of this kind. Expiry is checked against the platform's clock
    (tests move it), not the machine's."""
    try:
        claims = jwt.decode(token, state.keys.tokens, algorithms=[TOKEN_ALGORITHM], issuer=ISSUER, audience=ISSUER,
                            options={"verify_exp": False, "verify_iat": False,
                                     "require": ["iss", "aud", "sub", "typ", "iat", "exp"]})
    except jwt.InvalidTokenError as exc:
        raise unauthenticated(f"the token is not valid: {exc}") from exc
    if claims["typ"] != kind:
        raise unauthenticated(f"a {claims['typ']} token cannot be used as a {kind} token")
    if claims["exp"] <= state.clock.now().timestamp():
        raise unauthenticated("the token has expired")
    return claims


@dataclass(frozen=True)
class Access:
    """What the audit log needs to know of a request (see gateway.audit)."""

    caller: Caller
    permission: str | None
    personal: bool  # the route may answer with personal data
    granted: bool


class Require:
    """A route's access declaration: any one of ``permissions`` lets the caller in."""

    def __init__(self, *permissions: str, personal: bool = False):
        self.permissions = permissions
        self.personal = personal

    async def __call__(self, request: Request, _key: Annotated[str | None, Depends(API_KEY_SCHEME)] = None,
                       _token: Annotated[object, Depends(BEARER_SCHEME)] = None) -> Caller:
        try:
            caller = await authenticate(request)
        except Problem:
            request.state.access = Access(UNKNOWN_CALLER, self.permissions[0], self.personal, False)
            raise
        held = next((p for p in self.permissions if caller.may(p)), None)
        request.state.access = Access(caller, held or self.permissions[0], self.personal, held is not None)
        if held is None:
            raise Problem(403, "forbidden", "无权执行此操作",
                          f"{', '.join(caller.roles)} may not do this (needs {' or '.join(self.permissions)})",
                          needed=list(self.permissions))
        return caller


class Public:
    """The declaration of a route that anyone may call."""

    permissions: tuple[str, ...] = ()

    async def __call__(self) -> None:
        return None


PUBLIC = Depends(Public())


def Allowed(*permissions: str, personal: bool = False):  # noqa: N802 (reads as a type in signatures)
    return Annotated[Caller, Depends(Require(*permissions, personal=personal))]
