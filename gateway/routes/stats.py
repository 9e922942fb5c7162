"""The command center's figures: exact counts the search service keeps per event."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from fengqiao.directory import REGION_CODE
from gateway.auth import Allowed
from gateway.calls import call

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


@router.get("", responses={403: {"description": "the region is outside the caller's jurisdiction"}})
async def stats(request: Request, caller: Allowed("stats.read"),
                region: Annotated[str | None, Query(pattern=REGION_CODE.pattern,
                                                    description="a region code: its whole subtree; "
                                                                "none: the caller's whole jurisdiction")] = None,
                days: Annotated[int, Query(ge=1, le=366, description="days of received and resolved counts, "
                                                                   "ending today (Beijing time)")] = 7) -> dict:
    """Open cases by status, risk, level, category and channel; received and resolved per day;
    overdue now; grade-3 open; mediation success and follow-up satisfaction rates."""
    return await call(request.app.state, "search", "stats", region, caller.scope.as_dict(), days,
                      refusals={"OutOfScope": 403})
