"""Cleaning report text: fold to simplified Chinese and pull out phones, ID numbers, amounts and
head counts. The original text is never changed; cleaned values sit beside it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import cn2an
import opencc

from fengqiao.privacy import id_numbers, phone_field, phones


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def simplify(text: str) -> str:
    """Traditional (and mixed) Chinese folded to simplified, for analysis only."""
    return _t2s().convert(text) if text else text


# After cn2an has turned Chinese numerals into digits: 3.5万元, 35000元, 2千块, 10万.
AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(万|千)?\s*(?:元|块钱|块|万元)|(\d+(?:\.\d+)?)\s*万(?![\d人户名个])")
HEADCOUNT = re.compile(r"(\d+)\s*(?:余|多)?\s*(?:名|个|户|位)?\s*(?:人|户|村民|工人|农民工|牧民|业主|家长|群众)")
MULTIPLIER = {"万": 10_000, "千": 1_000, None: 1}


def arabic(text: str) -> str:
    """Chinese numerals as digits (三万五千元 → 35000元), for extraction only."""
    try:
        return cn2an.transform(text, "cn2an")
    except (ValueError, KeyError):  # cn2an refuses some odd mixes; keep the digits we have
        return text


def amounts(text: str) -> list[float]:
    """Sums of money in yuan: 欠薪三万五千元, 借款2.5万, 5000块."""
    values = []
    for m in AMOUNT.finditer(arabic(text)):
        if m.group(1):
            values.append(float(m.group(1)) * MULTIPLIER[m.group(2)])
        else:
            values.append(float(m.group(3)) * 10_000)
    return [round(v, 2) for v in dict.fromkeys(values)]


def headcount(text: str) -> int | None:
    """The largest number of people a report mentions (二十多名工人, 10余户牧民)."""
    counts = [int(n) for n in HEADCOUNT.findall(arabic(text))]
    return max(counts) if counts else None


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
