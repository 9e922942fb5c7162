"""Grid workers' visit reports and residents' 随手拍 photo reports from the grid app."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, HttpUrl, field_validator

from fengqiao.channels.base import ChannelPayload, Person, Report, Strict, blank_is_invalid, text_field
from fengqiao.directory import REGION_CODE


class Location(Strict):
    address: str | None = Field(None, max_length=500, description="位置描述")
    longitude: float | None = Field(None, ge=-180, le=180)
    latitude: float | None = Field(None, ge=-90, le=90)


class GridReport(ChannelPayload):
    channel = "grid"
    title = "网格上报"

    report_id: str = Field(min_length=1, max_length=64, description="上报编号")
    kind: Literal["visit", "photo"] = Field(description="visit = 网格员走访, photo = 随手拍")
    grid_code: str = Field(pattern=REGION_CODE.pattern, description="网格编码 (a region code)")
    worker: Person | None = Field(None, description="网格员 (absent for a resident's photo report)")
    resident: Person | None = Field(None, description="反映人")
    reported_at: datetime = Field(description="上报时间")
    description: str = text_field("情况描述")
    location: Location | None = None
    photos: list[HttpUrl] = Field([], max_length=20, description="照片地址")

    _description = field_validator("description")(blank_is_invalid)

    def to_report(self) -> Report:
        return self._report(
            source_id=self.report_id, text=self.description,
            address=self.location.address if self.location else None, region_code=self.grid_code,
            reported_at=self.reported_at, reporter=self.resident or self.worker,
            facts={"kind": self.kind, "worker": self.worker.name if self.worker else None,
                   "photos": [str(p) for p in self.photos]},
        )
