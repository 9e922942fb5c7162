"""Ledger imports as durable jobs, on the real broker: rows stored with the job and sent through
the receipts, progress counted from intake's events on the gateway's own queue, a job resumed by
the next gateway without sending or counting anything twice."""
from __future__ import annotations

import asyncio
import time

import pytest
from nameko.standalone.events import event_dispatcher

from fengqiao.directory import Directory
from fengqiao.events import parse_event
from fengqiao.ledger import parse_ledger
from fengqiao.settings import DEFAULT_DIRECTORY, Settings
from fengqiao.store.aio import open_async_store
from gateway import imports, submissions
from gateway.bridge import EventPublisher
from gateway.import_feed import UnreadableOutcome, imported_row
from services.intake import registration
from services.intake.places import RegionResolver
from tests.gateway.conftest import DEAD_BROKER, gateway_client
from tests.gateway.test_intake_api import BATCH_QUEUE, drain, upload

LEAK = "来电人反映金银华小区3号楼201室楼上住户卫生间漏水，天花板发霉，协商无果。"
AGAIN = "金银华小区3号楼201室住户再次反映，漏水问题仍未解决，希望尽快处理。"
LEDGER = ("编号,渠道,反映内容,地址,联系电话,登记时间\n"
          f"L1,12345,{LEAK},新城区金银华小区3号楼201室,13900000001,2026年3月5日 09:00\n"
          "L2,12345,邻居装修噪音扰民，每天早上七点开始施工。,回民区翠柏小区5号楼302室,13900000002,2026年3月5日 10:00\n"
          f"L3,网格,{AGAIN},新城区金银华小区3号楼201室,13900000001,2026年3月6日 09:00\n"
          "L4,传真,草场纠纷,,,2026年3月6日\n")


def poll(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def job_when(client, job_id: str, ready, what: str) -> dict:
    def check():
        response = client.get(f"/api/v1/imports/{job_id}")
        assert response.status_code == 200, response.text
        return response.json() if ready(response.json()) else None

    return poll(check, 15, what)


def intake_events(amqp_uri: str, memory_store, clock) -> list[dict]:
    """What intake emits for the reports the gateway queued: its own registration, run here."""
    intake = registration.Intake(registration.REPORTS.open(memory_store), registration.CASES.open(memory_store),
                                 registration.POSTINGS.open(memory_store))
    resolver = RegionResolver(Directory.load(DEFAULT_DIRECTORY))
    events = []
    for batch in drain(amqp_uri, BATCH_QUEUE):
        for envelope in batch["data"]["reports"]:
            report = parse_event(envelope, "report_submitted")
            placement = resolver.place(report.data.region_code, report.data.address)
            events.append(registration.register(intake, report, placement, clock.now()).event.to_message())
    return events


def test_an_imports_progress_is_counted_once_from_intakes_events(client, bus_uri, memory_store, clock):
    job = upload(client, "台账.csv", LEDGER.encode("gbk")).json()
    assert (job["rows"], job["rejected"], job["state"]) == (4, 1, "queueing")
    queued = job_when(client, job["id"], lambda j: j["state"] == "queued", "every row sent")
    assert (queued["queued"], queued["replayed"], queued["created"], queued["merged"]) == (3, 0, 0, 0)

    events = intake_events(bus_uri, memory_store, clock)
    assert [e["type"] for e in events] == ["case_received", "case_received", "case_merged"]
    dispatch = event_dispatcher({"AMQP_URI": bus_uri}, use_confirms=True)
    for envelope in events + events:  # every event delivered twice
        dispatch("intake", envelope["type"], envelope)
    done = job_when(client, job["id"], lambda j: j["state"] == "done", "every row registered")
    assert (done["created"], done["merged"], done["done"]) == (2, 1, 4)


def test_importing_the_same_ledger_again_counts_its_rows_as_replayed(client):
    first = upload(client, "台账.csv", LEDGER.encode("gbk")).json()
    job_when(client, first["id"], lambda j: j["state"] == "queued", "first import sent")
    again = upload(client, "台账.csv", LEDGER.encode("gbk")).json()
    # Nothing new for intake: the job is done as soon as its rows are found imported before.
    done = job_when(client, again["id"], lambda j: j["state"] == "done", "second import done")
    assert (done["queued"], done["replayed"], done["created"], done["merged"]) == (0, 3, 0, 0)


def test_while_the_bus_is_down_an_import_waits_and_says_why(offline_client):
    job = upload(offline_client, "台账.csv", LEDGER.encode("gbk")).json()
    waiting = job_when(offline_client, job["id"], lambda j: j["waiting_for"], "the job says it waits")
    assert waiting["state"] == "queueing" and waiting["queued"] == 0
    assert "cannot publish" in waiting["waiting_for"]


def test_a_gateway_started_after_an_outage_resumes_the_import(tmp_path, clock, bus_uri):
    with gateway_client(tmp_path, DEAD_BROKER, clock) as down:
        job = upload(down, "台账.csv", LEDGER.encode("gbk")).json()
    with gateway_client(tmp_path, bus_uri, clock) as up:
        resumed = job_when(up, job["id"], lambda j: j["state"] == "queued", "the resumed job sent")
    assert (resumed["queued"], resumed["replayed"]) == (3, 0)
    sent = [r["data"]["source_id"] for batch in drain(bus_uri, BATCH_QUEUE) for r in batch["data"]["reports"]]
    assert sorted(sent) == ["L1", "L2", "L3"]


def test_a_chunk_sent_before_a_crash_is_sent_and_counted_once_on_resume(tmp_path, clock, bus_uri):
    # The gateway died after publishing the first chunk and before recording it as sent.
    async def scenario():
        store = open_async_store(f"sqlite:///{tmp_path}", "gateway")
        publisher = EventPublisher(Settings(amqp_uri=bus_uri).nameko_config(), timeout=5)
        try:
            receipts = await submissions.RECEIPTS.open_async(store)
            jobs = await imports.open_imports(store, receipts, publisher, clock, chunk_rows=2)
            parsed = parse_ledger("台账.csv", LEDGER.encode(), None, "job-1")
            job = await imports.create(jobs, "job-1", parsed, "台账.csv", None, "client:test", {})
            first_chunk = [report for _, report in parsed.rows[:2]]
            await submissions.accept_many(receipts, store, publisher, "client:test", first_chunk, clock.now())
            await imports.run(jobs, "job-1")
            return await imports.view(jobs, await jobs.jobs.get(job["id"]))
        finally:
            publisher.close()
            await store.close()

    view = asyncio.run(scenario())
    assert (view["chunks"], view["queued"], view["replayed"], view["state"]) == (2, 3, 0, "queued")
    sent = [r["data"]["source_id"] for batch in drain(bus_uri, BATCH_QUEUE) for r in batch["data"]["reports"]]
    assert sorted(sent) == ["L1", "L2", "L3"]


def test_only_events_about_imported_rows_are_counted():
    received = {"type": "case_received", "case_id": "r1", "data": {"facts": {"import_job": "job-1"}}}
    merged = {"type": "case_merged", "case_id": "c1", "data": {"report": {"report_id": "r2", "import_job": "job-1"}}}
    assert imported_row(received) == ("job-1", "r1", "created")
    assert imported_row(merged) == ("job-1", "r2", "merged")
    assert imported_row({"type": "case_received", "case_id": "r3", "data": {"facts": {}}}) is None
    assert imported_row({"type": "case_merged", "case_id": "c1", "data": {"report": {"report_id": "r4"}}}) is None
    assert imported_row({"type": "case_triaged", "case_id": "r1", "data": {}}) is None


@pytest.mark.parametrize("poison", [
    {"type": "case_received", "event_id": 7, "data": "nothing"},  # what the fault suite puts in every queue
    {"type": "case_received", "data": {"facts": {"import_job": "job-1"}}},  # no case id
    {"type": "case_merged", "data": {"report": {"import_job": ["job-1"], "report_id": "r1"}}},
    ["not", "an", "envelope"],
])
def test_a_message_no_intake_wrote_is_unreadable_not_a_crash_of_the_feed(poison):
    # Before, the first of these raised AttributeError in the consumer's thread and the feed
    # stopped for good: no import was ever done again.
    with pytest.raises(UnreadableOutcome):
        imported_row(poison)


def test_rows_are_chunked_by_count_and_by_size():
    short, long = {"text": "漏水"}, {"text": "信访人反映" * (imports.CHUNK_BYTES // 20)}
    assert [len(c) for c in imports._chunked([short] * 5, rows=2)] == [2, 2, 1]
    # Each long row is over half the byte bound: one a chunk, however many rows a chunk may hold.
    assert [len(c) for c in imports._chunked([long, long, short], rows=1000)] == [1, 2]
    assert imports._chunked([], rows=1000) == []
