"""Cases: submit one, read one."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from nameko.exceptions import RemoteError
from pydantic import BaseModel, ConfigDict, Field

from fengqiao import labels
from fengqiao.clock import isoformat
from fengqiao.directory import REGION_CODE
from fengqiao.events import Channel
from fengqiao.lifecycle import IllegalTransition
from fengqiao.privacy import mask_record
from gateway import submissions
from gateway.auth import CurrentCaller
from gateway.bridge import BusUnavailable
from gateway.problems import Problem
from gateway.schemas import (
    Accepted,
    CaseSubmission,
    CaseView,
    ProgressRequest,
    ReassignRequest,
    ReturnRequest,
    UnmergeRequest,
)
from services.intake.channels import Report
from services.intake.channels.base import local_time

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
RETRY_AFTER_SECONDS = "5"


class CaseListFilters(BaseModel):
    """Filters of the case list and the ledger export. Times without a zone are Beijing time."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel | None = None
    status: str | None = Field(None, max_length=40)
    region: str | None = Field(None, pattern=REGION_CODE.pattern, description="a region code: its whole subtree")
    unit_id: str | None = Field(None, max_length=100)
    category: Literal[tuple(labels.CATEGORIES)] | None = None  # type: ignore[valid-type]
    risk: int | None = Field(None, ge=1, le=3)
    received_from: datetime | None = None
    received_to: datetime | None = None

    def as_rpc(self) -> dict:
        rpc = self.model_dump(exclude_none=True, include={"channel", "status", "region", "unit_id", "category",
                                                          "risk"})
        for name in ("received_from", "received_to"):
            moment = local_time(getattr(self, name))
            if moment:
                rpc[name] = isoformat(moment)
        return rpc


class CaseListQuery(CaseListFilters):
    q: str | None = Field(None, max_length=200, description="words that must all occur (each as a phrase) in "
                          "the description, address or parties' names; four digits also match phone and ID "
                          "number tails")
    level: Literal[tuple(labels.LEVELS)] | None = None  # type: ignore[valid-type]
    overdue: bool | None = None
    monitoring: bool | None = Field(None, description="on long-term monitoring (长效管控)")
    sort: Literal["received", "due", "risk"] = Field("received", description="received: newest first; due: "
                                                     "soonest resolution deadline first; risk: highest first")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")
    limit: int = Field(50, ge=1, le=200)

    def as_search(self) -> dict:
        """The query for ``search.search_cases``: the list filters and the search's own fields."""
        return self.as_rpc() | self.model_dump(exclude_none=True, include={"q", "level", "overdue", "monitoring",
                                                                           "sort"})


@router.get("", responses={403: {"description": "outside the caller's jurisdiction"}})
async def list_cases(request: Request, caller: CurrentCaller, query: Annotated[CaseListQuery, Query()]) -> dict:
    """Search and list cases within the caller's jurisdiction, a page at a time, with snippets.

    Totals are exact up to 10,000; beyond that ``total_exact`` is false and ``total`` a lower bound.
    """
    if query.region and not caller.scope.covers_region(query.region):
        raise Problem(403, "out-of-scope", "超出管辖范围", f"region {query.region} is outside your jurisdiction")
    page = await call(request.app.state, "search", "search_cases", query.as_search(), caller.scope.as_dict(),
                      query.cursor, query.limit, refusals={"InvalidQuery": 422})
    page["items"] = [for_caller(item, caller) for item in page["items"]]
    return page


def unavailable(exc: BusUnavailable) -> Problem:
    return Problem(503, "service-unavailable", "服务暂不可用，请稍后重试", str(exc),
                   headers={"Retry-After": RETRY_AFTER_SECONDS}, retry_after_seconds=int(RETRY_AFTER_SECONDS))


@router.post("", status_code=202, response_model=Accepted, responses={
    202: {"description": "accepted: RabbitMQ holds the case on a durable queue"},
    422: {"description": "invalid submission; nothing was stored"},
    503: {"description": "the broker is unreachable; retry the same submission later"},
})
async def submit_case(submission: CaseSubmission, request: Request, response: Response,
                      caller: CurrentCaller) -> Accepted:
    return await accept_one(request, response, caller, submission.to_report())


async def accept_one(request: Request, response: Response, caller, report: Report) -> Accepted:
    """Accept one report for any submission route: 202 with the case's id, number and Location."""
    state = request.app.state
    try:
        receipt = await submissions.accept(state.receipts, state.store, state.publisher, caller, report,
                                           state.clock.now())
    except BusUnavailable as exc:
        raise unavailable(exc) from exc
    response.headers["Location"] = f"/api/v1/cases/{receipt.case_id}"
    if receipt.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    state.metrics.submissions.labels(report.channel, "replayed" if receipt.replayed else "accepted").inc()
    return Accepted(id=receipt.case_id, number=receipt.number)


REFUSAL_PROBLEMS = {403: ("out-of-scope", "超出管辖范围"), 404: ("not-found", "资源不存在"),
                    409: ("refused", "操作不被允许"),
                    422: ("refused", "请求无法执行")}


async def call(state, service: str, method: str, *args, refusals: dict[str, int] | None = None):
    """An RPC through the bridge, with the bus's failures turned into problems."""
    try:
        return await state.rpc.call(service, method, *args)
    except BusUnavailable as exc:
        raise unavailable(exc) from exc
    except IllegalTransition as exc:
        raise Problem(409, "illegal-transition", "当前状态不允许此操作", str(exc), subject=exc.subject,
                      current_state=exc.state, action=exc.action, allowed=exc.allowed, rule=exc.rule) from exc
    except RemoteError as exc:
        status = (refusals or {}).get(exc.exc_type)
        if status:
            slug, title = REFUSAL_PROBLEMS[status]
            raise Problem(status, slug, title, exc.value) from exc
        raise Problem(502, "upstream-error", "后端服务出错", f"{service}: {exc.exc_type}") from exc


def for_caller(view: dict, caller) -> dict:
    return view if caller.may_see_pii else mask_record(view)


@router.get("/{case_id}", response_model=CaseView, response_model_exclude_none=False)
async def get_case(case_id: str, request: Request, caller: CurrentCaller) -> dict:
    state = request.app.state
    view = await call(state, "search", "get_case", case_id)
    if view is not None:
        if not caller.scope.sees(view):
            raise Problem(404, "not-found", "案件不存在", f"no case with id {case_id}")  # not even that it exists
        return for_caller(view, caller)
    receipt = await submissions.accepted_receipt(state.receipts, case_id)
    if receipt is None or not caller.scope.sees(receipt["event"]["data"]):
        raise Problem(404, "not-found", "案件不存在", f"no case with id {case_id}")
    # Accepted but not yet projected: say so rather than pretend it does not exist.
    return for_caller({"id": case_id, "number": receipt["number"], "status": "received",
                       "channel": receipt["event"]["data"]["channel"], "text": receipt["event"]["data"]["text"],
                       "timeline": []}, caller)


@router.get("/{case_id}/similar", responses={404: {"description": "no such case in the caller's jurisdiction"}})
async def similar_cases(case_id: str, request: Request, caller: CurrentCaller,
                        limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict:
    """Earlier cases that read most like this one (类案), best first, each with how it ended."""
    await get_case(case_id, request, caller)  # 404 unless the caller may see the case itself
    items = await call(request.app.state, "search", "similar_cases", case_id, caller.scope.as_dict(), limit)
    return {"items": [for_caller(item, caller) for item in items]}


@router.post("/{case_id}/unmerge", responses={
    404: {"description": "no such case or report"},
    409: {"description": "the report is not merged into this case, or is the case's own first report"},
})
async def unmerge(case_id: str, body: UnmergeRequest, request: Request, caller: CurrentCaller) -> dict:
    """Split a report that was merged into this case back out as its own case."""
    return await call(request.app.state, "intake", "unmerge", case_id, body.report_id, caller.client_id, body.reason,
                      refusals={"UnmergeRefused": 409, "CaseNotFound": 404})


ROUTING_REFUSALS = {"RoutingRefused": 409, "CaseNotRouted": 404}


@router.post("/{case_id}/return", responses={404: {"description": "no such case"}, 409: {"description": "refused"}})
async def return_case(case_id: str, body: ReturnRequest, request: Request, caller: CurrentCaller) -> dict:
    """The assigned unit sends the case back (退单); routing reassigns it or escalates a problem case."""
    return await call(request.app.state, "routing", "return_case", case_id, body.reason, caller.client_id,
                      refusals=ROUTING_REFUSALS)


@router.post("/{case_id}/assign", responses={404: {"description": "no such case"}, 409: {"description": "refused"}})
async def reassign(case_id: str, body: ReassignRequest, request: Request, caller: CurrentCaller) -> dict:
    """A dispatcher gives the case to another unit by hand; the timeline records who and why."""
    return await call(request.app.state, "routing", "reassign", case_id, body.unit_id, body.reason,
                      caller.client_id, refusals=ROUTING_REFUSALS)


@router.post("/{case_id}/progress", responses={404: {"description": "no such case"}})
async def report_progress(case_id: str, body: ProgressRequest, request: Request, caller: CurrentCaller) -> dict:
    """The handling unit reports progress: the first response, then the weekly updates."""
    return await call(request.app.state, "routing", "report_progress", case_id, body.note, caller.client_id,
                      refusals=ROUTING_REFUSALS)
