"""A 10,000-row mixed ledger through the running platform, with its exact expected counts; the
CLI import with its progress bar; the ledger export read back."""
from __future__ import annotations

import io
import subprocess
import sys

import openpyxl
import pytest

from tests.e2e.conftest import start_platform, stop_platform, wait_until
from tests.ledger_factory import as_csv, mixed_ledger

# Ten thousand rows through every service take one to two minutes here, several on a busy shared
# machine; the limit only catches a hang, so it is wide. Speed is bench/'s business.
pytestmark = pytest.mark.timeout(1500)


@pytest.fixture(scope="module")
def ledger_platform(tmp_path_factory, vhost_uri):
    # Its own platform, so the counts below are not disturbed by other tests' cases.
    running = start_platform(tmp_path_factory.mktemp("ledger"), vhost_uri)
    yield running
    stop_platform(running)


def finished(client, job_id: str, timeout: float = 1200) -> dict:
    def poll():
        response = client.get(f"/api/v1/imports/{job_id}")
        assert response.status_code == 200, response.text
        job = response.json()
        return job if job["state"] == "done" else None

    return wait_until(poll, timeout, f"import {job_id} finished")


def test_a_mixed_ledger_of_ten_thousand_rows_imports_with_exact_counts(ledger_platform):
    rows, expected = mixed_ledger()
    assert len(rows) == 10_000
    with ledger_platform.client() as client:
        started = client.post("/api/v1/imports", files={"file": ("台账.csv", as_csv(rows, "gbk"))})
        assert started.status_code == 202, started.text
        job = finished(client, started.json()["id"])
        counts = {k: job[k] for k in ("rows", "created", "merged", "replayed", "rejected", "empty_rows")}
        print(f"\nledger import: {counts}")
        assert counts == {"rows": expected.rows, "created": expected.created, "merged": expected.merged,
                          "replayed": expected.replayed, "rejected": expected.rejected, "empty_rows": expected.empty}
        assert job["state"] == "done" and job["error_count"] == expected.rejected
        assert {e["column"] for e in job["errors"]} == {"反映内容", "登记时间", "渠道", "联系电话"}

        again = finished(client, client.post("/api/v1/imports", files={"file": ("台账.csv", as_csv(rows, "gbk"))})
                         .json()["id"])
        assert (again["created"], again["merged"], again["replayed"]) == (0, 0, expected.rows - expected.rejected)

        qionglai = sum(1 for i in range(expected.created) if i % 15 == 14)  # the 邛崃市 incidents
        # intake is done; the read model catches up a moment later
        def caught_up():
            page = client.get("/api/v1/cases", params={"region": "510183", "limit": 1})
            return page.status_code == 200 and page.json()["total"] == qionglai

        wait_until(caught_up, 600, "read model caught up")
        export = client.get("/api/v1/exports/cases.xlsx", params={"region": "510183"})
        assert export.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(export.content), read_only=True).worksheets[0]
        table = list(sheet.iter_rows(values_only=True))
    header, body = table[0], table[1:]
    assert header[:3] == ("受理编号", "渠道", "反映内容")
    assert len(body) == qionglai
    phone = header.index("联系电话")
    assert all(row[phone].count("*") == 4 for row in body)  # masked for a caller without pii_reader


def test_the_cli_import_shows_progress_and_the_outcome(ledger_platform, tmp_path):
    ledger = tmp_path / "小台账.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["工单编号", "来源渠道", "诉求内容", "事发地址", "来电号码", "来电时间"])
    sheet.append(["X-1", "12345热线", "来电人反映托克托县某村灌溉水渠被邻村堵截，影响春灌。", "托克托县",
                  "13100000001", "2026年4月2日"])
    sheet.append(["X-2", "网格上报", "网格员报告临河区车站街道一处废品站堆放杂物占道。", "临河区车站街道",
                  None, "2026/4/3 9:30"])
    sheet.append(["X-3", "网格上报", "", "临河区", None, "2026-04-31"])
    book.save(ledger)
    done = subprocess.run([sys.executable, "-m", "fengqiao.cli", "import", str(ledger)], env=ledger_platform.env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "rows 3: created 2, merged 0, already imported 0, rejected 1, empty 0" in done.stdout
    assert "row 4 反映内容: 不能为空" in done.stderr and "row 4 登记时间: 日期不存在：2026-04-31" in done.stderr
