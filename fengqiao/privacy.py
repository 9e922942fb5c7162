"""Finding and masking personal numbers (phones, ID-card numbers) in text and records.

Views are masked unless the caller's role may see personal data; the unmasked originals stay
in the owning service's store.
"""
from __future__ import annotations

import re
from typing import Any

# Mobile numbers, optionally written with +86 and separators; landlines with an area code.
MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})(?!\d)")
LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})-(\d{7,8})(?!\d)")
ID_NUMBER = re.compile(r"(?<![\dXx])(\d{17}[\dXx]|\d{15})(?![\dXx])")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PII_FIELDS = ("phone", "id_number")


def valid_id_number(number: str) -> bool:
    """GB 11643 check digit for 18-digit numbers; 15-digit legacy numbers have none."""
    if len(number) == 15:
        return number.isdigit()
    body, check = number[:17], number[17].upper()
    total = sum(int(d) * w for d, w in zip(body, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11] == check


MASKED_PHONE = re.compile(r"^(?:1[3-9]\d\*{4}\d{4}|0\d{2,3}-\*{2,5}\d{3,4})$")


def phone_field(value: str | None) -> list[str]:
    """The numbers in a phone field; a number another system masked (139****0001) is kept as
    it is, since its visible digits still identify the caller well enough to match on."""
    if not value:
        return []
    compact = re.sub(r"\s", "", value)
    return [compact] if MASKED_PHONE.match(compact) else phones(value)


def phones(text: str) -> list[str]:
    found = ["".join(m.groups()) for m in MOBILE.finditer(text)]
    found += [f"{a}-{b}" for a, b in LANDLINE.findall(text)]
    return list(dict.fromkeys(found))


def id_numbers(text: str) -> list[str]:
    return list(dict.fromkeys(n.upper() for n in ID_NUMBER.findall(text) if valid_id_number(n)))


def mask_phone(phone: str) -> str:
    digits = re.sub(r"[^\d-]", "", phone)
    if "-" in digits:
        area, local = digits.split("-", 1)
        local = local.replace("-", "")
        return f"{area}-{'*' * max(0, len(local) - 4)}{local[-4:]}"
    return f"{digits[:3]}****{digits[-4:]}" if len(digits) >= 7 else "*" * len(digits)


def mask_id_number(number: str) -> str:
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def mask_text(text: str | None) -> str | None:
    """The text with every phone and ID-shaped number masked (a mistyped ID is still personal)."""
    if not text:
        return text
    text = ID_NUMBER.sub(lambda m: mask_id_number(m.group(1)), text)
    text = MOBILE.sub(lambda m: mask_phone("".join(m.groups())), text)
    return LANDLINE.sub(lambda m: mask_phone(f"{m.group(1)}-{m.group(2)}"), text)


def phone_tail(phone: str | None) -> str | None:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-4:] if len(digits) >= 4 else None


TEXT_FIELDS = {"text", "text_simplified", "demand", "summary", "content", "description", "detail"}


def mask_record(value: Any) -> Any:
    """A deep copy of a view or payload with personal numbers masked wherever they appear."""
    if isinstance(value, dict):
        masked = {}
        for key, item in value.items():
            if key in PII_FIELDS and isinstance(item, str):
                masked[key] = mask_phone(item) if key == "phone" else mask_id_number(item)
            elif key == "phones" and isinstance(item, list):
                masked[key] = [mask_phone(p) for p in item]
            elif key == "id_numbers" and isinstance(item, list):
                masked[key] = [mask_id_number(n) for n in item]
            elif isinstance(item, str) and key in TEXT_FIELDS:
                masked[key] = mask_text(item)
            else:
                masked[key] = mask_record(item)
        return masked
    if isinstance(value, list):
        return [mask_record(item) for item in value]
    return value
