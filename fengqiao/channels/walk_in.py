"""A person at the center's window (窗口来访)."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from fengqiao.channels.base import ChannelPayload, Person, RegionCode, Report, blank_is_invalid, text_field


class WalkInVisit(ChannelPayload):
    channel = "walk_in"
    title = "窗口来访"

    ticket_no: str | None = Field(None, max_length=64, description="取号/登记号; a new id is made when absent")
    visitor: Person = Field(description="来访人")
    visited_at: datetime = Field(description="来访时间")
    content: str = text_field("来访事项")
    address: str | None = Field(None, max_length=500, description="问题发生地")
    region_code: str | None = RegionCode
    window: str | None = Field(None, max_length=100, description="受理窗口")
    companions: int = Field(0, ge=0, le=10_000, description="同行人数")

    _content = field_validator("content")(blank_is_invalid)

    def to_report(self) -> Report:
        return self._report(
            source_id=self.ticket_no, text=self.content, address=self.address, region_code=self.region_code,
            reported_at=self.visited_at, reporter=self.visitor,
            facts={"window": self.window, "companions": self.companions},
        )
