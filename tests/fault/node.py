"""A RabbitMQ node of the fault suite's own (``fqfault-<random>@localhost``), on free ports with its data in a
temporary directory, so the suite may stop and start it without touching the machine's broker.

It runs through the OS's wrappers in /usr/sbin: as root they switch to the ``rabbitmq`` user, whose
Erlang cookie the node and ``rabbitmqctl`` then share, so the data directory is given to that user.
"""
from __future__ import annotations

import os
import pwd
import resource
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from kombu import Connection

SBIN = "/usr/sbin"
BOOT_SECONDS = 120
STOP_SECONDS = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def installed() -> str | None:
    return shutil.which("rabbitmq-server", path=f"{SBIN}:/usr/local/sbin:{os.environ.get('PATH', '')}")


def _raise_file_limit() -> None:
    # The default 1024 open files run out, and RabbitMQ then stops accepting connections silently;
    # the node inherits this process's limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class FaultNode:
    def __init__(self, base: Path):
        self.base = base
        # Its own name each session: a node left by a killed run never blocks the next one.
        self.nodename = f"fqfault-{uuid.uuid4().hex[:8]}@localhost"
        self.port = free_port()
        self.dist_port = free_port()
        self.process: subprocess.Popen | None = None
        self.log = base / "node.out"
        for sub in ("mnesia", "log"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            # Small machines: never let a low disk or memory alarm block the publishers mid-test.
            "disk_free_limit.absolute = 50MB\n"
            "vm_memory_high_watermark.relative = 0.8\n",
            encoding="utf-8")
        (base / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (base / "rabbitmq-env.conf").write_text(
            "ERL_EPMD_ADDRESS=127.0.0.1\n"
            # su (the wrapper, as root) resets the limits: raised again where the node starts
            'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true\n'
            'export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"\n', encoding="utf-8")
        if os.geteuid() == 0:
            user = pwd.getpwnam("rabbitmq")
            for path in [base, *base.rglob("*")]:
                os.chown(path, user.pw_uid, user.pw_gid)
            # the parents must be traversable by that user
            for parent in base.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "node.pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "PATH": f"{SBIN}:{os.environ.get('PATH', '')}",
        }

    @property
    def uri(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def vhost_uri(self, vhost: str) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def answers(self, timeout: float = 2.0) -> bool:
        try:
            with Connection(self.uri, connect_timeout=timeout) as connection:
                connection.ensure_connection(max_retries=1, timeout=timeout)
            return True
        except Exception:
            return False

    def start(self) -> float:
        """Boot the node and wait until it takes AMQP connections; the seconds it took."""
        started = time.monotonic()
        self.process = subprocess.Popen(
            [f"{SBIN}/rabbitmq-server"], env=self.env, cwd=self.base, start_new_session=True,
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT, preexec_fn=_raise_file_limit)
        deadline = started + BOOT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.nodename} exited while booting (code {self.process.returncode}):\n"
                                   + self.log.read_text(errors="replace")[-3000:])
            if self.answers():
                return time.monotonic() - started
            time.sleep(0.5)
        raise RuntimeError(f"{self.nodename} did not take connections on port {self.port} within {BOOT_SECONDS} s")

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([f"{SBIN}/rabbitmqctl", "-n", self.nodename, *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def stop(self) -> None:
        """Stop the node (rabbitmqctl stop), killing it if it will not go."""
        if self.process is None:
            return
        try:
            if self.process.poll() is None:
                self.ctl("stop", timeout=STOP_SECONDS)
                self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
        finally:
            if self.process.poll() is None:
                self.kill()
            self.process = None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        # beam runs under su in the same session; anything left of it goes with the group
        pid_file = self.base / "node.pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
            except (ValueError, ProcessLookupError, PermissionError):
                pass

    def add_vhost(self) -> str:
        vhost = f"fq_fault_{uuid.uuid4().hex[:8]}"
        for args in (("add_vhost", vhost), ("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")):
            done = self.ctl(*args)
            if done.returncode != 0:
                raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
        return vhost

    def delete_vhost(self, vhost: str) -> None:
        self.ctl("delete_vhost", vhost)
