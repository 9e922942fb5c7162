"""Request and response bodies of the public API."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fengqiao.channels import Person, Report
from fengqiao.channels.base import MAX_TEXT
from fengqiao.clock import local_time
from fengqiao.directory import REGION_CODE
from fengqiao.events import Channel, Level
from fengqiao.validation import CheckedInput


class CaseSubmission(CheckedInput):
    """A case as a channel's system posts it."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    source_id: str | None = Field(
        None, min_length=1, max_length=128,
        description="the channel's own id (hotline order number, …); required except for walk_in",
    )
    text: str = Field(min_length=1, max_length=MAX_TEXT, examples=["来电人反映楼上住户长期漏水，协商未果。"])
    address: str | None = Field(None, max_length=500, examples=["呼和浩特市新城区海拉尔东路街道清泉街社区3号楼"])
    region_code: str | None = Field(
        None, pattern=REGION_CODE.pattern, description="GB/T 2260 code, 6/9/12/15 digits", examples=["150102"]
    )
    occurred_at: datetime | None = Field(
        None, description="ISO 8601; a time without zone is taken as Beijing time"
    )
    reporter: Person | None = None

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text must not be blank")
        return text

    @model_validator(mode="after")
    def _source_id_required(self) -> CaseSubmission:
        if self.source_id is None and self.channel != "walk_in":
            raise ValueError(f"source_id is required for channel {self.channel}")
        return self

    def to_report(self) -> Report:
        return Report(
            channel=self.channel, source_id=self.source_id, text=self.text, address=self.address,
            region_code=self.region_code, occurred_at=local_time(self.occurred_at), reporter=self.reporter,
            original=self.model_dump(mode="json", exclude_none=True),
        )


class Accepted(BaseModel):
    id: str
    number: str
    status: str = "received"


class BatchBody(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    items: list[dict] = Field(min_length=1, max_length=1000, description="up to 1,000 payloads of the channel")


class ItemError(BaseModel):
    field: str
    message: str
    type: str


class BatchItem(BaseModel):
    index: int
    status: str  # accepted, replayed, duplicate (accepted before from another caller), rejected, unavailable
    id: str | None = None
    number: str | None = None
    errors: list[ItemError] = []


class BatchResult(BaseModel):
    accepted: int
    replayed: int
    duplicate: int = 0
    rejected: int
    unavailable: int
    items: list[BatchItem]


class UnmergeRequest(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    report_id: str = Field(min_length=1, max_length=64, description="the merged report's id (its own case id)")
    reason: str = Field(min_length=1, max_length=500, description="拆分原因")


class UnitOut(BaseModel):
    unit_id: str
    unit_name: str


class AssignmentOut(BaseModel):
    level: Level
    region_code: str | None
    unit_id: str
    unit_name: str
    assignment_no: int | None = None
    lead: str | None = Field(None, description="the named leader who took the case (包案)")
    support: list[UnitOut] = []
    disposition: str | None = Field(None, description="handle, legal_transfer or manual_dispatch")
    kind: str | None = Field(None, description="auto, return, manual, escalation or regrade")
    by: str | None = None


class TimelineEntry(BaseModel):
    at: str
    type: str
    title: str
    detail: str
    by: str | None = Field(None, description="the person or the system that did it")


class CaseView(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    number: str | None = None
    status: str
    channel: str | None = None
    text: str | None = None
    category: str | None = None
    risk: int | None = None
    assignment: AssignmentOut | None = None
    timeline: list[TimelineEntry] = []


class ReturnRequest(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="退单理由")


class EscalateRequest(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="提级理由")


class ReassignRequest(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    unit_id: str = Field(min_length=1, max_length=100, description="the directory's unit id")
    reason: str = Field(min_length=1, max_length=500, description="改派理由")


class ProgressRequest(CheckedInput):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=5000, description="办理进展")
