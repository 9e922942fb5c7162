"""The filter dialect shared by every adapter, its validation, and page cursors.

Kept in one place so that SQLite and MongoDB accept exactly the same queries.
"""
from __future__ import annotations

import base64
import json
import re
from typing import Any

from fengqiao.store import Filter, Order

COMPARISONS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = set(COMPARISONS) | {"$in", "$ne"}
FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
Scalar = (str, int, float, bool, type(None))


def check_field(path: str) -> str:
    if not FIELD_PATH.match(path):
        raise ValueError(f"invalid field path {path!r}")
    return path


def scalar_fields(fields: tuple[str, ...], order: Order) -> tuple[str, ...]:
    """The fields a projected read returns besides ``id``: those asked for and the order's
    (a page's cursor holds it); empty when whole documents are asked for."""
    if not fields:
        return ()
    shown = tuple(dict.fromkeys(f for f in (*fields, order.field) if f != "id"))
    for name in shown:
        if "." in check_field(name):
            raise ValueError(f"a projected read takes top-level fields only, not {name!r}")
    return shown


def normalize(where: Filter | None) -> list[tuple[str, str, Any]]:
    """Flatten a filter into (field, operator, value) terms, rejecting anything unknown."""
    terms: list[tuple[str, str, Any]] = []
    for path, condition in (where or {}).items():
        check_field(path)
        if not isinstance(condition, dict):
            terms.append((path, "$eq", _scalar(path, condition)))
            continue
        for op, value in condition.items():
            if op not in OPERATORS:
                raise ValueError(f"unknown operator {op!r} on {path!r}")
            if op == "$in":
                if not isinstance(value, (list, tuple)):
                    raise ValueError(f"$in on {path!r} needs a list")
                terms.append((path, op, [_scalar(path, v) for v in value]))
            else:
                terms.append((path, op, _scalar(path, value)))
    return terms


def _scalar(path: str, value: Any) -> Any:
    if not isinstance(value, Scalar):
        raise ValueError(f"filter value for {path!r} must be a scalar, got {type(value).__name__}")
    return value


def encode_cursor(order: Order, doc: dict) -> str:
    position = [lookup(doc, order.field), doc["id"]]
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    """The position a cursor holds; a cursor this module did not make (a list for the value,
    an integer SQLite cannot bind) is refused here rather than in the database."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, doc_id = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc
    if not (cursor_scalar(value) and isinstance(doc_id, str)):
        raise ValueError(f"invalid cursor {cursor!r}")
    return value, doc_id


INT64 = range(-(2**63), 2**63)


def cursor_scalar(value: Any) -> bool:
    """Whether a value can stand in a cursor: what a sort field holds, within what the stores bind."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return True
    return isinstance(value, int) and value in INT64


def lookup(doc: dict, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def new_document(doc: dict) -> dict:
    """The document as first stored: it must carry its id; the store sets version 1."""
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        raise ValueError("a document needs a non-empty string 'id'")
    return {**doc, "version": 1}
