"""``fengqiao up``: the whole platform on one machine, supervised by one command.

A child process per service, so every core works (nameko's eventlet and the gateway's asyncio
would not share one anyway), and the gateway under uvicorn. The services' counters are summed
across their processes (prometheus_client's multiprocess mode) and served on the one metrics
port by this supervisor. A child that dies is restarted with backoff; one that keeps dying stops
the platform. Ctrl-C or SIGTERM stops the children gracefully (SIGTERM, then SIGKILL after a
grace period).
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, multiprocess, start_http_server

from fengqiao.bus.broker import BrokerUnavailable, ensure_broker
from fengqiao.bus.topology import declare_topology
from fengqiao.registry import SERVICES, all_service_classes
from fengqiao.settings import Settings

log = logging.getLogger("fengqiao.up")

GRACE_SECONDS = 15
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # on top of the platform's
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self, env: dict) -> None:
        # Own session: Ctrl-C reaches only the supervisor, which stops children in order.
        self.process = subprocess.Popen(self.argv, env={**env, **self.env}, start_new_session=True)
        log.info("started %s (pid %s)", self.name, self.process.pid)

    def exited(self) -> int | None:
        return self.process.poll() if self.process else None

    def may_restart(self, now: float) -> bool:
        self.restarts = [t for t in self.restarts if now - t < RESTART_WINDOW_SECONDS]
        self.restarts.append(now)
        return len(self.restarts) <= MAX_RESTARTS

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()

    def wait_or_kill(self, deadline: float) -> None:
        if not self.process:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", self.name)
            self.process.kill()
            self.process.wait()


def children(settings: Settings, metrics_dir: Path) -> list[Child]:
    python = sys.executable
    # Each service writes its samples into metrics_dir and serves none itself.
    counted = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir), "FQ_METRICS_PORT": "0"}
    return [Child(name, [python, "-m", "fengqiao.cli", "run", name], counted) for name in SERVICES] + [
        Child("gateway", [
            python, "-m", "uvicorn", "gateway.app:create_app", "--factory",
            "--host", settings.gateway_host, "--port", str(settings.gateway_port),
            "--log-level", settings.log_level.lower(), "--no-access-log",
        ]),
    ]


def serve_metrics(settings: Settings, metrics_dir: Path) -> None:
    """The services' metrics, summed over their processes, on the services' metrics port."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(metrics_dir))
    start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)


def run_platform(settings: Settings) -> int:
    try:
        ensure_broker(settings.amqp_uri, log=log.info)
    except BrokerUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    declare_topology(settings.amqp_uri, all_service_classes(), settings.delivery_limit)
    env = {**os.environ, "FQ_DATA_DIR": str(settings.data_dir.resolve())}
    metrics_dir = settings.data_dir.resolve() / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # last run's processes are gone: so are their samples
    metrics_dir.mkdir()
    if settings.metrics_port:
        serve_metrics(settings, metrics_dir)
    procs = children(settings, metrics_dir)
    stopping = False

    def request_stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    for child in procs:
        child.start(env)
    log.info("Fengqiao is up: http://%s:%s (API docs at /docs)", settings.gateway_host, settings.gateway_port)
    status = 0
    while not stopping:
        time.sleep(0.5)
        for child in procs:
            code = child.exited()
            if code is None or stopping:
                continue
            if not child.may_restart(time.monotonic()):
                log.error("%s keeps exiting (last code %s); stopping the platform", child.name, code)
                stopping, status = True, 1
                break
            log.warning("%s exited with code %s; restarting it", child.name, code)
            child.start(env)
    log.info("stopping")
    for child in procs:
        child.stop()
    deadline = time.monotonic() + GRACE_SECONDS
    for child in procs:
        child.wait_or_kill(deadline)
    log.info("stopped")
    return status
