import pytest

from fengqiao.store import Order
from fengqiao.store import mongo_query as q
from fengqiao.store.query import decode_cursor, encode_cursor, normalize


def test_filters_flatten_to_terms():
    terms = normalize({"status": "received", "risk": {"$gte": 2, "$lt": 4}, "unit": {"$in": ["a", "b"]}})
    assert terms == [("status", "$eq", "received"), ("risk", "$gte", 2), ("risk", "$lt", 4),
                     ("unit", "$in", ["a", "b"])]


@pytest.mark.parametrize("bad, message", [
    ({"status": {"$regex": "x"}}, "unknown operator '$regex' on 'status'"),
    ({"a;drop table": 1}, "invalid field path"),
    ({"tags": {"$in": "x"}}, "$in on 'tags' needs a list"),
    ({"reporter": {"$eq": 1}}, "unknown operator '$eq'"),
    ({"reporter": {"$gt": {"a": 1}}}, "must be a scalar"),
])
def test_bad_filters_are_rejected_with_the_reason(bad, message):
    with pytest.raises(ValueError, match=message.replace("$", r"\$").replace("(", r"\(")):
        normalize(bad)


def test_cursor_round_trips_value_and_id():
    cursor = encode_cursor(Order("received_at"), {"id": "c1", "received_at": "2026-01-05T09:00:00.000Z"})
    assert decode_cursor(cursor) == ("2026-01-05T09:00:00.000Z", "c1")
    with pytest.raises(ValueError, match="invalid cursor"):
        decode_cursor("not-a-cursor!")


def test_mongo_filter_maps_id_and_adds_the_cursor_clause():
    after = encode_cursor(Order("risk", descending=True), {"id": "c9", "risk": 2})
    mongo = q.to_filter({"id": {"$in": ["c1", "c9"]}, "status": "open"}, Order("risk", True), after)
    assert mongo == {"$and": [
        {"_id": {"$in": ["c1", "c9"]}},
        {"status": "open"},
        {"$or": [{"risk": {"$lt": 2}}, {"risk": 2, "_id": {"$lt": "c9"}}]},
    ]}


def test_mongo_sort_breaks_ties_by_id_and_count_by_groups():
    assert q.to_sort(Order("received_at")) == [("received_at", 1), ("_id", 1)]
    assert q.to_sort(Order("id", descending=True)) == [("_id", -1)]
    assert q.count_by_pipeline("assignment.level", {"status": "open"}) == [
        {"$match": {"status": "open"}}, {"$group": {"_id": "$assignment.level", "n": {"$sum": 1}}},
    ]


def test_mongo_documents_and_databases():
    assert q.to_document({"id": "x", "a": 1}) == {"_id": "x", "a": 1}
    assert q.from_document({"_id": "x", "a": 1}) == {"id": "x", "a": 1}
    assert q.versioned_set({"a": 2}, 3) == {"$set": {"a": 2, "version": 4}}
    with pytest.raises(ValueError):
        q.versioned_set({"version": 9}, 3)
    assert q.database_name("mongodb://db:27017/city", "intake") == "city_intake"
    assert q.database_name("mongodb://db:27017", "routing") == "fengqiao_routing"
