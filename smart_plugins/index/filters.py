"""Metadata filters: the dict form ``SmartIndex.search(where=...)`` takes, with MongoDB-style operators.

The same form LangChain users write for Chroma- or Qdrant-style vector stores:

- ``{"key": value}``: equality (a tuple or set value means "any of", as before);
- ``{"key": {"$eq" | "$ne" | "$gt" | "$gte" | "$lt" | "$lte": value}}``, ``{"key": {"$in" | "$nin": [...]}}``
  (several operators on one key must all hold);
- ``{"$and": [filter, ...]}``, ``{"$or": [filter, ...]}``; several keys in one dict are joined with AND.

An operator outside this list raises ValueError naming it, so a filter is never silently ignored.
A document lacking the key matches only ``$ne`` and ``$nin``; ``True`` does not equal ``1``; an
order comparison between a number and a string is false (the document does not match).

Examples
--------
>>> keep = compile_filter({"$or": [{"year": {"$gte": 2020}}, {"lang": {"$in": ["de", "fr"]}}]})
>>> [keep(m) for m in ({"year": 2021}, {"year": 2019, "lang": "fr"}, {"year": 2019}, {})]
[True, True, False, False]
>>> compile_filter({"kind": "doc", "n": {"$gt": 1, "$lt": 5}})({"kind": "doc", "n": 3})
True
>>> compile_filter({"n": {"$regex": "a.*"}})
Traceback (most recent call last):
...
ValueError: unsupported filter operator '$regex' (on key 'n'); supported: $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $and, $or
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]

_MISSING = object()
_ORDER: dict[str, Callable[[Any, Any], bool]] = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
LOGICAL = ("$and", "$or")
SUPPORTED = COMPARISONS + LOGICAL


def compile_filter(where: Mapping[str, Any]) -> Predicate:
    """Check ``where`` once and return ``metadata -> bool``; raises on anything it cannot honour."""
    if not isinstance(where, Mapping):
        raise TypeError(f"where must be a dict filter or a callable metadata -> bool, got {type(where).__name__}")
    parts: list[Predicate] = []
    for key, value in where.items():
        if not isinstance(key, str):
            raise TypeError(f"filter keys must be strings, got {key!r}")
        if key in LOGICAL:
            parts.append(_logical(key, value))
        elif key.startswith("$"):
            raise _unsupported(key)
        else:
            parts.append(_field(key, value))
    return _all(parts)


def _logical(op: str, value: Any) -> Predicate:
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{op} takes a non-empty list of filters, got {value!r}")
    for item in value:
        if not isinstance(item, Mapping):
            raise TypeError(f"{op} takes a list of dict filters, got an item {item!r}")
    parts = [compile_filter(item) for item in value]
    if op == "$and":
        return _all(parts)
    return lambda meta: any(part(meta) for part in parts)


def _field(key: str, condition: Any) -> Predicate:
    if isinstance(condition, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in condition):
        return _all([_comparison(key, op, operand) for op, operand in condition.items()])
    if isinstance(condition, (tuple, set, frozenset)):
        return _comparison(key, "$in", list(condition))
    return _comparison(key, "$eq", condition)


def _comparison(key: str, op: Any, operand: Any) -> Predicate:
    if op not in COMPARISONS:
        raise _unsupported(op, key)
    if op in ("$in", "$nin"):
        if isinstance(operand, (str, bytes)) or not isinstance(operand, (list, tuple, set, frozenset)):
            raise ValueError(f"{op} on key {key!r} takes a list of values, got {operand!r}")
        options = list(operand)
        wanted = op == "$in"
        return lambda meta: any(_equal(meta.get(key, _MISSING), o) for o in options) is wanted
    if op in ("$eq", "$ne"):
        wanted = op == "$eq"
        return lambda meta: _equal(meta.get(key, _MISSING), operand) is wanted
    if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
        raise ValueError(f"{op} on key {key!r} compares with a number or a string, got {operand!r}")
    compare = _ORDER[op]
    number = isinstance(operand, (int, float))

    def ordered(meta: Mapping[str, Any]) -> bool:
        value = meta.get(key, _MISSING)
        if isinstance(value, bool) or value is _MISSING:
            return False
        if number != isinstance(value, (int, float)) or not isinstance(value, (int, float, str)):
            return False
        return bool(compare(value, operand))

    return ordered


def _equal(value: Any, wanted: Any) -> bool:
    if value is _MISSING:
        return False
    if isinstance(value, bool) != isinstance(wanted, bool):
        return False
    return bool(value == wanted)


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda meta: all(part(meta) for part in parts)


def _unsupported(op: Any, key: str | None = None) -> ValueError:
    where = f" (on key {key!r})" if key is not None else ""
    return ValueError(f"unsupported filter operator {op!r}{where}; supported: {', '.join(SUPPORTED)}")


__all__ = ["COMPARISONS", "LOGICAL", "SUPPORTED", "compile_filter"]
