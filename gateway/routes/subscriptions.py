"""Partner agencies' webhook subscriptions (role ``agency``, its own; administrators, all), their
delivery log and replays; and the AsyncAPI document of the public events."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ConfigDict, Field

from fengqiao import labels, public
from fengqiao.clock import isoformat, local_time
from fengqiao.directory import REGION_CODE
from fengqiao.validation import CheckedInput
from gateway.auth import PUBLIC, Allowed, Caller
from gateway.calls import call, out_of_scope

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])
documents = APIRouter(tags=["subscriptions"], dependencies=[PUBLIC])
REFUSALS = {"SubscriptionRefused": 422, "SubscriptionNotFound": 404, "LookupError": 404}
Category = Literal[tuple(labels.CATEGORIES)]  # type: ignore[valid-type]
RegionCode = Annotated[str, Field(pattern=REGION_CODE.pattern)]
EventType = Annotated[str, Field(min_length=1, max_length=80, examples=["case.assigned"])]


class _Body(CheckedInput):
    model_config = ConfigDict(extra="forbid")


class SubscriptionIn(_Body):
    url: str = Field(min_length=8, max_length=2000, examples=["https://police.example.gov.cn/fengqiao/webhook"])
    types: list[EventType] = Field(["*"], min_length=1, max_length=60,
                                   description="public event types (case.assigned …, see /asyncapi.json) or [\"*\"]")
    regions: list[RegionCode] = Field([], max_length=100, description="region subtrees; none: your jurisdiction")
    categories: list[Category] = Field([], max_length=14, description="none: every category")


class SubscriptionChange(_Body):
    url: str | None = Field(None, min_length=8, max_length=2000)
    types: list[EventType] | None = Field(None, min_length=1, max_length=60)
    regions: list[RegionCode] | None = Field(None, max_length=100)
    categories: list[Category] | None = Field(None, max_length=14)
    active: bool | None = Field(None, description="false pauses deliveries; true resumes them")


class ReplayIn(_Body):
    since: datetime = Field(description="replay every failed or dead delivery made since then (Beijing time if "
                                        "no zone)")


def owner(caller: Caller) -> str | None:
    """Whose subscriptions the caller manages: an agency its own; an administrator every one."""
    return None if caller.may("admin.clients") else caller.principal


async def _call(request: Request, method: str, *args):
    return await call(request.app.state, "webhooks", method, *args, refusals=REFUSALS)


@router.post("", status_code=201, responses={422: {"description": "an unknown type, an unsafe URL, a region "
                                                                  "outside the jurisdiction"}})
async def subscribe(body: SubscriptionIn, request: Request, response: Response,
                    caller: Allowed("subscription.manage")) -> dict:
    """Subscribe a URL to public events; the answer holds the signing secret, once."""
    outside = [r for r in body.regions if not caller.scope.covers_region(r)]
    if outside:
        raise out_of_scope(f"regions {', '.join(outside)}")
    made = await _call(request, "create_subscription", caller.principal, caller.scope.as_dict(),
                       body.model_dump(mode="json"))
    response.headers["Location"] = f"/api/v1/subscriptions/{made['id']}"
    return made


@router.get("")
async def list_subscriptions(request: Request, caller: Allowed("subscription.manage")) -> dict:
    return {"items": await _call(request, "list_subscriptions", owner(caller))}


@router.get("/{subscription_id}", responses={404: {"description": "no such subscription of yours"}})
async def get_subscription(subscription_id: str, request: Request, caller: Allowed("subscription.manage")) -> dict:
    return await _call(request, "get_subscription", subscription_id, owner(caller))


@router.patch("/{subscription_id}", responses={404: {"description": "no such subscription of yours"}})
async def change_subscription(subscription_id: str, body: SubscriptionChange, request: Request,
                              caller: Allowed("subscription.manage")) -> dict:
    outside = [r for r in body.regions or [] if not caller.scope.covers_region(r)]
    if outside:
        raise out_of_scope(f"regions {', '.join(outside)}")
    return await _call(request, "change_subscription", subscription_id, owner(caller),
                       body.model_dump(mode="json", exclude_unset=True))


@router.delete("/{subscription_id}", status_code=204, responses={404: {"description": "no such subscription"}})
async def delete_subscription(subscription_id: str, request: Request,
                              caller: Allowed("subscription.manage")) -> Response:
    await _call(request, "delete_subscription", subscription_id, owner(caller))
    return Response(status_code=204)


@router.post("/{subscription_id}/rotate-secret", responses={404: {"description": "no such subscription"}})
async def rotate_secret(subscription_id: str, request: Request, caller: Allowed("subscription.manage")) -> dict:
    """A new signing secret; the old one keeps signing beside it for 24 hours."""
    return await _call(request, "rotate_secret", subscription_id, owner(caller))


@router.get("/{subscription_id}/deliveries", responses={404: {"description": "no such subscription"}})
async def deliveries(subscription_id: str, request: Request, caller: Allowed("subscription.manage"),
                     status: Literal["pending", "delivered", "failed", "dead"] | None = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 50,
                     cursor: Annotated[str | None, Query(max_length=500)] = None) -> dict:
    """Every delivery and each of its attempts (time, status code, error, duration), newest first."""
    return await _call(request, "deliveries", subscription_id, owner(caller), status, limit, cursor)


@router.post("/{subscription_id}/deliveries/{delivery_id}/replay",
             responses={404: {"description": "no such delivery"}})
async def replay_delivery(subscription_id: str, delivery_id: str, request: Request,
                          caller: Allowed("subscription.manage")) -> dict:
    return await _call(request, "replay", subscription_id, owner(caller), delivery_id, None)


@router.post("/{subscription_id}/replay", responses={404: {"description": "no such subscription"}})
async def replay_failed(subscription_id: str, body: ReplayIn, request: Request,
                        caller: Allowed("subscription.manage")) -> dict:
    """Send again every failed or dead delivery since a time (replays never count toward disabling)."""
    return await _call(request, "replay", subscription_id, owner(caller), None,
                       isoformat(local_time(body.since)))


@documents.get("/asyncapi.json")
async def asyncapi(request: Request) -> dict:
    """The public events as an AsyncAPI 3 document, schemas from the event catalog."""
    return public.asyncapi(str(request.base_url).rstrip("/"))
