"""The audit log for auditors: who did or saw what, newest first. Reading it is audited too."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import ConfigDict, Field

from fengqiao.clock import isoformat, local_time
from fengqiao.store import Order
from fengqiao.validation import CheckedInput
from gateway.auth import Allowed
from gateway.problems import Problem

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


class AuditQuery(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    actor: str | None = Field(None, max_length=100, description="a client's or staff member's name")
    actor_id: str | None = Field(None, max_length=64, description="a client's or staff member's id")
    case_id: str | None = Field(None, max_length=64)
    since: datetime | None = Field(None, description="inclusive; a time without zone is Beijing time")
    until: datetime | None = Field(None, description="exclusive")
    cursor: str | None = Field(None, max_length=500)
    limit: int = Field(100, ge=1, le=1000)

    def where(self) -> dict:
        where: dict = {}
        if self.actor:
            where["actor_name"] = self.actor
        if self.actor_id:
            where["actor_id"] = self.actor_id
        if self.case_id:
            where["case_id"] = self.case_id
        bounds = {op: isoformat(local_time(moment)) for op, moment in (("$gte", self.since), ("$lt", self.until))
                  if moment}
        if bounds:
            where["at"] = bounds
        return where


@router.get("")
async def audit_log(request: Request, caller: Allowed("audit.read"), query: Annotated[AuditQuery, Query()]) -> dict:
    """Audit records matching the filters, newest first, a page at a time."""
    try:
        page = await request.app.state.audit.find(query.where(), order=Order("at", descending=True),
                                                  limit=query.limit, after=query.cursor)
    except ValueError as exc:
        raise Problem(422, "validation-error", "请求数据有误", f"cursor: {exc}",
                      errors=[{"field": "cursor", "message": str(exc), "type": "cursor"}]) from exc
    return {"items": [{k: v for k, v in r.items() if k != "version"} for r in page.items],
            "next_cursor": page.next_cursor}
