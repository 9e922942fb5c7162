"""A crash between the write and the publish loses nothing: the outbox relay publishes it.

Intake runs as its own process (``fengqiao run intake``) with publishing after the commit turned
off and its relay asleep, so every case it registers is committed with its event in the outbox
and nothing is published. The process is killed (SIGKILL). A new intake process's relay then
publishes every event, and a consumer downstream receives each exactly once, by event id.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from kombu import Connection, Consumer, Exchange, Queue, binding

from fengqiao.bus.topology import declare_topology
from fengqiao.registry import all_service_classes
from tests.e2e.conftest import START, wait_until
from tests.factories import report_submitted

REPORTS = 40


def run_intake(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fengqiao.cli", "run", "intake"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def count(store_file, table: str) -> int:
    if not store_file.exists():
        return 0
    with sqlite3.connect(store_file, timeout=10) as db:
        try:
            return db.execute(f'SELECT COUNT(*) FROM "c_{table}"').fetchone()[0]
        except sqlite3.OperationalError:  # not created yet
            return 0


def test_events_left_in_the_outbox_by_a_killed_process_arrive_exactly_once(tmp_path, vhost_uri):
    declare_topology(vhost_uri, all_service_classes(), 5)
    intake_events = Exchange("intake.events", type="topic", durable=True)
    downstream = Queue("outbox-test-downstream", bindings=[binding(intake_events, routing_key=kind)
                                                  for kind in ("case_received", "case_merged")], durable=True)
    env = {**os.environ, "FQ_AMQP_URI": vhost_uri, "FQ_DATA_DIR": str(tmp_path / "data"), "FQ_METRICS_PORT": "0",
           "FQ_OUTBOX_PUBLISH_ON_COMMIT": "false", "FQ_OUTBOX_RELAY_SECONDS": "3600"}
    store_file = tmp_path / "data" / "store" / "intake.sqlite3"
    reports = [report_submitted(START, source_id=f"OUTBOX-{n}", text=f"第{n}号楼前路灯不亮，晚上出行不便。",
                                region_code="150102") for n in range(REPORTS)]
    with Connection(vhost_uri) as connection:
        downstream(connection.default_channel).declare()
        producer = connection.Producer()
        for report in reports:
            producer.publish(report.to_message(), exchange="gateway.events", routing_key="report_submitted",
                             serializer="json", delivery_mode=2)

        with (tmp_path / "first.log").open("w") as log:
            first = run_intake(env, log)
            wait_until(lambda: count(store_file, "outbox") == REPORTS, 120, "every case committed with its event")
            os.killpg(first.pid, signal.SIGKILL)  # after the write, before any publish
            first.wait(timeout=30)
        assert count(store_file, "reports") == REPORTS
        assert connection.default_channel.queue_declare(downstream.name, passive=True).message_count == 0

        relaying = {**env, "FQ_OUTBOX_PUBLISH_ON_COMMIT": "true", "FQ_OUTBOX_RELAY_SECONDS": "0.2",
                    "FQ_OUTBOX_GRACE_SECONDS": "0"}
        with (tmp_path / "second.log").open("w") as log:
            second = run_intake(relaying, log)
            try:
                wait_until(lambda: count(store_file, "outbox") == 0, 120, "the relay emptied the outbox")
            finally:
                os.killpg(second.pid, signal.SIGTERM)
                second.wait(timeout=30)

        received = []
        with Consumer(connection, [downstream], callbacks=[lambda body, message: (received.append(body),
                                                                                  message.ack())], accept=["json"]):
            deadline = time.monotonic() + 30
            while len(received) < REPORTS and time.monotonic() < deadline:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    pass
        ids = [body["event_id"] for body in received]
        assert len(ids) == REPORTS and len(set(ids)) == REPORTS  # every event, each once
        assert connection.default_channel.queue_declare(downstream.name, passive=True).message_count == 0
