"""Cases: submit one, read one."""
from __future__ import annotations

from fastapi import APIRouter, Request, Response
from nameko.exceptions import RemoteError

from gateway import submissions
from gateway.auth import CurrentCaller
from gateway.bridge import BusUnavailable
from gateway.problems import Problem
from gateway.schemas import Accepted, CaseSubmission, CaseView

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])
RETRY_AFTER_SECONDS = "5"


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
    state = request.app.state
    try:
        receipt = await submissions.accept(
            state.receipts, state.store, state.publisher, caller, submission, state.clock.now()
        )
    except BusUnavailable as exc:
        raise unavailable(exc) from exc
    response.headers["Location"] = f"/api/v1/cases/{receipt.case_id}"
    if receipt.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    state.metrics.submissions.labels(submission.channel, "replayed" if receipt.replayed else "accepted").inc()
    return Accepted(id=receipt.case_id, number=receipt.number)


@router.get("/{case_id}", response_model=CaseView, response_model_exclude_none=False)
async def get_case(case_id: str, request: Request, caller: CurrentCaller) -> dict:
    state = request.app.state
    try:
        view = await state.rpc.call("search", "get_case", case_id)
    except BusUnavailable as exc:
        raise unavailable(exc) from exc
    except RemoteError as exc:
        raise Problem(502, "upstream-error", "后端服务出错", f"search: {exc.exc_type}") from exc
    if view is not None:
        return view
    receipt = await submissions.accepted_receipt(state.receipts, case_id)
    if receipt is None:
        raise Problem(404, "not-found", "案件不存在", f"no case with id {case_id}")
    # Accepted but not yet projected: say so rather than pretend it does not exist.
    return {"id": case_id, "number": receipt["number"], "status": "received",
            "channel": receipt["event"]["data"]["channel"], "text": receipt["event"]["data"]["text"],
            "timeline": []}
