"""Time as a dependency: production reads the system clock, tests hold a fake one."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta) -> datetime:
        self._now += timedelta(**delta)
        return self._now


class FileClock:
    """Test clock shared between processes: the time is whatever ISO instant the file holds.

    Only for end-to-end tests (``FQ_CLOCK_FILE``), so a test can move time forward in a
    running platform without sleeping."""

    def __init__(self, path):
        self.path = path

    def now(self) -> datetime:
        with open(self.path, encoding="utf-8") as handle:
            return parse_iso(handle.read().strip())


def isoformat(moment: datetime) -> str:
    """UTC, millisecond precision, 'Z' suffix: sorts as text the same way it sorts as time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# China has one time zone and no daylight saving: a fixed offset needs no tz database.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def local_time(moment: datetime | None) -> datetime | None:
    """Times without a zone are Beijing time, as Chinese offices write them."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=CHINA_TZ)
