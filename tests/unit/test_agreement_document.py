"""The mediation agreement PDF: its text read back, with the standard sections, the terms and
masked contact data."""
import io

import pytest
from pypdf import PdfReader

from gateway import agreement

MEDIATION = {
    "id": "c1-m1", "state": "agreed",
    "committee": {"unit_id": "committee-150525100202", "unit_name": "西湖村人民调解委员会", "level": "village"},
    "mediators": [{"mediator_id": "med-010", "name": "白乌云", "grade": "ordinary"},
                  {"mediator_id": "med-011", "name": "孟长青", "grade": "first"}],
    "parties": [{"name": "包金花", "role": "applicant", "kind": "person", "phone": "13912345678",
                 "id_number": "150525199001011234"},
                {"name": "奈曼旗某牧业合作社", "role": "respondent", "kind": "organisation", "phone": "0475-4212345"}],
    "agreement": {"facts": "双方因草场边界围栏位置发生争议，合作社牛群多次进入包金花承包草场。",
                  "obligations": [{"no": 1, "party": "奈曼旗某牧业合作社", "description": "赔偿草场损失",
                                   "amount": 12800.0, "due_date": "2026-12-20"},
                                  {"no": 2, "party": "奈曼旗某牧业合作社", "description": "按确权图重设围栏",
                                   "amount": None, "due_date": None}],
                  "performance_method": "赔偿款于期限内一次性转入包金花银行账户。",
                  "signed_at": "2026-11-23T01:00:00.000Z"},
}


def text_of(pdf: bytes) -> str:
    # Line breaks fall wherever the layout wraps; the words are what matters.
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace("\n", "")


def test_the_agreement_has_every_standard_section_in_chinese():
    text = text_of(agreement.render(MEDIATION, "FQ-20261123-000001"))
    for section in ("人民调解协议书", "一、人民调解委员会", "二、当事人", "三、纠纷主要事实、争议事项",
                    "四、经调解，各方当事人自愿达成如下协议", "五、履行方式、时限", "六、协议效力",
                    "人民调解员（签名）", "人民调解委员会（印章）"):
        assert section in text, section
    assert "西湖村人民调解委员会；人民调解员：白乌云、孟长青" in text
    assert "1. 奈曼旗某牧业合作社：赔偿草场损失，金额12,800.00元，2026年12月20日前履行完毕。" in text
    assert "协议生效后即时履行" in text and "被申请人（单位）：奈曼旗某牧业合作社" in text
    assert "一式三份" in text and "三十日内共同向人民法院申请司法确认" in text
    assert "2026年11月23日" in text and "FQ-20261123-000001" in text


def test_contact_data_is_masked_unless_the_reader_may_see_it():
    masked = text_of(agreement.render(MEDIATION))
    assert "139****5678" in masked and "13912345678" not in masked and "150525199001011234" not in masked
    assert "13912345678" in text_of(agreement.render(MEDIATION, unmasked=True))


def test_no_agreement_no_document_and_a_missing_font_is_named(tmp_path):
    with pytest.raises(ValueError, match="has no agreement"):
        agreement.render({**MEDIATION, "agreement": None})
    with pytest.raises(agreement.FontMissing, match="FQ_DOCUMENT_FONT"):
        agreement.render(MEDIATION, font=tmp_path / "none.ttf")
