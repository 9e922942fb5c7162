"""The whole platform as `fengqiao up` runs it: real processes, real RabbitMQ, over HTTP."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from fengqiao.clock import isoformat

ADMIN_KEY = "e2e-admin-key"
START = datetime.fromisoformat("2026-11-23T09:00:00+08:00")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float, what: str):
    """Poll ``check`` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def view_when(client: httpx.Client, case_id: str, ready, what: str, timeout: float = 60) -> dict:
    """The case view once ``ready(view)`` holds; a 503 (a busy service) means try again."""
    def fetch():
        response = client.get(f"/api/v1/cases/{case_id}")
        if response.status_code == 503:
            return None
        assert response.status_code == 200, response.text
        view = response.json()
        return view if view.get("status") and ready(view) else None

    return wait_until(fetch, timeout, what)


class FileClockControl:
    """The platform's clock (FQ_CLOCK_FILE), moved by the test."""

    def __init__(self, path):
        self.path, self.now = path, START
        self.set(START)

    def set(self, moment: datetime) -> None:
        self.now = moment
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(isoformat(moment), encoding="utf-8")
        tmp.replace(self.path)  # atomic: a reader never sees half a timestamp

    def advance(self, **delta) -> None:
        self.set(self.now + timedelta(**delta))


@dataclass
class Platform:
    process: subprocess.Popen
    base_url: str
    data_dir: Path
    metrics_url: str
    log: Path
    env: dict
    leader_key: str = ""

    def client(self, key: str | None = None) -> httpx.Client:
        """A client calling as a city-wide leader (every case action, masked personal data),
        or with ``key``."""
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": key or self.leader_key}, timeout=15)

    def admin(self) -> httpx.Client:
        return self.client(ADMIN_KEY)

    def key(self, *roles: str, regions=(), units=(), name: str = "测试系统") -> str:
        """A new API client's key, made as an operator does (`fengqiao clients add`): the only way to
        grant pii_reader, auditor or admin."""
        args = [arg for role in roles for arg in ("--role", role)] + [arg for r in regions for arg in ("--region", r)]
        args += [arg for unit in units for arg in ("--unit", unit)]
        return self.cli("clients", "add", name, *args).stdout.strip().splitlines()[-1]

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "fengqiao.cli", *args], env={**self.env, **env},
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        return done


# A healthy broker makes or removes a vhost in well under a second; past this the broker is stuck
# and the test says so instead of hanging until pytest's timeout.
VHOST_CALL_SECONDS = 60


@pytest.fixture(scope="module")
def vhost_uri(request):
    """A vhost of the module's own, removed afterwards even when the module's tests failed."""
    amqp = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    vhost = f"fq_e2e_{uuid.uuid4().hex[:10]}"
    with httpx.Client(base_url=request.config.getoption("RABBIT_API_URI"), timeout=VHOST_CALL_SECONDS,
                      auth=(amqp.username, amqp.password)) as management:
        management.put(f"/api/vhosts/{vhost}").raise_for_status()
        try:
            management.put(f"/api/permissions/{vhost}/{amqp.username}",
                           json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
            yield f"amqp://{amqp.netloc}/{vhost}"
        finally:
            management.delete(f"/api/vhosts/{vhost}").raise_for_status()


def start_platform(tmp: Path, amqp_uri: str, *up_args: str, **extra_env: str) -> Platform:
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "FQ_AMQP_URI": amqp_uri,
        "FQ_DATA_DIR": str(tmp / "data"),
        "FQ_GATEWAY_PORT": str(port),
        "FQ_METRICS_PORT": str(metrics_port),
        "FQ_BOOTSTRAP_ADMIN_KEY": ADMIN_KEY,
        "FQ_LOG_LEVEL": "INFO",
        **extra_env,
    }
    log = tmp / "platform.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "fengqiao.cli", "up", *up_args], env=env,
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    platform = Platform(process, f"http://127.0.0.1:{port}", tmp / "data",
                        f"http://127.0.0.1:{metrics_port}/metrics", log, env)

    def ready():
        if process.poll() is not None:
            raise AssertionError(f"fengqiao up exited early:\n{log.read_text()}")
        try:
            return httpx.get(f"{platform.base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 60, "gateway ready")
        platform.leader_key = platform.key("leader", name="市综治中心包案领导")
    except BaseException:
        stop_platform(platform)  # a platform that never came up must not outlive its test
        raise
    return platform


def start_clocked_platform(tmp: Path, amqp_uri: str) -> tuple[Platform, FileClockControl]:
    """The platform on a clock the test moves, scanning for due deadlines every 0.2 s."""
    clock = FileClockControl(tmp / "clock.txt")
    return start_platform(tmp, amqp_uri, FQ_CLOCK_FILE=str(clock.path), FQ_DEADLINE_SCAN_SECONDS="0.2"), clock


def stop_platform(platform: Platform) -> int:
    if platform.process.poll() is None:
        platform.process.send_signal(signal.SIGINT)
    try:
        return platform.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        # The supervisor starts each child in a session of its own: kill them by parent, then it.
        subprocess.run(["pkill", "-KILL", "-P", str(platform.process.pid)], check=False)
        platform.process.kill()
        raise


@pytest.fixture(scope="module")
def platform(tmp_path_factory, vhost_uri):
    running = start_platform(tmp_path_factory.mktemp("platform"), vhost_uri)
    yield running
    stop_platform(running)
