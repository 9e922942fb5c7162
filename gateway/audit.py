"""The audit log: who did or saw what, kept append-only.

Every command (any request that is not a read), every read that answered with personal data
unmasked, every refused request and every read of the audit log itself is recorded after the
response is known: who (client or staff, name, roles), the permission used, the case, when, the
client's address, the answer's status and the reason where one was given (the body's
``reason``, or an ``X-Access-Reason`` header, percent-encoded as headers must be). The store
refuses to change or delete a record (``CollectionSpec(append_only=True)``).
"""
from __future__ import annotations

import logging
from urllib.parse import unquote, unquote_plus

from fastapi import Request

from fengqiao.clock import isoformat
from fengqiao.ids import new_id
from fengqiao.privacy import mask_text
from fengqiao.store import CollectionSpec, Index

AUDIT = CollectionSpec("audit", [Index(("at",)), Index(("actor_name", "at")), Index(("actor_id", "at")),
                                 Index(("case_id", "at"))], append_only=True)
REASON_HEADER = "X-Access-Reason"
MAX_REASON = 500
MAX_CASE_IDS = 1000
READS = {"GET", "HEAD"}
log = logging.getLogger("fengqiao.audit")


def note_reason(request: Request, reason: str | None) -> None:
    """A route whose body carries a reason (return, reopen, unmerge …) gives it to the audit log."""
    if reason:
        request.state.audit_reason = reason


def note_case(request: Request, case_id: str | None) -> None:
    """A route that reaches a case other than through a ``case_id`` path parameter names it."""
    if case_id:
        request.state.audit_case_id = case_id


def _wanted(request: Request, access) -> bool:
    if not access.granted or request.method not in READS:
        return True
    if access.permission == "audit.read":
        return True
    return access.personal and access.caller.may_see_pii


def record(request: Request, status: int, now) -> dict | None:
    """The audit record of this request, or None when it is not one the log keeps."""
    access = getattr(request.state, "access", None)
    if access is None or not _wanted(request, access):
        return None
    caller = access.caller
    params = request.scope.get("path_params") or {}
    route = request.scope.get("route")
    return {
        "id": new_id(), "at": isoformat(now),
        "actor_kind": caller.kind, "actor_id": caller.id, "actor_name": caller.name, "actor_login": caller.login,
        "roles": list(caller.roles), "permission": access.permission, "granted": access.granted,
        "unmasked": (access.granted and request.method in READS and caller.may_see_pii and access.personal
                     and status < 400),
        "method": request.method, "route": route.path if route is not None else request.url.path,
        "path": request.url.path, "status": status,
        "case_id": getattr(request.state, "audit_case_id", None) or params.get("case_id"),
        "resource": params.get("mediation_id") or params.get("job_id") or params.get("subscription_id"),
        "client_address": request.client.host if request.client else None,
        "reason": _reason(getattr(request.state, "audit_reason", None)
                          or unquote(request.headers.get(REASON_HEADER, ""))),
        "query": _reason(unquote_plus(request.url.query)) if access.granted and request.method in READS else None,
        "case_ids": getattr(request.state, "audit_case_ids", None),
    }


async def write(request: Request, status: int) -> None:
    """Append this request's record, if the log keeps one. A log that cannot be written is an
    outage to see at once, not a reason to hide the answer: it is logged as an error."""
    entry = record(request, status, request.app.state.clock.now())
    if entry is None:
        return
    try:
        await request.app.state.audit.insert(entry)
    except Exception:
        log.error("audit record lost: %s", entry, exc_info=True)


def _reason(text: str | None) -> str | None:
    """Kept masked (an auditor need not hold pii.read to read the log) and short."""
    return mask_text(text[:MAX_REASON]) if text else None


def note_cases_shown(request: Request, case_ids: list[str]) -> None:
    """A read that showed several cases (a list, similar cases, an export) names them, so the
    log can say whose data an unmasked read showed."""
    request.state.audit_case_ids = case_ids[:MAX_CASE_IDS]
