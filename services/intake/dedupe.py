"""Clustering a batch of reports offline with intake's own matcher (``fengqiao dedupe``)."""
from __future__ import annotations

from dataclasses import dataclass

from fengqiao.directory import Directory
from fengqiao.privacy import phone_field
from services.intake import matching
from services.intake.cleaning import clean
from services.intake.places import RegionResolver


class ReportLineError(ValueError):
    pass


@dataclass(frozen=True)
class ReportLine:
    channel: str
    text: str
    reported_at: str | None
    caller_phone: str | None
    address: str | None

    @classmethod
    def parse(cls, index: int, raw: dict) -> ReportLine:
        if not isinstance(raw, dict):
            raise ReportLineError(f"line {index + 1}: expected a JSON object")
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ReportLineError(f"line {index + 1}: text is missing or blank")
        return cls(raw.get("channel") or "", text, raw.get("reported_at"), raw.get("caller_phone"), raw.get("address"))


def signatures(lines: list[ReportLine], directory: Directory) -> list[matching.Signature]:
    placements = RegionResolver(directory).place_many([(None, line.address) for line in lines])
    kinds = matching.matter_kinds([line.text for line in lines]) if lines else []
    result = []
    for line, placement, kind in zip(lines, placements, kinds, strict=True):
        cleaned = clean(line.text, line.caller_phone)
        phones = list(dict.fromkeys([*phone_field(line.caller_phone), *cleaned.phones]))
        # A county outside the deployment's directory is a misreading of a vague address (托县 → 重庆).
        region = placement.region_code if directory.region(placement.region_code) else None
        result.append(matching.signature(line.text, line.address, phones, region,
                                         cleaned.amounts, line.reported_at, kind))
    return result


def cluster_lines(lines: list[ReportLine], directory: Directory,
                  policy: matching.MatchPolicy = matching.MatchPolicy()) -> list[int]:
    """A cluster number per line, numbered 0, 1, 2 … in order of first appearance."""
    raw = matching.cluster(signatures(lines, directory), policy)
    numbering: dict[int, int] = {}
    return [numbering.setdefault(c, len(numbering)) for c in raw]
