"""Documents as Qdrant points: UUIDv5 point ids, and the payload written and read back.

A document's point id is the UUIDv5 of its string id, so the same document always lands on
the same point and every client agrees on the mapping. The payload holds what the store hands
back: the string ``id``, ``text``, ``metadata``, an insertion ``seq`` (for :meth:`ids` order)
and the token ids / positions that token-level evidence needs.

A document whose tokens are over Qdrant's multivector cap can be stored in **chunks**
(:func:`document_points`): the document's point holds its pooled vector, its payload and the
first ``max_tokens`` tokens, with ``chunks`` = the number of points; each further chunk is a
point of tokens alone (no pooled vector, so the pooled first stage never finds it) whose payload
names its ``parent`` and its ``chunk`` number, at :func:`chunk_point_id`.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from smart_plugins.index.results import IndexedDocument

#: Namespace of the UUIDv5 point ids (fixed: changing it would orphan every stored point).
POINT_NAMESPACE = uuid.UUID("6f1b8a52-3c1e-5d0a-9a57-2f3c8b7e5d11")
#: Namespace of the chunk points' ids (apart from the documents': no document id can land there).
CHUNK_NAMESPACE = uuid.uuid5(POINT_NAMESPACE, "chunks")
#: Payload fields a search hit or :meth:`get` reads (not the token ids / positions).
DOCUMENT_FIELDS = ["id", "text", "metadata"]


def point_id(doc_id: str) -> str:
    """The Qdrant point id of a document id (UUIDv5, deterministic).

    Examples
    --------
    >>> point_id("doc-1") == point_id("doc-1") != point_id("doc-2")
    True
    """
    return str(uuid.uuid5(POINT_NAMESPACE, doc_id))


def chunk_point_id(doc_id: str, chunk: int) -> str:
    """The point id of chunk ``chunk`` (1, 2, ...) of a document stored in chunks (chunk 0 is the document's point).

    Examples
    --------
    >>> chunk_point_id("doc-1", 1) == chunk_point_id("doc-1", 1) != chunk_point_id("doc-1", 2)
    True
    >>> chunk_point_id("doc-1", 0) == point_id("doc-1")
    True
    """
    return point_id(doc_id) if chunk == 0 else str(uuid.uuid5(CHUNK_NAMESPACE, f"{chunk}:{doc_id}"))


def chunk_ids(doc_id: str, chunks: int, first: int = 1) -> list[str]:
    """Point ids of chunks ``first`` .. ``chunks - 1`` of a document.

    Examples
    --------
    >>> len(chunk_ids("d", 3)), chunk_ids("d", 1)
    (2, [])
    """
    return [chunk_point_id(doc_id, c) for c in range(first, chunks)]


def document_points(
    doc_id: str,
    payload: dict[str, Any],
    pooled: np.ndarray,
    tokens: np.ndarray,
    token_ids: np.ndarray,
    positions: np.ndarray,
    max_tokens: int | None,
) -> list[tuple[str, np.ndarray | None, np.ndarray, dict[str, Any]]]:
    """The points of one document: one, or (``max_tokens`` given and exceeded) one per chunk of ``max_tokens`` tokens.

    ``payload`` is the document's (:func:`document_payload`); each point carries the token ids /
    positions of its own tokens.

    Examples
    --------
    >>> pts = document_points("d", {"id": "d"}, np.ones(2), np.ones((5, 2)), np.arange(5), np.arange(5), 2)
    >>> [(p[1] is not None, len(p[2]), p[3].get("chunks"), p[3].get("chunk"), p[3]["token_ids"]) for p in pts]
    [(True, 2, 3, None, [0, 1]), (False, 2, None, 1, [2, 3]), (False, 1, None, 2, [4])]
    """
    n = len(tokens)
    if max_tokens is None or n <= max_tokens:
        return [(point_id(doc_id), pooled, tokens, {**payload, "token_ids": token_ids.tolist(), "positions": positions.tolist()})]
    points: list[tuple[str, np.ndarray | None, np.ndarray, dict[str, Any]]] = []
    for c, a in enumerate(range(0, n, max_tokens)):
        b = min(a + max_tokens, n)
        own = {"token_ids": token_ids[a:b].tolist(), "positions": positions[a:b].tolist()}
        if c == 0:
            points.append((point_id(doc_id), pooled, tokens[a:b], {**payload, **own}))
        else:
            points.append((chunk_point_id(doc_id, c), None, tokens[a:b], {"parent": doc_id, "chunk": c, **own}))
    points[0][3]["chunks"] = len(points)
    return points


def document_payload(
    doc_id: str, text: str, metadata: dict[str, Any], seq: int, token_ids: np.ndarray, positions: np.ndarray
) -> dict[str, Any]:
    """The payload of one document's point.

    Examples
    --------
    >>> p = document_payload("d", "a text", {"k": 1}, 7, np.array([5, 6]), np.array([1, 2]))
    >>> p["id"], p["seq"], p["token_ids"], p["positions"]
    ('d', 7, [5, 6], [1, 2])
    """
    return {
        "id": doc_id,
        "text": text,
        "metadata": metadata,
        "seq": seq,
        "token_ids": token_ids.tolist(),
        "positions": positions.tolist(),
    }


def indexed_document(payload: dict[str, Any]) -> IndexedDocument:
    """The stored document a point's payload describes.

    Examples
    --------
    >>> indexed_document({"id": "d", "text": "a text", "metadata": None})
    IndexedDocument(id='d', text='a text', metadata={})
    """
    return IndexedDocument(payload["id"], payload["text"], payload.get("metadata") or {})
