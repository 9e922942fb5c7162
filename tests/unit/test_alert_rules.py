"""The PrometheusRule's alerts, checked and unit-tested with promtool (Debian's prometheus package;
./dev test installs it)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
MONITORING = ROOT / "deploy" / "k8s" / "base" / "monitoring.yaml"
CASES = ROOT / "tests" / "data" / "alerts" / "fengqiao.test.yaml"
PROMTOOL = shutil.which("promtool")


def rule_groups() -> dict:
    rule = next(d for d in yaml.safe_load_all(MONITORING.read_text(encoding="utf-8"))
                if d and d["kind"] == "PrometheusRule")
    return {"groups": rule["spec"]["groups"]}


@pytest.fixture
def rules(tmp_path) -> Path:
    if PROMTOOL is None:
        pytest.skip("promtool is not installed (apt-get install prometheus; ./dev test does)")
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rule_groups(), allow_unicode=True), encoding="utf-8")
    shutil.copy(CASES, tmp_path / CASES.name)
    return tmp_path


def promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_rules_are_valid(rules):
    assert "SUCCESS" in promtool("check", "rules", "rules.yaml", cwd=rules)


def test_the_alerts_fire_when_they_should_and_only_then(rules):
    promtool("test", "rules", CASES.name, cwd=rules)


def test_every_alert_has_a_test_case():
    alerts = {r["alert"] for g in rule_groups()["groups"] for r in g["rules"] if "alert" in r}
    tested = {t["alertname"] for case in yaml.safe_load(CASES.read_text(encoding="utf-8"))["tests"]
              for t in case.get("alert_rule_test", [])}
    new = {"FengqiaoOverdueGrowing", "FengqiaoDeadLettersWaiting", "FengqiaoConsumersGone", "FengqiaoSlowIntake"}
    assert new <= alerts and new <= tested
