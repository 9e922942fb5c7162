"""Webhook deliveries per second, and the delay from a public event to its delivery, against a
baseline measured in the same run: the same signed bodies POSTed one at a time by a plain loop.

The webhooks service runs as its own process (``fengqiao run webhooks``) on a vhost of its own;
public events are published straight onto ``fengqiao.public``; a local receiver answers 204 and
notes when each event arrived. A second run has five partners, one of them answering only
after 2 s, to show a slow partner does not hold the others back.

    .venv/bin/python -m bench.webhooks [N]
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import requests
from kombu import Connection

from fengqiao.bus.topology import PUBLIC_EXCHANGE, declare_topology
from fengqiao.clock import SystemClock
from fengqiao.events import make_event
from fengqiao.public import message
from fengqiao.registry import all_service_classes
from fengqiao.search import Scope
from fengqiao.store.sqlite import SqliteStore
from services.webhooks import sending, subscriptions

MANAGEMENT = "http://127.0.0.1:15672"
GUEST = ("guest", "guest")


class Receiver:
    def __init__(self, delay: float = 0.0):
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers["Content-Length"]))
                if delay:
                    time.sleep(delay)
                with receiver.lock:
                    receiver.arrived.setdefault(self.headers["webhook-id"], time.monotonic())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def events(n: int) -> list[dict]:
    out = []
    for i in range(n):
        event = make_event("case_assigned", f"bench-{i}", {
            "assignment_no": 1, "level": "township", "region_code": "150102001", "unit_id": "u1",
            "unit_name": "海拉尔东路街道", "category": "neighbor", "risk": 1, "reason": "属地管理"},
            datetime.now(UTC))
        view = {"id": f"bench-{i}", "number": f"FQ-{i}", "region_code": "150102001", "category": "neighbor"}
        out.append(message(event, view))
    return out


def baseline(n: int) -> float:
    receiver = Receiver()
    session = requests.Session()
    bodies = [json.loads(m.body) for m in events(n)]
    started = time.perf_counter()
    for event in bodies:
        body = sending.body_of(event)
        session.post(receiver.url, data=body.encode(), timeout=15,
                     headers=sending.headers(event["id"], body, [subscriptions.new_secret()], datetime.now(UTC)))
    elapsed = time.perf_counter() - started
    receiver.server.shutdown()
    return n / elapsed


def platform_run(n: int, partners: list[Receiver], label: str) -> float:
    vhost = f"fq_bench_{uuid.uuid4().hex[:8]}"
    httpx.put(f"{MANAGEMENT}/api/vhosts/{vhost}", auth=GUEST).raise_for_status()
    httpx.put(f"{MANAGEMENT}/api/permissions/{vhost}/guest", auth=GUEST,
              json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    data = Path(tempfile.mkdtemp(prefix="fq-bench-webhooks-"))
    process = None
    try:
        declare_topology(amqp, all_service_classes(), 5)
        store = SqliteStore(data / "store" / "webhooks.sqlite3")
        subs = subscriptions.SUBSCRIPTIONS.open(store)
        for receiver in partners:
            subscriptions.create(subs, "client:bench", Scope(), {"url": receiver.url}, SystemClock().now(), True)
        store.close()
        env = {**os.environ, "FQ_AMQP_URI": amqp, "FQ_DATA_DIR": str(data), "FQ_METRICS_PORT": "0",
               "FQ_WEBHOOK_ALLOW_PRIVATE": "true", "FQ_LOG_LEVEL": "WARNING"}
        process = subprocess.Popen([sys.executable, "-m", "fengqiao.cli", "run", "webhooks"], env=env)
        time.sleep(3)  # the service's consumer starts (a benchmark's set-up, not a test's wait)
        published: dict[str, float] = {}
        with Connection(amqp) as connection:
            producer = connection.Producer()
            started = time.monotonic()
            for m in events(n):
                producer.publish(m.body, exchange=PUBLIC_EXCHANGE, routing_key=m.routing_key,
                                 content_type=m.content_type, content_encoding="utf-8", delivery_mode=2)
                published[json.loads(m.body)["id"]] = time.monotonic()
        first = partners[0]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(first.arrived) < n:
            time.sleep(0.05)
        rate = len(first.arrived) / (max(first.arrived.values()) - started)
        delays = sorted(first.arrived[i] - published[i] for i in published if i in first.arrived)
        p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
        print(f"{label:44s} {n:6d} deliveries to the first partner: {rate:7.0f}/s, "
              f"event → delivery p50 {p50 * 1000:6.0f} ms, p99 {p99 * 1000:6.0f} ms")
        for i, receiver in enumerate(partners[1:], start=2):
            print(f"{'':44s} partner {i}: {len(receiver.arrived)} delivered")
        return rate
    finally:
        if process:
            process.terminate()
            process.wait(timeout=30)
        httpx.delete(f"{MANAGEMENT}/api/vhosts/{vhost}", auth=GUEST)


def main(n: int = 2000) -> None:
    base = baseline(n)
    print(f"{'baseline: signed POSTs one at a time':44s} {n:6d} deliveries: {base:7.0f}/s")
    one = platform_run(n, [Receiver()], "webhooks service, one partner")
    print(f"ratio service / baseline: {one / base:.2f}x")
    slow = Receiver(delay=2.0)
    platform_run(n, [Receiver(), Receiver(), Receiver(), Receiver(), slow],
                 "webhooks service, five partners, one slow")
    print(f"{'':44s} slow partner (2 s per answer): {len(slow.arrived)} delivered meanwhile")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
