"""Prometheus metrics shared by the services (one registry per process).

Names follow Prometheus conventions: ``fengqiao_`` prefix, base units, ``_total`` for counters,
labels with a handful of values only (never a case id, a person or a village code).
"""
from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram

from fengqiao.screen import level_risk_counts

EVENTS_HANDLED = Counter(
    "fengqiao_events_handled_total", "Events handled successfully", ["service", "event"]
)
HANDLER_FAILURES = Counter(
    "fengqiao_handler_failures_total", "Handler runs that raised", ["service", "handler"]
)
DEAD_LETTERED = Counter(
    "fengqiao_messages_dead_lettered_total", "Messages rejected straight to the DLQ", ["service"]
)
CASES_RECEIVED = Counter("fengqiao_cases_received_total", "Cases opened by intake", ["channel"])
CASES_MERGED = Counter(
    "fengqiao_reports_merged_total", "Reports merged into an existing case (重复诉求并单)", ["channel"]
)
INTAKE_SECONDS = Histogram(
    "fengqiao_intake_seconds", "From gateway acceptance to intake registration",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ASSIGNMENT_SECONDS = Histogram(
    "fengqiao_intake_to_assigned_seconds", "From intake's registration of a case to routing's first assignment",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
CASES_ASSIGNED = Counter("fengqiao_cases_assigned_total", "Assignments made by routing", ["level"])
MEDIATIONS_OPENED = Counter(
    "fengqiao_mediations_opened_total", "Mediations opened, by origin (交办, 诉调, 警调, 访调)", ["origin"]
)
MEDIATIONS_CONCLUDED = Counter(
    "fengqiao_mediations_concluded_total", "Mediations ended, by outcome", ["outcome"]
)
FOLLOWUPS_DONE = Counter("fengqiao_followups_done_total", "Follow-up visits recorded", ["satisfaction"])
CASES_REOPENED = Counter("fengqiao_cases_reopened_total", "Cases reopened after resolution", ["after"])
CASES_CLOSED = Counter("fengqiao_cases_closed_total", "Cases closed after a satisfied visit")
SEARCH_SECONDS = Histogram(
    "fengqiao_search_query_seconds", "Time the search service takes to answer, by kind of question",
    ["kind"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
WEBHOOK_ATTEMPTS = Counter(
    "fengqiao_webhook_attempts_total", "Webhook delivery attempts, by where the delivery stands after",
    ["status"],
)


OPEN_CASES = Gauge("fengqiao_cases_open", "Open cases by handling level and risk grade", ["level", "risk"],
                   multiprocess_mode="mostrecent")
OVERDUE_CASES = Gauge("fengqiao_cases_overdue", "Open cases past their deadline", multiprocess_mode="mostrecent")
GRADE3_OPEN_CASES = Gauge("fengqiao_cases_grade3_open", "Open cases of risk grade 3 (重大)",
                          multiprocess_mode="mostrecent")


class CaseGauges:
    """Open, overdue and open grade-3 cases, set from the search service's exact counters for the
    whole platform (``counts`` returns them): never a recount of the cases.

    Set by ``refresh`` rather than read at scrape time, so that they also reach Prometheus when
    the services run in processes of their own and one endpoint serves them all (multiprocess
    mode, ``fengqiao up``); a (level, risk) pair that has no open case left is set to 0."""

    def __init__(self, counts: Callable[[], dict]):
        self._counts = counts
        self._pairs: set[tuple[str, str]] = set()

    def refresh(self) -> None:
        counts = self._counts()
        by_pair = level_risk_counts(counts)
        self._pairs |= set(by_pair)
        for pair in sorted(self._pairs):
            OPEN_CASES.labels(*pair).set(by_pair.get(pair, 0))
        OVERDUE_CASES.set(counts.get("overdue", 0))
        GRADE3_OPEN_CASES.set(counts.get("open.risk.3", 0))
