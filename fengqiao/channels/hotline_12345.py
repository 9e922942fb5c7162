"""12345 政务服务便民热线 work orders (工单), as the hotline system pushes them."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from fengqiao.channels.base import (
    ChannelPayload,
    Person,
    Phone,
    RegionCode,
    Report,
    blank_is_invalid,
    text_field,
)


class HotlineOrder(ChannelPayload):
    channel = "hotline_12345"
    title = "12345热线工单"

    order_no: str = Field(min_length=1, max_length=64, description="工单编号")
    call_time: datetime = Field(description="来电时间")
    caller_name: str | None = Field(None, max_length=100, description="来电人")
    caller_phone: Phone | None = Field(None, description="来电号码")
    content: str = text_field("诉求内容 (as the operator wrote it)")
    address: str | None = Field(None, max_length=500, description="事发地址")
    region_code: str | None = RegionCode
    order_type: Literal["咨询", "求助", "投诉", "举报", "建议", "表扬"] | None = Field(None, description="工单类型")
    urgency: Literal["一般", "紧急", "特急"] = Field("一般", description="紧急程度")

    _content = field_validator("content")(blank_is_invalid)

    def to_report(self) -> Report:
        return self._report(
            source_id=self.order_no, text=self.content, address=self.address, region_code=self.region_code,
            reported_at=self.call_time,
            reporter=Person(name=self.caller_name, phone=self.caller_phone),
            facts={"order_type": self.order_type, "urgency": self.urgency},
        )
