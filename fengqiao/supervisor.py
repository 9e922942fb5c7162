"""``fengqiao up``: the whole platform on one machine, supervised by one command.

Every service runs in nameko processes of its own (``FQ_SERVICE_PROCESSES`` of them, one by
default), as Kubernetes runs them, so that the services use every core; the gateway runs under
uvicorn (eventlet and asyncio do not share a process). The services' metrics are gathered in
Prometheus's multiprocess mode and served by this process on ``FQ_METRICS_PORT``. A child that dies is
restarted with backoff; one that keeps dying stops the platform. Ctrl-C or SIGTERM stops
every child gracefully (SIGTERM, then SIGKILL after a grace period).
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.multiprocess import MultiProcessCollector

from fengqiao.bus.broker import BrokerUnavailable, ensure_broker
from fengqiao.bus.topology import declare_topology
from fengqiao.registry import SERVICES, all_service_classes
from fengqiao.settings import Settings

log = logging.getLogger("fengqiao.up")

GRACE_SECONDS = 15
MULTIPROCESS_DIR_KEY = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for it
METRICS_DIR = "metrics"  # under FQ_DATA_DIR: the service processes' metric files
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: list[float] = field(default_factory=list)
    env: dict = field(default_factory=dict)  # what this child adds to the platform's environment

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


def service_processes(settings: Settings) -> dict[str, int]:
    unknown = set(settings.service_processes) - set(SERVICES)
    if unknown:
        raise ValueError(f"FQ_SERVICE_PROCESSES names no such service: {', '.join(sorted(unknown))}")
    if any(n < 1 for n in settings.service_processes.values()):
        raise ValueError("FQ_SERVICE_PROCESSES: every service needs at least one process")
    return {name: settings.service_processes.get(name, 1) for name in SERVICES}


def children(settings: Settings, metrics_dir: Path, demo_rate: float | None = None) -> list[Child]:
    python = sys.executable
    demo = [Child("demo", [python, "-m", "fengqiao.cli", "demo", "--rate", str(demo_rate),
                           "--url", f"http://{settings.gateway_host}:{settings.gateway_port}"])] if demo_rate else []
    services = [Child(f"{name}-{i}", [python, "-m", "fengqiao.cli", "run", name],
                      env={MULTIPROCESS_DIR_KEY: str(metrics_dir)})
                for name, count in service_processes(settings).items() for i in range(count)]
    return demo + services + [
        Child("gateway", [
            python, "-m", "uvicorn", "gateway.app:create_app", "--factory",
            "--host", settings.gateway_host, "--port", str(settings.gateway_port),
            "--log-level", settings.log_level.lower(), "--no-access-log",
        ]),
    ]


def fresh_metrics_dir(settings: Settings) -> Path:
    """The services' metric files, emptied: a new run's counters start at 0, as one process's would."""
    path = (settings.data_dir / METRICS_DIR).resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_platform(settings: Settings, demo_rate: float | None = None) -> int:
    try:
        ensure_broker(settings.amqp_uri, log=log.info)
    except BrokerUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    declare_topology(settings.amqp_uri, all_service_classes(), settings.delivery_limit)
    env = {**os.environ, "FQ_DATA_DIR": str(settings.data_dir.resolve())}
    if demo_rate and not settings.bootstrap_admin_key:
        # The simulator signs in through the bootstrap admin; a fresh key each run, known to nobody else.
        env["FQ_BOOTSTRAP_ADMIN_KEY"] = secrets.token_urlsafe(32)
    metrics_dir = fresh_metrics_dir(settings)
    try:
        procs = children(settings, metrics_dir, demo_rate)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    if settings.metrics_port:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(metrics_dir))
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
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
