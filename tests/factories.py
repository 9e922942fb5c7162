"""Builders of realistic events for tests."""
from __future__ import annotations

from fengqiao.clock import isoformat
from fengqiao.events import make_event
from fengqiao.ids import new_id


def report_submitted(now, *, case_id=None, channel="hotline_12345", source_id="GD202601050001",
                     region_code="150102", text="来电人反映：楼上住户卫生间长期漏水，多次协商无果，要求尽快处理。"):
    case_id = case_id or new_id()
    return make_event("report_submitted", case_id, {
        "number": "FQ-20260105-000001", "channel": channel, "source_id": source_id, "text": text,
        "address": "呼和浩特市新城区海拉尔东路街道清泉街社区3号楼", "region_code": region_code,
        "occurred_at": None, "reporter": {"name": "王某", "phone": "13800001234"},
        "submitted_at": isoformat(now), "submitted_by": "test-client",
    }, occurred_at=now)


def case_received(now, *, case_id=None, region_code="150102", source_id="GD202601050001"):
    case_id = case_id or new_id()
    return make_event("case_received", case_id, {
        "number": "FQ-20260105-000001", "channel": "hotline_12345", "source_id": source_id,
        "text": "来电人反映：楼上住户卫生间长期漏水。", "address": None, "region_code": region_code,
        "occurred_at": None, "reporter": None, "received_at": isoformat(now),
    }, occurred_at=now)
