"""A ledger with known outcome through the whole platform while a fault is injected, and the checks
made after each fault: nothing lost, nothing duplicated, the HTTP API's counts exact."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kombu import Connection

from tests.e2e.conftest import FileClockControl, Platform, start_platform, stop_platform
from tests.fault.node import FaultNode
from tests.ledger_factory import as_csv, estate, mixed_ledger

# 2,100 reports that must end as 1,600 cases (300 merged into them), 100 rows already imported
# once (verbatim copies) and 100 bad rows, plus 20 empty rows.
INCIDENTS, REPEATS, VERBATIM, BAD, EMPTY = 1600, 300, 100, 100, 20
# Every wait below has one of these deadlines; a stuck platform fails with what it waited for.
SETTLE_SECONDS = float(os.environ.get("FQ_TEST_SETTLE_SECONDS", "300"))
DEAD_LETTER_QUEUE = "fengqiao.dlq"
PLACE = re.compile(r"(\w{3})小区(\d+)号楼")


@dataclass
class Row:
    fault: str
    reports: int = 0
    cases_expected: int = 0
    cases_found: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_letters: int = 0
    recovery_seconds: float | None = None
    note: str = ""


TABLE: list[Row] = []


def format_table(rows: list[Row]) -> str:
    head = ("fault", "reports sent", "cases expected", "cases found", "lost", "duplicated", "dead letters",
            "recovered in s", "note")
    body = [(r.fault, r.reports, r.cases_expected, r.cases_found, r.lost, r.duplicated, r.dead_letters,
             "-" if r.recovery_seconds is None else f"{r.recovery_seconds:.1f}", r.note) for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(head, *body, strict=True)]
    lines = [" | ".join(str(x).ljust(w) for x, w in zip(line, widths, strict=True)) for line in [head, *body]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def wait_for(check, timeout: float, what, every: float = 0.25):
    """Poll ``check`` until it returns a truthy value; fails saying what it waited for (``what``, or
    what it returns then), and what the last look showed, when the deadline passes."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError as exc:  # the gateway is busy or restarting: look again
            value, last = None, repr(exc)
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what() if callable(what) else what}: not within {timeout:.0f} s (last: {last})")


@dataclass
class Ledger:
    rows: list[list]
    reports: int  # non-empty rows
    created: int
    merged: int
    replayed: int
    rejected: int

    @classmethod
    def standard(cls) -> Ledger:
        rows, expected = mixed_ledger(incidents=INCIDENTS, repeats=REPEATS, verbatim=VERBATIM, bad=BAD, empty=EMPTY)
        return cls(rows, expected.rows, expected.created, expected.merged, expected.replayed, expected.rejected)

    def estates(self) -> set[str]:
        return {estate(i) for i in range(self.created)}


def extra_report(i: int) -> dict:
    """A report of an incident the ledger does not hold (the ledger factory's incident ``i``, past
    the ledger's own), as a 12345 system posts it one at a time."""
    rows, _ = mixed_ledger(incidents=i + 1, repeats=0, verbatim=0, bad=0, empty=0)
    row = rows[i]
    return {"channel": "hotline_12345", "source_id": f"F{i:05d}", "text": row[2], "address": row[3],
            "region_code": row[4], "reporter": {"name": row[5], "phone": row[6]}}


@dataclass
class Run:
    """One fault's platform: its own vhost on the fault node, its own data directory and clock."""
    node: FaultNode
    vhost: str
    platform: Platform
    ledger: Ledger
    job_id: str = ""
    extra: list[dict] = field(default_factory=list)  # accepted one-by-one reports beyond the ledger
    seen: str = "nothing yet"  # what the last look at the job and the read model showed

    @property
    def amqp_uri(self) -> str:
        return self.node.vhost_uri(self.vhost)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.platform.base_url, headers={"X-API-Key": self.platform.leader_key},
                            timeout=30)

    def start_import(self) -> str:
        with self.client() as client:
            started = client.post("/api/v1/imports", files={"file": ("台账.csv", as_csv(self.ledger.rows))})
        assert started.status_code == 202, started.text
        self.job_id = started.json()["id"]
        return self.job_id

    def job(self) -> dict:
        with self.client() as client:
            response = client.get(f"/api/v1/imports/{self.job_id}")
        assert response.status_code in (200, 503), response.text
        return response.json() if response.status_code == 200 else {}

    def registered(self) -> int:
        """Reports intake has registered so far (created or merged), as the job tells."""
        job = self.job()
        return job.get("created", 0) + job.get("merged", 0)

    def wait_registered(self, fraction: float, timeout: float = 120) -> int:
        target = int((self.ledger.created + self.ledger.merged) * fraction)
        return wait_for(lambda: (n := self.registered()) >= target and n, timeout,
                        f"intake registered {target} reports of the ledger", every=0.1)

    def service_pids(self) -> set[int]:
        """The supervisor's service processes (one or more per service)."""
        found = subprocess.run(["pgrep", "-P", str(self.platform.process.pid), "-f", "fengqiao.cli run"],
                               capture_output=True, text=True).stdout.split()
        return {int(pid) for pid in found}

    def dead_letters(self) -> int:
        with Connection(self.amqp_uri, connect_timeout=10) as connection:
            channel = connection.channel()
            try:
                return channel.queue_declare(DEAD_LETTER_QUEUE, passive=True).message_count
            finally:
                channel.close()

    def settled(self) -> dict | None:
        """The job done with its exact counts and the read model caught up, or None yet."""
        job = self.job()
        self.seen = f"job {job}"
        if job.get("state") != "done":
            return None
        with self.client() as client:
            page = client.get("/api/v1/cases", params={"limit": 1})
            stats = client.get("/api/v1/stats")
        if page.status_code != 200 or stats.status_code != 200:
            return None
        cases = self.ledger.created + len(self.extra)
        figures = stats.json()
        self.seen += f"; {page.json()['total']} cases listed, open by status {figures['open_by']['status']}"
        if page.json()["total"] != cases or figures["open_by"]["status"] != {"assigned": cases}:
            return None
        return {"job": job, "stats": figures}

    def check(self, fault: str, since: float, reference: dict | None, note: str = "",
              dead_letters: int = 0) -> Row:
        """Wait until everything settles, then count: the table's row. Asserts 0 lost, 0 duplicated,
        the job's counts and the stats equal the expected ones."""
        settled = wait_for(self.settled, SETTLE_SECONDS, lambda: f"{fault}: the ledger settled (job done, "
                           f"{self.ledger.created + len(self.extra)} cases, all assigned; last seen: {self.seen})",
                           every=0.5)
        recovered = time.monotonic() - since
        job, stats = settled["job"], settled["stats"]
        items = self.all_cases()
        places = [self.place_of(item) for item in items]
        expected = self.ledger.estates() | {estate(int(r["source_id"][1:])) for r in self.extra}
        found = set(places)
        row = Row(fault, self.ledger.reports + len(self.extra), len(expected), len(items),
                  lost=len(expected - found), duplicated=len(places) - len(found),
                  dead_letters=self.dead_letters(), recovery_seconds=recovered, note=note)
        TABLE.append(row)
        assert (job["created"], job["merged"], job["replayed"], job["rejected"]) == (
            self.ledger.created, self.ledger.merged, self.ledger.replayed, self.ledger.rejected), job
        assert row.lost == 0 and row.duplicated == 0 and found == expected, row
        assert sum(item["report_count"] for item in items) == self.ledger.created + self.ledger.merged + len(self.extra)
        unassigned = [item for item in items if item["status"] != "assigned"]
        assert not unassigned, (f"{len(unassigned)} cases not assigned", unassigned[0], self.case(unassigned[0]["id"]))
        assert stats["received_total"] == len(expected) and stats["open"] == len(expected)
        if reference is not None and not self.extra:
            # A case's channel, category and level follow whichever report of its incident came first,
            # which a fault may reorder (see docs/faults.md); these figures must not move.
            for key in ("open", "received_total", "grade3_open", "overdue"):
                assert stats[key] == reference[key], (key, stats[key], reference[key])
            assert stats["open_by"]["status"] == reference["open_by"]["status"]
        assert row.dead_letters == dead_letters, f"the dead-letter queue holds {row.dead_letters} messages"
        self.check_counters()
        return row

    def case(self, case_id: str) -> dict:
        with self.client() as client:
            return client.get(f"/api/v1/cases/{case_id}").json()

    def check_counters(self) -> None:
        """The screen's counters, kept per event through the fault, equal a fresh count of the views."""
        self.platform.cli("recount", "--check")  # fails printing each counter that differs

    def all_cases(self) -> list[dict]:
        items, cursor = [], None
        with self.client() as client:
            while True:
                params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
                response = client.get("/api/v1/cases", params=params)
                assert response.status_code == 200, response.text
                page = response.json()
                items += page["items"]
                cursor = page["next_cursor"]
                if not cursor:
                    return items

    @staticmethod
    def place_of(item: dict) -> str:
        # the estate's three characters before 小区 name the incident (the county comes first)
        match = PLACE.search(item.get("address") or "")
        assert match, item
        return match.group(1)


@contextmanager
def fault_run(node: FaultNode, tmp: Path, **env: str):
    """A fresh vhost and platform for one fault, both removed afterwards even when the test failed."""
    vhost = node.add_vhost()
    clock = FileClockControl(tmp / "clock.txt")
    platform = None
    try:
        platform = start_platform(tmp, node.vhost_uri(vhost), FQ_CLOCK_FILE=str(clock.path), **env)
        # personal data unmasked, so each case's place names its incident
        platform.leader_key = platform.key("leader", "pii_reader", name="故障测试")
        yield Run(node, vhost, platform, Ledger.standard())
    except BaseException:
        if platform is not None:  # what the platform said is the first thing to read when a fault check fails
            print("".join(platform.log.read_text(errors="replace").splitlines(keepends=True)[-120:]))
        raise
    finally:
        try:
            if platform is not None:
                stop_platform(platform)
        finally:
            if node.answers():
                node.delete_vhost(vhost)
            shutil.rmtree(tmp / "data", ignore_errors=True)
