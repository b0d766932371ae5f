"""Documents as Qdrant points: UUIDv5 point ids, and the payload written and read back.

A document's point id is the UUIDv5 of its string id, so the same document always lands on
the same point and every client agrees on the mapping. The payload holds what the store hands
back: the string ``id``, ``text``, ``metadata``, an insertion ``seq`` (for :meth:`ids` order)
and the token ids / positions that token-level evidence needs.
"""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from smart_plugins.index.results import IndexedDocument

#: Namespace of the UUIDv5 point ids (fixed: changing it would orphan every stored point).
POINT_NAMESPACE = uuid.UUID("6f1b8a52-3c1e-5d0a-9a57-2f3c8b7e5d11")
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
