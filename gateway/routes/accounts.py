"""Staff sign-in (OAuth2 password flow), and the administration of clients and staff."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, ConfigDict, Field

from fengqiao.directory import REGION_CODE
from gateway import accounts
from gateway.auth import PUBLIC, Access, Allowed, issue_tokens, read_token, signing_in, staff_of_token
from gateway.problems import Problem

router = APIRouter(prefix="/api/v1", tags=["accounts"])
RegionCode = Annotated[str, Field(pattern=REGION_CODE.pattern)]


class TokenAnswer(BaseModel):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="seconds")
    refresh_token: str


def _bad_grant(detail: str) -> Problem:
    # RFC 6749 §5.2 names the error; problem+json carries it beside the detail.
    return Problem(400, "invalid-grant", "用户名、密码或令牌无效", detail, error="invalid_grant")


@router.post("/auth/token", dependencies=[PUBLIC], responses={400: {"description": "invalid credentials"}})
async def token(request: Request,
                grant_type: Annotated[Literal["password", "refresh_token"], Form()],
                username: Annotated[str | None, Form(max_length=100)] = None,
                password: Annotated[str | None, Form(max_length=200)] = None,
                refresh_token: Annotated[str | None, Form(max_length=2000)] = None) -> TokenAnswer:
    """Sign a staff member in (OAuth2 password flow) or renew the tokens with the refresh token.
    The access token lasts ``FQ_ACCESS_TOKEN_MINUTES``; send it as ``Authorization: Bearer``."""
    state = request.app.state
    if grant_type == "password":
        if not username or not password:
            raise _bad_grant("username and password are required for grant_type password")
        state.sign_ins.check(username, request.client.host if request.client else "")
        member = await accounts.staff_of_login(state.staff, username, password)
        request.state.access = Access(signing_in(username, member, state.policy), "auth.sign_in", False,
                                      member is not None)
        if member is None:
            state.sign_ins.failed(username, request.client.host if request.client else "")
            raise _bad_grant("unknown username, wrong password, or a disabled account")
    else:
        if not refresh_token:
            raise _bad_grant("refresh_token is required for grant_type refresh_token")
        try:
            claims = read_token(state, refresh_token, "refresh")
            member = await staff_of_token(state, claims)
        except Problem as exc:
            raise _bad_grant(exc.detail) from exc
    return TokenAnswer(**issue_tokens(state, member, state.clock.now()))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientIn(_Body):
    name: str = Field(min_length=1, max_length=100)
    roles: list[str] = Field(min_length=1, max_length=10)
    regions: list[RegionCode] = Field([], max_length=50, description="region subtrees; none: everywhere")
    units: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field([], max_length=50)


class StaffIn(ClientIn):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    password: str = Field(min_length=accounts.MIN_PASSWORD_LENGTH, max_length=200)


class StaffChange(_Body):
    roles: list[str] | None = Field(None, min_length=1, max_length=10)
    regions: list[RegionCode] | None = Field(None, max_length=50)
    units: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(None, max_length=50)
    active: bool | None = None
    password: str | None = Field(None, min_length=accounts.MIN_PASSWORD_LENGTH, max_length=200)


# Who may see personal data, read the audit or administer is decided by an operator with the
# `fengqiao` command, not by an administrator over HTTP: no account can grant itself these.
OPERATOR_GRANTS = {"pii_reader", "auditor", "admin"}


def _grantable(roles: list[str] | None) -> None:
    reserved = OPERATOR_GRANTS & set(roles or ())
    if reserved:
        raise Problem(403, "forbidden", "无权授予该角色",
                      f"{', '.join(sorted(reserved))} can only be granted with the fengqiao command",
                      needed=["operator"])


def _refused(exc: Exception) -> Problem:
    if isinstance(exc, accounts.AccountNotFound):
        return Problem(404, "not-found", "账号不存在", str(exc))
    return Problem(422, "validation-error", "请求数据有误", str(exc))


@router.post("/admin/clients", status_code=201, responses={422: {"description": "an unknown role or region"}})
async def add_client(body: ClientIn, request: Request, caller: Allowed("admin.clients")) -> dict:
    """A new API client; the key is in this answer only."""
    _grantable(body.roles)
    state = request.app.state
    try:
        client, key = await accounts.add_client(state.api_clients, state.policy, state.keys, body.name,
                                                body.roles, body.regions, body.units, now=state.clock.now())
    except accounts.AccountError as exc:
        raise _refused(exc) from exc
    return {**accounts.public(client), "key": key}


@router.get("/admin/clients")
async def list_clients(request: Request, caller: Allowed("admin.clients")) -> dict:
    page = await request.app.state.api_clients.find({}, limit=1000)
    return {"items": [accounts.public(c) for c in page.items]}


@router.post("/admin/clients/{client_id}/disable", responses={404: {"description": "no such client"}})
async def disable_client(client_id: str, request: Request, caller: Allowed("admin.clients")) -> dict:
    """The key stops working at once."""
    try:
        return accounts.public(await accounts.set_client_active(request.app.state.api_clients, client_id, False))
    except accounts.AccountNotFound as exc:
        raise _refused(exc) from exc


@router.post("/admin/clients/{client_id}/rotate", responses={404: {"description": "no such client"}})
async def rotate_client(client_id: str, request: Request, caller: Allowed("admin.clients")) -> dict:
    """A new key; the old one stops working at once."""
    state = request.app.state
    try:
        client, key = await accounts.rotate_client(state.api_clients, state.keys, client_id)
    except accounts.AccountNotFound as exc:
        raise _refused(exc) from exc
    return {**accounts.public(client), "key": key}


@router.post("/admin/staff", status_code=201, responses={422: {"description": "an unknown role, a weak password"}})
async def add_staff(body: StaffIn, request: Request, caller: Allowed("admin.staff")) -> dict:
    _grantable(body.roles)
    state = request.app.state
    try:
        member = await accounts.add_staff(state.staff, state.policy, body.username, body.name, body.password,
                                          body.roles, body.regions, body.units, now=state.clock.now())
    except accounts.AccountError as exc:
        raise _refused(exc) from exc
    return accounts.public(member)


@router.get("/admin/staff")
async def list_staff(request: Request, caller: Allowed("admin.staff")) -> dict:
    page = await request.app.state.staff.find({}, limit=1000)
    return {"items": [accounts.public(m) for m in page.items]}


@router.patch("/admin/staff/{staff_id}", responses={404: {"description": "no such staff member"}})
async def change_staff(staff_id: str, body: StaffChange, request: Request, caller: Allowed("admin.staff")) -> dict:
    """Change roles, jurisdiction, password, or disable: effective at the next request."""
    _grantable(body.roles)
    state = request.app.state
    try:
        member = await accounts.change_staff(state.staff, state.policy, staff_id, now=state.clock.now(),
                                             **body.model_dump(exclude_unset=True))
    except (accounts.AccountError, accounts.AccountNotFound) as exc:
        raise _refused(exc) from exc
    return accounts.public(member)


@router.get("/admin/policy")
async def policy(request: Request, caller: Allowed("admin.policy")) -> dict:
    """The roles and grants, each with its permissions."""
    policy = request.app.state.policy
    return {"permissions": policy.permissions,
            "roles": {name: {"title": role.title, "grant": role.grant, "permissions": sorted(role.permissions)}
                      for name, role in policy.roles.items()}}
