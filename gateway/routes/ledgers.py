"""Bulk ledgers: import a file as a job, follow its progress, export cases as a ledger."""
from __future__ import annotations

import asyncio
import io
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from fengqiao import labels
from fengqiao.clock import CHINA_TZ, parse_iso
from fengqiao.events import CHANNELS
from fengqiao.ids import new_id
from fengqiao.ledger import LedgerError, parse_ledger
from fengqiao.privacy import mask_record
from fengqiao.search import Scope
from gateway import audit, imports
from gateway.auth import Allowed, Caller
from gateway.calls import call, for_caller, not_found
from gateway.problems import Problem
from gateway.routes.cases import CaseListFilters, check_filters

router = APIRouter(tags=["ledgers"])
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_EXPORT_ROWS = 100_000
EXPORT_COLUMNS = [("受理编号", "number"), ("渠道", "channel"), ("反映内容", "text"), ("地址", "address"),
                  ("区划代码", "region_code"), ("反映人", "reporter.name"), ("联系电话", "reporter.phone"),
                  ("状态", "status"), ("类别", "category"), ("风险等级", "risk"), ("承办单位", "assignment.unit_name"),
                  ("承办层级", "assignment.level"), ("受理时间", "received_at"), ("反映次数", "report_count")]


@router.post("/api/v1/imports", status_code=202, responses={
    422: {"description": "the file cannot be read at all (format, encoding, header); rows are never partly lost"},
})
async def start_import(request: Request, caller: Allowed("case.submit"), file: Annotated[UploadFile, File()],
                       channel: Annotated[str | None, Form(description="channel of rows without one")] = None) -> dict:
    """Import a ledger (.xlsx, .csv, .jsonl). Answers with the job; follow it at its Location."""
    state = request.app.state
    if channel is not None and channel not in CHANNELS:
        raise Problem(422, "validation-error", "请求数据有误", f"channel: unknown channel {channel!r}",
                      errors=[{"field": "channel", "message": f"unknown channel {channel!r}", "type": "enum"}])
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise Problem(413, "file-too-large", "文件过大", f"a ledger may be at most {MAX_FILE_BYTES >> 20} MB")
    job_id = new_id()
    try:
        parsed = await asyncio.to_thread(parse_ledger, file.filename or "", data, channel, job_id)
    except LedgerError as exc:
        raise Problem(422, "unreadable-ledger", "台账文件无法读取", str(exc),
                      errors=[{"field": "file", "message": str(exc), "type": "ledger"}]) from exc
    job = await imports.create(state.imports, job_id, parsed, file.filename, channel, caller.principal,
                               caller.scope.as_dict())
    state.start_import(job_id)
    view = await imports.view(state.imports, job)
    return {"id": job_id, "location": f"/api/v1/imports/{job_id}", **for_caller(view, caller)}


def _sees_job(caller: Caller, job: dict) -> bool:
    """Its creator sees a job, and so does a caller with import.read whose jurisdiction holds the
    creator's (a city dispatcher follows its counties' imports)."""
    if job.get("created_by") == caller.principal:
        return True
    return caller.may("import.read") and caller.scope.covers(Scope.of(job.get("creator_scope")))


@router.get("/api/v1/imports/{job_id}", responses={404: {"description": "no such job visible to the caller"}})
async def import_status(job_id: str, request: Request,
                        caller: Allowed("import.read", "case.read_submitted", personal=True)) -> dict:
    """An import's progress, counted in the gateway's own store: it answers at once during any import."""
    jobs = request.app.state.imports
    job = await jobs.jobs.get(job_id)
    if job is None or not _sees_job(caller, job):
        raise not_found("import job", "导入任务不存在", job_id)
    return for_caller(await imports.view(jobs, job), caller)


def _value(view: dict, path: str):
    value = view
    for part in path.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    if path == "channel":
        return labels.CHANNELS.get(value, value)
    if path == "category":
        return labels.CATEGORIES.get(value, value)
    if path == "assignment.level":
        return labels.LEVELS.get(value, value)
    if path == "received_at" and value:
        return parse_iso(value).astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")
    return value


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """A value safe to put in a spreadsheet cell: text that a spreadsheet would run as a formula
    (=, +, -, @, tab, CR first) is prefixed with an apostrophe, which makes it plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _workbook(views: list[dict]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("案件台账")
    sheet.append([title for title, _ in EXPORT_COLUMNS])
    for view in views:
        sheet.append([cell(_value(view, path)) for _, path in EXPORT_COLUMNS])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@router.get("/api/v1/exports/cases.xlsx", response_class=Response, responses={
    200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}},
    403: {"description": "the region is outside the caller's jurisdiction"},
})
async def export_cases(request: Request, caller: Allowed("export.cases", personal=True),
                       filters: Annotated[CaseListFilters, Query()]) -> Response:
    """The cases the list would show for these filters, as an .xlsx ledger."""
    check_filters(caller, filters)
    state, views, cursor = request.app.state, [], None
    wanted = filters.as_rpc()
    if not wanted.get("region") and caller.scope.regions and len(caller.scope.regions) == 1:
        wanted["region"] = caller.scope.regions[0]  # read only the caller's region, not the whole city
    while len(views) <= MAX_EXPORT_ROWS:
        page = await call(state, "search", "find_cases", wanted, cursor, 1000)
        views += [v for v in page["items"] if caller.scope.sees(v)]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if len(views) > MAX_EXPORT_ROWS:
        raise Problem(422, "too-many-rows", "导出行数过多",
                      f"more than {MAX_EXPORT_ROWS} cases match; narrow the filters")
    audit.note_cases_shown(request, [v["id"] for v in views])
    if not caller.may_see_pii:
        views = [mask_record(v) for v in views]
    content = await asyncio.to_thread(_workbook, views)
    return Response(content, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=cases.xlsx"})
