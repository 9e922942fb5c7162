"""Do two reports describe the same incident? The matcher behind 重复诉求并单.

It weighs four signals and explains each decision:

- text: cosine similarity of character bigrams after folding to simplified Chinese and
  arabic numerals, with the operators' boilerplate (来电人反映, 请求协调处理 …) weighted down.
  Bigrams are what the search index uses too; they survive rewording better than words do
  and need no dictionary for place names.
- phone: the same caller (exact, or compatible with a masked number such as 139****0001).
- place: the same county is required when both are known; the same village, building or
  site adds evidence; different flats of one building, or different named sites (工地, 小区 …),
  rule a merge out however alike the words are.
- time: reports further apart than the window (default 30 days) are never merged.

The weights and threshold are policy (``MatchPolicy``), tuned on the labelled set in
``tests/data/dedupe_reports.jsonl``, whose evaluation a test prints.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from fengqiao.chinese import arabic, simplify
from fengqiao.clock import parse_iso

# Words every operator writes; they say nothing about which incident it is.
BOILERPLATE = (
    "来电人", "来访人", "报警人", "信访人", "网格员", "市民", "居民", "业主", "来电", "来访", "报告",
    "走访时", "走访", "反映", "请求", "要求", "希望", "尽快", "相关部门", "部门", "协调", "处理",
    "解决", "问题", "多次", "至今", "一直", "帮忙", "帮助", "再次", "协商", "未果", "无果", "沟通",
    "严重", "影响", "情况", "现在", "已经", "目前", "其", "称", "说", "的", "了",
)
PUNCTUATION = re.compile(r"[\s\W_]+", re.UNICODE)
BUILDING = re.compile(r"(\d+)\s*(?:号楼|栋|幢)")
FLAT = re.compile(r"(?:单元|号楼|栋)?\s*(\d{3,4})(?:室|号房)?")
# A named site: up to four characters before a chain of site words (锦绣花园小区工地 → 锦绣),
# cut at the last character that cannot be part of a name (在, 区, 某 …).
SITE = re.compile(r"([\u4e00-\u9fa5]{2,4})(?:小区|工地|项目|花园|家园|市场|学校|医院|广场|商场|烧烤城|店|厂)+")
NOT_IN_NAME = re.compile(r".*[在的了是和与及区市县旗镇乡街道村路号楼某称映说其到人家门店]")
PHONE_DIGITS = re.compile(r"\d")


@dataclass(frozen=True)
class MatchPolicy:
    window: timedelta = timedelta(days=30)
    threshold: float = 0.5
    # Below this the texts share almost nothing: the same caller at the same address may well
    # be reporting a second matter.
    min_text: float = 0.1
    phone_weight: float = 0.4
    place_weight: float = 0.25
    amount_weight: float = 0.15


@dataclass(frozen=True)
class Signature:
    """What the matcher needs of a report, computed once."""

    bigrams: Counter
    phones: frozenset[str]
    region_code: str | None
    buildings: frozenset[str]
    flats: frozenset[str]
    sites: frozenset[str]
    amounts: frozenset[float]
    reported_at: datetime | None

    def to_basis(self) -> dict:
        """A JSON form to keep beside a case's reports, so candidates are not re-analysed."""
        return {"bigrams": dict(self.bigrams), "phones": sorted(self.phones), "region_code": self.region_code,
                "buildings": sorted(self.buildings), "flats": sorted(self.flats), "sites": sorted(self.sites),
                "amounts": sorted(self.amounts),
                "reported_at": self.reported_at.isoformat() if self.reported_at else None}

    @cached_property
    def norm(self) -> float:
        return math.sqrt(sum(v * v for v in self.bigrams.values()))

    @classmethod
    def from_basis(cls, basis: dict) -> Signature:
        return cls(
            bigrams=Counter(basis["bigrams"]), phones=frozenset(basis["phones"]), region_code=basis["region_code"],
            buildings=frozenset(basis["buildings"]), flats=frozenset(basis["flats"]), sites=frozenset(basis["sites"]),
            amounts=frozenset(basis["amounts"]),
            reported_at=parse_iso(basis["reported_at"]) if basis["reported_at"] else None,
        )


@dataclass(frozen=True)
class Signal:
    name: str
    score: float
    detail: str


@dataclass(frozen=True)
class Match:
    same: bool
    score: float
    signals: list[Signal] = field(default_factory=list)
    veto: str | None = None


def normalize(text: str) -> str:
    text = arabic(simplify(text or ""))
    for phrase in BOILERPLATE:
        text = text.replace(phrase, " ")
    return PUNCTUATION.sub(" ", text)


def bigrams(text: str) -> Counter:
    grams: Counter = Counter()
    for chunk in normalize(text).split():
        if len(chunk) == 1:
            continue
        grams.update(chunk[i:i + 2] for i in range(len(chunk) - 1))
    return grams


def cosine(a: Signature, b: Signature) -> float:
    if not a.norm or not b.norm:
        return 0.0
    small, large = sorted((a.bigrams, b.bigrams), key=len)
    dot = sum(count * large[gram] for gram, count in small.items() if gram in large)
    return dot / (a.norm * b.norm)


def signature(text: str, address: str | None, phones: list[str], region_code: str | None,
              amounts: list[float], reported_at: str | datetime | None) -> Signature:
    place_text = arabic(simplify(f"{address or ''} {text}"))
    sites = {NOT_IN_NAME.sub("", name) for name in SITE.findall(place_text)}
    when = parse_iso(reported_at) if isinstance(reported_at, str) else reported_at
    return Signature(
        bigrams=bigrams(text),
        phones=frozenset(PHONE_DIGITS.sub(lambda m: m.group(0), p) for p in phones if p),
        region_code=region_code,
        buildings=frozenset(BUILDING.findall(place_text)),
        flats=frozenset(FLAT.findall(re.sub(r"\d+\s*(?:号楼|栋|幢|单元)", " ", place_text))),
        sites=frozenset(name for name in sites if len(name) >= 2),
        amounts=frozenset(a for a in amounts if a >= 1000),
        reported_at=when,
    )


def phones_compatible(a: str, b: str) -> bool:
    """Equal numbers, or one masked (139****0001) and agreeing on every visible digit."""
    da, db = re.sub(r"[^\d*]", "", a), re.sub(r"[^\d*]", "", b)
    if len(da) != len(db):
        return False
    return all(x == y or "*" in (x, y) for x, y in zip(da, db, strict=True)) and da.count("*") < 8


def shared_sites(a: Signature, b: Signature) -> list[str]:
    """Site names both mention; a name cut a little wider in one report (业园化工) still counts."""
    return sorted({min(x, y, key=len) for x in a.sites for y in b.sites if x in y or y in x})


def _veto(a: Signature, b: Signature, policy: MatchPolicy) -> str | None:
    if a.reported_at and b.reported_at and abs(a.reported_at - b.reported_at) > policy.window:
        days = abs(a.reported_at - b.reported_at).days
        return f"相隔{days}天，超出{policy.window.days}天合并窗口"
    if a.region_code and b.region_code and a.region_code[:6] != b.region_code[:6]:
        return f"属地不同（{a.region_code[:6]} / {b.region_code[:6]}）"
    if a.buildings & b.buildings and a.flats and b.flats and not a.flats & b.flats:
        return f"同楼不同户（{'/'.join(sorted(a.flats))} 与 {'/'.join(sorted(b.flats))}）"
    if a.sites and b.sites and not shared_sites(a, b):
        return f"不同地点（{'/'.join(sorted(a.sites))} 与 {'/'.join(sorted(b.sites))}）"
    return None


def _place(a: Signature, b: Signature) -> Signal | None:
    if a.buildings & b.buildings:
        return Signal("place", 1.0, "同一楼栋")
    if shared_sites(a, b):
        return Signal("place", 1.0, f"同一地点（{'/'.join(shared_sites(a, b))}）")
    if a.region_code and b.region_code and len(a.region_code) >= 12 and a.region_code[:12] == b.region_code[:12]:
        return Signal("place", 0.6, "同一村（社区）")
    return None


def compare(a: Signature, b: Signature, policy: MatchPolicy = MatchPolicy()) -> Match:
    text = cosine(a, b)
    signals = [Signal("text", round(text, 3), f"文本相似度 {text:.2f}")]
    veto = _veto(a, b, policy) or (f"文本相似度 {text:.2f} 过低，应为不同事项" if text < policy.min_text else None)
    if veto:
        return Match(False, round(text, 3), signals, veto)
    score = text
    if any(phones_compatible(x, y) for x in a.phones for y in b.phones):
        score += policy.phone_weight
        signals.append(Signal("phone", 1.0, "同一来电号码"))
    place = _place(a, b)
    if place:
        score += policy.place_weight * place.score
        signals.append(place)
    if a.amounts & b.amounts:
        score += policy.amount_weight
        signals.append(Signal("amount", 1.0, f"涉及金额相同（{max(a.amounts & b.amounts):g}元）"))
    if a.reported_at and b.reported_at:
        hours = abs(a.reported_at - b.reported_at).total_seconds() / 3600
        signals.append(Signal("time", round(max(0.0, 1 - hours / (policy.window.days * 24)), 3),
                              f"相隔{hours / 24:.1f}天"))
    score = round(min(score, 1.0), 3)
    return Match(score >= policy.threshold, score, signals)


def explain(match: Match) -> str:
    if match.veto:
        return f"不合并：{match.veto}"
    reasons = "、".join(s.detail for s in match.signals)
    return f"匹配度 {match.score:.2f}：{reasons}"


def cluster(signatures: list[Signature], policy: MatchPolicy = MatchPolicy()) -> list[int]:
    """Greedy clustering in arrival order, as intake merges: each report joins the cluster of
    its best match among earlier reports, or starts its own. Returns a cluster id per report."""
    clusters: list[int] = []
    for i, sig in enumerate(signatures):
        best, best_score = None, -1.0
        for j in range(i):
            match = compare(signatures[j], sig, policy)
            if match.same and match.score > best_score:
                best, best_score = j, match.score
        clusters.append(clusters[best] if best is not None else i)
    return clusters
