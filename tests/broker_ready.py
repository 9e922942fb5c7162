"""Before a test run: is the broker healthy, and free of what killed runs left behind?

nameko's fixtures make a vhost per test and delete it afterwards, but a run that is killed (a
timeout, Ctrl-C) leaves its vhosts, and a broker carrying hundreds of stale vhosts full of quorum
queues becomes slow to create the next one: every later test then waits out its timeout. So this
removes the test vhosts no client is connected to (those of a run still going keep theirs) and
times one vhost's creation; a broker that cannot do that in time fails the run at once, saying so.
It also fails when the broker may open too few files: with the default 1024, a whole test run
uses them up, and RabbitMQ then silently stops accepting connections.

Usage: python -m tests.broker_ready [management URL]  (default http://127.0.0.1:15672)
"""
from __future__ import annotations

import sys
import time
import uuid

import httpx

TEST_VHOST_PREFIXES = ("nameko_test_", "fq_e2e_", "fq_test_", "fq_bench_")
PROBE_SECONDS = 30
FILES_NEEDED = 4096  # what a whole run holds open at most, with room to spare


def stale_test_vhosts(api: httpx.Client) -> list[str]:
    names = [v["name"] for v in api.get("/api/vhosts").raise_for_status().json()]
    test_vhosts = [n for n in names if n.startswith(TEST_VHOST_PREFIXES)]
    in_use = {c["vhost"] for c in api.get("/api/connections").raise_for_status().json()}
    return [n for n in test_vhosts if n not in in_use]


def probe(api: httpx.Client) -> float:
    """Seconds to create and delete one vhost."""
    name = f"fq_test_probe_{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    api.put(f"/api/vhosts/{name}").raise_for_status()
    api.delete(f"/api/vhosts/{name}").raise_for_status()
    return time.monotonic() - started


def too_few_files(api: httpx.Client) -> str | None:
    for node in api.get("/api/nodes").raise_for_status().json():
        if node.get("fd_total", FILES_NEEDED) < FILES_NEEDED:
            return (f"RabbitMQ node {node['name']} may open only {node['fd_total']} files ({node.get('fd_used')} "
                    f"in use); a test run needs {FILES_NEEDED}. Raise its limit (ulimit -n in "
                    "/etc/rabbitmq/rabbitmq-env.conf, or LimitNOFILE for systemd) and restart it")
    return None


def main(url: str) -> int:
    with httpx.Client(base_url=url, auth=("guest", "guest"), timeout=PROBE_SECONDS) as api:
        try:
            stale = stale_test_vhosts(api)
            for name in stale:
                api.delete(f"/api/vhosts/{name}").raise_for_status()  # test names need no quoting
            seconds = probe(api)
            files = too_few_files(api)
        except httpx.HTTPError as error:
            print(f"RabbitMQ's management API at {url} is not healthy ({error!r}); restart the broker "
                  "(rabbitmqctl stop_app && rabbitmqctl start_app) and run the tests again", file=sys.stderr)
            return 1
    if files:
        print(files, file=sys.stderr)
        return 1
    print(f"broker ready: {len(stale)} stale test vhosts removed, a vhost made and removed in {seconds:.2f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:15672"))
