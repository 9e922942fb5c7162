"""The bulk path: 12345 work orders posted in batches of 1,000 through the gateway, until every
case is registered, assigned and searchable; against a baseline measured in the same run, plain
confirmed publishing of the same number of report-sized messages, one at a time; then again with
two processes each of the busy services competing on their queues (FQ_SERVICE_PROCESSES).

The platform runs as `fengqiao up` runs it (gateway and services processes) on a vhost and data
directory of its own; "done" is read from the services' own counters on /metrics and from a search.

    .venv/bin/python -m bench.bulk_intake [N] [--one-process]

``--one-process`` leaves out the run with two processes per service (for the 100,000-report run,
which takes over half an hour each way).

It also prints the peak RSS of every process of the platform during each run (bench.memory).
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from kombu import Connection, Exchange, Queue
from prometheus_client.parser import text_string_to_metric_families

from bench.memory import PeakMemory
from tests.e2e.conftest import start_platform, stop_platform
from tests.ledger_factory import estate

MANAGEMENT = "http://127.0.0.1:15672"
GUEST = ("guest", "guest")
BATCH = 1000
PROGRESS_SECONDS = 300
CORES = os.cpu_count() or 1
TWO_EACH = {"intake": 2, "routing": 2, "search": 2}  # the services the bulk path keeps busy
COUNTIES = ["150102", "150103", "150104", "150105", "150122", "150502", "150802", "510183"]
MATTERS = ["卫生间漏水，天花板发霉", "装修噪音扰民，早上七点开始施工", "电梯停运半个月物业不修",
           "暖气不热室温只有十三度", "公共楼道堆放杂物有消防隐患", "小区门口占道经营影响通行", "物业费上涨未公示",
           "夜间烧烤油烟扰民"]


def orders(n: int) -> list[dict]:
    """N distinct incidents over three years: each its own matter, estate, building and flat."""
    start = datetime(2023, 1, 1, 8, 0)
    return [order(i, start + timedelta(minutes=157 * i)) for i in range(n)]


def order(i: int, call_time: datetime) -> dict:
    # Each its own estate (the ledger factory's names), so none is another's duplicate.
    flat = f"{estate(i)}小区{i % 30 + 1}栋{i % 6 + 1}单元{i % 20 + 1}0{i % 4 + 1}室"
    matter = MATTERS[(i // len(COUNTIES)) % len(MATTERS)]
    return {"order_no": f"BENCH{i:08d}", "call_time": call_time.isoformat(), "caller_phone": f"138{i:08d}",
            "content": f"来电人反映：{flat}{matter}，请尽快处理。", "address": flat,
            "region_code": COUNTIES[i % len(COUNTIES)]}


def vhost() -> str:
    name = f"fq_bench_{uuid.uuid4().hex[:8]}"
    httpx.put(f"{MANAGEMENT}/api/vhosts/{name}", auth=GUEST).raise_for_status()
    httpx.put(f"{MANAGEMENT}/api/permissions/{name}/guest", auth=GUEST,
              json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    return name


def baseline(n: int) -> float:
    """Report-sized persistent messages, each published and confirmed before the next."""
    name = vhost()
    try:
        body = json.dumps({"data": orders(1)[0], "pad": "x" * 600}, ensure_ascii=False)
        with Connection(f"amqp://guest:guest@127.0.0.1:5672/{name}",
                        transport_options={"confirm_publish": True}) as connection:
            exchange = Exchange("bench", type="topic", durable=True)
            Queue("bench", exchange, routing_key="#", durable=True)(connection.default_channel).declare()
            producer = connection.Producer()
            started = time.perf_counter()
            for _ in range(n):
                producer.publish(body, exchange=exchange, routing_key="report", delivery_mode=2,
                                 content_type="application/json")
            return n / (time.perf_counter() - started)
    finally:
        httpx.delete(f"{MANAGEMENT}/api/vhosts/{name}", auth=GUEST)


def counter(metrics: str, name: str) -> float:
    return sum(sample.value for family in text_string_to_metric_families(metrics)
               for sample in family.samples if sample.name == name)


def bulk(n: int, processes: dict[str, int]) -> float:
    name = vhost()
    platform = start_platform(Path(tempfile.mkdtemp(prefix="fq-bench-bulk-")),
                              f"amqp://guest:guest@127.0.0.1:5672/{name}", FQ_LOG_LEVEL="WARNING",
                              FQ_SERVICE_PROCESSES=json.dumps(processes))
    try:
        items = orders(n)
        with platform.client() as client, PeakMemory(platform.process.pid) as memory:
            started = time.perf_counter()
            for i in range(0, n, BATCH):
                answer = client.post("/api/v1/intake/hotline_12345/batch", json={"items": items[i:i + BATCH]},
                                     timeout=120)
                assert answer.status_code in (200, 201, 202, 207), answer.text
            posted = time.perf_counter() - started
            done = wait_done(platform, client, n)
        elapsed = time.perf_counter() - started
        print(f"  posted in {posted:.1f} s; {done['received']:.0f} cases and {done['merged']:.0f} merges, "
              f"{done['assigned']:.0f} assignments, {done['searchable']} searchable after {elapsed:.1f} s")
        print(f"  {memory.report()}")
        # N distinct incidents: any other count is a lost, duplicated or wrongly merged report.
        assert (done["received"], done["merged"], done["searchable"]) == (n, 0, n), done
        return n / elapsed
    finally:
        stop_platform(platform)
        httpx.delete(f"{MANAGEMENT}/api/vhosts/{name}", auth=GUEST)


def wait_done(platform, client: httpx.Client, n: int) -> dict:
    limit = max(3600, n / 10)  # a run slower than 10 reports/s is a failure, not a figure
    started = time.monotonic()
    deadline, shown = started + limit, started
    while time.monotonic() < deadline:
        metrics = httpx.get(platform.metrics_url).text
        figures = {"received": counter(metrics, "fengqiao_cases_received_total"),
                   "merged": counter(metrics, "fengqiao_reports_merged_total"),
                   "assigned": counter(metrics, "fengqiao_cases_assigned_total")}
        if time.monotonic() - shown >= PROGRESS_SECONDS:  # does the rate hold as the stores grow?
            shown = time.monotonic()
            print(f"  after {shown - started:5.0f} s: {figures['received']:.0f} cases, "
                  f"{figures['assigned']:.0f} assignments", flush=True)
        if figures["received"] + figures["merged"] >= n and figures["assigned"] >= figures["received"]:
            found = searchable(client, datetime.now(UTC) - timedelta(seconds=limit + 3600), datetime.now(UTC))
            if found >= figures["received"]:
                return {**figures, "searchable": found}
        time.sleep(0.5)
    raise TimeoutError(f"{n} reports not all assigned and searchable within {limit} s")


def searchable(client: httpx.Client, start: datetime, end: datetime) -> int:
    """The cases a search finds, received in [start, end). A total past the search's exact limit
    (10,000, as Elasticsearch tracks) is only a lower bound, so such a window is counted in halves."""
    answer = client.get("/api/v1/cases", params={"limit": 1, "received_from": start.isoformat(),
                                                 "received_to": end.isoformat()})
    answer.raise_for_status()
    page = answer.json()
    if page["total_exact"]:
        return page["total"]
    middle = start + (end - start) / 2
    return searchable(client, start, middle) + searchable(client, middle, end)


def main(n: int = 5000, scaling: bool = True) -> None:
    base = baseline(n)
    print(f"{'baseline: confirmed publish, one at a time':46s} {n:7d} messages: {base:8.0f}/s")
    rate = bulk(n, {})
    print(f"{'bulk: batches of 1,000 until assigned + searchable':46s} {n:7d} reports:  {rate:8.0f}/s")
    print(f"ratio bulk / baseline: {rate / base:.2f}x; per core ({CORES} cores): {rate / CORES:.0f}/s")
    if not scaling:
        return
    scaled = bulk(n, TWO_EACH)
    print(f"{'bulk, two processes of ' + '/'.join(TWO_EACH):46s} {n:7d} reports:  {scaled:8.0f}/s")
    print(f"ratio two processes / one: {scaled / rate:.2f}x")


if __name__ == "__main__":
    counts = [int(arg) for arg in sys.argv[1:] if arg.isdigit()]
    main(counts[0] if counts else 5000, scaling="--one-process" not in sys.argv)
