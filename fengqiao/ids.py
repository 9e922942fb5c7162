"""Identifiers: random case ids, deterministic event ids, human case numbers."""
from __future__ import annotations

import uuid
from datetime import datetime

# Fixed namespace so that the same fact always yields the same event id, across processes
# and redeliveries; consumers deduplicate on it.
EVENT_NAMESPACE = uuid.UUID("6f1c2d0e-3b7a-4c55-9d8e-0f9a1e2b3c4d")


def new_id() -> str:
    return uuid.uuid4().hex


def event_id(event_type: str, case_id: str, discriminator: str | int = "") -> str:
    return uuid.uuid5(EVENT_NAMESPACE, f"{event_type}/{case_id}/{discriminator}").hex


def case_number(day: datetime, sequence: int) -> str:
    """The number staff read out on the phone: FQ-<yyyymmdd>-<daily sequence>."""
    return f"FQ-{day:%Y%m%d}-{sequence:06d}"
