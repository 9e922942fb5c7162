"""What every channel adapter produces: a ``Report`` in the case model's terms.

Adapters are plain pydantic models of each source system's payload plus a ``to_report``
mapping; the gateway validates with them (so bad input is a 422 naming the field) and intake
owns them. The original payload always travels with the report, untouched.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, ConfigDict, Field

from fengqiao.clock import local_time
from fengqiao.directory import REGION_CODE
from fengqiao.validation import CheckedInput

MAX_TEXT = 20_000
PHONE_CHARS = re.compile(r"[\d\s+\-()*]{7,40}", re.ASCII)
ID_CHARS = re.compile(r"\d{15}|\d{17}[\dXx]", re.ASCII)  # ASCII: a bare \d takes any script's digits
RegionCode = Field(None, pattern=REGION_CODE.pattern, description="GB/T 2260 code (6, 9, 12 or 15 digits)")


def _phone(value: str) -> str:
    if not PHONE_CHARS.fullmatch(value):
        raise ValueError("not a phone number (7 to 40 digits, spaces, +, -, parentheses)")
    return value


def _id_number(value: str) -> str:
    if not ID_CHARS.fullmatch(value):
        raise ValueError("an ID-card number has 15 digits, or 17 digits and a digit or X")
    return value.upper()


Phone = Annotated[str, Field(max_length=40, description="联系电话"), AfterValidator(_phone)]
IdNumber = Annotated[str, Field(description="身份证号 (15 or 18 characters)"), AfterValidator(_id_number)]


class Strict(CheckedInput):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Person(Strict):
    name: str | None = Field(None, max_length=100, description="姓名")
    phone: Phone | None = None
    id_number: IdNumber | None = None


class Party(Person):
    role: str | None = Field(None, max_length=40, description="角色: 申请人/被申请人/原告/被告/当事人 …")
    kind: Literal["person", "organisation"] = "person"


class Report(Strict):
    """A channel's report in the case model's terms."""

    channel: str
    source_id: str | None
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    address: str | None = Field(None, max_length=500)
    region_code: str | None = None
    occurred_at: datetime | None = None
    reported_at: datetime | None = None
    reporter: Person | None = None
    parties: list[Party] = []
    facts: dict[str, Any] = {}
    original: dict[str, Any] = {}


class ChannelPayload(Strict):
    """Base of every channel's payload model."""

    channel: ClassVar[str]
    title: ClassVar[str]

    def to_report(self) -> Report:
        raise NotImplementedError

    def _report(self, **fields) -> Report:
        for key in ("occurred_at", "reported_at"):
            fields[key] = local_time(fields.get(key))
        return Report(channel=self.channel, original=self.model_dump(mode="json", exclude_none=True), **fields)


def text_field(description: str) -> Any:
    return Field(min_length=1, max_length=MAX_TEXT, description=description)


def composed_text(text: str, *fields: str) -> str:
    """The case text an adapter composes from several fields: each may be at its maximum, so
    their sum is checked too, and a refusal names them all."""
    if len(text) > MAX_TEXT:
        raise ValueError(f"{' + '.join(fields)} make a case text of {len(text)} characters; at most {MAX_TEXT}")
    return text


def blank_is_invalid(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank")
    return value


__all__ = ["ChannelPayload", "Party", "Person", "Phone", "RegionCode", "Report", "composed_text", "text_field"]
