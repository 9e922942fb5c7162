"""A mixed ledger whose outcome is known exactly: distinct incidents, later reports of some of
them through other channels (to be merged), verbatim repeated rows (already imported), bad rows
of several kinds, and empty rows."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime, timedelta

COUNTIES = [("150102", "新城区"), ("150103", "回民区"), ("150104", "玉泉区"), ("150105", "赛罕区"),
            ("150122", "托克托县"), ("150502", "科尔沁区"), ("150525", "奈曼旗"), ("150802", "临河区"),
            ("150821", "五原县"), ("150822", "磴口县"), ("150823", "乌拉特前旗"), ("150824", "乌拉特中旗"),
            ("150825", "乌拉特后旗"), ("150826", "杭锦后旗"), ("510183", "邛崃市")]
# Characters for estate names; none of them ends a name in the matcher's site reading.
NAME_CHARS = "金银华兴盛泰康宁安顺福祥瑞丰晨曦星春秋雅致锦绣翠柏松竹梅兰桂荷枫林海天云山水月明光"
TOPICS = [
    ("楼上住户卫生间漏水，天花板发霉，协商无果。", "漏水"),
    ("邻居装修噪音扰民，每天早上七点开始施工。", "装修噪音"),
    ("所在单元电梯停运半个月，物业迟迟不修。", "电梯停运"),
    ("暖气不热，室温只有十三度，报修无人处理。", "暖气不热"),
    ("楼下住户占用公共楼道堆放杂物，存在消防隐患。", "楼道堆物"),
]
HEADER = ["编号", "渠道", "反映内容", "地址", "区划代码", "反映人", "联系电话", "登记时间"]
DUP_CHANNELS = ["网格", "信访", "来访"]
START = datetime(2024, 1, 1, 8, 0)


@dataclass(frozen=True)
class Expected:
    rows: int  # non-empty rows
    created: int
    merged: int
    replayed: int
    rejected: int
    empty: int


def estate(i: int) -> str:
    n = len(NAME_CHARS)
    return NAME_CHARS[i % n] + NAME_CHARS[(i // n) % n] + NAME_CHARS[(i // n // n) % n]


def mixed_ledger(incidents: int = 7000, repeats: int = 1500, verbatim: int = 500, bad: int = 800,
                 empty: int = 200) -> tuple[list[list], Expected]:
    originals, later = [], []
    for i in range(incidents):
        code, county = COUNTIES[i % len(COUNTIES)]
        text, short = TOPICS[i % len(TOPICS)]
        place = f"{estate(i)}小区{i % 40 + 1}号楼{(i % 9 + 1) * 100 + i % 7 + 1}室"
        at = START + timedelta(minutes=100 * i)
        phone = f"139{i:08d}"
        originals.append([f"H{i:05d}", "12345", f"来电人反映{place}{text}", f"{county}{place}", code,
                          f"市民{i}", phone, at.strftime("%Y年%m月%d日 %H:%M")])
        if i < repeats:
            again = at + timedelta(days=1, hours=i % 48)
            later.append([f"D{i:05d}", DUP_CHANNELS[i % 3], f"{place}住户再次反映，{short}问题仍未解决，希望尽快处理。",
                          f"{county}{place}", "", f"市民{i}", phone, again.strftime("%Y/%m/%d %H:%M")])
    copies = [list(row) for row in originals[:verbatim]]
    broken = []
    for k in range(bad):
        row = [f"B{k:05d}", "12345", f"来电人反映第{k}号问题", "新城区", "150102", "某人", "13800000000", "2025-05-05"]
        kind = k % 4
        if kind == 0:
            row[2] = ""
        elif kind == 1:
            row[7] = "2025-02-30"
        elif kind == 2:
            row[1] = "传真"
        else:
            row[6] = "电话不详"
        broken.append(row)
    blanks = [[""] * len(HEADER) for _ in range(empty)]
    rows = originals + later + copies + broken + blanks
    expected = Expected(rows=len(rows) - empty, created=incidents, merged=repeats, replayed=verbatim,
                        rejected=bad, empty=empty)
    return rows, expected


def as_csv(rows: list[list], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)
