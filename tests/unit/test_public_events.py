"""The public events contract: what partners may see, and the AsyncAPI document that says so."""
from __future__ import annotations

import json

from cloudevents.core.bindings import amqp
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from fengqiao import public
from fengqiao.events import CATALOG, make_event
from services.search.projection import PROJECTIONS

# Fields of the catalog that hold people or free text: never public, whatever the type.
PRIVATE_FIELDS = {"text", "reason", "reasons", "summary", "note", "notes", "detail", "description", "parties",
                  "reporter", "attendees", "place", "by", "lead", "facts", "mediators", "obligations", "report",
                  "party", "signals", "referral_no", "phones", "id_numbers", "address", "original"}


def test_every_fact_the_read_model_folds_in_is_public_with_whitelisted_fields_of_its_own():
    public.check_catalog()
    assert set(public.FACTS) == set(PROJECTIONS)
    for event_type, fields in public.FACTS.items():
        schema = CATALOG[event_type].data.model_json_schema()["properties"]
        # A private-sounding field passes only as a code (monitoring's reason: grievance, unresolved …).
        assert all("enum" in schema[f] for f in PRIVATE_FIELDS & set(fields)), event_type
        assert set(fields) <= CATALOG[event_type].data.model_fields.keys()


def test_types_and_routing_keys():
    assert public.public_type("case_assigned") == "cn.fengqiao.case.assigned"
    assert public.public_type("mediation_session_logged") == "cn.fengqiao.mediation.session_logged"
    assert public.internal_type("cn.fengqiao.monitoring.check_due") == "monitoring_check_due"
    event = make_event("case_closed", "c1", {"visit_no": 1, "closed_at": "2026-01-05T01:00:00.000Z",
                                             "by": "李明（limin）", "note": "张三丰满意"}, "2026-01-05T01:00:00.000Z")
    message = public.message(event, {"id": "c1", "number": "FQ-1", "region_code": "150102001", "category": None})
    assert message.routing_key == "cn.fengqiao.case.closed.150102.unknown"
    assert message.exchange == "fengqiao.public" and message.content_type == "application/cloudevents+json"
    read_back = amqp.from_structured(amqp.AMQPMessage({"content-type": message.content_type}, {},
                                                      message.body.encode()), JSONFormat(), CloudEvent)
    assert read_back.get_id() == event.event_id and read_back.get_subject() == "FQ-1"
    assert read_back.get_data()["fact"] == {"visit_no": 1, "closed_at": "2026-01-05T01:00:00.000Z"}
    assert "张三丰" not in message.body and "李明" not in message.body


def test_the_asyncapi_document_matches_the_catalog():
    document = public.asyncapi("http://127.0.0.1:8000")
    assert document["asyncapi"] == "3.0.0"
    schemas, messages = document["components"]["schemas"], document["components"]["messages"]
    assert set(document["channels"]) == set(public.FACTS)
    for event_type, fields in public.FACTS.items():
        channel = document["channels"][event_type]
        assert channel["address"] == f"cn.fengqiao.{event_type.replace('_', '.', 1)}.{{county}}.{{category}}"
        assert channel["bindings"]["amqp"]["exchange"]["name"] == "fengqiao.public"
        [(name, ref)] = channel["messages"].items()
        assert messages[name]["payload"]["$ref"] == f"#/components/schemas/{name}Event"
        fact = schemas[f"{name}Fact"]
        catalog = CATALOG[event_type].data.model_json_schema(ref_template="#/components/schemas/{model}")
        assert fact["properties"] == {f: catalog["properties"][f] for f in fields}
        assert schemas[f"{name}Event"]["properties"]["type"]["const"] == public.public_type(event_type)
    referenced = {ref.rsplit("/", 1)[1] for ref in _refs(document) if ref.startswith("#/components/schemas/")}
    assert referenced <= set(schemas) and not {"Party", "Person"} & set(schemas)
    assert set(schemas["Case"]["properties"]) == set(public.CASE_FIELDS)


def _refs(value):
    text = json.dumps(value)
    return [part.split('"')[0] for part in text.split('"$ref": "')[1:]]
