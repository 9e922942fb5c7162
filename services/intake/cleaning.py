"""Cleaning report text: fold to simplified Chinese and pull out phones, ID numbers, amounts and
head counts. The original text is never changed; cleaned values sit beside it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from fengqiao.chinese import amounts, headcount, simplify
from fengqiao.privacy import id_numbers, phone_field, phones


@dataclass(frozen=True)
class Cleaned:
    text_simplified: str
    phones: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    headcount: int | None = None

    def as_fields(self) -> dict:
        return {
            "text_simplified": self.text_simplified,
            "phones": self.phones,
            "id_numbers": self.id_numbers,
            "amounts": self.amounts,
            "headcount": self.headcount,
        }


def clean(text: str, *known_phones: str | None) -> Cleaned:
    simplified = simplify(text)
    found = [p for known in known_phones for p in phone_field(known)] + phones(simplified)
    return Cleaned(simplified, list(dict.fromkeys(found)), id_numbers(simplified),
                   amounts(simplified), headcount(simplified))
