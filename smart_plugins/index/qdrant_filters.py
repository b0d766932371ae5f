"""Filter translation: the dict filters of :mod:`smart_plugins.index.filters` as Qdrant filters.

A ``where`` dict becomes a small tree first (:func:`filter_tree`: checked once, the same for
both Qdrant APIs), and the tree becomes the filter objects of Qdrant Edge
(:func:`edge_filter`) or of ``qdrant-client`` (:func:`client_filter`). Metadata lives under the
payload key ``metadata``; what Qdrant cannot express (order comparisons of strings, values other
than strings / numbers / booleans) is refused with a TypeError naming the key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from smart_plugins.index.filters import compile_filter

#: ("and" | "or", [nodes]) | ("not", node) | ("none",) | ("eq" | "in" | "range", key, operand)
Node = tuple


def filter_tree(where: Mapping[str, Any]) -> Node:
    """The dict filter of :mod:`smart_plugins.index.filters` as a tree both Qdrant clients build.

    Checked with :func:`~smart_plugins.index.filters.compile_filter` first; what Qdrant cannot
    express (order comparisons of strings, values other than strings / numbers / booleans)
    raises TypeError naming the key.

    Examples
    --------
    >>> filter_tree({"kind": ("a", "b"), "n": {"$gte": 2, "$ne": 5}})
    ('and', [('in', 'kind', ['a', 'b']), ('not', ('eq', 'n', 5)), ('range', 'n', {'gte': 2})])
    """
    compile_filter(where)
    parts: list[Node] = []
    for key, value in where.items():
        if key in ("$and", "$or"):
            parts.append((key[1:], [filter_tree(item) for item in value]))
        else:
            parts.extend(_field_nodes(key, value))
    return ("and", parts)


def _field_nodes(key: str, condition: Any) -> list[Node]:
    if isinstance(condition, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in condition):
        out: list[Node] = []
        bounds: dict[str, float] = {}
        for op, operand in condition.items():
            if op in ("$eq", "$ne"):
                node: Node = ("eq", key, _scalar(key, operand))
                out.append(node if op == "$eq" else ("not", node))
            elif op in ("$in", "$nin"):
                values = [_scalar(key, v) for v in operand]
                node = ("in", key, values) if values else ("none",)
                if op == "$in":
                    out.append(node)
                elif values:
                    out.append(("not", node))
            else:
                if isinstance(operand, str):
                    raise TypeError(f"where[{key!r}][{op!r}]: Qdrant orders numbers only, got the string {operand!r}")
                bounds[op[1:]] = operand
        if bounds:
            out.append(("range", key, bounds))
        return out
    if isinstance(condition, (tuple, set, frozenset)):
        values = [_scalar(key, v) for v in condition]
        return [("in", key, values) if values else ("none",)]
    return [("eq", key, _scalar(key, condition))]


def _scalar(key: str, value: Any) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        raise TypeError(
            f"where[{key!r}]: Qdrant filters match strings, numbers and booleans, got {type(value).__name__} {value!r}"
        )
    return value


def _matchable_any(values: Sequence[Any]) -> bool:
    """Qdrant's ``MatchAny`` takes all-string or all-integer lists."""
    return all(isinstance(v, str) for v in values) or all(isinstance(v, int) and not isinstance(v, bool) for v in values)


# ---------------------------------------------------------------------------------- Qdrant Edge
def edge_filter(q: Any, tree: Node | None, point_ids: list[str] | None) -> Any:
    """A Qdrant Edge ``Filter`` (``q``: the ``qdrant_edge`` module) for a tree and/or point ids; None for neither."""
    must: list[Any] = [] if tree is None else [_edge_node(q, tree)]
    if point_ids is not None:
        must.append(q.HasIdCondition({uuid.UUID(p) for p in point_ids}))
    return q.Filter(must=must) if must else None


def edge_documents_only(q: Any) -> Any:
    """A Qdrant Edge filter passing documents' points, not the chunk points of a long document."""
    return q.Filter(must=[q.IsEmptyCondition("parent")])


def _edge_node(q: Any, node: Node) -> Any:
    op = node[0]
    if op in ("and", "or"):
        parts = [_edge_node(q, n) for n in node[1]]
        return q.Filter(must=parts) if op == "and" else q.Filter(should=parts)
    if op == "not":
        return q.Filter(must_not=[_edge_node(q, node[1])])
    if op == "none":
        return q.HasIdCondition(set())
    key = f"metadata.{node[1]}"
    if op == "range":
        return q.FieldCondition(key, range=q.RangeFloat(**node[2]))
    if op == "in":
        if _matchable_any(node[2]):
            return q.FieldCondition(key, match=q.MatchAny(list(node[2])))
        return q.Filter(should=[_edge_node(q, ("eq", node[1], v)) for v in node[2]])
    value = node[2]
    if isinstance(value, float):
        return q.FieldCondition(key, range=q.RangeFloat(gte=value, lte=value))
    return q.FieldCondition(key, match=q.MatchValue(value))


# ---------------------------------------------------------------------------------- qdrant-client
def client_filter(m: Any, tree: Node | None, point_ids: list[str] | None) -> Any:
    """A ``qdrant_client.models.Filter`` (``m``: that module) for a tree and/or point ids; None for neither."""
    must: list[Any] = [] if tree is None else [_client_node(m, tree)]
    if point_ids is not None:
        must.append(m.HasIdCondition(has_id=list(point_ids)))
    return m.Filter(must=must) if must else None


def client_documents_only(m: Any) -> Any:
    """A ``qdrant-client`` filter passing documents' points, not the chunk points of a long document."""
    return m.Filter(must=[m.IsEmptyCondition(is_empty=m.PayloadField(key="parent"))])


def _client_node(m: Any, node: Node) -> Any:
    op = node[0]
    if op in ("and", "or"):
        parts = [_client_node(m, n) for n in node[1]]
        return m.Filter(must=parts) if op == "and" else m.Filter(should=parts)
    if op == "not":
        return m.Filter(must_not=[_client_node(m, node[1])])
    if op == "none":
        return m.HasIdCondition(has_id=[])
    key = f"metadata.{node[1]}"
    if op == "range":
        return m.FieldCondition(key=key, range=m.Range(**node[2]))
    if op == "in":
        if _matchable_any(node[2]):
            return m.FieldCondition(key=key, match=m.MatchAny(any=list(node[2])))
        return m.Filter(should=[_client_node(m, ("eq", node[1], v)) for v in node[2]])
    value = node[2]
    if isinstance(value, float):
        return m.FieldCondition(key=key, range=m.Range(gte=value, lte=value))
    return m.FieldCondition(key=key, match=m.MatchValue(value=value))
