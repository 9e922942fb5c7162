"""Follow-up: visits, long-term monitoring; and a case's resolve, close and reopen."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BeforeValidator, ConfigDict, Field

from fengqiao import labels
from fengqiao.validation import CheckedInput
from gateway import audit
from gateway.auth import Allowed, Caller
from gateway.calls import call, case_in_scope, for_caller

router = APIRouter(prefix="/api/v1", tags=["follow-up"])


def code_or_chinese(names: dict[str, str]) -> BeforeValidator:
    """Accept a code or its Chinese name (满意 → satisfied)."""
    codes = {name: code for code, name in names.items()}
    # Only a string can be a name; anything else goes on to be refused as not one of the codes.
    return BeforeValidator(lambda value: codes.get(value, value) if isinstance(value, str) else value)


class _Body(CheckedInput):
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


async def _command(request: Request, caller: Caller, case_id: str, service: str, method: str, *args,
                   refusals: dict[str, int] | None = None) -> dict:
    """A command on a case within the caller's jurisdiction (404 outside it or for no such case)."""
    await case_in_scope(request, caller, case_id)
    answer = await call(request.app.state, service, method, case_id, *args, caller.actor, refusals=refusals)
    return for_caller(answer, caller)


NOT_FOUND = {404: {"description": "no such case in the caller's jurisdiction"}}


@router.post("/cases/{case_id}/resolve", tags=["cases"], responses=NOT_FOUND)
async def resolve_case(case_id: str, body: ResolveIn, request: Request, caller: Allowed("case.resolve")) -> dict:
    """The handling unit settled the case without mediation (直接办结); a visit is planned."""
    return await _command(request, caller, case_id, "mediation", "resolve_case", body.summary,
                          refusals={"MediationNotFound": 404, "MediationRefused": 409})


@router.post("/cases/{case_id}/close", tags=["cases"],
             responses={**NOT_FOUND, 409: {"description": "no satisfied visit yet"}})
async def close_case(case_id: str, body: CloseIn, request: Request, caller: Allowed("case.close")) -> dict:
    """Close the case (销号). Only after a visit found it resolved and the person satisfied (销账必回访)."""
    return await _command(request, caller, case_id, "followup", "close_case", body.note)


@router.post("/cases/{case_id}/reopen", tags=["cases"], responses=NOT_FOUND)
async def reopen_case(case_id: str, body: ReasonIn, request: Request, caller: Allowed("case.reopen")) -> dict:
    """Reopen a resolved or closed case; routing gives it to another unit."""
    audit.note_reason(request, body.reason)
    return await _command(request, caller, case_id, "followup", "reopen_case", body.reason)


@router.get("/followups/{case_id}", responses=NOT_FOUND)
async def get_followup(case_id: str, request: Request, caller: Allowed("followup.read", personal=True)) -> dict:
    """The case's visits (planned and done) and its monitoring, if any."""
    await case_in_scope(request, caller, case_id)
    return for_caller(await call(request.app.state, "followup", "get_followup", case_id), caller)


@router.post("/followups/{case_id}/visits", responses=NOT_FOUND)
async def record_visit(case_id: str, body: VisitIn, request: Request, caller: Allowed("followup.write")) -> dict:
    """Record the follow-up visit; 不满意 or unresolved reopens the case."""
    return await _command(request, caller, case_id, "followup", "record_visit", body.model_dump(mode="json"))


@router.post("/followups/{case_id}/monitoring", status_code=201, responses=NOT_FOUND)
async def start_monitoring(case_id: str, body: MonitoringIn, request: Request,
                           caller: Allowed("followup.write")) -> dict:
    """Put the case on long-term monitoring (长效管控) with periodic checks."""
    return await _command(request, caller, case_id, "followup", "start_monitoring", body.model_dump(mode="json"))


@router.post("/followups/{case_id}/monitoring/checks", responses=NOT_FOUND)
async def record_check(case_id: str, body: NoteIn, request: Request, caller: Allowed("followup.write")) -> dict:
    return await _command(request, caller, case_id, "followup", "record_check", body.note)


@router.post("/followups/{case_id}/monitoring/release", responses=NOT_FOUND)
async def release_monitoring(case_id: str, body: ReasonIn, request: Request,
                             caller: Allowed("followup.write")) -> dict:
    audit.note_reason(request, body.reason)
    return await _command(request, caller, case_id, "followup", "release_monitoring", body.reason)
