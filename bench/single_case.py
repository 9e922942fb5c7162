"""The single-case path: one report per `POST /api/v1/cases`, as a channel's system sends them.

1. Latency at an offered load: reports posted at a steady rate (50/s by default), each case's
   time from the moment it was posted to its assignment (the timeline's case_assigned entry,
   stamped by routing on the same machine's clock), p50 and p99.
2. Throughput at 32 concurrent clients: requests/s and the answers' p50 and p99.
3. The peak RSS of every process of the platform over both.

Against the baseline measured in the same run (bench.bulk_intake's confirmed publish, one message
at a time). The clients run on the same two cores as the platform, so both figures understate
what a separate client machine would see.

    .venv/bin/python -m bench.single_case [offered per second] [seconds] [requests at 32 clients]
"""
from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.bulk_intake import GUEST, MANAGEMENT, baseline, order, vhost
from bench.memory import PeakMemory
from bench.search_1m import pct
from fengqiao.clock import parse_iso
from tests.e2e.conftest import start_platform, stop_platform

CLIENTS = 32


def submission(i: int) -> dict:
    """A distinct incident (bench.bulk_intake's work order i) as a 12345 system posts one case."""
    work = order(i, datetime.now(UTC))
    return {"channel": "hotline_12345", "source_id": work["order_no"], "text": work["content"],
            "address": work["address"], "region_code": work["region_code"],
            "reporter": {"name": "张先生", "phone": work["caller_phone"]}}


async def offered(client: httpx.AsyncClient, rate: float, seconds: float, first: int) -> dict[str, datetime]:
    """Posts at ``rate`` per second on a fixed schedule (a late answer does not delay the next post);
    the moment each case was posted, by its id."""
    posted: dict[str, datetime] = {}

    async def post(i: int) -> None:
        at = datetime.now(UTC)
        answer = await client.post("/api/v1/cases", json=submission(i))
        assert answer.status_code == 202, answer.text
        posted[answer.json()["id"]] = at

    started, tasks = time.monotonic(), []
    for k in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + k / rate - time.monotonic()))
        tasks.append(asyncio.create_task(post(first + k)))
    await asyncio.gather(*tasks)
    return posted


async def assigned_after(client: httpx.AsyncClient, posted: dict[str, datetime], limit: float = 600) -> list[float]:
    """Seconds from posting to assignment for every case, read once each case is assigned."""
    deadline, delays = time.monotonic() + limit, []
    for case_id, at in posted.items():
        while True:
            view = await client.get(f"/api/v1/cases/{case_id}")
            entries = [e for e in view.json().get("timeline", []) if e["type"] == "case_assigned"] \
                if view.status_code == 200 else []
            if entries:
                delays.append((parse_iso(entries[0]["at"]) - at).total_seconds())
                break
            assert time.monotonic() < deadline, f"case {case_id} not assigned within {limit} s"
            await asyncio.sleep(0.2)
    return delays


async def concurrent(client: httpx.AsyncClient, requests: int, first: int) -> tuple[float, list[float]]:
    """``requests`` posts by CLIENTS clients each posting its next as soon as the last is answered."""
    latencies: list[float] = []
    numbers = iter(range(first, first + requests))

    async def one_client() -> None:
        for i in numbers:
            began = time.perf_counter()
            answer = await client.post("/api/v1/cases", json=submission(i))
            latencies.append(time.perf_counter() - began)
            assert answer.status_code == 202, answer.text

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(CLIENTS)))
    return requests / (time.perf_counter() - started), latencies


async def measure(platform, rate: float, seconds: float, requests: int) -> float:
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(base_url=platform.base_url, headers={"X-API-Key": platform.leader_key},
                                 timeout=60, limits=limits) as client:
        # The platform's first case after a start: services still connecting and fitting models
        # are startup, not the steady state measured below.
        first = await offered(client, 1, 1, first=0)
        print(f"first case after start: assigned after {(await assigned_after(client, first))[0] * 1000:.0f} ms")
        posted = await offered(client, rate, seconds, first=1)
        delays = await assigned_after(client, posted)
        print(f"intake → assigned at {rate:.0f} reports/s offered ({len(delays)} cases): "
              f"p50 {pct(delays, 50) * 1000:.0f} ms, p99 {pct(delays, 99) * 1000:.0f} ms, "
              f"worst {max(delays) * 1000:.0f} ms (goal p99 ≤ 1000 ms)")
        throughput, latencies = await concurrent(client, requests, first=1 + len(posted))
        print(f"{CLIENTS} clients, {requests} requests: {throughput:.0f} requests/s, "
              f"p50 {pct(latencies, 50) * 1000:.0f} ms, p99 {pct(latencies, 99) * 1000:.0f} ms "
              f"(goal 1,000/s, p99 ≤ 50 ms)")
    return throughput


def main(rate: float = 50, seconds: float = 20, requests: int = 3000) -> None:
    base = baseline(requests)
    print(f"baseline: confirmed publish, one at a time: {base:.0f} messages/s")
    name = vhost()
    platform = start_platform(Path(tempfile.mkdtemp(prefix="fq-bench-single-")),
                              f"amqp://guest:guest@127.0.0.1:5672/{name}", FQ_LOG_LEVEL="WARNING")
    try:
        with PeakMemory(platform.process.pid) as memory:
            throughput = asyncio.run(measure(platform, rate, seconds, requests))
        print(f"ratio {CLIENTS}-client requests / baseline: {throughput / base:.2f}x")
        print(memory.report())
    finally:
        stop_platform(platform)
        httpx.delete(f"{MANAGEMENT}/api/vhosts/{name}", auth=GUEST)


if __name__ == "__main__":
    main(*(float(a) for a in sys.argv[1:3]), *(int(a) for a in sys.argv[3:4]))
