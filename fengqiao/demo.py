"""Demo traffic for ``fengqiao up --demo``: a simulator that posts what a center's day looks like
through the gateway's API, so a new user sees a living screen at once.

Every channel and every risk grade, the same incident reported twice (merged), units sending a
case back, mediations with sessions and outcomes, resolutions and follow-up visits (some of them
unsatisfied, which reopens the case). ``actions`` is plain logic (a seeded random walk over
what has happened so far); ``run`` carries the actions out over HTTP at a chosen rate.
"""
from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

log = logging.getLogger("fengqiao.demo")
CHANNELS = ("hotline_12345", "police_110", "petition", "court", "grid", "walk_in", "open311")
REGIONS = ("150102001001", "150102002001", "150103", "150105", "150502", "150525", "150802", "510183")
SURNAMES = "王李张刘陈杨黄赵吴周"
# (category hint, text): ordinary matters, escalating ones (grade 2), dangerous ones (grade 3).
MATTERS = {
    1: ["楼上住户卫生间漏水两个月，天花板发霉，协商未果。", "小区物业不作为，电梯停运一周无人维修。",
        "邻居在楼道堆放杂物，影响通行，多次沟通无果。", "装修公司拖延工期，拒不退还预付款。",
        "用人单位拖欠三个月工资共计一万二千元。", "两户村民因宅基地界址发生争执。",
        "商铺夜间经营噪声扰民，影响休息。", "学生在校受伤，家长与学校就赔偿意见不一。"],
    2: ["第三次反映：小区二十多户业主与开发商就车位问题争执，扬言要到市里上访。",
        "工地拖欠八名农民工工资共计二十万元，工人情绪激动。", "双方因交通事故赔偿发生推搡，一方轻微受伤。"],
    3: ["来电人称邻居因为排水沟的事扬言今晚要拿刀砍死他全家，情绪很激动。",
        "一男子在桥上称讨不到工钱就跳河，现场有人围观。", "三十多名业主聚集堵路，要求开发商退还房款。"],
}
RISK_WEIGHTS = (70, 20, 10)


@dataclass
class Action:
    kind: str  # submit, duplicate, return, mediate, resolve
    body: dict = field(default_factory=dict)
    case: str | None = None  # the earlier case it is about


@dataclass
class World:
    """What the simulator has done so far, to choose what could follow."""

    submitted: list[dict] = field(default_factory=list)  # {"id", "body"}
    seq: int = 0


def submission(rng: random.Random, seq: int) -> dict:
    risk = rng.choices((1, 2, 3), RISK_WEIGHTS)[0]
    channel = CHANNELS[seq % len(CHANNELS)]  # every channel in turn
    body = {"channel": channel, "text": f"{rng.choice(SURNAMES)}某反映：{rng.choice(MATTERS[risk])}",
            "region_code": rng.choice(REGIONS)}
    if channel != "walk_in":
        body["source_id"] = f"DEMO-{channel}-{seq:06d}"
    return body


def actions(rng: random.Random, world: World) -> Iterator[Action]:
    """An endless, plausible stream of what reaches the center and what its staff do."""
    while True:
        world.seq += 1
        roll, earlier = rng.random(), world.submitted[-40:]
        if not earlier or roll < 0.55:
            yield Action("submit", submission(rng, world.seq))
        elif roll < 0.65:  # the same incident, reported again through another channel: merged
            again = dict(rng.choice(earlier)["body"])
            again["channel"] = "hotline_12345" if again["channel"] != "hotline_12345" else "grid"
            again["source_id"] = f"DEMO-DUP-{world.seq:06d}"
            yield Action("duplicate", again)
        elif roll < 0.72:
            yield Action("return", {"reason": "不属于本单位职责范围，请重新分派"}, rng.choice(earlier)["id"])
        elif roll < 0.82:
            yield Action("mediate", {"agreed": rng.random() < 0.7}, rng.choice(earlier)["id"])
        else:
            yield Action("resolve", {"satisfied": rng.random() < 0.85}, rng.choice(earlier)["id"])


class Simulator:
    def __init__(self, client: httpx.Client, rng: random.Random):
        self.client, self.rng, self.world = client, rng, World()

    def do(self, action: Action) -> None:
        if action.kind in ("submit", "duplicate"):
            answer = self.client.post("/api/v1/cases", json=action.body)
            if answer.status_code == 202 and action.kind == "submit":
                self.world.submitted.append({"id": answer.json()["id"], "body": action.body})
        elif action.kind == "return":
            self.client.post(f"/api/v1/cases/{action.case}/return", json=action.body)
        elif action.kind == "mediate":
            self._mediate(action.case, action.body["agreed"])
        else:
            self._resolve(action.case, action.body["satisfied"])

    def _mediate(self, case_id: str, agreed: bool) -> None:
        mediators = self.client.get("/api/v1/mediators", params={"case_id": case_id})
        items = mediators.json().get("items") if mediators.status_code == 200 else None
        if not items:
            return
        opened = self.client.post("/api/v1/mediations", json={
            "case_id": case_id, "mediator_ids": [items[0]["id"]],
            "parties": [{"name": f"{self.rng.choice(SURNAMES)}某", "role": "applicant"},
                        {"name": f"{self.rng.choice(SURNAMES)}某", "role": "respondent"}]})
        if opened.status_code != 201:
            return
        mediation = opened.json()["id"]
        self.client.post(f"/api/v1/mediations/{mediation}/sessions", json={
            "held_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "mode": "in_person", "place": "调解室",
            "attendees": ["申请人", "被申请人", "调解员"], "notes": "双方陈述事实，调解员释法说理。"})
        if agreed:
            self.client.post(f"/api/v1/mediations/{mediation}/agreement", json={
                "facts": "双方就纠纷事实无异议。", "obligations": [], "performance_method": "当场履行"})
        else:
            self.client.post(f"/api/v1/mediations/{mediation}/outcome",
                             json={"outcome": "no_agreement", "reasons": "双方分歧较大"})

    def _resolve(self, case_id: str, satisfied: bool) -> None:
        resolved = self.client.post(f"/api/v1/cases/{case_id}/resolve", json={"summary": "承办单位现场协调处理完毕"})
        if resolved.status_code != 200:
            return
        self.client.post(f"/api/v1/followups/{case_id}/visits", json={
            "method": "phone", "resolved": satisfied,
            "satisfaction": "satisfied" if satisfied else "unsatisfied", "notes": "电话回访"})
        if satisfied:
            self.client.post(f"/api/v1/cases/{case_id}/close", json={"note": "回访满意，办结销号"})


def leader_key(base_url: str, admin_key: str, timeout: float = 120) -> str:
    """Wait for the gateway, then make the simulator's own client (a city-wide leader)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, headers={"X-API-Key": admin_key}, timeout=15) as admin:
        while True:
            try:
                if admin.get("/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the gateway at {base_url} did not get ready")
            time.sleep(0.5)
        made = admin.post("/api/v1/admin/clients", json={"name": "演示流量模拟器", "roles": ["leader"]})
        made.raise_for_status()
        return made.json()["key"]


def run(base_url: str, admin_key: str, rate: float, seed: int = 2026) -> None:
    """Post the simulated traffic at ``rate`` actions a second until stopped."""
    rng = random.Random(seed)
    with httpx.Client(base_url=base_url, headers={"X-API-Key": leader_key(base_url, admin_key)}, timeout=15) as client:
        simulator = Simulator(client, rng)
        log.info("demo traffic: %.1f actions a second", rate)
        for action in actions(rng, simulator.world):
            started = time.monotonic()
            try:
                simulator.do(action)
            except httpx.HTTPError as exc:  # the platform is busy or restarting: carry on
                log.warning("demo %s failed: %s", action.kind, exc)
            time.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
