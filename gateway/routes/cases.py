"""Cases: submit one, read one."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ConfigDict, Field

from fengqiao import labels
from fengqiao.channels import Report
from fengqiao.clock import isoformat, local_time
from fengqiao.directory import REGION_CODE
from fengqiao.events import Channel
from fengqiao.privacy import names_in
from fengqiao.validation import CheckedInput
from gateway import audit, submissions
from gateway.auth import Allowed, Caller
from gateway.bridge import BusUnavailable
from gateway.calls import call, case_in_scope, for_caller, out_of_scope, replay_visible, unavailable
from gateway.problems import Problem
from gateway.schemas import (
    Accepted,
    CaseSubmission,
    CaseView,
    EscalateRequest,
    ProgressRequest,
    ReassignRequest,
    ReturnRequest,
    UnmergeRequest,
)

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


class CaseListFilters(CheckedInput):
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
async def list_cases(request: Request, caller: Allowed("case.read", personal=True),
                     query: Annotated[CaseListQuery, Query()]) -> dict:
    """Search and list cases within the caller's jurisdiction, a page at a time, with snippets.

    Totals are exact up to 10,000; beyond that ``total_exact`` is false and ``total`` a lower bound.
    """
    check_filters(caller, query)
    if query.q and not caller.may_see_pii and names_in(query.q):
        # Finding a case by a person's name tells who the masked name is.
        raise Problem(403, "forbidden", "按姓名检索需个人信息查阅授权",
                      f"q names a person ({'、'.join(names_in(query.q))}); searching by name needs pii_reader",
                      needed=["pii.read"])
    page = await call(request.app.state, "search", "search_cases", query.as_search(), caller.scope.as_dict(),
                      query.cursor, query.limit, refusals={"InvalidQuery": 422})
    audit.note_cases_shown(request, [item["id"] for item in page["items"]])
    page["items"] = [for_caller(item, caller) for item in page["items"]]
    return page


def check_filters(caller: Caller, filters: CaseListFilters) -> None:
    """An explicit filter outside the jurisdiction is refused (403), never silently emptied."""
    if filters.region and not caller.scope.covers_region(filters.region):
        raise out_of_scope(f"region {filters.region}")
    if filters.unit_id and caller.scope.units is not None and filters.unit_id not in caller.scope.units:
        raise out_of_scope(f"unit {filters.unit_id}")


@router.post("", status_code=202, response_model=Accepted, responses={
    202: {"description": "accepted: RabbitMQ holds the case on a durable queue"},
    409: {"description": "the same submission was accepted before from a caller whose case this is not"},
    422: {"description": "invalid submission; nothing was stored"},
    503: {"description": "the broker is unreachable; retry the same submission later"},
})
async def submit_case(submission: CaseSubmission, request: Request, response: Response,
                      caller: Allowed("case.submit")) -> Accepted:
    return await accept_one(request, response, caller, submission.to_report())


async def accept_one(request: Request, response: Response, caller: Caller, report: Report) -> Accepted:
    """Accept one report for any submission route: 202 with the case's id, number and Location."""
    state = request.app.state
    try:
        receipt = await submissions.accept(state.receipts, state.store, state.publisher, caller.principal,
                                           report, state.clock.now())
    except BusUnavailable as exc:
        raise unavailable(exc) from exc
    if receipt.replayed:
        if not await replay_visible(request, caller, receipt):
            raise duplicate_submission()
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/cases/{receipt.case_id}"
    state.metrics.submissions.labels(report.channel, "replayed" if receipt.replayed else "accepted").inc()
    return Accepted(id=receipt.case_id, number=receipt.number)


def duplicate_submission() -> Problem:
    return Problem(409, "duplicate-submission", "该来源编号已受理",
                   "a submission with this channel and source_id was accepted before; ask the center for it")


@router.get("/{case_id}", response_model=CaseView, response_model_exclude_none=False,
            responses={404: {"description": "no such case in the caller's jurisdiction"}})
async def get_case(case_id: str, request: Request,
                   caller: Allowed("case.read", "case.read_submitted", personal=True)) -> dict:
    return for_caller(await case_in_scope(request, caller, case_id), caller)


@router.get("/{case_id}/similar", responses={404: {"description": "no such case in the caller's jurisdiction"}})
async def similar_cases(case_id: str, request: Request, caller: Allowed("case.read", personal=True),
                        limit: Annotated[int, Query(ge=1, le=50)] = 10) -> dict:
    """Earlier cases that read most like this one (类案), best first, each with how it ended."""
    await case_in_scope(request, caller, case_id)
    items = await call(request.app.state, "search", "similar_cases", case_id, caller.scope.as_dict(), limit)
    audit.note_cases_shown(request, [case_id, *(item["id"] for item in items)])
    return {"items": [for_caller(item, caller) for item in items]}


@router.post("/{case_id}/unmerge", responses={
    404: {"description": "no such case or report"},
    409: {"description": "the report is not merged into this case, or is the case's own first report"},
})
async def unmerge(case_id: str, body: UnmergeRequest, request: Request, caller: Allowed("case.unmerge")) -> dict:
    """Split a report that was merged into this case back out as its own case."""
    audit.note_reason(request, body.reason)
    await case_in_scope(request, caller, case_id)
    return for_caller(await call(request.app.state, "intake", "unmerge", case_id, body.report_id, caller.actor,
                                 body.reason, refusals={"UnmergeRefused": 409, "CaseNotFound": 404}), caller)


ROUTING_REFUSALS = {"RoutingRefused": 409, "CaseNotRouted": 404}


@router.post("/{case_id}/return", responses={404: {"description": "no such case"}, 409: {"description": "refused"}})
async def return_case(case_id: str, body: ReturnRequest, request: Request, caller: Allowed("case.return")) -> dict:
    """The assigned unit sends the case back (退单); routing reassigns it or escalates a problem case."""
    audit.note_reason(request, body.reason)
    await case_in_scope(request, caller, case_id)
    return await _routing(request, caller, "return_case", case_id, body.reason)


@router.post("/{case_id}/assign", responses={404: {"description": "no such case"}, 409: {"description": "refused"}})
async def reassign(case_id: str, body: ReassignRequest, request: Request, caller: Allowed("case.assign")) -> dict:
    """A dispatcher gives the case to another unit by hand; the timeline records who and why."""
    audit.note_reason(request, body.reason)
    await case_in_scope(request, caller, case_id)
    unit = request.app.state.directory.units.get(body.unit_id)
    if unit is not None and not caller.scope.covers_region(unit.region_code):
        raise out_of_scope(f"unit {body.unit_id}")
    return await _routing(request, caller, "reassign", case_id, body.unit_id, body.reason)


@router.post("/{case_id}/escalate", responses={404: {"description": "no such case"},
                                               409: {"description": "refused: no center above"}})
async def escalate(case_id: str, body: EscalateRequest, request: Request, caller: Allowed("case.escalate")) -> dict:
    """Move the case one level up by hand (提级督办): the center above takes it, with its leader."""
    audit.note_reason(request, body.reason)
    await case_in_scope(request, caller, case_id)
    return await _routing(request, caller, "escalate", case_id, body.reason)


@router.post("/{case_id}/progress", responses={404: {"description": "no such case"}})
async def report_progress(case_id: str, body: ProgressRequest, request: Request,
                          caller: Allowed("case.progress")) -> dict:
    """The handling unit reports progress: the first response, then the weekly updates."""
    await case_in_scope(request, caller, case_id)
    return await _routing(request, caller, "report_progress", case_id, body.note)


async def _routing(request: Request, caller: Caller, method: str, case_id: str, *args) -> dict:
    answer = await call(request.app.state, "routing", method, case_id, *args, caller.actor, refusals=ROUTING_REFUSALS)
    return for_caller(answer, caller)
