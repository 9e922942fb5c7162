"""The same ledger of 2,100 reports through the whole platform (``fengqiao up``: the service processes
and the gateway, on a RabbitMQ node of the suite's own) while one fault happens, then counted over
the HTTP API: no report lost, no case duplicated, the job, case list and stats exact."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import traceback

import httpx
import pytest
from kombu import Connection, Consumer, Producer, Queue

from fengqiao.registry import SERVICES
from tests.fault.harness import Run, extra_report, fault_run, wait_for

pytestmark = [pytest.mark.timeout(900)]

OUTAGE_SECONDS = float(os.environ.get("FQ_TEST_OUTAGE_SECONDS", "30"))
LOCK_SECONDS = float(os.environ.get("FQ_TEST_LOCK_SECONDS", "30"))
COPY_HEADER = "x-fq-fault-copy"


@pytest.fixture(scope="module")
def reference(fault_node, tmp_path_factory):
    """The ledger through a platform without a fault: the figures every fault must end with too."""
    with fault_run(fault_node, tmp_path_factory.mktemp("none")) as run:
        started = time.monotonic()
        run.start_import()
        run.check("none", started, None)
        return run.settled()["stats"]


def test_service_processes_killed_mid_import(fault_node, tmp_path, reference):
    """SIGKILL to every service process while intake works through the ledger; the supervisor
    restarts them. Unacknowledged messages come back, the outbox relay sends what was committed
    but never published."""
    with fault_run(fault_node, tmp_path) as run:
        run.start_import()
        run.wait_registered(0.3)
        victims = run.service_pids()
        assert len(victims) >= 6, f"service processes under fengqiao up: {victims}"
        for victim in victims:
            os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for(lambda: len(run.service_pids() - victims) == len(victims), 60, "every service process restarted")
        registered = run.registered()
        run.check("every service SIGKILLed mid-import", killed_at, reference,
                  note=f"killed after {registered} reports registered")


def test_two_processes_of_every_service(fault_node, tmp_path, reference):
    """No fault, but every service in two processes competing on its queues, as Kubernetes scales
    them: the same exact counts."""
    two_each = json.dumps({name: 2 for name in SERVICES})
    with fault_run(fault_node, tmp_path, FQ_SERVICE_PROCESSES=two_each) as run:
        assert len(run.service_pids()) == 2 * len(SERVICES), run.service_pids()
        started = time.monotonic()
        run.start_import()
        run.check("two processes of every service", started, reference)


class Duplicator:
    """Every message published on the platform's event exchanges delivered twice: a tap queue bound
    to each exchange takes a copy of everything, and this sends each copy once more to the exchange
    and routing key it was published with (marked, so the copies are not copied again)."""

    def __init__(self, amqp_uri: str, exchanges: list[str]):
        self.connection = Connection(amqp_uri, connect_timeout=10)
        # Copies go out on a connection of their own: py-amqp reads pending frames while it
        # publishes, so publishing on the consuming connection handed the next delivery to this
        # callback from inside the last one, and a deep backlog overflowed the stack.
        self.publishing = Connection(amqp_uri, connect_timeout=10)
        self.queue = Queue("fault.tap", bindings=[], durable=False, auto_delete=False)
        self.exchanges = exchanges
        self.copies = 0
        self.failure: BaseException | None = None
        self.failure_trace = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="duplicator")

    def start(self) -> Duplicator:
        channel = self.connection.channel()
        self.queue(channel).declare()
        for name in self.exchanges:
            channel.queue_bind(self.queue.name, exchange=name, routing_key="#")
        self._consume_channel = channel
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            producer = Producer(self.publishing.channel())

            def copy(body, message):
                headers = dict(message.headers or {})
                if not headers.get(COPY_HEADER):
                    headers[COPY_HEADER] = 1
                    producer.publish(message.body, exchange=message.delivery_info["exchange"],
                                     routing_key=message.delivery_info["routing_key"], headers=headers,
                                     content_type=message.content_type, content_encoding=message.content_encoding,
                                     delivery_mode=2, declare=[])
                    self.copies += 1
                message.ack()

            with Consumer(self._consume_channel, queues=[self.queue], on_message=lambda m: copy(None, m),
                          accept=None):
                while not self._stop.is_set():
                    try:
                        self.connection.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
        except BaseException as exc:  # reported by stop(): a duplicator that died copies nothing
            self.failure = exc
            self.failure_trace = traceback.format_exc(limit=-40)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=10)
        self.connection.release()
        self.publishing.release()
        assert self.failure is None, f"the duplicator failed: {self.failure!r}\n{self.failure_trace}"
        return self.copies


def event_exchanges(run: Run) -> list[str]:
    listed = run.node.ctl("list_exchanges", "-p", run.vhost, "name", "--quiet", "--no-table-headers")
    assert listed.returncode == 0, listed.stderr
    names = [line.strip() for line in listed.stdout.splitlines()]
    return sorted(n for n in names if n.endswith(".events") or n == "fengqiao.public")


def test_every_message_delivered_twice(fault_node, tmp_path, reference):
    with fault_run(fault_node, tmp_path) as run:
        exchanges = event_exchanges(run)
        assert "gateway.events" in exchanges and "intake.events" in exchanges, exchanges
        duplicator = Duplicator(run.amqp_uri, exchanges).start()
        try:
            started = time.monotonic()
            run.start_import()
            wait_for(run.settled, 300, "the ledger settled with every message twice", every=0.5)
        finally:
            copies = duplicator.stop()
        assert copies > run.ledger.created, f"only {copies} messages were delivered twice"
        run.check("every message twice", started, reference, note=f"{copies} copies sent")


POISONS = (
    ("not JSON", b"\xff{not json", "application/json"),
    ("wrong schema", b'{"type": "case_received", "event_id": 7, "data": "nothing"}', "application/json"),
    ("foreign type", b"<report/>", "application/xml"),
)


def handler_queues(run: Run) -> list[str]:
    listed = run.node.ctl("list_queues", "-p", run.vhost, "name", "--quiet", "--no-table-headers")
    assert listed.returncode == 0, listed.stderr
    return sorted(q.strip() for q in listed.stdout.splitlines() if q.strip().startswith("evt-"))


def test_poison_messages_in_every_queue(fault_node, tmp_path, reference):
    """Messages no handler can read, straight into every handler queue mid-import: each is
    dead-lettered and the queue goes on; the dead-letter queue holds exactly these."""
    with fault_run(fault_node, tmp_path) as run:
        queues = handler_queues(run)
        assert len(queues) >= 8, queues
        run.start_import()
        run.wait_registered(0.2)
        with Connection(run.amqp_uri, connect_timeout=10) as connection:
            producer = Producer(connection.channel())
            for queue in queues:
                for _, body, content_type in POISONS:
                    producer.publish(body, exchange="", routing_key=queue, content_type=content_type,
                                     content_encoding="binary", delivery_mode=2)
        published = time.monotonic()
        poisons = len(queues) * len(POISONS)
        run.check("poison messages", published, reference, dead_letters=poisons,
                  note=f"{poisons} poisons in {len(queues)} queues")
        letters = run.platform.cli("dlq", "list", "--json").stdout.splitlines()
        assert len(letters) == poisons


def probe(client: httpx.Client, method: str, path: str, **kwargs) -> str:
    """One request while the broker is away: '' when it answered 503 problem+json with Retry-After,
    else what was wrong."""
    began = time.monotonic()
    try:
        response = client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        return f"{method} {path}: no answer after {time.monotonic() - began:.1f} s ({exc!r})"
    if response.status_code != 503:
        return f"{method} {path}: {response.status_code} {response.text[:200]}"
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return f"{method} {path}: 503 as {response.headers.get('content-type')}"
    if not response.headers.get("retry-after", "").isdigit():
        return f"{method} {path}: 503 without Retry-After"
    return ""


def test_broker_stopped_and_started_again(fault_node, tmp_path, reference):
    """The broker stopped mid-import for FQ_TEST_OUTAGE_SECONDS: the gateway keeps answering, 503
    problem+json with Retry-After (never a 500, never a hang); reports posted then are refused, and
    accepted once the broker is back (the client retries); everything recovers with exact counts."""
    with fault_run(fault_node, tmp_path) as run:
        run.start_import()
        run.wait_registered(0.3)
        with run.client() as client:
            some_case = client.get("/api/v1/cases", params={"limit": 1}).json()["items"][0]["id"]
        fault_node.stop()
        stopped = time.monotonic()
        wrong, answered, refused = [], 0, []
        with httpx.Client(base_url=run.platform.base_url, headers={"X-API-Key": run.platform.leader_key},
                          timeout=20) as client:
            while time.monotonic() - stopped < OUTAGE_SECONDS:
                report = extra_report(run.ledger.created + len(refused))
                for method, path, kwargs in (("GET", "/api/v1/stats", {}), ("GET", f"/api/v1/cases/{some_case}", {}),
                                             ("GET", "/api/v1/cases", {"params": {"q": "漏水"}}),
                                             ("POST", "/api/v1/cases", {"json": report}), ("GET", "/readyz", {})):
                    problem = probe(client, method, path, **kwargs)
                    answered += 1
                    if problem:
                        wrong.append(problem)
                refused.append(report)
                time.sleep(1)
        outage = time.monotonic() - stopped
        fault_node.start()
        back = time.monotonic()
        assert not wrong, f"{len(wrong)} of {answered} answers during the outage were wrong:\n" + "\n".join(wrong[:20])

        def accepted(report):
            def post():
                with run.client() as client:
                    response = client.post("/api/v1/cases", json=report)
                assert response.status_code in (202, 503), response.text
                return response.status_code == 202
            return post

        for report in refused:  # the clients retry after Retry-After
            wait_for(accepted(report), 120, f"report {report['source_id']} accepted after the outage", every=1)
        run.extra = refused
        run.check("broker stopped", back, reference,
                  note=f"{outage:.0f} s outage, {answered} answers all 503, {len(refused)} reports retried")


LOCKER = """
import sqlite3, sys, time
connections = []
for path in sys.argv[2:]:
    # The services write all the time: a busy file may take a while to win.
    connection = sqlite3.connect(path, timeout=120, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    connections.append(connection)
print("locked", flush=True)
time.sleep(float(sys.argv[1]))
for connection in connections:
    connection.rollback()
print("released", flush=True)
"""


def test_store_files_locked_for_a_while(fault_node, tmp_path, reference):
    """Every service's SQLite file held by another process (BEGIN EXCLUSIVE) mid-import for
    FQ_TEST_LOCK_SECONDS, then released: the services wait or retry, nothing is dead-lettered."""
    import subprocess

    with fault_run(fault_node, tmp_path) as run:
        run.start_import()
        run.wait_registered(0.3)
        stores = sorted(str(p) for p in (run.platform.data_dir / "store").glob("*.sqlite3")
                        if p.stem not in ("gateway",))
        assert any(s.endswith("intake.sqlite3") for s in stores), stores
        locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(LOCK_SECONDS), *stores],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert locker.stdout.readline().strip() == "locked", locker.communicate()
            assert locker.stdout.readline().strip() == "released"
            assert locker.wait(timeout=30) == 0
        finally:
            if locker.poll() is None:
                locker.kill()
        released = time.monotonic()
        run.check("store files locked", released, reference,
                  note=f"{len(stores)} files locked {LOCK_SECONDS:.0f} s")
