"""What every model of outside input checks, whatever its fields: text without control
characters and dates within the years a case can be about.

Control characters (and unpaired surrogates, U+FFFE/U+FFFF) are not something a person types:
they arrive from copy-paste and broken encoders, and once stored they make every xlsx export
and every Open311 XML answer that carries them fail (XML 1.0 cannot hold them). They are
removed at intake; tab, newline and carriage return stay. Dates are range-checked because a
year near 1 or 9999 overflows as soon as a zone or a deadline is added to it.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, field_validator

CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
FIRST_YEAR, LAST_YEAR = 1900, 2199


def strip_controls(value: Any) -> Any:
    """The value with control characters removed from every string in it, however nested."""
    if isinstance(value, str):
        return CONTROL_CHARACTERS.sub("", value)
    if isinstance(value, list):
        return [strip_controls(item) for item in value]
    if isinstance(value, dict):
        return {strip_controls(key): strip_controls(item) for key, item in value.items()}
    return value


def check_year(value: date | datetime, what: str = "date") -> None:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{what} must lie between the years {FIRST_YEAR} and {LAST_YEAR}")


class CheckedInput(BaseModel):
    """Base of the models that read outside input."""

    @field_validator("*", mode="before")
    @classmethod
    def _without_controls(cls, value: Any) -> Any:
        return strip_controls(value)

    @field_validator("*", mode="after")
    @classmethod
    def _years_in_range(cls, value: Any) -> Any:
        if isinstance(value, date):  # datetime is a date too
            check_year(value)
        return value
