"""110 警情 transferred to the center for mediation (警调对接)."""
from __future__ import annotations

from datetime import datetime

from pydantic import Field, field_validator

from fengqiao.channels.base import (
    ChannelPayload,
    Party,
    Person,
    Phone,
    RegionCode,
    Report,
    blank_is_invalid,
    text_field,
)


class PoliceIncident(ChannelPayload):
    channel = "police_110"
    title = "110非警务警情"

    incident_no: str = Field(min_length=1, max_length=64, description="警情编号")
    received_at: datetime = Field(description="接警时间")
    caller_name: str | None = Field(None, max_length=100, description="报警人")
    caller_phone: Phone | None = Field(None, description="报警电话")
    location: str | None = Field(None, max_length=500, description="发案地点")
    region_code: str | None = RegionCode
    summary: str = text_field("简要警情")
    incident_type: str | None = Field(None, max_length=40, description="警情类别, e.g. 邻里纠纷、家庭纠纷")
    police_station: str = Field(min_length=1, max_length=100, description="处警派出所")
    officer: str | None = Field(None, max_length=100, description="处警民警")
    on_site_result: str | None = Field(None, max_length=2000, description="现场处置情况")
    parties: list[Party] = Field([], max_length=100, description="当事人")

    _summary = field_validator("summary")(blank_is_invalid)

    def to_report(self) -> Report:
        return self._report(
            source_id=self.incident_no, text=self.summary, address=self.location, region_code=self.region_code,
            reported_at=self.received_at, reporter=Person(name=self.caller_name, phone=self.caller_phone),
            parties=self.parties,
            facts={"incident_type": self.incident_type, "police_station": self.police_station,
                   "officer": self.officer, "on_site_result": self.on_site_result},
        )
