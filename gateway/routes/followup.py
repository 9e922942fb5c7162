"""Follow-up: visits, long-term monitoring; and a case's resolve, close and reopen."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from fengqiao import labels
from gateway.auth import CurrentCaller
from gateway.problems import Problem
from gateway.routes.cases import call

router = APIRouter(prefix="/api/v1", tags=["follow-up"])


def code_or_chinese(names: dict[str, str]) -> BeforeValidator:
    """Accept a code or its Chinese name (满意 → satisfied)."""
    codes = {name: code for code, name in names.items()}
    return BeforeValidator(lambda value: codes.get(value, value))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VisitIn(_Body):
    method: Literal["phone", "in_person", "sms"] = Field(description="电话 / 上门 / 短信")
    resolved: bool = Field(description="whether the person says the matter is resolved")
    satisfaction: Annotated[Literal["satisfied", "basically_satisfied", "unsatisfied"],
                            code_or_chinese(labels.SATISFACTION)] = Field(
        description="满意 / 基本满意 / 不满意 (the Chinese words are accepted too)")
    notes: str = Field("", max_length=2000)


class MonitoringIn(_Body):
    reason: Annotated[Literal["grievance", "unresolved", "volatile"], code_or_chinese(labels.MONITORING_REASONS)] = \
        Field(description="事了心不顺 / 未实质化解 / 易暴雷 (the Chinese words are accepted too)")
    interval_days: int = Field(ge=1, le=365, description="days between checks")
    note: str = Field("", max_length=2000)


class NoteIn(_Body):
    note: str = Field(min_length=1, max_length=2000)


class ReasonIn(_Body):
    reason: str = Field(min_length=1, max_length=2000)


class CloseIn(_Body):
    note: str = Field("", max_length=2000)


class ResolveIn(_Body):
    summary: str = Field(min_length=1, max_length=2000, description="how the unit settled it")


async def _known_case(state, case_id: str) -> None:
    if await call(state, "search", "get_case", case_id) is None:
        raise Problem(404, "not-found", "案件不存在", f"no case with id {case_id}")


@router.post("/cases/{case_id}/resolve", tags=["cases"])
async def resolve_case(case_id: str, body: ResolveIn, request: Request, caller: CurrentCaller) -> dict:
    """The handling unit settled the case without mediation (直接办结); a visit is planned."""
    return await call(request.app.state, "mediation", "resolve_case", case_id, body.summary, caller.client_id)


@router.post("/cases/{case_id}/close", tags=["cases"], responses={409: {"description": "no satisfied visit yet"}})
async def close_case(case_id: str, body: CloseIn, request: Request, caller: CurrentCaller) -> dict:
    """Close the case (销号). Only after a visit found it resolved and the person satisfied (销账必回访)."""
    return await call(request.app.state, "followup", "close_case", case_id, body.note, caller.client_id)


@router.post("/cases/{case_id}/reopen", tags=["cases"])
async def reopen_case(case_id: str, body: ReasonIn, request: Request, caller: CurrentCaller) -> dict:
    """Reopen a resolved or closed case; routing gives it to another unit."""
    return await call(request.app.state, "followup", "reopen_case", case_id, body.reason, caller.client_id)


@router.get("/followups/{case_id}")
async def get_followup(case_id: str, request: Request, caller: CurrentCaller) -> dict:
    """The case's visits (planned and done) and its monitoring, if any."""
    return await call(request.app.state, "followup", "get_followup", case_id)


@router.post("/followups/{case_id}/visits")
async def record_visit(case_id: str, body: VisitIn, request: Request, caller: CurrentCaller) -> dict:
    """Record the follow-up visit; 不满意 or unresolved reopens the case."""
    return await call(request.app.state, "followup", "record_visit", case_id, body.model_dump(mode="json"),
                      caller.client_id)


@router.post("/followups/{case_id}/monitoring", status_code=201)
async def start_monitoring(case_id: str, body: MonitoringIn, request: Request, caller: CurrentCaller) -> dict:
    """Put the case on long-term monitoring (长效管控) with periodic checks."""
    state = request.app.state
    await _known_case(state, case_id)
    return await call(state, "followup", "start_monitoring", case_id, body.model_dump(mode="json"), caller.client_id)


@router.post("/followups/{case_id}/monitoring/checks")
async def record_check(case_id: str, body: NoteIn, request: Request, caller: CurrentCaller) -> dict:
    return await call(request.app.state, "followup", "record_check", case_id, body.note, caller.client_id)


@router.post("/followups/{case_id}/monitoring/release")
async def release_monitoring(case_id: str, body: ReasonIn, request: Request, caller: CurrentCaller) -> dict:
    return await call(request.app.state, "followup", "release_monitoring", case_id, body.reason, caller.client_id)
