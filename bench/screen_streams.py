"""The walls' update delay with 200 open streams, against a baseline measured in the same run: one
open stream, the same events.

The search service runs as its own process (``fengqiao run search``) and the gateway under
uvicorn, on a vhost of their own. Facts (``case_received``) are published straight onto
``intake.events``, one at a time; the delay of a stream is from the publish to the frame whose
figures count that case. Each round opens the streams, waits for every snapshot, then sends the
events; every (event, stream) pair is one sample.

    .venv/bin/python -m bench.screen_streams [STREAMS] [EVENTS]
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from kombu import Connection, Exchange

from fengqiao.bus.topology import declare_topology
from fengqiao.clock import isoformat
from fengqiao.events import make_event
from fengqiao.registry import all_service_classes

MANAGEMENT = "http://127.0.0.1:15672"
GUEST = ("guest", "guest")
KEY = "bench-screen-admin-key"
GAP_SECONDS = 0.25  # between events, so each frame answers one event


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fact(n: int, run: str) -> dict:
    now = datetime.now(UTC)
    return make_event("case_received", f"{run}-{n}", {
        "number": f"FQ-BENCH-{n:06d}", "channel": "hotline_12345", "source_id": f"{run}-{n}",
        "text": "来电人反映：楼上住户卫生间长期漏水。", "address": None, "region_code": "150102001001",
        "occurred_at": None, "reported_at": isoformat(now), "reporter": None,
        "text_simplified": "来电人反映：楼上住户卫生间长期漏水。", "received_at": isoformat(now),
    }, occurred_at=now).to_message()


async def watch(client: httpx.AsyncClient, seen: dict[int, float], ready: asyncio.Event) -> None:
    """One wall: note when each received_total is first counted. A frame may count two cases at
    once (their events came within one frame's work); it is the update of both."""
    async with client.stream("GET", "/api/v1/screen/stream") as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                total, now = json.loads(line[5:])["figures"]["received_total"], time.monotonic()
                for counted in range(max(seen, default=total - 1) + 1, total + 1):
                    seen.setdefault(counted, now)
                ready.set()


async def round_of(base_url: str, amqp: str, streams: int, events: int, run: str) -> list[float]:
    limits = httpx.Limits(max_connections=streams + 10, max_keepalive_connections=streams + 10)
    async with httpx.AsyncClient(base_url=base_url, headers={"X-API-Key": KEY}, limits=limits,
                                 timeout=httpx.Timeout(30, read=None)) as client:
        seen = [{} for _ in range(streams)]
        ready = [asyncio.Event() for _ in range(streams)]
        tasks = [asyncio.create_task(watch(client, s, r)) for s, r in zip(seen, ready, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)
        start = max(max(s) for s in seen)
        sent = {}
        exchange = Exchange("intake.events", type="topic", durable=True, no_declare=True)
        with Connection(amqp) as connection:
            producer = connection.Producer()
            for n in range(1, events + 1):
                sent[start + n] = time.monotonic()
                producer.publish(fact(n, run), exchange=exchange, routing_key="case_received", serializer="json")
                await asyncio.sleep(GAP_SECONDS)
        deadline = time.monotonic() + 30
        while any(start + events not in s for s in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    missing = sum(1 for s in seen for total in sent if total not in s)
    if missing:
        raise SystemExit(f"{missing} of {len(sent) * streams} updates never arrived")
    return [s[total] - at for s in seen for total, at in sent.items()]


def quantile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[int(q * 100) - 1]


def main(streams: int = 200, events: int = 30) -> None:
    vhost = f"fq_bench_{uuid.uuid4().hex[:8]}"
    httpx.put(f"{MANAGEMENT}/api/vhosts/{vhost}", auth=GUEST, timeout=60).raise_for_status()
    httpx.put(f"{MANAGEMENT}/api/permissions/{vhost}/guest", auth=GUEST, timeout=30,
              json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    processes = []
    try:
        declare_topology(amqp, all_service_classes(), delivery_limit=5)
        data, port = Path(tempfile.mkdtemp(prefix="fq-bench-screen-")), free_port()
        env = {**os.environ, "FQ_AMQP_URI": amqp, "FQ_DATA_DIR": str(data), "FQ_METRICS_PORT": "0",
               "FQ_BOOTSTRAP_ADMIN_KEY": KEY, "FQ_LOG_LEVEL": "WARNING"}
        processes.append(subprocess.Popen([sys.executable, "-m", "fengqiao.cli", "run", "search"], env=env))
        processes.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
                                           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                          env=env))
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/api/v1/stats", headers={"X-API-Key": KEY}, timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the gateway and search did not come up within 60 s")
            time.sleep(0.2)
        one = asyncio.run(round_of(base_url, amqp, 1, events, "one"))
        many = asyncio.run(round_of(base_url, amqp, streams, events, "many"))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        httpx.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", auth=GUEST, timeout=60)
    p50_1, p99_1 = quantile(one, 0.5), quantile(one, 0.99)
    p50_n, p99_n = quantile(many, 0.5), quantile(many, 0.99)
    print(f"event → wall update delay, {events} events one at a time ({GAP_SECONDS} s apart)")
    rows = [("baseline, 1 open stream", f"p50 {p50_1 * 1000:7.1f} ms   p99 {p99_1 * 1000:7.1f} ms   "
                                        f"({len(one)} samples)"),
            (f"{streams} open streams", f"p50 {p50_n * 1000:7.1f} ms   p99 {p99_n * 1000:7.1f} ms   "
                                        f"({len(many)} samples)"),
            (f"ratio {streams} / 1", f"p50 {p50_n / p50_1:7.2f} ×    p99 {p99_n / p99_1:7.2f} ×")]
    for label, figures in rows:
        print(f"  {label:<26}{figures}")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
