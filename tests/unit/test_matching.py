"""The matcher's place and people signals, one at a time (its figures are in test_dedupe_evaluation)."""
import pytest

from services.intake import matching


def sig(text: str, address: str | None = None) -> matching.Signature:
    return matching.signature(text, address, [], None, [], None, kind=(1.0,))


@pytest.mark.parametrize(("place", "flats"), [
    ("7号楼1单元402漏水", {"1-402"}),
    ("5-2-601", {"2-601"}),
    ("3号楼502室", {"502"}),
    ("6号楼3单元1102和楼下1002", {"3-1102", "1002"}),
])
def test_a_flat_is_read_with_its_stairwell_where_one_is_given(place, flats):
    assert sig(place).flats == flats


def test_the_same_number_in_another_stairwell_is_another_home():
    first, other, vague = sig("7号楼1单元402漏水"), sig("7号楼2单元402漏水"), sig("7号楼402漏水")
    assert matching.compare(first, other).veto.startswith("不同住户")
    assert matching.shared_flats(first, vague) == ["1-402"] and matching.shared_flats(other, vague) == ["2-402"]


def test_a_named_person_finds_earlier_reports_that_name_them():
    # Paraphrases often share nothing rare but the person: 赵某 is a candidate key.
    assert "name:赵" in matching.index_keys(sig("赵某家的狗天天半夜叫，孩子睡不着"))
