"""Metadata filters with $-operators (smart_plugins.index.filters), alone and through SmartIndex.search."""

from __future__ import annotations

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.filters import SUPPORTED, compile_filter

ROWS = [
    {"n": 1, "color": "red", "flag": True},
    {"n": 2, "color": "blue"},
    {"n": 3, "color": "green", "flag": False},
    {"n": "4", "color": "red"},
    {},
]


def _matches(where):
    keep = compile_filter(where)
    return [i for i, row in enumerate(ROWS) if keep(row)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"color": "red"}, [0, 3]),
        ({"color": {"$eq": "red"}}, [0, 3]),
        ({"color": {"$ne": "red"}}, [1, 2, 4]),  # a missing key matches $ne
        ({"color": {"$in": ["blue", "green"]}}, [1, 2]),
        ({"color": ("blue", "green")}, [1, 2]),  # the older "any of" spelling
        ({"color": {"$nin": ["blue", "green"]}}, [0, 3, 4]),
        ({"n": {"$gt": 1}}, [1, 2]),  # "4" is a string: not compared with a number
        ({"n": {"$gte": 2, "$lte": 3}}, [1, 2]),
        ({"n": {"$lt": 2}}, [0]),
        ({"n": {"$gte": "4"}}, [3]),
        ({"flag": True}, [0]),
        ({"n": 1, "color": "red"}, [0]),
        ({"$and": [{"color": "red"}, {"n": {"$lt": 5}}]}, [0]),
        ({"$or": [{"color": "blue"}, {"flag": False}]}, [1, 2]),
        ({"$or": [{"$and": [{"n": {"$gte": 1}}, {"n": {"$lte": 1}}]}, {"color": {"$eq": "green"}}]}, [0, 2]),
    ],
)
def test_operators(where, expected):
    assert _matches(where) == expected


def test_true_is_not_one():
    assert compile_filter({"flag": 1})({"flag": True}) is False


@pytest.mark.parametrize(
    ("where", "error", "message"),
    [
        ({"n": {"$regex": "a"}}, ValueError, "unsupported filter operator '$regex' (on key 'n')"),
        ({"$not": {"n": 1}}, ValueError, "unsupported filter operator '$not'"),
        ({"n": {"$in": "abc"}}, ValueError, "$in on key 'n' takes a list of values"),
        ({"n": {"$gt": [1]}}, ValueError, "$gt on key 'n' compares with a number or a string"),
        ({"$or": []}, ValueError, "$or takes a non-empty list of filters"),
        ({"$and": ["x"]}, TypeError, "$and takes a list of dict filters"),
        ({1: "a"}, TypeError, "filter keys must be strings"),
    ],
)
def test_unsupported_filters_raise_naming_the_problem(where, error, message):
    with pytest.raises(error) as info:
        compile_filter(where)
    assert message in str(info.value)
    if error is ValueError and "unsupported" in message:
        assert ", ".join(SUPPORTED) in str(info.value)


def test_search_takes_operator_filters(tiny_encoder, tmp_path, corpus):
    ids, texts, metas = corpus
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp16") as index:
        index.add(texts, ids=ids, metadata=metas)
        hits = index.search("red star", k=8, where={"$or": [{"n": {"$gte": 7}}, {"color": {"$eq": "green"}}]})
        assert {h.id for h in hits} == {"rust-tool", "srv", "green-apple", "java-rt"}
        with pytest.raises(ValueError, match=r"\$exists"):
            index.search("red star", where={"n": {"$exists": True}})
