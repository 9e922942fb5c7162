"""The one masking module against a corpus of every place personal data reaches."""
from __future__ import annotations

import json

import pytest

from fengqiao.privacy import mask_address, mask_name, mask_record, mask_text
from fengqiao.search.analysis import snippet

PEOPLE = {"张桂兰": "张**", "李建国": "李**", "欧阳娜娜": "欧阳**", "马强": "马*", "赵德胜": "赵**"}
PHONES = {"13912345678": "139****5678", "15804710777": "158****0777", "0471-5551234": "0471-***1234",
          "04716281234": "0471-***1234", "139.2222.3333": "139****3333"}
ID = "150104198502023457"
DOORS = ["2单元501", "602住户", "兴安北路123号", "12-3-501"]

# Every place a case's personal data can reach, as the services and the gateway hold it.
CORPUS = {
    "case_view": {
        "id": "c1", "number": "FQ-20261123-000001", "channel": "hotline_12345", "status": "assigned",
        "text": f"来电人张桂兰反映楼上602住户李建国家卫生间漏水，电话13912345678，身份证{ID}。",
        "address": "呼和浩特市新城区海拉尔东路街道清泉街社区3号楼2单元501",
        "reporter": {"name": "张桂兰", "phone": "13912345678", "id_number": ID},
        "parties": [{"name": "李建国", "role": "被申请人", "kind": "person", "phone": "15804710777",
                     "id_number": None},
                    {"name": "清泉街物业服务有限公司", "role": "第三人", "kind": "organisation", "phone": None,
                     "id_number": None}],
        "phones": ["13912345678"], "id_numbers": [ID],
        "facts": {"worker": "马强", "note": "网格员马强已上门"},
        "timeline": [{"title": "受理登记", "detail": "张桂兰来电，回拨0471-5551234", "by": "李明（limin）"},
                     {"title": "办理进展", "detail": "已约李建国和欧阳娜娜到兴安北路123号调解室",
                      "by": "清泉街社区（系统）"}],
        "assignment": {"unit_name": "清泉街社区人民调解委员会", "lead": "王书记", "by": "分派研判系统（系统）"},
    },
    "mediation": {
        "id": "m1", "case_id": "c1", "parties": [{"name": "张桂兰", "role": "applicant", "phone": "13912345678"},
                                                  {"name": "欧阳娜娜", "role": "respondent", "phone": "15804710777"}],
        "mediators": [{"mediator_id": "x", "name": "魏宝山", "grade": "chief"}],
        "sessions": [{"attendees": ["张桂兰", "欧阳娜娜"], "notes": "欧阳娜娜同意赔偿，电话15804710777"}],
        "agreement": {"facts": "欧阳娜娜家漏水致张桂兰家天花板发霉",
                      "obligations": [{"party": "欧阳娜娜", "description": "赔偿张桂兰维修费3500元"}]},
    },
    "followup": {"visits": [{"notes": "回访张桂兰（13912345678），称满意"}],
                 "monitoring": {"note": "马强每周回访一次", "checks": [{"note": "见到李建国，情绪稳定"}]}},
    "import_job": {"errors": [{"row": 7, "column": "联系电话", "reason": "不是手机号：13912345678张桂兰"}],
                   "filename": "张桂兰反映台账.xlsx"},
    "search_item": {"address": "清泉街社区3号楼2单元501", "names": ["赵德胜"],
                    "snippet": snippet("来电人赵德胜反映楼上602住户漏水", ["德胜"]),
                    "outcome": {"resolution": "已与李建国协商，约定由其维修，电话04716281234",
                                "mediation": "agreement"}},
    "conclusion": {"outcome": "no_agreement",
                   "reasons": "欧阳娜娜拒绝赔偿，称张桂兰住在12-3-501，身份证150104 19850202 3457"},
    "name_only": {"reporter": {"name": "赵德胜"}, "contact": "139.2222.3333"},
}


def test_no_personal_datum_survives_anywhere_in_the_corpus():
    masked = json.dumps(mask_record(CORPUS), ensure_ascii=False)
    for secret in [*PEOPLE, *PHONES, ID, *DOORS]:
        assert secret not in masked, secret
    for shown in [*PEOPLE.values(), *PHONES.values(), "150104********3457", "3号楼*单元***", "***住户"]:
        assert shown in masked, shown


def test_what_is_not_personal_stays():
    masked = mask_record(CORPUS)
    view = masked["case_view"]
    assert view["parties"][1]["name"] == "清泉街物业服务有限公司"  # an organisation is not a person
    assert view["timeline"][0]["by"] == "李明（limin）"  # staff acting in their role stay named
    assert masked["mediation"]["mediators"][0]["name"] == "魏宝山"
    assert view["assignment"] == CORPUS["case_view"]["assignment"]
    assert view["number"] == "FQ-20261123-000001" and view["status"] == "assigned"
    assert "海拉尔东路街道清泉街社区3号楼" in view["address"]  # a place name is not a person's name
    assert "赔偿张**维修费3500元" in json.dumps(masked, ensure_ascii=False)  # sums stay


@pytest.mark.parametrize("name, masked", [("张三丰", "张**"), ("张三", "张*"), ("欧阳娜娜", "欧阳**"),
                                          ("王某", "王某"), ("李女士", "李女士"), (None, None)])
def test_names(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize("address, masked", [
    ("清泉街社区3号楼2单元501", "清泉街社区3号楼*单元***"),
    ("兴安北路123号院5号楼3单元2层201室", "兴安北路123号院5号楼*单元*层***室"),
    ("白音他拉嘎查3组15号", "白音他拉嘎查3组*号"),
    ("新华大街88号", "新华大街*号"),
    ("科尔沁区万达广场", "科尔沁区万达广场"),
])
def test_door_level_addresses(address, masked):
    assert mask_address(address) == masked


def test_names_found_in_free_text_without_being_told():
    assert mask_text("来电人张建国反映其邻居家的狗咬人") == "来电人张**反映其邻居家的狗咬人"


def test_snippets_escape_html_before_marking():
    marked = snippet('<b>"楼"</b>漏水', ["漏水"])
    assert marked == "&lt;b&gt;&quot;楼&quot;&lt;/b&gt;<em>漏水</em>"
