"""The mediation agreement (人民调解协议书) as a PDF. Plain logic over a mediation record.

Sections follow the standard form of the Ministry of Justice's model text: committee and number,
the parties, the facts and the dispute, the agreed terms, the performance method and deadline,
the agreement's effect, and places for signatures and the committee's seal. The Chinese text is
set in a real CJK TrueType font, embedded, so the file reads the same on every machine and its
text can be extracted.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from fengqiao.clock import CHINA_TZ, parse_iso
from fengqiao.privacy import mask_record

FONT_NAME = "FengqiaoCJK"
# Debian's fonts-wqy-microhei (what ./dev installs and the image ships), then Noto Sans CJK.
KNOWN_FONTS = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
               Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
               Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"))
ROLES = {"applicant": "申请人", "respondent": "被申请人", "party": "当事人", "third_party": "第三人"}
EFFECT = ("本协议经各方当事人签名（盖章）、人民调解员签名并加盖人民调解委员会印章之日起生效，具有法律约束力，"
          "当事人应当按照约定履行。各方当事人可自本协议生效之日起三十日内共同向人民法院申请司法确认。"
          "本协议一式{copies}份，各方当事人和人民调解委员会各执一份。")


class FontMissing(RuntimeError):
    """No CJK font to set the agreement in; the message says how to get one."""


def find_font(configured: str | Path | None = None) -> Path:
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontMissing(f"FQ_DOCUMENT_FONT={path} is not a file")
        return path
    for path in KNOWN_FONTS:
        if path.is_file():
            return path
    raise FontMissing("no CJK font found: install fonts-wqy-microhei (or fonts-noto-cjk), or set FQ_DOCUMENT_FONT")


@lru_cache(maxsize=4)
def _register(path: Path) -> str:
    pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
    return FONT_NAME


def _styles(font: str) -> dict[str, ParagraphStyle]:
    body = ParagraphStyle("body", fontName=font, fontSize=11.5, leading=19, wordWrap="CJK")
    return {
        "title": ParagraphStyle("title", parent=body, fontSize=20, leading=30, alignment=TA_CENTER),
        "number": ParagraphStyle("number", parent=body, alignment=TA_CENTER),
        "heading": ParagraphStyle("heading", parent=body, fontSize=13, leading=24, spaceBefore=8),
        "body": body,
    }


def _day(moment: str | None) -> str:
    if not moment:
        return "____年__月__日"
    local = parse_iso(moment).astimezone(CHINA_TZ)
    return f"{local.year}年{local.month}月{local.day}日"


def _due(day: str | None) -> str:
    if not day:
        return "协议生效后即时履行"
    year, month, date = day.split("-")
    return f"{int(year)}年{int(month)}月{int(date)}日前"


def _party_line(party: dict) -> str:
    role = ROLES.get(party.get("role") or "party", party.get("role") or "当事人")
    kind = "（单位）" if party.get("kind") == "organisation" else ""
    contact = [f"联系电话：{party['phone']}" if party.get("phone") else "",
               f"身份证号：{party['id_number']}" if party.get("id_number") else ""]
    details = "，".join(c for c in contact if c)
    return f"{role}{kind}：{party.get('name') or '（未署名）'}" + (f"，{details}" if details else "")


def _term(obligation: dict) -> str:
    amount = f"{obligation['amount']:,.2f}元" if obligation.get("amount") else ""
    pay = f"，金额{amount}" if amount else ""
    due = _due(obligation.get("due_date"))
    return f"{obligation['no']}. {obligation['party']}：{obligation['description']}{pay}，{due}履行完毕。"


def _signatures(parties: list[dict], mediators: list[dict], styles) -> Table:
    rows = [[Paragraph(f"{ROLES.get(p.get('role') or 'party', '当事人')}（签名/盖章）：", styles["body"]),
             Paragraph("________________", styles["body"])] for p in parties]
    rows += [[Paragraph("人民调解员（签名）：", styles["body"]),
              Paragraph("、".join(m["name"] for m in mediators) + "  ________", styles["body"])],
             [Paragraph("人民调解委员会（印章）：", styles["body"]), Paragraph("（盖章处）", styles["body"])]]
    table = Table(rows, colWidths=[60 * mm, 100 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("BOTTOMPADDING", (0, 0), (-1, -1), 10)]))
    return table


def render(mediation: dict, case_number: str | None = None, *, unmasked: bool = False,
           font: str | Path | None = None) -> bytes:
    """The agreement of a mediation that reached one; personal data masked unless ``unmasked``."""
    if not mediation.get("agreement"):
        raise ValueError(f"mediation {mediation['id']} has no agreement")
    record = mediation if unmasked else mask_record(mediation)
    agreement = record["agreement"]
    styles = _styles(_register(find_font(font)))
    committee = record["committee"]["unit_name"]
    story = [
        Paragraph("人民调解协议书", styles["title"]),
        Paragraph(f"编号：{record['id']}" + (f"（案件编号 {case_number}）" if case_number else ""), styles["number"]),
        Spacer(1, 6 * mm),
        Paragraph("一、人民调解委员会", styles["heading"]),
        Paragraph(f"{committee}；人民调解员：" + "、".join(m["name"] for m in record["mediators"]), styles["body"]),
        Paragraph("二、当事人", styles["heading"]),
        *[Paragraph(_party_line(p), styles["body"]) for p in record["parties"]],
        Paragraph("三、纠纷主要事实、争议事项", styles["heading"]),
        Paragraph(agreement["facts"], styles["body"]),
        Paragraph("四、经调解，各方当事人自愿达成如下协议", styles["heading"]),
        *([Paragraph(_term(o), styles["body"]) for o in agreement["obligations"]]
          or [Paragraph("各方当事人互不追究，本纠纷就此了结。", styles["body"])]),
        Paragraph("五、履行方式、时限", styles["heading"]),
        Paragraph(agreement["performance_method"] or "按上述各项约定的时限履行。", styles["body"]),
        Paragraph("六、协议效力", styles["heading"]),
        Paragraph(EFFECT.format(copies=_count(len(record["parties"]) + 1)), styles["body"]),
        Spacer(1, 8 * mm),
        _signatures(record["parties"], record["mediators"], styles),
        Spacer(1, 6 * mm),
        Paragraph(f"{committee}　{_day(agreement['signed_at'])}", styles["body"]),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, title="人民调解协议书", author=committee,
                            leftMargin=22 * mm, rightMargin=22 * mm, topMargin=20 * mm, bottomMargin=20 * mm)
    doc.build(story)
    return buffer.getvalue()


def _count(n: int) -> str:
    return "零一二三四五六七八九十"[n] if n <= 10 else str(n)
