"""A gateway killed in the middle of a ledger import: the supervisor starts it again, it resumes
the job, and the counts come out exact, with no row lost and none imported twice."""
from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import pytest

from tests.e2e.conftest import start_platform, stop_platform, wait_until
from tests.ledger_factory import as_csv, mixed_ledger

pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def restart_platform(tmp_path_factory, vhost_uri):
    # Small chunks, so the import is still being sent when the gateway is killed.
    running = start_platform(tmp_path_factory.mktemp("restart"), vhost_uri, FQ_IMPORT_CHUNK_ROWS="50")
    yield running
    stop_platform(running)


def gateway_pid(platform) -> int:
    found = subprocess.run(["pgrep", "-P", str(platform.process.pid), "-f", "uvicorn"],
                           capture_output=True, text=True).stdout.split()
    assert len(found) == 1, f"one gateway process under the supervisor, found {found}"
    return int(found[0])


def status(client: httpx.Client, job_id: str) -> dict | None:
    """The job, or None while no gateway answers."""
    try:
        response = client.get(f"/api/v1/imports/{job_id}")
    except httpx.TransportError:
        return None
    assert response.status_code == 200, response.text
    return response.json()


def test_a_gateway_killed_mid_import_resumes_it_with_exact_counts(restart_platform):
    rows, expected = mixed_ledger(incidents=2000, repeats=400, verbatim=200, bad=200, empty=40)
    sendable = expected.rows - expected.rejected
    with restart_platform.client() as client:
        started = client.post("/api/v1/imports", files={"file": ("台账.csv", as_csv(rows))})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        under_way = wait_until(lambda: (job := status(client, job_id)) and job["state"] == "queueing"
                               and job["queued"] > 0 and job, 120, "the import under way")
        killed = gateway_pid(restart_platform)
        os.kill(killed, signal.SIGKILL)
        print(f"\nkilled the gateway with {under_way['queued']} of {sendable} rows sent")

        def finished():
            job = status(client, job_id)
            return job if job and job["state"] == "done" else None

        started_at = time.monotonic()
        job = wait_until(finished, 1000, "the resumed import done")
        print(f"resumed and done in {time.monotonic() - started_at:.0f} s")
    assert gateway_pid(restart_platform) != killed
    counts = {k: job[k] for k in ("rows", "created", "merged", "replayed", "rejected", "empty_rows")}
    assert counts == {"rows": expected.rows, "created": expected.created, "merged": expected.merged,
                      "replayed": expected.replayed, "rejected": expected.rejected, "empty_rows": expected.empty}
    assert job["queued"] == sendable - expected.replayed
