"""The event catalog: every fact the services tell each other, with versioned payloads.

On the wire an event is an envelope dict::

    {"event_id", "type", "version", "source", "case_id", "occurred_at", "data"}

``event_id`` is deterministic for a fact (see ``fengqiao.ids.event_id``), so a redelivered or
re-emitted event carries the same id and consumers can deduplicate on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fengqiao.clock import isoformat
from fengqiao.ids import event_id

Channel = Literal["hotline_12345", "police_110", "petition", "court", "grid", "walk_in", "open311"]
CHANNELS: tuple[str, ...] = Channel.__args__  # type: ignore[attr-defined]
Level = Literal["city", "county", "township", "village", "grid"]
LEVELS: tuple[str, ...] = Level.__args__  # type: ignore[attr-defined]


class InvalidEvent(ValueError):
    """A message that can never be handled: it goes straight to the dead-letter queue."""


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reporter(_Data):
    name: str | None = None
    phone: str | None = None


class CaseContent(_Data):
    number: str
    channel: Channel
    source_id: str
    text: str
    address: str | None = None
    region_code: str | None = None
    occurred_at: str | None = None
    reporter: Reporter | None = None


class ReportSubmitted(CaseContent):
    """A report accepted at the gateway; intake has not seen it yet."""

    submitted_at: str
    submitted_by: str


class CaseReceived(CaseContent):
    """Intake registered a case."""

    received_at: str


class CaseAssigned(_Data):
    """Routing gave the case to a unit."""

    assignment_no: int = Field(ge=1)
    level: Level
    region_code: str | None
    unit_id: str
    unit_name: str
    category: str
    risk: int = Field(ge=1, le=3)
    reason: str


@dataclass(frozen=True)
class EventSpec:
    type: str
    source: str  # the nameko service whose exchange carries it
    version: int
    data: type[_Data]


CATALOG: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        EventSpec("report_submitted", "gateway", 1, ReportSubmitted),
        EventSpec("case_received", "intake", 1, CaseReceived),
        EventSpec("case_assigned", "routing", 1, CaseAssigned),
    )
}


@dataclass(frozen=True)
class Event:
    event_id: str
    type: str
    version: int
    source: str
    case_id: str
    occurred_at: str
    data: Any  # the type's data model

    def to_message(self) -> dict:
        return {
            "event_id": self.event_id,
            "type": self.type,
            "version": self.version,
            "source": self.source,
            "case_id": self.case_id,
            "occurred_at": self.occurred_at,
            "data": self.data.model_dump(mode="json"),
        }


@dataclass(frozen=True)
class Recorded:
    """What a command handler did: the event it (re-)emits, and whether it changed anything."""

    event: Event
    created: bool


def make_event(
    event_type: str, case_id: str, data: dict | _Data, occurred_at: datetime | str,
    discriminator: str | int = "",
) -> Event:
    spec = CATALOG[event_type]
    model = data if isinstance(data, spec.data) else spec.data.model_validate(data)
    return Event(
        event_id=event_id(event_type, case_id, discriminator),
        type=event_type,
        version=spec.version,
        source=spec.source,
        case_id=case_id,
        occurred_at=occurred_at if isinstance(occurred_at, str) else isoformat(occurred_at),
        data=model,
    )


def parse_event(message: Any, expected_type: str) -> Event:
    """Validate an incoming envelope; anything malformed raises ``InvalidEvent``."""
    if not isinstance(message, dict):
        raise InvalidEvent(f"{expected_type}: envelope must be an object, got {type(message).__name__}")
    spec = CATALOG[expected_type]
    missing = {"event_id", "type", "version", "case_id", "occurred_at", "data"} - message.keys()
    if missing:
        raise InvalidEvent(f"{expected_type}: envelope lacks {sorted(missing)}")
    if message["type"] != expected_type or message["version"] != spec.version:
        raise InvalidEvent(
            f"expected {expected_type} v{spec.version}, got {message['type']} v{message['version']}"
        )
    try:
        data = spec.data.model_validate(message["data"])
    except ValidationError as exc:
        raise InvalidEvent(f"{expected_type}: {exc}") from exc
    return Event(
        event_id=message["event_id"], type=expected_type, version=spec.version, source=spec.source,
        case_id=message["case_id"], occurred_at=message["occurred_at"], data=data,
    )
