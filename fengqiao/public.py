"""The public events: the facts partner agencies may see, as CloudEvents 1.0 (a shared contract).

The search service, which holds each case's whole view, turns every fact it folds in into a
public event: ``type`` ``cn.fengqiao.<subject>.<fact>`` (``case_assigned`` →
``cn.fengqiao.case.assigned``), ``id`` the internal event id (stable across redeliveries),
``source`` the service that stated the fact, ``subject`` the case number, ``time`` when it
happened, and ``data`` without personal data: the case's category, risk, region, unit, level,
deadlines and status from its view, and the fact's own fields from a whitelist (no names, phones,
ID numbers or free text: no reasons, notes, summaries, parties). On RabbitMQ they travel on the
topic exchange ``fengqiao.public`` with routing key ``<type>.<county code>.<category>``.

Structured content mode of the AMQP binding (``application/cloudevents+json``, the whole event
in the body): the same bytes a webhook receives, readable by any AMQP 0-9-1 or 1.0 client
without mapping headers, and safe through RabbitMQ, whose 0-9-1 headers are not AMQP 1.0's
application properties that binary mode relies on.
"""
from __future__ import annotations

import json
import re
from typing import Any

from cloudevents.core.bindings import amqp
from cloudevents.core.v1.event import CloudEvent

from fengqiao.clock import parse_iso
from fengqiao.events import CATALOG, Event
from fengqiao.outbox import Message

EXCHANGE = "fengqiao.public"
TYPE_PREFIX = "cn.fengqiao."
CONTENT_TYPE = "application/cloudevents+json"
UNKNOWN = "unknown"

# What of each fact a partner may see. Everything else (free text, people, staff) stays inside.
FACTS: dict[str, tuple[str, ...]] = {
    "case_received": ("channel", "region_source", "headcount"),
    "case_merged": ("report_count", "score", "merged_at"),
    "case_unmerged": ("report_count", "unmerged_at"),
    "case_triaged": ("triage_no", "category", "risk", "confidence", "report_count"),
    "case_assigned": ("assignment_no", "level", "region_code", "unit_id", "unit_name", "category", "risk",
                      "support", "disposition", "kind", "due_at"),
    "case_returned": ("unit_id", "unit_name", "returns"),
    "case_escalated": ("from_unit", "from_level", "to_unit", "to_level", "kind"),
    "deadline_warning": ("deadline", "due_at", "hours_left", "unit_id", "unit_name"),
    "case_overdue": ("deadline", "due_at", "unit_id", "unit_name"),
    "progress_reported": ("reported_at",),
    "mediation_opened": ("mediation_id", "origin", "committee", "category", "region_code", "level",
                         "target_due_at"),
    "mediation_session_logged": ("mediation_id", "session_no", "held_at", "mode"),
    "mediation_concluded": ("mediation_id", "outcome", "transferred_to"),
    "agreement_signed": ("mediation_id", "signed_at", "effective_at", "total_amount", "parties_count",
                         "confirmation_window_ends"),
    "obligation_performed": ("mediation_id", "obligation_no", "performed_at"),
    "obligation_overdue": ("mediation_id", "obligation_no", "due_at"),
    "agreement_performed": ("mediation_id", "performed_at"),
    "confirmation_applied": ("mediation_id", "court", "applied_at"),
    "confirmation_accepted": ("mediation_id", "accepted", "reference", "ruling_due_at"),
    "confirmation_ruled": ("mediation_id", "result", "reference", "ruled_at"),
    "mediation_deadline_warning": ("mediation_id", "deadline", "due_at", "hours_left"),
    "mediation_deadline_missed": ("mediation_id", "deadline", "due_at"),
    "case_resolved": ("resolution", "mediation_id", "resolved_at"),
    "followup_planned": ("visit_no", "due_at"),
    "followup_overdue": ("visit_no", "due_at"),
    "followup_done": ("visit_no", "method", "resolved", "satisfaction", "visited_at"),
    "case_reopened": ("reopen_no", "after_visit"),
    "case_closed": ("visit_no", "closed_at"),
    "monitoring_started": ("reason", "interval_days", "next_check_at"),
    "monitoring_check_due": ("check_no", "due_at", "overdue_days"),
    "monitoring_checked": ("check_no", "next_check_at"),
    "monitoring_released": (),
}
# What every public event tells of its case, from the case's view.
CASE_FIELDS = ("status", "category", "risk", "region_code", "county_code", "level", "unit_id", "unit_name",
               "channel", "report_count", "received_at", "due_at", "overdue", "closed_at")


def public_type(internal: str) -> str:
    """case_assigned → cn.fengqiao.case.assigned (the first word names what the fact is about)."""
    subject, _, fact = internal.partition("_")
    return f"{TYPE_PREFIX}{subject}.{fact}"


def internal_type(public: str) -> str:
    return public.removeprefix(TYPE_PREFIX).replace(".", "_", 1)


PUBLIC_TYPES = {public_type(t): t for t in FACTS}


def case_data(view: dict) -> dict:
    assignment = view.get("assignment") or {}
    region = view.get("region_code")
    return {"status": view.get("status"), "category": view.get("category"), "risk": view.get("risk"),
            "region_code": region, "county_code": region[:6] if region else None, "level": assignment.get("level"),
            "unit_id": assignment.get("unit_id"), "unit_name": assignment.get("unit_name"),
            "channel": view.get("channel"), "report_count": view.get("report_count"),
            "received_at": view.get("received_at"), "due_at": assignment.get("due_at"),
            "overdue": bool(view.get("overdue")), "closed_at": view.get("closed_at")}


def fact_data(event: Event) -> dict[str, Any]:
    dumped = event.data.model_dump(mode="json")
    return {name: dumped.get(name) for name in FACTS[event.type]}


def cloud_event(event: Event, view: dict, source_prefix: str = "/fengqiao") -> CloudEvent:
    data = {"case": case_data(view), "fact": fact_data(event)}
    return CloudEvent(attributes={
        "id": event.event_id, "type": public_type(event.type), "source": f"{source_prefix}/{event.source}",
        "subject": view.get("number") or event.case_id, "time": parse_iso(event.occurred_at),
        "datacontenttype": "application/json", "county": data["case"]["county_code"] or UNKNOWN,
        "category": data["case"]["category"] or UNKNOWN,
    }, data=data)


def routing_key(event: CloudEvent) -> str:
    attributes = event.get_extension("county"), event.get_extension("category")
    return ".".join([event.get_type(), *attributes])


def message(event: Event, view: dict, source_prefix: str = "/fengqiao") -> Message:
    """The outbox message that publishes the fact on ``fengqiao.public`` (structured mode)."""
    cloud = cloud_event(event, view, source_prefix)
    encoded = amqp.to_structured_event(cloud)
    return Message(f"public/{event.event_id}", EXCHANGE, routing_key(cloud),
                   encoded.application_data.decode("utf-8"), CONTENT_TYPE)


def messages(event: Event, views: list[dict], source_prefix: str = "/fengqiao") -> list[Message]:
    """The public copy of a fact that changed its case's view (none for a fact not published)."""
    if event.type not in FACTS:
        return []
    case = next((v for v in views if v["id"] == event.case_id), None)
    return [message(event, case, source_prefix)] if case else []


def check_catalog() -> None:
    """Every whitelisted field is a field of its event; every projected event type is public."""
    for event_type, fields in FACTS.items():
        model_fields = CATALOG[event_type].data.model_fields
        unknown = set(fields) - model_fields.keys()
        if unknown:
            raise ValueError(f"{event_type}: public fields {sorted(unknown)} are not in the catalog")


# --- the AsyncAPI 3 document ---------------------------------------------------------------------

CASE_SCHEMA = {
    "type": "object", "description": "the case as the fact left it (no personal data, no free text)",
    "properties": {
        "status": {"type": ["string", "null"]}, "category": {"type": ["string", "null"]},
        "risk": {"type": ["integer", "null"], "minimum": 1, "maximum": 3},
        "region_code": {"type": ["string", "null"]}, "county_code": {"type": ["string", "null"]},
        "level": {"type": ["string", "null"]}, "unit_id": {"type": ["string", "null"]},
        "unit_name": {"type": ["string", "null"]}, "channel": {"type": ["string", "null"]},
        "report_count": {"type": ["integer", "null"]}, "received_at": {"type": ["string", "null"]},
        "due_at": {"type": ["string", "null"]}, "overdue": {"type": "boolean"},
        "closed_at": {"type": ["string", "null"]},
    },
    "required": list(CASE_FIELDS),
}


def _name(internal: str) -> str:
    return "".join(part.capitalize() for part in internal.split("_"))


def fact_schema(event_type: str) -> tuple[dict, dict]:
    """The fact's JSON Schema from the catalog model, whitelisted fields only; and the models it uses."""
    schema = CATALOG[event_type].data.model_json_schema(ref_template=REF + "{model}")
    fields = FACTS[event_type]
    fact = {"type": "object", "properties": {f: schema["properties"][f] for f in fields}, "required": list(fields)}
    return fact, _referenced(fact, schema.get("$defs", {}))


REF = "#/components/schemas/"


def _referenced(schema: dict, models: dict) -> dict:
    """The models a schema refers to, and theirs in turn (and no others: no Party, no Person)."""
    found, pending = {}, [schema]
    while pending:
        for name in re.findall(re.escape(REF) + r'(\w+)"', json.dumps(pending.pop())):
            if name in models and name not in found:
                found[name] = models[name]
                pending.append(models[name])
    return found


def envelope_schema(event_type: str) -> dict:
    return {
        "type": "object", "required": ["specversion", "id", "type", "source", "subject", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"}, "id": {"type": "string", "description": "stable across redeliveries"},
            "type": {"const": public_type(event_type)}, "source": {"type": "string"},
            "subject": {"type": "string", "description": "the case number"},
            "time": {"type": "string", "format": "date-time"}, "datacontenttype": {"const": "application/json"},
            "county": {"type": "string"}, "category": {"type": "string"},
            "data": {"type": "object", "required": ["case", "fact"],
                     "properties": {"case": {"$ref": "#/components/schemas/Case"},
                                    "fact": {"$ref": f"#/components/schemas/{_name(event_type)}Fact"}}},
        },
    }


def asyncapi(base_url: str = "") -> dict:
    """The public events as AsyncAPI 3.0: one channel per type on the ``fengqiao.public`` exchange."""
    schemas, messages, channels, operations = {"Case": CASE_SCHEMA}, {}, {}, {}
    exchange = {"name": EXCHANGE, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"}
    for event_type in FACTS:
        name = _name(event_type)
        fact, models = fact_schema(event_type)
        schemas |= models | {f"{name}Fact": fact, f"{name}Event": envelope_schema(event_type)}
        messages[name] = {"name": public_type(event_type), "title": public_type(event_type),
                          "contentType": CONTENT_TYPE, "payload": {"$ref": f"#/components/schemas/{name}Event"}}
        channels[event_type] = {
            "address": public_type(event_type) + ".{county}.{category}",
            "parameters": {"county": {"description": "the six-digit county code, or unknown"},
                           "category": {"description": "the case category, or unknown"}},
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {"amqp": {"is": "routingKey", "exchange": exchange, "bindingVersion": "0.3.0"}},
        }
        operations[f"receive{name}"] = {"action": "receive", "channel": {"$ref": f"#/channels/{event_type}"},
                                        "messages": [{"$ref": f"#/channels/{event_type}/messages/{name}"}]}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "枫桥 Fengqiao public events", "version": "1.0.0",
                 "description": "Facts partner agencies may see, as CloudEvents 1.0 in structured mode "
                                f"({CONTENT_TYPE}): by AMQP on the topic exchange {EXCHANGE} "
                                "(routing key <type>.<county>.<category>), or by webhooks signed per "
                                f"Standard Webhooks ({base_url}/api/v1/subscriptions). No personal data."},
        "defaultContentType": CONTENT_TYPE,
        "servers": {"rabbitmq": {"host": "fengqiao-rabbitmq:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}},
        "channels": channels, "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }
