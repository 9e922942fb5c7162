"""Registering reports: one case per incident, every report kept. Plain domain logic.

Each channel submission is a *report*, stored once per (channel, source_id). A report either
opens a new *case* (``case_received``) or is linked to the open case it duplicates
(``case_merged``). Both outcomes are recorded on the report, so a redelivered message re-emits
the same event (same id) instead of doing the work twice.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from fengqiao.clock import isoformat, parse_iso
from fengqiao.events import Event, Recorded, make_event
from fengqiao.store import Collection, CollectionSpec, DuplicateKeyError, Index, Order
from services.intake import matching
from services.intake.cleaning import clean
from services.intake.places import Placement

REPORTS = CollectionSpec("reports", [
    Index(("channel", "source_id"), unique=True), Index(("case_id",)),
])
CASES = CollectionSpec("cases")
# The candidate index: one posting per (report, index key), so a new report finds the cases
# whose reports share a key with it, at any volume, instead of scanning the county's newest.
# The key's index covers the read (it ends in what a lookup returns, after the id that orders
# ties), so a lookup never opens a posting itself: five times faster on SQLite.
POSTINGS = CollectionSpec("match_postings", [
    Index(("key", "reported_at", "id", "case_id", "report_id")), Index(("report_id",)), Index(("indexed_at",)),
])
# A key's postings read per report on each side of its moment, nearest first: a common key
# (a template's bigram) cannot crowd out the rare ones (a phone tail) that find the duplicate.
POSTINGS_PER_KEY = 100
CANDIDATE_LIMIT = 50  # the cases sharing most keys with a report, compared in full
MAX_CONFLICT_RETRIES = 20
CONTENT_FIELDS = ("channel", "source_id", "text", "address", "region_code", "occurred_at", "reported_at",
                  "reporter", "parties", "facts")


class UnmergeRefused(ValueError):
    """The report cannot be split out of the case (not in it, or it is the case's own)."""


class CaseNotFound(LookupError):
    pass


class SignatureCache:
    """Candidates' signatures by report id. A report's basis never changes, and the same recent
    cases are candidates for thousands of later reports, so each is decoded once."""

    def __init__(self, size: int = 50_000):
        self.size = size
        self._signatures: dict[str, matching.Signature] = {}

    def of(self, entry: dict) -> matching.Signature:
        signature = self._signatures.get(entry["report_id"])
        if signature is None:
            if len(self._signatures) >= self.size:
                self._signatures.clear()  # bounded; a cold start costs one decode per candidate
            signature = self._signatures[entry["report_id"]] = matching.Signature.from_basis(entry["basis"])
        return signature


@dataclass(frozen=True)
class Intake:
    reports: Collection
    cases: Collection
    postings: Collection
    policy: matching.MatchPolicy = matching.MatchPolicy()
    signatures: SignatureCache = field(default_factory=SignatureCache)


@dataclass(frozen=True)
class Prepared:
    """A submitted report made ready to register: its document and its match signature, both
    computed from the report alone, so outside the unit of work and for a chunk at once."""
    doc: dict
    signature: matching.Signature


def prepare(reports: list[Event], placements: list[Placement], now: datetime, models=None) -> list[Prepared]:
    docs = [_report_doc(report, placement, now) for report, placement in zip(reports, placements, strict=True)]
    kinds = matching.matter_kinds([doc["text"] for doc in docs], models) if docs else []  # one model call
    return [Prepared(doc, _signature(doc, kind)) for doc, kind in zip(docs, kinds, strict=True)]


def register(intake: Intake, report: Event, placement: Placement, now: datetime) -> Recorded:
    """Register one submitted report: open a case or merge it into the case it duplicates."""
    return register_prepared(intake, prepare([report], [placement], now)[0], now)


def register_prepared(intake: Intake, report: Prepared, now: datetime) -> Recorded:
    doc, signature = report.doc, report.signature
    try:
        intake.reports.insert(doc)
    except DuplicateKeyError:
        existing = intake.reports.find_one({"channel": doc["channel"], "source_id": doc["source_id"]})
        if existing.get("outcome"):
            return Recorded(outcome_event(intake, existing), created=False)
        doc = existing  # a crash after the insert: finish the job
        signature = _signature(doc)
    candidate = _best_match(intake, doc, signature)
    if candidate is None:
        _post(intake, doc, doc["id"], signature, now)
        return Recorded(_open_case(intake, doc, signature), created=True)
    case, match = candidate
    _post(intake, doc, case["id"], signature, now)
    return Recorded(_merge(intake, case, doc, signature, match, now), created=True)


def _report_doc(report: Event, placement: Placement, now: datetime) -> dict:
    data = report.data
    content = data.model_dump(mode="json", include=set(CONTENT_FIELDS))
    content["region_code"] = placement.region_code
    party_phones = [p.phone for p in data.parties]
    cleaned = clean(data.text, data.reporter.phone if data.reporter else None, *party_phones)
    return {
        "id": report.case_id,
        "number": data.number,
        **content,
        "reported_at": data.reported_at or data.submitted_at,
        "region_source": placement.source,
        **cleaned.as_fields(),
        "original": data.original,
        "job_id": data.facts.get("import_job"),
        "submitted_at": data.submitted_at,
        "received_at": isoformat(now),
        "case_id": None,
        "outcome": None,
    }


def _signature(report: dict, kind: tuple[float, ...] | None = None) -> matching.Signature:
    return matching.signature(report["text"], report["address"], report["phones"], report["region_code"],
                              report["amounts"], report["reported_at"], kind=kind)


def _candidates(intake: Intake, report: dict, signature: matching.Signature) -> list[dict]:
    """The cases with a report within the time window that share the rarest index keys with this one."""
    moment = parse_iso(report["reported_at"])
    bounds = (isoformat(moment - intake.policy.window), isoformat(moment), isoformat(moment + intake.policy.window))
    shared: Counter[str] = Counter()
    for key in matching.index_keys(signature, intake.policy):
        postings = [p for p in _nearest_postings(intake, key, *bounds) if p["report_id"] != report["id"]]
        # Weighted by rarity: a phone tail or an estate that two reports share says more than any
        # number of a template's bigrams, which sixty look-alike notes share as well; counted
        # alike, those filled the cases compared and pushed the true duplicate out.
        for case_id in {p["case_id"] for p in postings}:
            shared[case_id] += 1 / len(postings)
    ids = [case_id for case_id, _ in shared.most_common(CANDIDATE_LIMIT)
           if case_id not in report.get("kept_apart", ())]
    found = intake.cases.find({"id": {"$in": ids}}, limit=len(ids)).items if ids else []
    return [c for c in found if c["id"] != report["id"] and report["id"] not in c["kept_apart"]]


def _nearest_postings(intake: Intake, key: str, earliest: str, at: str, latest: str) -> list[dict]:
    """A key's postings within the window, the nearest in time to the moment on either side."""
    wanted = ("case_id", "report_id")
    earlier = intake.postings.find({"key": key, "reported_at": {"$gte": earliest, "$lte": at}}, fields=wanted,
                                   order=Order("reported_at", descending=True), limit=POSTINGS_PER_KEY).items
    later = intake.postings.find({"key": key, "reported_at": {"$gt": at, "$lte": latest}}, fields=wanted,
                                 order=Order("reported_at"), limit=POSTINGS_PER_KEY).items
    return earlier + later


def _post(intake: Intake, report: dict, case_id: str, signature: matching.Signature, now: datetime) -> None:
    """The report's postings in the candidate index, pointing at the case it is now part of."""
    for key in matching.index_keys(signature, intake.policy):
        try:
            intake.postings.insert({"id": f"{report['id']}|{key}", "key": key, "report_id": report["id"],
                                    "case_id": case_id, "reported_at": report["reported_at"],
                                    "indexed_at": isoformat(now)})
        except DuplicateKeyError:
            pass  # the same report's earlier, interrupted run wrote it


def _repoint(intake: Intake, report_id: str, case_id: str) -> None:
    """Point a report's postings at another case (it was split out into its own)."""
    for posting in intake.postings.find({"report_id": report_id}, limit=1_000).items:
        intake.postings.update(posting["id"], {"case_id": case_id}, expected_version=posting["version"])


def prune_postings(intake: Intake, now: datetime, batch: int = 1_000) -> int:
    """Drop postings indexed longer ago than the merge window: no report within it can match
    them. Returns how many went; called on intake's timer, a batch per unit of work."""
    cutoff = isoformat(now - intake.policy.window)
    stale = intake.postings.find({"indexed_at": {"$lt": cutoff}}, limit=batch).items
    for posting in stale:
        intake.postings.delete(posting["id"])
    return len(stale)


def _best_match(intake: Intake, report: dict, new: matching.Signature) -> tuple[dict, matching.Match] | None:
    best: tuple[dict, matching.Match] | None = None
    for case in _candidates(intake, report, new):
        # A case matches by its closest report: a later caller may word it like any of them.
        match = max((matching.compare(intake.signatures.of(r), new, intake.policy)
                     for r in case["reports"]), key=lambda m: m.score)
        if match.same and (best is None or match.score > best[1].score):
            best = (case, match)
    return best


def _case_entry(report: dict, signature: matching.Signature) -> dict:
    keys = ("number", "channel", "source_id", "reported_at")
    return {"report_id": report["id"], **{k: report[k] for k in keys}, "basis": signature.to_basis()}


def _open_case(intake: Intake, report: dict, signature: matching.Signature) -> Event:
    case = {
        "id": report["id"],
        "number": report["number"],
        "primary_report_id": report["id"],
        "last_reported_at": report["reported_at"],
        "report_count": 1,
        "reports": [_case_entry(report, signature)],
        "kept_apart": report.get("kept_apart", []),
        "restorations": report.get("restorations", 0),
    }
    try:
        intake.cases.insert(case)
    except DuplicateKeyError:
        pass  # the same report's earlier, interrupted run created it
    _record_outcome(intake, report, case_id=report["id"], outcome="created")
    return received_event(report, restorations=case["restorations"])


def _merge(intake: Intake, case: dict, report: dict, signature: matching.Signature, match: matching.Match,
           now: datetime) -> Event:
    entry = _case_entry(report, signature)
    for _ in range(MAX_CONFLICT_RETRIES):
        entries = [e for e in case["reports"] if e["report_id"] != report["id"]] + [entry]
        changes = {
            "reports": entries,
            "report_count": len(entries),
            "last_reported_at": max(case["last_reported_at"], report["reported_at"]),
            # the earliest report is the primary one, whichever arrived first
            "primary_report_id": min(entries, key=lambda e: e["reported_at"])["report_id"],
        }
        if intake.cases.update(case["id"], changes, expected_version=case["version"]):
            break
        case = intake.cases.get(case["id"])
    else:
        raise RuntimeError(f"case {case['id']}: gave up merging after {MAX_CONFLICT_RETRIES} conflicts")
    merge = {"score": match.score, "signals": [s.__dict__ for s in match.signals],
             "explanation": matching.explain(match), "merged_at": isoformat(now), "report_count": len(entries)}
    report = _record_outcome(intake, report, case_id=case["id"], outcome="merged", merge=merge)
    return merged_event(report)


def _record_outcome(intake: Intake, report: dict, **changes) -> dict:
    current = intake.reports.get(report["id"])
    updated = intake.reports.update(report["id"], changes, expected_version=current["version"])
    return updated or intake.reports.get(report["id"])


def received_event(report: dict, restorations: int = 0) -> Event:
    fields = (*CONTENT_FIELDS, "number", "text_simplified", "region_source", "phones", "id_numbers",
              "amounts", "headcount", "received_at")
    # A report split back out of a case opens its case again: a new fact, so a new event id.
    discriminator = f"restored/{restorations}" if restorations else ""
    return make_event("case_received", report["id"], {f: report[f] for f in fields},
                      occurred_at=report["received_at"], discriminator=discriminator)


def merged_event(report: dict) -> Event:
    merge = report["merge"]
    merged = {k: report[k] for k in ("number", "channel", "source_id", "text", "reported_at", "reporter",
                                     "received_at", "facts")}
    return make_event("case_merged", report["case_id"], {
        "report": {"report_id": report["id"], **merged, "import_job": report.get("job_id")},
        "report_count": merge["report_count"], "score": merge["score"],
        "signals": merge["signals"], "merged_at": merge["merged_at"],
    }, occurred_at=merge["merged_at"], discriminator=f"{report['id']}/{report.get('restorations', 0)}")


def outcome_event(intake: Intake, report: dict) -> Event:
    if report["outcome"] == "merged":
        return merged_event(report)
    return received_event(report, report.get("restorations", 0))


def unmerge(intake: Intake, case_id: str, report_id: str, by: str, reason: str, now: datetime) -> list[Event]:
    """Split a merged report back out as its own case; the two stay apart from then on."""
    report = intake.reports.get(report_id)
    if report is None or intake.cases.get(case_id) is None:
        raise CaseNotFound(f"no case {case_id}" if report else f"no report {report_id}")
    if report_id == case_id:
        raise UnmergeRefused("a case's own first report cannot be split out of it; split the others instead")
    if report["case_id"] == report_id and report.get("unmerged_from") == case_id:
        return [_unmerged_event(report, case_id), received_event(report, report["restorations"])]  # replay
    if report["case_id"] != case_id:
        raise UnmergeRefused(f"report {report_id} is not merged into case {case_id}")
    case = _detach(intake, case_id, report_id)
    restorations = report.get("restorations", 0) + 1
    report = intake.reports.update(report_id, {
        "restorations": restorations, "unmerged_from": case_id, "kept_apart": [case_id],
        "unmerge": {"by": by, "reason": reason, "at": isoformat(now), "report_count": case["report_count"]},
        "received_at": isoformat(now),
    }, expected_version=report["version"])
    _repoint(intake, report_id, report_id)
    opened = _open_case(intake, report, _signature(report))
    return [_unmerged_event(intake.reports.get(report_id), case_id), opened]


def _detach(intake: Intake, case_id: str, report_id: str) -> dict:
    for _ in range(MAX_CONFLICT_RETRIES):
        case = intake.cases.get(case_id)
        entries = [e for e in case["reports"] if e["report_id"] != report_id]
        changes = {"reports": entries, "report_count": len(entries),
                   "kept_apart": sorted({*case["kept_apart"], report_id}),
                   "primary_report_id": min(entries, key=lambda e: e["reported_at"])["report_id"]}
        updated = intake.cases.update(case_id, changes, expected_version=case["version"])
        if updated:
            return updated
    raise RuntimeError(f"case {case_id}: gave up unmerging after {MAX_CONFLICT_RETRIES} conflicts")


def _unmerged_event(report: dict, case_id: str) -> Event:
    unmerge = report["unmerge"]
    return make_event("case_unmerged", case_id, {
        "report_id": report["id"], "report_count": unmerge["report_count"], "reason": unmerge["reason"],
        "by": unmerge["by"], "unmerged_at": unmerge["at"],
    }, occurred_at=unmerge["at"], discriminator=f"{report['id']}/{report['restorations']}")
