"""What every route needs to reach a service and to stay within the caller's jurisdiction.

``call`` is an RPC through the bridge with the bus's failures turned into problems. The
``*_in_scope`` helpers fetch what a command or read is about and answer 404 unless the caller's
jurisdiction holds it: a case outside it does not exist for that caller (never an existence
oracle). ``for_caller`` masks personal data unless the caller holds ``pii.read``.
"""
from __future__ import annotations

from fastapi import Request
from nameko.exceptions import RemoteError

from fengqiao.lifecycle import IllegalTransition
from fengqiao.privacy import mask_record
from gateway import audit, submissions
from gateway.auth import Caller
from gateway.bridge import BusUnavailable
from gateway.problems import Problem

RETRY_AFTER_SECONDS = "5"
REFUSAL_PROBLEMS = {403: ("out-of-scope", "超出管辖范围"), 404: ("not-found", "资源不存在"),
                    409: ("refused", "操作不被允许"), 422: ("refused", "请求无法执行")}


def unavailable(exc: BusUnavailable) -> Problem:
    return Problem(503, "service-unavailable", "服务暂不可用，请稍后重试", str(exc),
                   headers={"Retry-After": RETRY_AFTER_SECONDS}, retry_after_seconds=int(RETRY_AFTER_SECONDS))


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


def for_caller(value, caller: Caller):
    return value if caller.may_see_pii else mask_record(value)


def submitted_by(receipt: dict | None, caller: Caller) -> bool:
    return bool(receipt) and receipt["event"]["data"].get("submitted_by") == caller.principal


def not_found(what: str, title: str, resource_id: str) -> Problem:
    """The one answer for a resource that does not exist and for one outside the jurisdiction."""
    return Problem(404, "not-found", title, f"no {what} with id {resource_id}")


def no_case(case_id: str) -> Problem:
    return not_found("case", "案件不存在", case_id)


def out_of_scope(what: str) -> Problem:
    return Problem(403, "out-of-scope", "超出管辖范围", f"{what} is outside your jurisdiction")


async def case_in_scope(request: Request, caller: Caller, case_id: str) -> dict:
    """The case view, if the caller may see this case; 404 otherwise.

    A case is seen by callers whose jurisdiction holds it (``case.read``) and by the one that
    submitted it (``case.read_submitted``: a channel's system reads its own cases, wherever they
    are). An accepted case that is not projected yet is shown as received.
    """
    state = request.app.state
    audit.note_case(request, case_id)
    view = await call(state, "search", "get_case", case_id)
    receipt = await submissions.accepted_receipt(state.receipts, case_id)
    subject = view or (receipt or {}).get("event", {}).get("data")
    in_scope = caller.may("case.read") and subject is not None and caller.scope.sees(subject)
    own = caller.may("case.read_submitted") and submitted_by(receipt, caller)
    if not (in_scope or own):
        raise no_case(case_id)
    return view or submissions.received_view(receipt)


async def replay_visible(request: Request, caller: Caller, receipt: submissions.Receipt) -> bool:
    """Whether a resubmission may be answered with its case: only to the caller that first
    submitted it, or to one that may see the case as the platform knows it (never by what the
    resubmission itself claims)."""
    if receipt.submitted_by == caller.principal:
        return True
    try:
        await case_in_scope(request, caller, receipt.case_id)
    except Problem as exc:
        if exc.status != 404:
            raise
        return False
    return True


async def mediation_in_scope(request: Request, caller: Caller, mediation_id: str) -> dict:
    """The mediation, if its case lies within the caller's jurisdiction; 404 otherwise, the same
    404 as for a mediation that does not exist."""
    try:
        mediation = await call(request.app.state, "mediation", "get_mediation", mediation_id,
                               refusals={"MediationNotFound": 404})
        await case_in_scope(request, caller, mediation["case_id"])
    except Problem as exc:
        if exc.status != 404:
            raise
        raise not_found("mediation", "调解案件不存在", mediation_id) from exc
    return mediation
