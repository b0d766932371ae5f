"""A LangChain ``VectorStore`` over a SMART index (re-exported by ``smart_plugins.integrations.langchain``).

Needs ``langchain-core``. The store holds each document's pooled vector and its token vectors;
``similarity_search`` runs the two-stage SMART search (pooled candidates, exact hybrid rerank).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore
from smart_plugins.integrations._common import as_weights, check_k
from smart_plugins.integrations._index_source import (
    close_if_owned,
    closing_on_error,
    open_or_create_index,
    reject_extra,
    tie_lifetime,
)

#: Keyword arguments ``similarity_search`` (and ``as_retriever(search_kwargs=...)``) accept besides ``k``.
SEARCH_KWARGS = ("filter", "candidates", "weights", "exhaustive")


class SmartVectorStore(VectorStore):
    """SMART retrieval as a LangChain ``VectorStore``: add, delete, get, search, filter, retriever.

    Parameters
    ----------
    model:
        The encoder: an alias (``"minilm"``), a folder, a hub name, a ``SentenceTransformer`` or a
        ``SmartEncoder``. Not needed when ``index``/``index_path`` names an existing index (its
        recorded model is used).
    index, index_path:
        An open ``SmartIndex``, or a folder: opened when it holds an index, created there
        otherwise. With neither, the store lives in a temporary folder removed by :meth:`close`
        or when the store is garbage-collected.
    compression, weights:
        Options of a newly created index (see ``SmartIndex.create``).
    candidates:
        First-stage candidates reranked per search (default 100).

    Filters use the form LangChain users write for Chroma/Qdrant-style stores: ``{"key": value}``,
    ``$eq $ne $in $nin $gt $gte $lt $lte`` and ``$and`` / ``$or`` (see
    :mod:`smart_plugins.index.filters`); any other operator raises ValueError naming it.

    Examples
    --------
    >>> from langchain_core.documents import Document
    >>> store = SmartVectorStore(model="minilm")
    >>> store.add_documents([
    ...     Document("Debug symbols for libfoo.", metadata={"kind": "dbg", "year": 2021}),
    ...     Document("Documentation for libfoo.", metadata={"kind": "doc", "year": 2019}),
    ...     Document("A banana bread recipe.", metadata={"kind": "food", "year": 2023}),
    ... ], ids=["dbg", "doc", "bread"])
    ['dbg', 'doc', 'bread']
    >>> [d.id for d in store.similarity_search("libfoo debugging symbols", k=2)]
    ['dbg', 'doc']
    >>> [d.id for d in store.similarity_search("libfoo", k=3, filter={"year": {"$gte": 2020}})]
    ['dbg', 'bread']
    >>> retriever = store.as_retriever(search_kwargs={"k": 1, "filter": {"kind": {"$in": ["doc", "food"]}}})
    >>> [d.id for d in retriever.invoke("libfoo debugging symbols")]
    ['doc']
    >>> store.delete(["doc"]), [d.id for d in store.get_by_ids(["doc", "dbg"])]
    (True, ['dbg'])
    >>> store.close()
    """

    def __init__(
        self,
        model: Any = None,
        *,
        index: Any = None,
        index_path: str | Path | None = None,
        compression: str | None = None,
        weights: Any = None,
        candidates: int = 100,
    ) -> None:
        with closing_on_error():
            self.candidates = check_k(candidates, name="candidates")
            self._weights = as_weights(weights)
            self.index = open_or_create_index(model, index, index_path, compression=compression, weights=self._weights)
            tie_lifetime(self, self.index)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        model: Any = None,
        **kwargs: Any,
    ) -> SmartVectorStore:
        """A store holding ``texts`` (temporary, or at ``index_path=``).

        ``embedding`` may be a ``SmartEmbeddings`` (its model is used); SMART needs a model's
        token states, so any other ``Embeddings`` raises: pass ``model=`` instead.
        """
        with closing_on_error():
            store = cls(model=_model_from(embedding, model), **kwargs)
            store.add_texts(texts, metadatas, ids=ids)
        return store

    @classmethod
    def from_documents(
        cls, documents: list[Document], embedding: Embeddings | None = None, **kwargs: Any
    ) -> SmartVectorStore:
        """A store holding LangChain documents (content, metadata and ids kept); see :meth:`from_texts`."""
        docs = list(documents)
        if "ids" not in kwargs and any(d.id for d in docs):
            kwargs["ids"] = [d.id for d in docs]
        return cls.from_texts(
            [d.page_content for d in docs], embedding, [dict(d.metadata) for d in docs], **kwargs
        )

    @classmethod
    async def afrom_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> SmartVectorStore:
        """:meth:`from_texts` in a worker thread."""
        return await asyncio.to_thread(cls.from_texts, texts, embedding, metadatas, ids=ids, **kwargs)

    @classmethod
    async def afrom_documents(
        cls, documents: list[Document], embedding: Embeddings | None = None, **kwargs: Any
    ) -> SmartVectorStore:
        """:meth:`from_documents` in a worker thread."""
        return await asyncio.to_thread(cls.from_documents, documents, embedding, **kwargs)

    @property
    def embeddings(self) -> Embeddings:
        """``SmartEmbeddings`` over the store's model (its pooled vectors)."""
        from smart_plugins.integrations.langchain import SmartEmbeddings

        return SmartEmbeddings(encoder=self.index.encoder)

    # ------------------------------------------------------------------ writes
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str | None] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Add (or, for an id already stored, replace) texts; returns their ids (uuid4 when not given)."""
        reject_extra("SmartVectorStore.add_texts", kwargs)
        items = list(texts)
        if not items:
            return []
        if ids is None:
            ids = [None] * len(items)
        if len(ids) != len(items):
            raise ValueError(f"got {len(items)} texts but {len(ids)} ids")
        doc_ids = [str(i) if i is not None and i != "" else str(uuid.uuid4()) for i in ids]
        if metadatas is not None and len(metadatas) != len(items):
            raise ValueError(f"got {len(items)} texts but {len(metadatas)} metadatas")
        return list(self.index.upsert(items, ids=doc_ids, metadata=metadatas))

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        """Delete documents by id (ids not stored are skipped); ``ids=None`` deletes every document."""
        reject_extra("SmartVectorStore.delete", kwargs)
        wanted = self.index.ids() if ids is None else [i for i in dict.fromkeys(ids) if i in self.index]
        if wanted:
            self.index.delete(wanted)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """Stored documents for the ids that exist, in the order asked."""
        found = [i for i in ids if i in self.index]
        if not found:
            return []
        return [Document(page_content=d.text, metadata=dict(d.metadata), id=d.id) for d in self.index.get(found)]

    # ------------------------------------------------------------------ search
    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` best documents by SMART hybrid score (``filter=``, ``candidates=``, ``weights=``, ``exhaustive=``)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, **kwargs: Any) -> list[tuple[Document, float]]:
        """Documents with their hybrid score ``pool * cos + late * MaxSim`` (higher is better)."""
        unknown = set(kwargs) - set(SEARCH_KWARGS)
        if unknown:
            raise TypeError(
                f"SmartVectorStore search got unexpected keyword argument(s) {sorted(unknown)}; it accepts k and "
                f"{', '.join(SEARCH_KWARGS)}"
            )
        hits = self.index.search(
            query, k=check_k(k), candidates=kwargs.get("candidates", self.candidates),
            weights=as_weights(kwargs.get("weights")) or self._weights, where=kwargs.get("filter"),
            exhaustive=bool(kwargs.get("exhaustive", False)),
        )
        return [(Document(page_content=h.text, metadata=dict(h.metadata), id=h.id), float(h.score)) for h in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Map the hybrid score (in ``[-(pool + late), pool + late]``) to ``[0, 1]``."""
        weights = self._weights or self.index.weights
        span = max(weights.pool + weights.late, 1e-12)
        return lambda score: min(1.0, max(0.0, (score / span + 1.0) / 2.0))

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Remove the store's temporary index (an index given or opened by path is left as is)."""
        close_if_owned(self.index)

    def __enter__(self) -> SmartVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SmartVectorStore({self.index!r})"


def _model_from(embedding: Any, model: Any) -> Any:
    if embedding is None:
        return model
    encoder = getattr(embedding, "encoder", None)
    if encoder is None or not hasattr(embedding, "embed_query"):
        raise TypeError(
            f"SmartVectorStore scores with a model's token states, which a {type(embedding).__name__} cannot give; "
            "pass model= (an alias like 'minilm', a path, a SentenceTransformer or a SmartEncoder) or a SmartEmbeddings"
        )
    if model is not None:
        raise ValueError("pass embedding= or model=, not both")
    return encoder


__all__ = ["SEARCH_KWARGS", "SmartVectorStore"]
