import pytest

from fengqiao.directory import Directory
from fengqiao.settings import DEFAULT_DIRECTORY
from services.routing import assignment
from tests.factories import case_received


@pytest.fixture(scope="module")
def directory():
    return Directory.load(DEFAULT_DIRECTORY)


@pytest.mark.parametrize("region, unit, reason", [
    ("150102", "center-150102", "属地管理：新城区"),
    ("150525100", "center-150525100", "属地管理：大沁他拉镇"),
    ("150102001001", "committee-150102001001", "属地管理：清泉街社区"),
    ("150199", "triage-desk", "属地代码 150199 不在目录中"),
    (None, "triage-desk", "未提供属地"),
])
def test_decisions_follow_the_region(directory, region, unit, reason):
    decision = assignment.decide(directory, region)
    assert decision.unit.id == unit
    assert reason in decision.reason


def test_assignment_is_recorded_once(memory_store, directory, clock):
    assignments = assignment.ASSIGNMENTS.open(memory_store)
    case = case_received(clock.now())
    first = assignment.assign(assignments, directory, case, clock.now())
    clock.advance(minutes=1)
    again = assignment.assign(assignments, directory, case, clock.now())
    assert first.created and not again.created
    assert again.event == first.event
    data = first.event.data
    assert (data.level, data.unit_name, data.category, data.risk) == ("county", "新城区综治中心", "other", 1)
