"""Reading ledgers (台账): .xlsx, .csv and .jsonl files with Chinese column headers.

Every row becomes a ``Report`` or a list of ``RowError`` naming the row, the column and the
reason; a bad row never stops the good ones. Rows without a source number get one derived
from their content, so importing the same file again creates nothing new. The header map is
documented in docs/ledger.md.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from fengqiao.channels import Person, Report
from fengqiao.channels.base import MAX_TEXT
from fengqiao.clock import CHINA_TZ
from fengqiao.directory import REGION_CODE
from fengqiao.events import CHANNELS

# Column header (as offices write it) → field. Several spellings per field.
HEADERS: dict[str, str] = {
    **dict.fromkeys(["编号", "工单编号", "来源编号", "登记编号", "案件编号", "source_id"], "source_id"),
    **dict.fromkeys(["渠道", "来源渠道", "来源", "channel"], "channel"),
    **dict.fromkeys(["反映内容", "诉求内容", "事项内容", "主要内容", "内容", "纠纷简要情况", "text"], "text"),
    **dict.fromkeys(["地址", "事发地址", "发生地", "发生地点", "address"], "address"),
    **dict.fromkeys(["区划代码", "属地代码", "行政区划代码", "region_code"], "region_code"),
    **dict.fromkeys(["反映人", "来电人", "当事人", "姓名", "reporter_name"], "reporter_name"),
    **dict.fromkeys(["联系电话", "电话", "来电号码", "手机号", "reporter_phone", "caller_phone"], "reporter_phone"),
    **dict.fromkeys(["身份证号", "身份证号码", "reporter_id_number"], "reporter_id_number"),
    **dict.fromkeys(["登记时间", "受理时间", "反映时间", "来电时间", "reported_at"], "reported_at"),
    **dict.fromkeys(["发生时间", "occurred_at"], "occurred_at"),
    **dict.fromkeys(["备注", "note"], "note"),
}
# Channel names as they appear in ledgers.
CHANNEL_NAMES = {
    **{c: c for c in CHANNELS},
    "12345": "hotline_12345", "12345热线": "hotline_12345", "热线": "hotline_12345",
    "110": "police_110", "110警情": "police_110", "警情": "police_110", "公安": "police_110",
    "信访": "petition", "来信": "petition", "来访信访": "petition",
    "法院": "court", "诉前委派": "court", "法院诉前委派": "court",
    "网格": "grid", "网格上报": "grid", "随手拍": "grid",
    "来访": "walk_in", "窗口来访": "walk_in", "窗口": "walk_in",
}
COLUMN_OF = {"source_id": "编号", "channel": "渠道", "text": "反映内容", "address": "地址", "region_code": "区划代码",
             "reporter_name": "反映人", "reporter_phone": "联系电话", "reporter_id_number": "身份证号",
             "reported_at": "登记时间", "occurred_at": "发生时间", "note": "备注"}
LIMITS = {"source_id": 128, "address": 500, "reporter_name": 100, "reporter_phone": 40, "note": 2000}
DATE_PATTERNS = [
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日(?:\s*(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2})秒?)?分?)?$"),
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[\sT]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?$"),
]
EXCEL_EPOCH = datetime(1899, 12, 30)


class LedgerError(ValueError):
    """The file as a whole cannot be read (format, encoding, no header)."""


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    reason: str


@dataclass
class ParsedLedger:
    rows: list[tuple[int, Report]] = field(default_factory=list)  # (row number, report)
    errors: list[RowError] = field(default_factory=list)
    empty_rows: int = 0
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})


def parse_date(value: Any) -> datetime | None:
    """A ledger date: a spreadsheet date, an Excel serial number, or text as offices write it
    (2024年3月5日, 2024/3/5, 2024-03-05 14:30). Beijing time unless a zone is given."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=CHINA_TZ)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=CHINA_TZ)
    if isinstance(value, (int, float)):
        return (EXCEL_EPOCH + timedelta(days=float(value))).replace(tzinfo=CHINA_TZ)
    text = str(value).strip()
    for pattern in DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            parts = [int(p) if p else 0 for p in match.groups()]
            try:
                return datetime(*parts, tzinfo=CHINA_TZ)
            except ValueError as exc:
                raise ValueError(f"日期不存在：{text}") from exc
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"无法识别的日期：{text}（可用格式如 2024年3月5日、2024/3/5、2024-03-05 14:30）") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_TZ)


def derived_source_id(channel: str, text: str, reported_at: datetime | None, phone: str | None) -> str:
    basis = "\x1f".join([channel, text.strip(), reported_at.isoformat() if reported_at else "", phone or ""])
    return "ledger-" + hashlib.sha256(basis.encode()).hexdigest()[:20]


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _text(value: Any) -> str | None:
    value = _cell(value)
    return None if value is None else str(value)


def row_to_report(number: int, row: dict[str, Any], default_channel: str | None,
                  job_id: str) -> Report | list[RowError]:
    errors: list[RowError] = []

    def fail(name: str, reason: str) -> None:
        errors.append(RowError(number, COLUMN_OF[name], reason))

    values = {name: _text(row.get(name)) for name in COLUMN_OF if name not in ("reported_at", "occurred_at")}
    for name, limit in LIMITS.items():
        if values[name] and len(values[name]) > limit:
            fail(name, f"超过{limit}个字符")
    text = values["text"]
    if not text:
        fail("text", "不能为空")
    elif len(text) > MAX_TEXT:
        fail("text", f"超过{MAX_TEXT}个字符")
    channel = CHANNEL_NAMES.get(values["channel"] or "", None) if values["channel"] else default_channel
    if channel is None:
        fail("channel", f"未知渠道：{values['channel']}" if values["channel"] else "缺少渠道，且导入时未指定默认渠道")
    if values["region_code"] and not REGION_CODE.match(values["region_code"]):
        fail("region_code", f"不是有效的行政区划代码：{values['region_code']}")
    moments = {}
    for name in ("reported_at", "occurred_at"):
        try:
            moments[name] = parse_date(_cell(row.get(name)))
        except ValueError as exc:
            fail(name, str(exc))
    try:
        reporter = Person(name=values["reporter_name"], phone=values["reporter_phone"],
                          id_number=values["reporter_id_number"])
    except ValidationError as exc:
        for problem in exc.errors():
            fail("reporter_phone" if problem["loc"][0] == "phone" else "reporter_id_number", problem["msg"])
        reporter = None
    if errors:
        return errors
    source_id = values["source_id"] or derived_source_id(
        channel, text, moments["reported_at"], values["reporter_phone"])
    return Report(
        channel=channel, source_id=source_id, text=text, address=values["address"],
        region_code=values["region_code"], occurred_at=moments["occurred_at"], reported_at=moments["reported_at"],
        reporter=reporter, facts={"import_job": job_id, "ledger_row": number, "note": values["note"]},
        original={COLUMN_OF[k]: v for k, v in row.items() if v is not None and k in COLUMN_OF},
    )


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise LedgerError("文件编码无法识别：请保存为 UTF-8 或 GBK（GB18030）编码的 CSV")


def _tabular_rows(header: list[Any], body: Iterator[list[Any]], first_row: int, parsed: ParsedLedger):
    fields = [HEADERS.get(str(h).strip()) if h is not None else None for h in header]
    parsed.ignored_columns = [str(h).strip() for h, f in zip(header, fields, strict=True) if h and f is None]
    if "text" not in fields:
        names = "、".join(k for k, v in HEADERS.items() if v == "text")
        raise LedgerError(f"表头中没有反映内容列（可用列名：{names}）")
    for offset, values in enumerate(body):
        yield first_row + offset, {f: v for f, v in zip(fields, values, strict=False) if f}


def _rows(name: str, data: bytes, parsed: ParsedLedger) -> Iterator[tuple[int, dict]]:
    suffix = Path(name).suffix.lower()
    if suffix == ".xlsx":
        rows = _xlsx_rows(data)
        header = next(rows, None)
        if header is None:
            raise LedgerError("表格是空的")
        yield from _tabular_rows(list(header), (list(r) for r in rows), 2, parsed)
    elif suffix == ".csv":
        reader = csv.reader(io.StringIO(_decode(data)))
        header = next(reader, None)
        if header is None:
            raise LedgerError("文件是空的")
        yield from _tabular_rows(header, reader, 2, parsed)
    elif suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(_decode(data).splitlines(), start=1):
            if not line.strip():
                yield number, {}
                continue
            try:
                raw = json.loads(line)
            except ValueError:
                parsed.errors.append(RowError(number, "(整行)", "不是有效的 JSON"))
                continue
            if not isinstance(raw, dict):
                parsed.errors.append(RowError(number, "(整行)", "每行应为一个 JSON 对象"))
                continue
            yield number, {HEADERS[k]: v for k, v in raw.items() if k in HEADERS}
    else:
        raise LedgerError(f"不支持的文件类型 {suffix or '(无扩展名)'}：请使用 .xlsx、.csv 或 .jsonl")


def _xlsx_rows(data: bytes) -> Iterator[tuple]:
    """The first sheet's rows. A read-only workbook parses its XML while the rows are read, so
    failures there are the file's fault too, and answered as such."""
    import openpyxl

    _refuse_dtd(data)
    try:
        sheet = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        yield from sheet.iter_rows(values_only=True)
    except Exception as exc:  # openpyxl (and defusedxml below it) raise many kinds for a broken workbook
        raise LedgerError(f"无法读取 Excel 文件：{exc}") from exc


DTD_PROLOG_BYTES = 4096


def _refuse_dtd(data: bytes) -> None:
    """A workbook part with a DTD (<!DOCTYPE>) is refused: Excel never writes one, and a DTD is
    how entity expansion attacks come in (defusedxml, which openpyxl uses when present, refuses
    the entities themselves anywhere in a part)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return  # not a workbook at all: openpyxl says so
    for info in archive.infolist():
        if info.filename.endswith((".xml", ".rels")):
            with archive.open(info) as part:
                prolog = part.read(DTD_PROLOG_BYTES)
            if b"<!DOCTYPE" in prolog.upper():
                raise LedgerError(f"Excel 文件的 {info.filename} 含有 DTD（<!DOCTYPE>），不予读取："
                                  "请用 Excel 另存后再导入")


def parse_ledger(name: str, data: bytes, default_channel: str | None, job_id: str) -> ParsedLedger:
    parsed = ParsedLedger()
    for number, row in _rows(name, data, parsed):
        if all(_cell(v) is None for v in row.values()):
            parsed.empty_rows += 1
            continue
        result = row_to_report(number, row, default_channel, job_id)
        if isinstance(result, list):
            parsed.errors.extend(result)
        else:
            parsed.rows.append((number, result))
    return parsed
