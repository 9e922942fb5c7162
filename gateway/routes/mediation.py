"""Mediation: mediators, mediation cases, sessions, outcomes, agreements and their PDF,
performance and judicial confirmation; and the figures the screen shows."""
from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import ConfigDict, Field, field_validator, model_validator

from fengqiao import labels
from fengqiao.clock import isoformat, local_time
from fengqiao.directory import REGION_CODE
from fengqiao.privacy import valid_id_number
from fengqiao.validation import CheckedInput
from gateway import agreement, audit
from gateway.auth import Allowed, Caller
from gateway.calls import call, case_in_scope, for_caller, mediation_in_scope, out_of_scope
from gateway.problems import Problem

router = APIRouter(prefix="/api/v1", tags=["mediation"])
REFUSALS = {"MediationNotFound": 404, "MediationRefused": 422}
Category = Literal[tuple(labels.CATEGORIES)]  # type: ignore[valid-type]


class _Body(CheckedInput):
    model_config = ConfigDict(extra="forbid")


class PartyIn(_Body):
    name: str = Field(min_length=1, max_length=100, examples=["张桂兰"])
    role: Literal["applicant", "respondent", "party", "third_party"] = Field(
        description="申请人 / 被申请人 / 当事人 / 第三人")
    kind: Literal["person", "organisation"] = "person"
    phone: str | None = Field(None, pattern=r"^[0-9\-+ ]{7,20}$", examples=["13912345678"])
    id_number: str | None = Field(None, min_length=15, max_length=18,
                                  description="居民身份证号 (18 characters with a check digit, or 15 digits)")

    @field_validator("id_number")
    @classmethod
    def _valid_id(cls, number: str | None) -> str | None:
        if number is not None and not valid_id_number(number):
            raise ValueError("not a valid resident ID number (GB 11643: 18 characters, check digit)")
        return number


class OpenMediation(_Body):
    case_id: str = Field(min_length=1, max_length=64)
    origin: Literal["assignment", "court", "police", "petition"] = Field(
        "assignment", description="交办, or a referral: 诉调 (court), 警调 (police), 访调 (petition)")
    referral_no: str | None = Field(None, max_length=100, description="the referring body's number; required for "
                                                                      "referrals")
    parties: list[PartyIn] = Field(min_length=2, max_length=50)
    mediator_ids: list[str] = Field(min_length=1, max_length=5, description="one mediator, or a panel of up to 5")
    committee_id: str | None = Field(None, max_length=100, description="default: the first mediator's committee")

    @model_validator(mode="after")
    def _referral_numbered(self) -> OpenMediation:
        if self.origin != "assignment" and not self.referral_no:
            raise ValueError(f"referral_no is required for a {self.origin} referral")
        return self


class SessionIn(_Body):
    held_at: datetime = Field(description="ISO 8601; a time without zone is Beijing time")
    mode: Literal["in_person", "video", "phone"]
    place: str | None = Field(None, max_length=200)
    attendees: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(min_length=1, max_length=50)
    notes: str = Field(min_length=1, max_length=5000)


class OutcomeIn(_Body):
    outcome: Literal["no_agreement", "withdrawn", "transferred"] = Field(
        description="an agreement is signed at /agreement instead")
    reasons: str = Field(min_length=1, max_length=2000)
    transferred_to: Literal["court", "arbitration"] | None = None

    @model_validator(mode="after")
    def _transfer_names_where(self) -> OutcomeIn:
        if (self.outcome == "transferred") != (self.transferred_to is not None):
            raise ValueError("transferred_to is required for, and only for, outcome transferred")
        return self


class ObligationIn(_Body):
    party: str = Field(min_length=1, max_length=100, description="who owes it")
    description: str = Field(min_length=1, max_length=1000)
    amount: float | None = Field(None, ge=0, le=1e11, description="yuan")
    due_date: date | None = Field(None, description="performed by the end of this day (Beijing time)")


class AgreementIn(_Body):
    facts: str = Field(min_length=1, max_length=5000, description="纠纷主要事实、争议事项")
    obligations: list[ObligationIn] = Field(max_length=50, description="协议内容: who owes what by when")
    performance_method: str = Field("", max_length=2000, description="履行方式、时限")


class PerformanceIn(_Body):
    note: str = Field("", max_length=1000)


class ConfirmationIn(_Body):
    action: Literal["apply", "decide", "extend", "rule"] = Field(
        description="apply (parties apply), decide (court accepts or not), extend (ruling +10 days), rule")
    court: str | None = Field(None, min_length=1, max_length=200)
    accepted: bool | None = None
    result: Literal["confirmed", "rejected"] | None = None
    reference: str | None = Field(None, max_length=100, description="the court's case number")
    reason: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _fields_of_the_step(self) -> ConfirmationIn:
        needed = {"apply": "court", "decide": "accepted", "rule": "result"}.get(self.action)
        if needed and getattr(self, needed) is None:
            raise ValueError(f"{needed} is required for action {self.action}")
        return self


@router.get("/mediators", responses={403: {"description": "the region is outside the caller's jurisdiction"},
                                     409: {"description": "with case_id: the case is not assigned yet, so no "
                                                          "mediator can be suggested for it"}})
async def list_mediators(request: Request, caller: Allowed("mediation.read"),
                         region: Annotated[str | None, Query(pattern=REGION_CODE.pattern)] = None,
                         category: Category | None = None,
                         case_id: Annotated[str | None, Query(max_length=64)] = None) -> dict:
    """Mediators of the caller's jurisdiction with their grade, specialties, committee and current
    load; with ``case_id``, the best suited for that case first, with the reasons."""
    state = request.app.state
    if case_id:
        await case_in_scope(request, caller, case_id)
        return {"items": await call(state, "mediation", "suggest_mediators", case_id, 10, refusals=REFUSALS)}
    if region and not caller.scope.covers_region(region):
        raise out_of_scope(f"region {region}")
    items = await call(state, "mediation", "list_mediators", region, category)
    return {"items": [m for m in items if caller.scope.covers_region(m.get("region_code"))]}


@router.post("/mediations", status_code=201, responses={404: {"description": "no such case in your jurisdiction"}})
async def open_mediation(body: OpenMediation, request: Request, response: Response,
                         caller: Allowed("mediation.write")) -> dict:
    """Open a mediation for an assigned case (交办) or a referral (诉调, 警调, 访调)."""
    await case_in_scope(request, caller, body.case_id)
    directory = request.app.state.directory
    chosen = [directory.mediators.get(m) for m in body.mediator_ids] + [directory.units.get(body.committee_id or "")]
    outside = [x.id for x in chosen if x is not None and not caller.scope.covers_region(x.region_code)]
    if outside:
        raise out_of_scope(f"{', '.join(outside)}")
    request_data = body.model_dump(mode="json", exclude={"case_id"})
    answer = await call(request.app.state, "mediation", "open_mediation", body.case_id, request_data,
                        caller.actor, refusals=REFUSALS)
    mediation_id = answer["events"][0]["mediation_id"]
    response.headers["Location"] = f"/api/v1/mediations/{mediation_id}"
    return {"id": mediation_id, **for_caller(answer, caller)}


BY_REGION = ("region", "committee")


@router.get("/mediations/figures", responses={403: {"description": "figures across regions for a caller "
                                                                   "limited to some"}})
async def mediation_figures(request: Request, caller: Allowed("stats.read", "mediation.read"),
                            by: Literal["all", "region", "level", "category", "committee"] = "all") -> dict:
    """Cases mediated, success and performance rates, confirmations, amounts and parties.

    A caller limited to some regions gets the rows of its own regions and committees only."""
    if caller.scope.units is not None:
        raise out_of_scope("figures are counted per region, and would show other units' cases: they")
    if not caller.scope.unlimited and by not in BY_REGION:
        raise out_of_scope(f"figures by {by} cover every region (ask by=region or by=committee); they")
    items = await call(request.app.state, "mediation", "figures", by)
    if not caller.scope.unlimited:
        items = [row for row in items if caller.scope.covers_region(row.get("region_code"))]
    return {"by": by, "items": items}


@router.get("/mediations", responses={404: {"description": "no such case in your jurisdiction"}})
async def mediations_of_case(request: Request, caller: Allowed("mediation.read", personal=True),
                             case_id: Annotated[str, Query(min_length=1, max_length=64)]) -> dict:
    await case_in_scope(request, caller, case_id)
    items = await call(request.app.state, "mediation", "mediations_of_case", case_id)
    return {"items": [for_caller(m, caller) for m in items]}


@router.get("/mediations/{mediation_id}", responses={404: {"description": "no such mediation in your "
                                                                         "jurisdiction"}})
async def get_mediation(mediation_id: str, request: Request, caller: Allowed("mediation.read", personal=True)) -> dict:
    return for_caller(await mediation_in_scope(request, caller, mediation_id), caller)


async def _command(request: Request, caller: Caller, mediation_id: str, method: str, *args) -> dict:
    """A step of a mediation within the caller's jurisdiction; the answer masked as reads are."""
    await mediation_in_scope(request, caller, mediation_id)
    answer = await call(request.app.state, "mediation", method, mediation_id, *args, caller.actor,
                        refusals=REFUSALS)
    return for_caller(answer, caller)


@router.post("/mediations/{mediation_id}/sessions")
async def log_session(mediation_id: str, body: SessionIn, request: Request, caller: Allowed("mediation.write")) -> dict:
    session = {**body.model_dump(mode="json"), "held_at": isoformat(local_time(body.held_at))}
    return await _command(request, caller, mediation_id, "log_session", session)


@router.post("/mediations/{mediation_id}/outcome")
async def conclude(mediation_id: str, body: OutcomeIn, request: Request, caller: Allowed("mediation.write")) -> dict:
    """End the mediation without an agreement: none reached, withdrawn, or transferred."""
    audit.note_reason(request, body.reasons)
    return await _command(request, caller, mediation_id, "conclude", body.outcome, body.reasons, body.transferred_to)


@router.post("/mediations/{mediation_id}/agreement")
async def sign_agreement(mediation_id: str, body: AgreementIn, request: Request,
                         caller: Allowed("mediation.write")) -> dict:
    """The agreement signed and sealed (调解协议书): it takes effect now."""
    return await _command(request, caller, mediation_id, "sign_agreement", body.model_dump(mode="json"))


@router.get("/mediations/{mediation_id}/agreement.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}})
async def agreement_pdf(mediation_id: str, request: Request,
                        caller: Allowed("mediation.read", personal=True)) -> Response:
    """The 人民调解协议书 as PDF; personal data masked unless the caller may see it."""
    state = request.app.state
    mediation = await mediation_in_scope(request, caller, mediation_id)
    if not mediation.get("agreement"):
        raise Problem(409, "illegal-transition", "尚无调解协议", f"mediation {mediation_id} has no signed agreement",
                      current_state=mediation["state"])
    case = await call(state, "search", "get_case", mediation["case_id"])
    try:
        pdf = await asyncio.to_thread(agreement.render, mediation, (case or {}).get("number"),
                                      unmasked=caller.may_see_pii, font=state.settings.document_font)
    except agreement.FontMissing as exc:
        raise Problem(503, "document-font-missing", "缺少中文字体，无法生成协议书", str(exc)) from exc
    filename = f"agreement-{mediation_id}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


@router.post("/mediations/{mediation_id}/obligations/{obligation_no}/performance")
async def record_performance(mediation_id: str, obligation_no: int, body: PerformanceIn, request: Request,
                             caller: Allowed("mediation.write")) -> dict:
    """An obligation of the agreement was performed (履行)."""
    return await _command(request, caller, mediation_id, "record_performance", obligation_no, body.note)


@router.post("/mediations/{mediation_id}/confirmation")
async def confirmation(mediation_id: str, body: ConfirmationIn, request: Request,
                       caller: Allowed("mediation.write")) -> dict:
    """A step of judicial confirmation (司法确认): apply, the court's decision, an extension, the ruling."""
    step = body.model_dump(mode="json", exclude_none=True)
    return await _command(request, caller, mediation_id, "confirmation", step)
