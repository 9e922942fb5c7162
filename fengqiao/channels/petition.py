"""信访 items registered by a petition office (访调对接)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from fengqiao.channels.base import (
    ChannelPayload,
    Person,
    RegionCode,
    Report,
    blank_is_invalid,
    composed_text,
    text_field,
)


class PetitionItem(ChannelPayload):
    channel = "petition"
    title = "信访事项"

    petition_no: str = Field(min_length=1, max_length=64, description="信访件编号")
    registered_at: datetime = Field(description="登记时间")
    form: Literal["来信", "来访", "网上信访", "电话"] = Field(description="信访形式")
    petitioner: Person = Field(description="信访人 (for a group, its representative)")
    petitioner_count: int = Field(1, ge=1, le=10_000, description="信访人数 (5 or more is a group petition)")
    content: str = text_field("信访事项")
    demand: str | None = Field(None, max_length=5000, description="诉求")
    address: str | None = Field(None, max_length=500, description="问题发生地")
    region_code: str | None = RegionCode
    previous_count: int = Field(0, ge=0, le=1000, description="此前就同一事项信访的次数")
    higher_level_threat: bool = Field(False, description="是否扬言越级上访")

    _content = field_validator("content")(blank_is_invalid)

    @model_validator(mode="after")
    def _text_fits(self) -> PetitionItem:
        self._text()
        return self

    def _text(self) -> str:
        if not self.demand:
            return self.content
        return composed_text(f"{self.content}\n诉求：{self.demand}", "content", "demand")

    def to_report(self) -> Report:
        return self._report(
            source_id=self.petition_no, text=self._text(), address=self.address, region_code=self.region_code,
            reported_at=self.registered_at, reporter=self.petitioner,
            facts={"form": self.form, "petitioner_count": self.petitioner_count,
                   "previous_count": self.previous_count, "higher_level_threat": self.higher_level_threat},
        )
