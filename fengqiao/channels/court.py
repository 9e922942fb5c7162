"""Pre-litigation mediation referred by a court (诉前委派, 诉调对接)."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import Field, field_validator, model_validator

from fengqiao.channels.base import (
    ChannelPayload,
    Party,
    RegionCode,
    Report,
    blank_is_invalid,
    composed_text,
    text_field,
)


class CourtReferral(ChannelPayload):
    channel = "court"
    title = "法院诉前委派"

    case_no: str = Field(min_length=1, max_length=64, description="案号, e.g. (2026)内0102民诉前调1234号")
    court: str = Field(min_length=1, max_length=100, description="委派法院")
    cause: str = Field(min_length=1, max_length=100, description="案由")
    plaintiffs: list[Party] = Field(min_length=1, max_length=100, description="原告/申请人")
    defendants: list[Party] = Field(min_length=1, max_length=100, description="被告/被申请人")
    claim_amount: float | None = Field(None, ge=0, description="标的额 (元)")
    facts: str = text_field("案情简介")
    referred_at: datetime = Field(description="委派时间")
    mediation_deadline: date | None = Field(None, description="诉前调解期限")
    address: str | None = Field(None, max_length=500, description="纠纷发生地")
    region_code: str | None = RegionCode

    _facts = field_validator("facts")(blank_is_invalid)

    @model_validator(mode="after")
    def _text_fits(self) -> CourtReferral:
        self._text()
        return self

    def _text(self) -> str:
        return composed_text(f"案由：{self.cause}。{self.facts}", "cause", "facts")

    def to_report(self) -> Report:
        parties = [p.model_copy(update={"role": p.role or "原告"}) for p in self.plaintiffs]
        parties += [p.model_copy(update={"role": p.role or "被告"}) for p in self.defendants]
        return self._report(
            source_id=self.case_no, text=self._text(), address=self.address,
            region_code=self.region_code, reported_at=self.referred_at, reporter=self.plaintiffs[0],
            parties=parties,
            facts={"court": self.court, "cause": self.cause, "claim_amount": self.claim_amount,
                   "mediation_deadline": self.mediation_deadline.isoformat() if self.mediation_deadline else None},
        )
