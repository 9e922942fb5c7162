import json

import pytest

from fengqiao.directory import Directory, DirectoryError
from fengqiao.settings import DEFAULT_DIRECTORY


@pytest.fixture(scope="module")
def directory():
    return Directory.load(DEFAULT_DIRECTORY)


def test_demo_directory_has_the_real_county_codes(directory):
    assert directory.region("150102").name == "新城区"
    assert directory.region("510183").name == "邛崃市"
    assert [r.code for r in directory.lineage("150102001001")] == ["150102001001", "150102001", "150102", "150100"]


def test_each_level_has_its_own_unit(directory):
    assert directory.local_unit("150102").name == "新城区综治中心"
    assert directory.local_unit("150102001").name == "海拉尔东路街道综治中心"
    assert directory.local_unit("150102001001").name == "清泉街社区人民调解委员会"
    assert directory.local_unit("150102001001001").kind == "grid_worker"


def test_a_region_without_a_unit_falls_to_its_parent(tmp_path):
    raw = json.loads(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    raw["units"] = [u for u in raw["units"] if u["region_code"] != "150122"]
    raw["mediators"] = [m for m in raw["mediators"] if m["region_code"] != "150122"]
    path = tmp_path / "d.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    assert Directory.load(path).local_unit("150122").name == "呼和浩特市综治中心"


def test_broken_directories_are_refused(tmp_path):
    raw = json.loads(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    raw["triage_desk"] = "nobody"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DirectoryError, match="triage desk unit 'nobody'"):
        Directory.load(path)
    raw = json.loads(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    raw["regions"].append({"code": "150199", "name": "X", "level": "county", "parent": "999999"})
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DirectoryError, match="unknown parent 999999"):
        Directory.load(path)


def test_mediators_belong_to_units_of_the_directory(tmp_path):
    directory = Directory.load(DEFAULT_DIRECTORY)
    assert directory.mediators and all(m.committee_id in directory.units for m in directory.mediators.values())
    raw = json.loads(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    raw["mediators"][0]["committee_id"] = "nowhere"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(DirectoryError, match="belongs to unknown unit nowhere"):
        Directory.load(path)
