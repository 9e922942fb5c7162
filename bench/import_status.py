"""A ledger import's status while the import runs: `GET /api/v1/imports/{id}` latency, polled as
`fengqiao import` polls it, against the same call on the idle platform measured in the same run;
and the import's rate (rows/s until intake registered every row).

    .venv/bin/python -m bench.import_status [ROWS]
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.bulk_intake import GUEST, MANAGEMENT, vhost
from tests.e2e.conftest import start_platform, stop_platform
from tests.ledger_factory import as_csv, mixed_ledger

POLL_SECONDS = 0.2
LAMP = ["T-1", "12345", "来电人反映小区路灯不亮。", "新城区", "150102", "某人", "13800000001", "2024-05-05"]


def timed_status(client: httpx.Client, job_id: str) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.get(f"/api/v1/imports/{job_id}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    return elapsed, response.json()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main(rows: int = 10_000) -> None:
    incidents = rows * 7 // 10
    ledger, expected = mixed_ledger(incidents=incidents, repeats=rows * 15 // 100, verbatim=rows // 20,
                                    bad=rows // 20, empty=0)
    name = vhost()
    platform = start_platform(Path(tempfile.mkdtemp(prefix="fq-bench-import-")),
                              f"amqp://guest:guest@127.0.0.1:5672/{name}", FQ_LOG_LEVEL="WARNING")
    try:
        with platform.client() as client:
            tiny = client.post("/api/v1/imports", files={"file": ("小台账.csv", as_csv([LAMP]))}).json()
            idle = [timed_status(client, tiny["id"])[0] for _ in range(50)]
            started = time.perf_counter()
            job = client.post("/api/v1/imports", files={"file": ("台账.csv", as_csv(ledger))}, timeout=300).json()
            busy = []
            while job["state"] != "done":
                time.sleep(POLL_SECONDS)
                elapsed, job = timed_status(client, job["id"])
                busy.append(elapsed)
            took = time.perf_counter() - started
    finally:
        stop_platform(platform)
        httpx.delete(f"{MANAGEMENT}/api/vhosts/{name}", auth=GUEST)
    assert (job["created"], job["merged"]) == (expected.created, expected.merged), job
    idle_p99, busy_p99 = percentile(idle, 99), percentile(busy, 99)
    print(f"import of {expected.rows} rows: {expected.rows / took:.0f} rows/s until every row registered "
          f"({took:.0f} s; {job['created']} created, {job['merged']} merged, {job['replayed']} replayed)")
    print(f"status, idle platform: p50 {percentile(idle, 50) * 1000:.1f} ms  p99 {idle_p99 * 1000:.1f} ms "
          f"({len(idle)} calls)")
    print(f"status, during import: p50 {percentile(busy, 50) * 1000:.1f} ms  p99 {busy_p99 * 1000:.1f} ms  "
          f"max {max(busy) * 1000:.1f} ms ({len(busy)} calls)")
    print(f"ratio p99 during import / idle: {busy_p99 / idle_p99:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
