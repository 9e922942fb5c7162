"""Open311 GeoReport v2 at /open311/v2/, in JSON and XML.

Services are the 14 case categories. Our richer stages map to Open311's ``open``/``closed``
with the stage in ``status_notes``. Errors use Open311's own error list
(``[{"code", "description"}]``), which Open311 clients parse, rather than problem+json.
``GET /requests`` lists the cases that came in through Open311 (other channels' cases,
petitions among them, are not published here), with public fields only: the service, status,
dates and a coarse location (no description, names, phones, ID numbers or door numbers), since
anyone may read them. ``tokens/{token}`` answers only tokens that an Open311 POST handed out.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from fengqiao import labels
from fengqiao.channels import Person, Report
from fengqiao.clock import CHINA_TZ, isoformat, parse_iso
from fengqiao.validation import FIRST_YEAR, LAST_YEAR, check_year, strip_controls
from gateway import submissions
from gateway.auth import API_KEY_HEADER, PUBLIC, Access, Caller, caller_of_key
from gateway.bridge import BusUnavailable
from gateway.calls import RETRY_AFTER_SECONDS, replay_visible

router = APIRouter(prefix="/open311/v2", tags=["open311"])
public = APIRouter(prefix="/open311/v2", tags=["open311"], dependencies=[PUBLIC])
FORMATS = ("json", "xml")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
DEFAULT_WINDOW = timedelta(days=90)
MAX_PAGE_SIZE = 1000
MAX_REQUEST_IDS = 100
WHOLE_NUMBER = re.compile("[0-9]{1,9}")
CLOSED_STATUSES = {"closed"}
STAGE_NOTES = {"received": "已受理", "assigned": "已分派", "transferred": "已依法导入法律程序",
               "mediating": "调解中", "agreed": "已达成调解协议", "resolved": "已办结，待回访",
               "closed": "已办结销号", "reopened": "已重新打开", "merged": "已并入同一事项的案件"}


class Open311Error(Exception):
    def __init__(self, status: int, description: str, fmt: str = "json"):
        super().__init__(description)
        self.status, self.description = status, description
        self.fmt = fmt if fmt in FORMATS else "json"


def unavailable(exc: BusUnavailable) -> Open311Error:
    return Open311Error(503, f"temporarily unavailable, retry later: {exc}")


def render(payload: Any, fmt: str, root: str, item: str, status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    if fmt == "xml":
        element = ET.Element(root)
        for entry in payload:
            _append(element, item, entry)
        body = ET.tostring(element, encoding="unicode", xml_declaration=False)
        return Response(f'<?xml version="1.0" encoding="utf-8"?>{body}', status_code=status,
                        media_type="text/xml; charset=utf-8", headers=headers)
    return JSONResponse(payload, status_code=status, headers=headers)


def render_one(payload: dict, fmt: str, root: str) -> Response:
    """A single object, as GeoReport v2 answers discovery and a service definition: the object
    itself in JSON, and in XML an element named ``root`` holding its fields."""
    if fmt == "xml":
        holder = ET.Element("holder")
        _append(holder, root, payload)
        body = ET.tostring(holder[0], encoding="unicode", xml_declaration=False)
        return Response(f'<?xml version="1.0" encoding="utf-8"?>{body}', media_type="text/xml; charset=utf-8")
    return JSONResponse(payload)


def _append(parent: ET.Element, tag: str, value: Any) -> None:
    child = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, list):
                holder = ET.SubElement(child, key)
                for entry in inner:
                    _append(holder, key.rstrip("s") or key, entry)
            else:
                _append(child, key, inner)
    elif value is not None:
        child.text = str(value).lower() if isinstance(value, bool) else str(value)


def error(exc: Open311Error, fmt: str) -> Response:
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if exc.status == 503 else None
    return render([{"code": exc.status, "description": exc.description}], fmt, "errors", "error", exc.status,
                  headers)


def install(app) -> None:
    """Open311 errors raised before a route runs (its access check) answer in Open311's format too."""
    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error):
        return error(exc, exc.fmt)


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, f"unknown format {fmt!r}; use json or xml")
    return fmt


def _service(code: str) -> dict:
    return {"service_code": code, "service_name": labels.CATEGORIES[code],
            "description": f"{labels.CATEGORIES[code]}类诉求与纠纷", "metadata": True, "type": "realtime",
            "keywords": labels.CATEGORIES[code], "group": "矛盾纠纷" if code != "other" else "其他"}


def _definition(code: str) -> dict:
    return {"service_code": code, "attributes": [{
        "variable": True, "code": "source_id", "datatype": "string", "required": False,
        "datatype_description": "your own id for this request; resending it does not create a second case",
        "order": 1, "description": "来源编号",
    }]}


class Open311Submitter:
    """The POST route's access declaration: an ``api_key`` (form field, query parameter or the
    X-API-Key header, as Open311 clients send it) whose holder may submit cases. Refusals come
    in Open311's own error list, like every other Open311 answer."""

    permissions = ("case.submit",)

    async def __call__(self, request: Request) -> Caller:
        fmt = request.path_params.get("fmt", "json")
        key = request.query_params.get("api_key")
        if not key and request.headers.get("content-type", "").startswith(FORM_TYPES):
            key = (await request.form()).get("api_key")
        key = key or request.headers.get(API_KEY_HEADER)
        if not key:
            raise Open311Error(403, "api_key is required to post a service request", fmt)
        caller = await caller_of_key(request.app.state, key)
        if caller is None:
            raise Open311Error(403, "api_key is unknown or revoked", fmt)
        granted = caller.may("case.submit")
        request.state.access = Access(caller, "case.submit", False, granted)
        if not granted:
            raise Open311Error(403, "this api_key may not submit service requests", fmt)
        return caller


async def _form_fields(request: Request) -> dict[str, str]:
    """A service request's fields: form-encoded, as GeoReport v2 posts them, or multipart
    without files (media is referred to by media_url)."""
    if not request.headers.get("content-type", "").startswith(FORM_TYPES):
        raise Open311Error(415, "post a service request as application/x-www-form-urlencoded (or multipart/form-data)")
    form = await request.form()
    files = [key for key, value in form.multi_items() if not isinstance(value, str)]
    if files:
        raise Open311Error(400, f"{', '.join(files)}: files are not taken; give a media_url instead")
    return {key: strip_controls(value) for key, value in form.items()}


def _parse_report(form: dict[str, str]) -> Report:
    code = form.get("service_code")
    if not code:
        raise Open311Error(400, "service_code was not provided")
    if code not in labels.CATEGORIES:
        raise Open311Error(400, f"service_code {code!r} is not a service of this endpoint")
    description = (form.get("description") or "").strip()
    if not description:
        raise Open311Error(400, "description was not provided")
    if len(description) > 20_000:
        raise Open311Error(400, "description is longer than 20000 characters")
    address = form.get("address_string")
    lat, long_ = form.get("lat"), form.get("long")
    address_id = form.get("address_id")
    if not address and not address_id and not (lat and long_):
        raise Open311Error(400, "a location is required: address_string, address_id, or lat and long")
    facts: dict[str, Any] = {"service_code": code, "media_url": form.get("media_url"), "address_id": address_id}
    if lat and long_:
        facts.update(lat=_degrees(lat, "lat", 90), long=_degrees(long_, "long", 180))
    name = " ".join(p for p in (form.get("last_name"), form.get("first_name")) if p) or None
    try:
        reporter = Person(name=name, phone=form.get("phone") or None)
    except ValueError as exc:
        raise Open311Error(400, f"phone: {exc}") from exc
    return Report(channel="open311", source_id=form.get("attribute[source_id]") or None, text=description,
                  address=address, reporter=reporter, facts=facts,
                  original={k: v for k, v in form.items() if k != "api_key"})


def _degrees(value: str, name: str, bound: float) -> float:
    try:
        degrees = float(value)
    except ValueError:
        degrees = math.nan
    if not -bound <= degrees <= bound:  # NaN fails this too
        raise Open311Error(400, f"{name} must be decimal degrees from -{bound} to {bound}")
    return degrees


def coarse_place(directory, region_code: str | None) -> str | None:
    """Where, as a public record says it: the named regions down to the village or community,
    never the address the person gave (it may hold a door number, a name or a phone)."""
    chain = directory.lineage(region_code[:12]) if region_code else []
    return "".join(region.name for region in reversed(chain)) or None


async def _as_primary(request: Request, view: dict) -> dict:
    """A request merged into another case is handled as that case: it shows the primary case's
    status, unit and updates under its own id, service and request time."""
    primary_id = view.get("merged_into")
    primary = await request.app.state.rpc.call("search", "get_case", primary_id) if primary_id else None
    if not primary:
        return view
    shown = ("status", "assignment", "timeline", "region_code")
    return view | {key: primary.get(key) for key in shown}


def _request_entry(view: dict, directory) -> dict:
    facts = view.get("facts") or {}
    code = facts.get("service_code") or view.get("category") or "other"  # the service it was filed under
    timeline = view.get("timeline") or []
    status = view.get("status") or "received"
    unit = (view.get("assignment") or {}).get("unit_name")
    notes = STAGE_NOTES.get(status, status) + (f"：{unit}" if unit and status == "assigned" else "")
    return {
        "service_request_id": view["id"],
        "status": "closed" if status in CLOSED_STATUSES else "open",
        "status_notes": notes,
        "service_name": labels.CATEGORIES.get(code, code),
        "service_code": code,
        "description": None,  # free text: not public
        "agency_responsible": unit,
        "service_notice": f"编号 {view.get('number')}",
        "requested_datetime": _local(view.get("received_at")),
        "updated_datetime": _local(timeline[-1]["at"]) if timeline else _local(view.get("received_at")),
        "expected_datetime": None,
        "address": coarse_place(directory, view.get("region_code")),
        "address_id": None,
        "zipcode": None,
        "lat": _coarse(facts.get("lat")),
        "long": _coarse(facts.get("long")),
        "media_url": None,
    }


def _coarse(degrees: float | None) -> float | None:
    """Two decimals of a degree, about a kilometre: where, but not whose door."""
    return round(degrees, 2) if isinstance(degrees, (int, float)) else None


def _local(moment: str | None) -> str | None:
    return parse_iso(moment).astimezone(CHINA_TZ).isoformat() if moment else None


def _date(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        check_year(moment, name)  # a window reaching past year 1 or 9999 cannot be computed
    except ValueError as exc:
        raise Open311Error(400, f"{name} must be an ISO 8601 date-time from {FIRST_YEAR} to {LAST_YEAR}, "
                                f"got {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)


def _positive(value: str | None, name: str, default: int, upper: int) -> int:
    if value is None:
        return default
    # ASCII digits only: str.isdigit() also takes ² and other digits int() cannot read.
    if not WHOLE_NUMBER.fullmatch(value) or not 1 <= int(value) <= upper:
        raise Open311Error(400, f"{name} must be a whole number from 1 to {upper}")
    return int(value)


async def _views(request: Request, filters: dict, page: int, size: int) -> list[dict]:
    state, cursor = request.app.state, None
    for _ in range(page - 1):
        result = await state.rpc.call("search", "find_cases", filters, cursor, size)
        cursor = result["next_cursor"]
        if cursor is None:
            return []
    return (await state.rpc.call("search", "find_cases", filters, cursor, size))["items"]


@public.get("/discovery.{fmt}")
async def discovery(fmt: str, request: Request) -> Response:
    base = str(request.base_url).rstrip("/") + router.prefix + "/"
    try:
        payload = {"changeset": "2026-11-22T00:00:00+08:00", "contact": "综治中心信息科",
                   "key_service": "向中心管理员申请 API key", "endpoints": [{
                       "specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                       "changeset": "2026-11-22T00:00:00+08:00", "type": "production",
                       "formats": ["application/json", "text/xml"]}]}
        return render_one(payload, _format(fmt), "discovery")
    except Open311Error as exc:
        return error(exc, "json")


@public.get("/services.{fmt}")
async def services(fmt: str) -> Response:
    try:
        return render([_service(code) for code in labels.CATEGORIES], _format(fmt), "services", "service")
    except Open311Error as exc:
        return error(exc, "json")


@public.get("/services/{code}.{fmt}")
async def service_definition(code: str, fmt: str) -> Response:
    try:
        _format(fmt)
        if code not in labels.CATEGORIES:
            raise Open311Error(404, f"no service with code {code!r}")
        return render_one(_definition(code), fmt, "service_definition")
    except Open311Error as exc:
        return error(exc, fmt if fmt in FORMATS else "json")


@router.post("/requests.{fmt}")
async def post_request(fmt: str, request: Request,
                       caller: Annotated[Caller, Depends(Open311Submitter())]) -> Response:
    fmt_out = fmt if fmt in FORMATS else "json"
    try:
        _format(fmt)
        report = _parse_report(await _form_fields(request))
        state = request.app.state
        receipt = await submissions.accept(state.receipts, state.store, state.publisher, caller.principal,
                                           report, state.clock.now())
        if receipt.replayed and not await replay_visible(request, caller, receipt):
            raise Open311Error(409, "a request with this source_id was submitted before by another client")
    except Open311Error as exc:
        return error(exc, fmt_out)
    except BusUnavailable as exc:
        return error(unavailable(exc), fmt_out)
    state.metrics.submissions.labels("open311", "replayed" if receipt.replayed else "accepted").inc()
    entry = {"service_request_id": receipt.case_id, "token": receipt.token,
             "service_notice": f"已受理，编号 {receipt.number}", "account_id": None}
    return render([entry], fmt, "service_requests", "request", 201)


@public.get("/tokens/{token}.{fmt}")
async def token(token: str, fmt: str, request: Request) -> Response:
    try:
        _format(fmt)
        receipt = await submissions.receipt_of_token(request.app.state.receipts, token)
        if receipt is None:
            raise Open311Error(404, f"no request with token {token!r}")
        return render([{"service_request_id": receipt["case_id"], "token": token}], fmt, "service_requests", "request")
    except Open311Error as exc:
        return error(exc, fmt if fmt in FORMATS else "json")


@public.get("/requests.{fmt}")
async def list_requests(fmt: str, request: Request) -> Response:
    fmt_out = fmt if fmt in FORMATS else "json"
    query = request.query_params
    try:
        _format(fmt)
        now = request.app.state.clock.now()
        end = _date(query.get("end_date"), "end_date")
        start = _date(query.get("start_date"), "start_date")
        end = end or ((start + DEFAULT_WINDOW) if start else now)
        start = start or end - DEFAULT_WINDOW
        if start >= end:
            raise Open311Error(400, "start_date must be before end_date")
        page = _positive(query.get("page"), "page", 1, 10_000)
        size = _positive(query.get("page_size"), "page_size", 50, MAX_PAGE_SIZE)
        statuses = {s.strip() for s in (query.get("status") or "open,closed").split(",")}
        if not statuses <= {"open", "closed"}:
            raise Open311Error(400, "status must be open, closed or both")
        ids = [i.strip() for i in (query.get("service_request_id") or "").split(",") if i.strip()]
        if len(ids) > MAX_REQUEST_IDS:
            raise Open311Error(400, f"service_request_id lists at most {MAX_REQUEST_IDS} ids")
        codes = {c.strip() for c in (query.get("service_code") or "").split(",") if c.strip()}
        if ids:
            views = [v for v in [await request.app.state.rpc.call("search", "get_case", i) for i in ids] if v]
            views = [v for v in views if v.get("channel") == "open311"]
        else:
            filters = {"channel": "open311", "received_from": isoformat(start), "received_to": isoformat(end)}
            views = await _views(request, filters, page, size)
        entries = [_request_entry(await _as_primary(request, v), request.app.state.directory) for v in views]
        entries = [e for e in entries if e["status"] in statuses and (not codes or e["service_code"] in codes)]
        return render(entries, fmt, "service_requests", "request")
    except Open311Error as exc:
        return error(exc, fmt_out)
    except BusUnavailable as exc:
        return error(unavailable(exc), fmt_out)


@public.get("/requests/{request_id}.{fmt}")
async def get_request(request_id: str, fmt: str, request: Request) -> Response:
    fmt_out = fmt if fmt in FORMATS else "json"
    try:
        _format(fmt)
        view = await request.app.state.rpc.call("search", "get_case", request_id)
        if view is None or view.get("channel") != "open311":
            raise Open311Error(404, f"no service request {request_id!r}")
        entry = _request_entry(await _as_primary(request, view), request.app.state.directory)
        return render([entry], fmt, "service_requests", "request")
    except Open311Error as exc:
        return error(exc, fmt_out)
    except BusUnavailable as exc:
        return error(unavailable(exc), fmt_out)
