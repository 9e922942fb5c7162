"""Translation of the store's filter dialect, orders and cursors into MongoDB queries.

Shared by the sync and async adapters so both issue exactly the same queries; unit tests check
the generated documents without a server.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from fengqiao.store import Document, Filter, Order
from fengqiao.store.query import decode_cursor, normalize


def mongo_field(path: str) -> str:
    return "_id" if path == "id" else path


def to_filter(where: Filter | None, order: Order = Order(), after: str | None = None) -> dict:
    clauses: list[dict] = []
    for path, op, value in normalize(where):
        field = mongo_field(path)
        clauses.append({field: value} if op == "$eq" else {field: {op: value}})
    if after:
        value, last_id = decode_cursor(after)
        beyond = "$lt" if order.descending else "$gt"
        field = mongo_field(order.field)
        if field == "_id":
            clauses.append({"_id": {beyond: last_id}})
        else:
            clauses.append({"$or": [{field: {beyond: value}}, {field: value, "_id": {beyond: last_id}}]})
    if not clauses:
        return {}
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def to_sort(order: Order) -> list[tuple[str, int]]:
    direction = -1 if order.descending else 1
    field = mongo_field(order.field)
    return [(field, direction)] if field == "_id" else [(field, direction), ("_id", direction)]


def to_index_keys(fields: tuple[str, ...]) -> list[tuple[str, int]]:
    return [(mongo_field(f), 1) for f in fields]


def count_by_pipeline(field: str, where: Filter | None) -> list[dict]:
    return [
        {"$match": to_filter(where)},
        {"$group": {"_id": f"${mongo_field(field)}", "n": {"$sum": 1}}},
    ]


def to_document(doc: Document) -> Document:
    stored = {k: v for k, v in doc.items() if k != "id"}
    stored["_id"] = doc["id"]
    return stored


def from_document(raw: dict | None) -> Document | None:
    if raw is None:
        return None
    doc = {"id": raw["_id"]}
    doc.update((k, v) for k, v in raw.items() if k != "_id")
    return doc


def versioned_set(changes: Document, expected_version: int) -> dict:
    if {"id", "version"} & changes.keys():
        raise ValueError("id and version are managed by the store")
    return {"$set": {**changes, "version": expected_version + 1}}


def database_name(uri: str, owner: str) -> str:
    """One database per owner: <name from the URI path, default 'fengqiao'>_<owner>."""
    prefix = urlparse(uri).path.strip("/") or "fengqiao"
    return f"{prefix}_{owner}"


SEQUENCES = "_sequences"


def sequence_update(count: int = 1) -> dict[str, Any]:
    return {"$inc": {"value": count}}
