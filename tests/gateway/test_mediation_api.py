"""Mediation and follow-up routes: bad input answered 422 naming the field, before any service
is asked (the broker here is down, so a request that passed validation would answer 503)."""
import pytest

PARTIES = [{"name": "张桂兰", "role": "applicant"}, {"name": "李建国", "role": "respondent"}]
OPEN = {"case_id": "c1", "parties": PARTIES, "mediator_ids": ["med-001"]}


@pytest.mark.parametrize("path, body, field, fragment", [
    ("/api/v1/mediations", {**OPEN, "parties": PARTIES[:1]}, "parties", "at least 2"),
    ("/api/v1/mediations", {**OPEN, "mediator_ids": []}, "mediator_ids", "at least 1"),
    ("/api/v1/mediations", {**OPEN, "mediator_ids": ["m"] * 6}, "mediator_ids", "at most 5"),
    ("/api/v1/mediations", {**OPEN, "origin": "court"}, "body", "referral_no is required"),
    ("/api/v1/mediations", {**OPEN, "parties": [{**PARTIES[0], "id_number": "150525199001011230"}, PARTIES[1]]},
     "parties.0.id_number", "check digit"),
    ("/api/v1/mediations", {**OPEN, "parties": [{**PARTIES[0], "role": "judge"}, PARTIES[1]]},
     "parties.0.role", "applicant"),
    ("/api/v1/mediations/m1/sessions", {"held_at": "昨天", "mode": "video", "attendees": ["甲"], "notes": "x"},
     "held_at", "datetime"),
    ("/api/v1/mediations/m1/outcome", {"outcome": "transferred", "reasons": "起诉"}, "body", "transferred_to"),
    ("/api/v1/mediations/m1/outcome", {"outcome": "agreement", "reasons": "x"}, "outcome", "no_agreement"),
    ("/api/v1/mediations/m1/agreement", {"facts": "x", "obligations": [{"party": "甲", "description": "赔偿",
                                                                          "amount": -5}]},
     "obligations.0.amount", "greater than or equal to 0"),
    ("/api/v1/mediations/m1/agreement", {"facts": "x", "obligations": [{"party": "甲", "description": "赔偿",
                                                                          "due_date": "2026-02-30"}]},
     "obligations.0.due_date", "date"),
    ("/api/v1/mediations/m1/confirmation", {"action": "apply"}, "body", "court is required"),
    ("/api/v1/mediations/m1/confirmation", {"action": "rule", "result": "maybe"}, "result", "confirmed"),
    ("/api/v1/followups/c1/visits", {"method": "phone", "resolved": True, "satisfaction": "还行"},
     "satisfaction", "satisfied"),
    ("/api/v1/followups/c1/monitoring", {"reason": "易暴雷", "interval_days": 0}, "interval_days",
     "greater than or equal to 1"),
    ("/api/v1/cases/c1/reopen", {"reason": ""}, "reason", "at least 1"),
    ("/api/v1/cases/c1/close", {"note": "x", "force": True}, "force", "Extra inputs"),
])
def test_bad_input_is_a_422_naming_the_field(offline_client, leader, path, body, field, fragment):
    response = offline_client.post(path, json=body, headers=leader)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert any(e["field"] == field and fragment in e["message"] for e in problem["errors"]), problem


def test_chinese_satisfaction_words_are_accepted(offline_client, leader):
    response = offline_client.post("/api/v1/followups/c1/visits", json={
        "method": "phone", "resolved": True, "satisfaction": "基本满意"}, headers=leader)
    assert response.status_code == 503  # valid: it got as far as the (dead) bus


def test_figures_take_only_known_dimensions(offline_client):
    response = offline_client.get("/api/v1/mediations/figures", params={"by": "village"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "by"
