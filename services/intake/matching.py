"""Do two reports describe the same incident? The matcher behind 重复诉求并单.

The same incident is the same matter at the same place, near in time, across channels and
wording. Each signal survives paraphrase and each decision is explained:

- matter: cosine of character bigrams weighted by rarity (IDF over the shipped corpus of
  complaints, so template words weigh little), read after place names, numbers and the
  operators' boilerplate are taken out: a shared compound name is the place's evidence, not
  the matter's;
- place: the same building and flat (an address's or one the text names: 6号楼3单元1102,
  5-2-601) or the same named site; one building with different flats rules a merge out;
- kind: the agreement of the two texts' category distributions from the triage model (a
  leak and a barking dog at one compound are different kinds of matter); every piece of
  evidence below counts alone and again gated by it;
- the people: the same caller (exact or masked phone), the same surnames (赵某, 王女士);
- amounts and time: the same sum; reports further apart than the window are never merged.

The signals are combined by a logistic regression whose weights (``MatchPolicy``) are fitted
on the development groups by ``python -m services.intake.fit_matcher``; its evaluation, grouped
cross-validation on those groups and the frozen test groups apart, is printed by
tests/unit/test_dedupe_evaluation.py.
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property, lru_cache
from pathlib import Path

from fengqiao.chinese import arabic, simplify
from fengqiao.clock import parse_iso

BACKGROUND = Path(__file__).parents[2] / "fengqiao" / "data" / "triage_cases.jsonl"
# Words every operator writes; they say nothing about which incident it is.
BOILERPLATE = (
    "来电人", "来访人", "报警人", "信访人", "网格员", "市民", "居民", "业主", "来电", "来访", "报告",
    "走访时", "走访", "反映", "请求", "要求", "希望", "尽快", "相关部门", "部门", "协调", "处理",
    "解决", "问题", "多次", "至今", "一直", "帮忙", "帮助", "再次", "协商", "未果", "无果", "沟通",
    "严重", "影响", "情况", "现在", "已经", "目前", "诉求", "其", "称", "说", "的", "了",
)
PUNCTUATION = re.compile(r"[\s\W_\d]+", re.UNICODE)
# Place names: administrative units and named compounds (新城区, 清泉街社区, 馨和园小区 …).
PLACE_NAME = re.compile(r"[\u4e00-\u9fa5]{1,3}?"
                        r"(?:省|市|区|县|旗|街道|镇|乡|苏木|社区|村|嘎查|小区|花园|家园|大厦|公寓)")
BUILDING = re.compile(r"(\d+)\s*(?:号楼|栋|幢|号院)|(?<![\d-])(\d+)-\d+-\d{3,4}(?!\d)")
FLAT = re.compile(r"(?:单元|号楼|栋|幢|楼上|楼下|对门|隔壁|\d-)\s*(\d{3,4})(?![\d年元块万])"
                  r"|(?<![\d.])(\d{3,4})\s*(?:室|户|号房|住户|业主|房间)")
# A flat with its stairwell (2单元502, 5-2-601): 1单元402 and 2单元402 are different homes.
UNIT_FLAT = re.compile(r"(\d{1,2})\s*单元\s*(\d{3,4})(?![\d年元块万])|(?<![\d-])\d+-(\d{1,2})-(\d{3,4})(?!\d)")
# A named site: up to four characters before a chain of site words (锦绣花园小区工地 → 锦绣),
# cut at the last character that cannot be part of a name (在, 区, 某 …).
SITE = re.compile(r"([\u4e00-\u9fa5]{2,4})(?:小区|工地|项目|花园|家园|市场|学校|医院|广场|商场|烧烤城|店|厂)+")
NOT_IN_NAME = re.compile(r".*[在的了是和与及区市县旗镇乡街道村路号楼某称映说其到人家门店]")
# A named village or pasture (白音他拉嘎查, 西湖村), cut like a site name.
VILLAGE = re.compile(r"([\u4e00-\u9fa5]{2,4})(?:嘎查|村)(?![民委里子口务])")
# A named urban community (清泉街社区, 兴业社区), the town's village: after the district or
# street office that precedes it, or at the start. Names may end in 街, so no cut here.
COMMUNITY = re.compile(r"(?:^|[\s区道镇乡市县])([\u4e00-\u9fa5]{2,4}?)社区")
SURNAME = re.compile(r"([\u4e00-\u9fa5])(?:某某|某|女士|先生|师傅|老板|大爷|大妈|阿姨|老师|医生)")
PHONE_DIGITS = re.compile(r"\d")


EVIDENCE = ("phone", "building", "flat", "site", "site_conflict", "village", "amount", "surname", "near")
# The texts' similarity, the kind of matter, each piece of evidence alone and gated by the kind.
FEATURES = ("matter", "overlap", "kind", "matter_kind", "overlap_kind", *EVIDENCE, *(f"{e}_kind" for e in EVIDENCE))


@dataclass(frozen=True)
class MatchPolicy:
    window: timedelta = timedelta(days=45)
    # Probability of "same incident" from which reports merge; weights per FEATURES. Both fitted
    # on the development groups (python -m services.intake.fit_matcher), the threshold for precision.
    threshold: float = 0.849
    intercept: float = -9.068
    weights: tuple[float, ...] = (2.974, 3.638, 1.425, 1.897, 2.328, 1.391, 2.605, 0.901, 2.255, -0.697, -0.317, -0.004,
                                  2.056, 3.586, 1.953, -0.896, -0.446, -1.627, -0.168, -0.105, -0.0, 2.1, 3.358)
    # Candidates: earlier reports sharing one of a report's rarest matter bigrams, a phone, a place name
    # or a surname.
    index_grams: int = 24


@dataclass(frozen=True)
class Signature:
    """What the matcher needs of a report, computed once."""

    bigrams: dict[str, float]  # matter bigrams, weighted by rarity
    phones: frozenset[str]
    region_code: str | None
    buildings: frozenset[str]
    flats: frozenset[str]
    sites: frozenset[str]
    amounts: frozenset[float]
    reported_at: datetime | None
    surnames: frozenset[str] = frozenset()
    villages: frozenset[str] = frozenset()
    kind: tuple[float, ...] = ()  # the matter's category distribution (unit length) from the triage model

    def to_basis(self) -> dict:
        """A JSON form to keep beside a case's reports, so candidates are not re-analysed."""
        return {"bigrams": self.bigrams, "phones": sorted(self.phones), "region_code": self.region_code,
                "buildings": sorted(self.buildings), "flats": sorted(self.flats), "sites": sorted(self.sites),
                "amounts": sorted(self.amounts), "surnames": sorted(self.surnames),
                "villages": sorted(self.villages), "kind": list(self.kind),
                "reported_at": self.reported_at.isoformat() if self.reported_at else None}

    @cached_property
    def norm(self) -> float:
        return math.sqrt(sum(v * v for v in self.bigrams.values()))

    def rarest(self, count: int) -> list[str]:
        return sorted(self.bigrams, key=self.bigrams.get, reverse=True)[:count]

    @classmethod
    def from_basis(cls, basis: dict) -> Signature:
        return cls(
            bigrams=dict(basis["bigrams"]), phones=frozenset(basis["phones"]), region_code=basis["region_code"],
            buildings=frozenset(basis["buildings"]), flats=frozenset(basis["flats"]), sites=frozenset(basis["sites"]),
            amounts=frozenset(basis["amounts"]), surnames=frozenset(basis.get("surnames", ())),
            villages=frozenset(basis.get("villages", ())), kind=tuple(basis.get("kind", ())),
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


def matter_text(text: str, address: str | None = None) -> str:
    """The text with boilerplate, place names, the address's own words and numbers taken out."""
    text = simplify(text or "")
    for part in re.findall(r"[\u4e00-\u9fa5]{2,}", simplify(address or "")):
        text = text.replace(part, " ")
    text = PLACE_NAME.sub(" ", text)
    for phrase in BOILERPLATE:
        text = text.replace(phrase, " ")
    return PUNCTUATION.sub(" ", text)


def _grams(text: str) -> list[str]:
    return [chunk[i:i + 2] for chunk in text.split() for i in range(len(chunk) - 1)]


@lru_cache(maxsize=1)
def rarity() -> tuple[dict[str, float], float]:
    """IDF of matter bigrams over the shipped corpus of complaints, and the IDF of an unseen bigram."""
    rows = [json.loads(line) for line in BACKGROUND.read_text(encoding="utf-8").splitlines() if line.strip()]
    df: Counter = Counter()
    for row in rows:
        df.update(set(_grams(matter_text(row["text"]))))
    n = len(rows)
    return {g: math.log((n + 1) / (c + 1)) + 1 for g, c in df.items()}, math.log(n + 1) + 1


def bigrams(text: str, address: str | None = None) -> dict[str, float]:
    idf, unseen = rarity()
    counts = Counter(_grams(matter_text(text, address)))
    return {g: round((1 + math.log(c)) * idf.get(g, unseen), 3) for g, c in counts.items()}


def cosine(a: Signature, b: Signature) -> float:
    if not a.norm or not b.norm:
        return 0.0
    small, large = sorted((a.bigrams, b.bigrams), key=len)
    dot = sum(weight * large[gram] for gram, weight in small.items() if gram in large)
    return dot / (a.norm * b.norm)


def overlap(a: Signature, b: Signature) -> float:
    """The rarity-weighted share of the shorter report's matter that the other one also says."""
    small, large = sorted((a.bigrams, b.bigrams), key=len)
    total = sum(small.values())
    return sum(w for g, w in small.items() if g in large) / total if total else 0.0


def _names(pattern: re.Pattern, place_text: str) -> set[str]:
    names = {NOT_IN_NAME.sub("", name) for name in pattern.findall(place_text)}
    return {name for name in names if len(name) >= 2}


def _contained(a: frozenset[str], b: frozenset[str]) -> list[str]:
    """Names both mention; a name cut a little wider in one report (业园化工) still counts."""
    return sorted({min(x, y, key=len) for x in a for y in b if x in y or y in x})


def _flats(place_text: str) -> set[str]:
    """Flat numbers, as "2-502" where the stairwell is given and "502" where it is not."""
    with_unit = {f"{u or v}-{x or y}" for u, x, v, y in UNIT_FLAT.findall(place_text)}
    numbered = {flat.split("-")[1] for flat in with_unit}
    return with_unit | {x or y for x, y in FLAT.findall(place_text) if (x or y) not in numbered}


def _same_flat(x: str, y: str) -> bool:
    """One home: the same number, and the same stairwell unless a report leaves it out."""
    (unit_x, _, number_x), (unit_y, _, number_y) = x.rpartition("-"), y.rpartition("-")
    return number_x == number_y and (unit_x == unit_y or not unit_x or not unit_y)


def shared_flats(a: Signature, b: Signature) -> list[str]:
    return sorted({max(x, y, key=len) for x in a.flats for y in b.flats if _same_flat(x, y)})


def signature(text: str, address: str | None, phones: list[str], region_code: str | None,
              amounts: list[float], reported_at: str | datetime | None,
              kind: tuple[float, ...] | None = None) -> Signature:
    """``kind``: the text's category distribution when the caller has it batched (else computed here)."""
    place_text = arabic(simplify(f"{address or ''} {text}"))
    when = parse_iso(reported_at) if isinstance(reported_at, str) else reported_at
    return Signature(
        bigrams=bigrams(text, address),
        phones=frozenset(p for p in phones if p),
        region_code=region_code,
        buildings=frozenset(x or y for x, y in BUILDING.findall(place_text)),
        flats=frozenset(_flats(place_text)),
        sites=frozenset(_names(SITE, place_text)),
        amounts=frozenset(a for a in amounts if a >= 1000),
        reported_at=when,
        surnames=frozenset(SURNAME.findall(simplify(text or ""))),
        villages=frozenset(_names(VILLAGE, place_text)) | frozenset(COMMUNITY.findall(place_text)),
        kind=kind if kind is not None else matter_kinds([text])[0],
    )


def matter_kinds(texts: list[str], models=None) -> list[tuple[float, ...]]:
    """The kind of matter each text tells, as the triage category model reads it (``models``, or
    the shipped ones fitted on first use)."""
    from fengqiao.triage import category_vectors

    return [tuple(round(float(v), 4) for v in row) for row in category_vectors(texts, models)]


def phones_compatible(a: str, b: str) -> bool:
    """Equal numbers, or one masked (139****0001) and agreeing on every visible digit."""
    da, db = re.sub(r"[^\d*]", "", a), re.sub(r"[^\d*]", "", b)
    if len(da) != len(db):
        return False
    return all(x == y or "*" in (x, y) for x, y in zip(da, db, strict=True)) and da.count("*") < 8


def shared_sites(a: Signature, b: Signature) -> list[str]:
    return _contained(a.sites, b.sites)


def _veto(a: Signature, b: Signature, policy: MatchPolicy) -> str | None:
    if a.reported_at and b.reported_at and abs(a.reported_at - b.reported_at) > policy.window:
        days = abs(a.reported_at - b.reported_at).days
        return f"相隔{days}天，超出{policy.window.days}天合并窗口"
    if a.region_code and b.region_code and a.region_code[:6] != b.region_code[:6]:
        return f"属地不同（{a.region_code[:6]} / {b.region_code[:6]}）"
    if a.buildings and b.buildings and not a.buildings & b.buildings:
        return f"不同楼栋（{'/'.join(sorted(a.buildings))} 与 {'/'.join(sorted(b.buildings))}）"
    if a.villages and b.villages and not _contained(a.villages, b.villages):
        return f"不同村（{'/'.join(sorted(a.villages))} 与 {'/'.join(sorted(b.villages))}）"
    if a.flats and b.flats and not shared_flats(a, b):
        return f"不同住户（{'/'.join(sorted(a.flats))} 与 {'/'.join(sorted(b.flats))}）"
    return None


def features(a: Signature, b: Signature, policy: MatchPolicy = MatchPolicy()) -> tuple[list[float], list[Signal]]:
    """The pair's value per FEATURES, and the signals that explain the non-zero ones."""
    matter = cosine(a, b)
    signals = [_matter_signal(matter)]
    phone = any(phones_compatible(x, y) for x in a.phones for y in b.phones)
    sites, flats = shared_sites(a, b), shared_flats(a, b)
    raw = { "phone": float(phone), "building": float(bool(a.buildings & b.buildings)),
        "flat": float(bool(flats)), "site": float(bool(sites)),
        "site_conflict": float(bool(a.sites and b.sites and not sites)),
        "village": float(bool(a.region_code and b.region_code and len(a.region_code) >= 12
                              and a.region_code[:12] == b.region_code[:12])),
        "amount": float(bool(a.amounts & b.amounts)), "surname": float(bool(a.surnames & b.surnames)),
        "near": 0.0,
    }
    if a.reported_at and b.reported_at:
        hours = abs(a.reported_at - b.reported_at).total_seconds() / 3600
        raw["near"] = max(0.0, 1 - hours / (policy.window.days * 24))
        signals.append(Signal("time", round(raw["near"], 3), f"相隔{hours / 24:.1f}天"))
    # Every other signal counts in proportion to the matter: the same caller or compound with
    # another matter is another incident.
    shared = overlap(a, b)
    kind = sum(x * y for x, y in zip(a.kind, b.kind, strict=False))
    signals.append(Signal("kind", round(kind, 3), f"事项类别一致度 {kind:.2f}"))
    values = {"matter": matter, "overlap": shared, "kind": kind, "matter_kind": matter * kind,
              "overlap_kind": shared * kind, **raw, **{f"{name}_kind": value * kind for name, value in raw.items()}}
    details = {
        "phone": "同一来电号码", "building": f"同一楼栋（{'/'.join(sorted(a.buildings & b.buildings))}）",
        "flat": f"同一住户（{'/'.join(flats)}）", "site": f"同一地点（{'/'.join(sites)}）",
        "site_conflict": "地点名称不同", "village": "同一村（社区）",
        "amount": f"涉及金额相同（{max(a.amounts & b.amounts, default=0):g}元）",
        "surname": f"同姓当事人（{'、'.join(sorted(a.surnames & b.surnames))}某）",
    }
    signals += [Signal(name, raw[name], detail) for name, detail in details.items() if raw[name]]
    return [values[name] for name in FEATURES], signals


def _matter_signal(matter: float) -> Signal:
    return Signal("matter", round(matter, 3), f"事项相似度 {matter:.2f}")


def probability(values: list[float], policy: MatchPolicy) -> float:
    z = policy.intercept + sum(w * x for w, x in zip(policy.weights, values, strict=True))
    return 1 / (1 + math.exp(-z))


def compare(a: Signature, b: Signature, policy: MatchPolicy = MatchPolicy()) -> Match:
    veto = _veto(a, b, policy)
    if veto:  # most candidates at volume: only the matter's likeness is shown beside the veto
        return Match(False, 0.0, [_matter_signal(cosine(a, b))], veto)
    values, signals = features(a, b, policy)
    score = round(probability(values, policy), 3)
    return Match(score >= policy.threshold, score, signals)


def explain(match: Match) -> str:
    if match.veto:
        return f"不合并：{match.veto}"
    reasons = "、".join(s.detail for s in match.signals)
    return f"匹配度 {match.score:.2f}：{reasons}"


def index_keys(sig: Signature, policy: MatchPolicy = MatchPolicy()) -> list[str]:
    """What a report is found by as a candidate: its rarest matter bigrams, its phones' last
    four digits, its place names and the surnames it names (a paraphrase told by someone else
    may share nothing rarer than 赵某). A duplicate shares at least one of them."""
    return list(dict.fromkeys([
        *sig.rarest(policy.index_grams), *("tel:" + re.sub(r"\D", "", p)[-4:] for p in sig.phones),
        *("site:" + name[:2] for name in sorted(sig.sites | sig.villages)),
        *("name:" + surname for surname in sorted(sig.surnames)),
    ]))


class CandidateIndex:
    """Earlier reports by their ``index_keys`` (an inverted index in memory), so a report is
    compared with the few that could be its duplicate, not with every recent one. Intake keeps
    the same postings in its store (``registration.POSTINGS``)."""

    def __init__(self, policy: MatchPolicy = MatchPolicy()):
        self.policy = policy
        self.postings: dict[str, list[int]] = {}

    def candidates(self, sig: Signature) -> set[int]:
        return {i for key in index_keys(sig, self.policy) for i in self.postings.get(key, ())}

    def add(self, number: int, sig: Signature) -> None:
        for key in index_keys(sig, self.policy):
            self.postings.setdefault(key, []).append(number)


def cluster(signatures: list[Signature], policy: MatchPolicy = MatchPolicy()) -> list[int]:
    """Greedy clustering in arrival order, as intake merges: each report joins the cluster of
    its best match among earlier reports, or starts its own. Returns a cluster id per report."""
    clusters: list[int] = []
    index = CandidateIndex(policy)
    for i, sig in enumerate(signatures):
        best, best_score = None, -1.0
        for j in index.candidates(sig):
            match = compare(signatures[j], sig, policy)
            if match.same and match.score > best_score:
                best, best_score = j, match.score
        clusters.append(clusters[best] if best is not None else i)
        index.add(i, sig)
    return clusters
