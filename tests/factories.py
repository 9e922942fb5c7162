"""Builders of realistic events for tests."""
from __future__ import annotations

from datetime import timedelta

from fengqiao.clock import isoformat
from fengqiao.events import make_event
from fengqiao.ids import new_id

LEAK = "来电人反映：楼上住户卫生间长期漏水，已持续两个月，天花板发霉，多次协商无果，要求尽快处理。"
LEAK_ADDRESS = "呼和浩特市新城区海拉尔东路街道清泉街社区3号楼2单元501"


def report_submitted(now, *, case_id=None, channel="hotline_12345", source_id="GD202601050001",
                     region_code="150102", text=LEAK, address=LEAK_ADDRESS, phone="13800001234",
                     reported_at=None, number="FQ-20260105-000001", job_id=None):
    case_id = case_id or new_id()
    return make_event("report_submitted", case_id, {
        "number": number, "channel": channel, "source_id": source_id, "text": text,
        "address": address, "region_code": region_code, "occurred_at": None,
        "reported_at": isoformat(reported_at or now - timedelta(minutes=1)),
        "reporter": {"name": "王某", "phone": phone} if phone else None,
        "facts": {"import_job": job_id} if job_id else {},
        "original": {"content": text},
        "submitted_at": isoformat(now), "submitted_by": "test-client",
    }, occurred_at=now)


def case_received(now, *, case_id=None, region_code="150102", source_id="GD202601050001"):
    case_id = case_id or new_id()
    return make_event("case_received", case_id, {
        "number": "FQ-20260105-000001", "channel": "hotline_12345", "source_id": source_id,
        "text": "来电人反映：楼上住户卫生间长期漏水。", "address": None, "region_code": region_code,
        "occurred_at": None, "reported_at": isoformat(now), "reporter": None,
        "text_simplified": "来电人反映：楼上住户卫生间长期漏水。", "received_at": isoformat(now),
    }, occurred_at=now)
