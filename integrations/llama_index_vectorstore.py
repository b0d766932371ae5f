"""A LlamaIndex vector store over a SMART index (re-exported by ``smart_plugins.integrations.llama_index``).

Needs ``llama-index-core``. The store keeps each node's text (``stores_text=True``), its pooled
vector and its token vectors, and answers queries with the two-stage SMART search from the query
text; the embeddings LlamaIndex computes are not used (``store.embed_model`` is a free stand-in).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from smart_plugins.integrations._common import as_weights, check_k
from smart_plugins.integrations._index_source import (
    close_if_owned,
    closing_on_error,
    open_or_create_index,
    reject_extra,
    is_temporary,
    tie_lifetime,
)

#: LlamaIndex filter operators and their counterparts in ``smart_plugins.index.filters``.
OPERATORS: dict[FilterOperator, str] = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin",
}
#: Name of the JSON file :meth:`SmartVectorStore.persist` writes when given a folder.
PERSIST_FILE = "smart_vector_store.json"


def filters_to_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Translate LlamaIndex ``MetadataFilters`` (nested, AND/OR) to the index's dict filter.

    Operators outside EQ NE GT GTE LT LTE IN NIN, and the NOT condition, raise ValueError naming them.

    Examples
    --------
    >>> from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
    >>> filters_to_where(MetadataFilters(filters=[
    ...     MetadataFilter(key="year", value=2020, operator=">="), MetadataFilter(key="lang", value=["de", "fr"], operator="in"),
    ... ], condition="or"))
    {'$or': [{'year': {'$gte': 2020}}, {'lang': {'$in': ['de', 'fr']}}]}
    """
    if filters is None or not filters.filters:
        return None
    parts: list[dict[str, Any]] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = filters_to_where(item)
            if nested is not None:
                parts.append(nested)
            continue
        op = OPERATORS.get(FilterOperator(item.operator))
        if op is None:
            raise ValueError(
                f"unsupported MetadataFilter operator {FilterOperator(item.operator).name} (on key {item.key!r}); "
                f"supported: {', '.join(o.name for o in OPERATORS)}"
            )
        parts.append({item.key: {op: item.value}})
    condition = FilterCondition(filters.condition or FilterCondition.AND)
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise ValueError(f"unsupported MetadataFilters condition {condition.name}; supported: AND, OR")
    if len(parts) == 1:
        return parts[0]
    return {"$and" if condition == FilterCondition.AND else "$or": parts}


class SmartVectorStore(BasePydanticVectorStore):
    """SMART retrieval as a LlamaIndex vector store (``stores_text=True``).

    Parameters
    ----------
    model:
        The encoder: alias (``"minilm"``), folder, hub name, ``SentenceTransformer`` or
        ``SmartEncoder``; not needed to reopen an existing index (its recorded model is used).
    index, index_path:
        An open ``SmartIndex``, or a folder (opened when it holds an index, created otherwise).
        With neither, a temporary index removed by :meth:`close` or garbage collection.
    compression, weights, candidates:
        Codec of a new index, hybrid weights, first-stage candidates per query.

    ``VectorStoreIndex`` still runs its ``embed_model`` over the nodes; pass
    ``embed_model=store.embed_model`` (a free stand-in) so no second model runs.

    Examples
    --------
    >>> from llama_index.core import Document, StorageContext, VectorStoreIndex
    >>> from llama_index.core.vector_stores.types import MetadataFilter, MetadataFilters
    >>> store = SmartVectorStore(model="minilm")
    >>> docs = [Document(text="Debug symbols for libfoo.", id_="dbg", metadata={"year": 2021}),
    ...         Document(text="Documentation for libfoo.", id_="doc", metadata={"year": 2019})]
    >>> index = VectorStoreIndex.from_documents(
    ...     docs, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=store.embed_model)
    >>> [n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=2).retrieve("libfoo debugging symbols")]
    ['dbg', 'doc']
    >>> only_old = MetadataFilters(filters=[MetadataFilter(key="year", value=2020, operator="<")])
    >>> [n.node.ref_doc_id for n in index.as_retriever(filters=only_old).retrieve("libfoo debugging symbols")]
    ['doc']
    >>> index.delete_ref_doc("doc")
    >>> len(store.client)
    1
    >>> store.close()
    """

    stores_text: bool = True
    is_embedding_query: bool = False
    flat_metadata: bool = False
    candidates: int = 100

    _index: Any = PrivateAttr(default=None)
    _weights: Any = PrivateAttr(default=None)

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
            super().__init__(candidates=check_k(candidates, name="candidates"))
            self._weights = as_weights(weights)
            self._index = open_or_create_index(model, index, index_path, compression=compression, weights=self._weights)
            tie_lifetime(self, self._index)

    @classmethod
    def class_name(cls) -> str:
        return "SmartVectorStore"

    @property
    def client(self) -> Any:
        """The ``SmartIndex`` holding the nodes."""
        return self._index

    @property
    def embed_model(self) -> MockEmbedding:
        """A free ``embed_model`` for ``VectorStoreIndex``: this store encodes the node text itself."""
        return MockEmbedding(embed_dim=1)

    # ------------------------------------------------------------------ writes
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes (text, metadata, relationships); a node id already stored is replaced."""
        from smart_plugins.integrations.llama_index import add_nodes

        reject_extra("SmartVectorStore.add", add_kwargs)
        return list(add_nodes(self._index, nodes))

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id`` (nothing to delete is fine)."""
        reject_extra("SmartVectorStore.delete", delete_kwargs)
        doomed = [node.node_id for node in self._all_nodes() if node.ref_doc_id == ref_doc_id]
        if doomed:
            self._index.delete(doomed)

    def delete_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None, **delete_kwargs: Any
    ) -> None:
        """Delete nodes by id and/or metadata filter (both: nodes matching both)."""
        reject_extra("SmartVectorStore.delete_nodes", delete_kwargs)
        doomed = [n.node_id for n in self.get_nodes(node_ids, filters)]
        if doomed:
            self._index.delete(doomed)

    def clear(self) -> None:
        """Delete every node."""
        ids = self._index.ids()
        if ids:
            self._index.delete(ids)

    # ------------------------------------------------------------------ reads
    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """Stored nodes by id (unknown ids skipped) and/or metadata filter."""
        from smart_plugins.index.filters import compile_filter

        if node_ids is None:
            nodes = self._all_nodes()
        else:
            nodes = _to_nodes(self._index.get([i for i in node_ids if i in self._index]))
        where = filters_to_where(filters)
        if where is None:
            return nodes
        keep = compile_filter(where)
        return [n for n in nodes if keep(n.metadata)]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """SMART search for ``query.query_str``: top ``similarity_top_k`` with filters, node and doc ids."""
        reject_extra("SmartVectorStore.query", kwargs)
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise ValueError(f"SmartVectorStore runs the SMART hybrid itself; query mode {query.mode.value!r} is not supported")
        if not query.query_str:
            raise ValueError("SmartVectorStore encodes the query text itself: the query needs query_str")
        # empty id lists mean "no restriction", as in LlamaIndex's own stores (VectorStoreIndex.as_retriever
        # passes node_ids=[] for a store that keeps the text)
        ids = list(query.node_ids) if query.node_ids else None
        if query.doc_ids:
            wanted = set(query.doc_ids)
            of_docs = {n.node_id for n in self._all_nodes() if n.ref_doc_id in wanted}
            ids = sorted(of_docs) if ids is None else [i for i in ids if i in of_docs]
            if not ids:
                return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        hits = self._index.search(
            query.query_str, k=check_k(query.similarity_top_k, name="similarity_top_k"), candidates=self.candidates,
            weights=self._weights, ids=ids, where=filters_to_where(query.filters),
        )
        from smart_plugins.integrations.llama_index import record_to_node

        return VectorStoreQueryResult(
            nodes=[record_to_node(h.id, h.text, h.metadata) for h in hits],
            similarities=[float(h.score) for h in hits],
            ids=[h.id for h in hits],
        )

    def _all_nodes(self) -> list[BaseNode]:
        ids = self._index.ids()
        return _to_nodes(self._index.get(ids)) if ids else []

    # ------------------------------------------------------------------ persistence / lifecycle
    def persist(self, persist_path: str, fs: Any = None) -> None:
        """Write ``persist_path`` (JSON naming the index folder); a temporary index is first copied next to it.

        The index itself is saved at every write; reopen with :meth:`from_persist_path`.
        """
        if fs is not None:
            raise ValueError("SmartVectorStore persists to the local file system only (fs= is not supported)")
        target = Path(persist_path)
        if target.is_dir() or not target.suffix:
            target = target / PERSIST_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        folder = Path(self._index.path)
        if is_temporary(self._index):
            saved = target.parent / "smart_index"
            if saved.exists():
                shutil.rmtree(saved)
            shutil.copytree(folder, saved, ignore=shutil.ignore_patterns(".write.lock"))
            folder = saved
        from smart_plugins.atomic import atomic_write_text

        atomic_write_text(target, json.dumps({"index_path": str(folder.resolve()), "candidates": self.candidates}))

    @classmethod
    def from_persist_path(cls, persist_path: str, fs: Any = None, **kwargs: Any) -> SmartVectorStore:
        """Reopen a store saved by :meth:`persist` (``kwargs``, e.g. ``model=``, are passed on)."""
        if fs is not None:
            raise ValueError("SmartVectorStore persists to the local file system only (fs= is not supported)")
        target = Path(persist_path)
        if target.is_dir():
            target = target / PERSIST_FILE
        if not target.is_file():
            raise FileNotFoundError(f"no saved SmartVectorStore at {target}")
        saved = json.loads(target.read_text(encoding="utf-8"))
        return cls(index_path=saved["index_path"], **{"candidates": saved.get("candidates", 100), **kwargs})

    def close(self) -> None:
        """Remove the store's temporary index (an index given or opened by path is left as is)."""
        close_if_owned(self._index)

    def __repr__(self) -> str:
        return f"SmartVectorStore({self._index!r})"


def _to_nodes(docs: Sequence[Any]) -> list[BaseNode]:
    from smart_plugins.integrations.llama_index import record_to_node

    return [record_to_node(d.id, d.text, d.metadata) for d in docs]


__all__ = ["OPERATORS", "SmartVectorStore", "filters_to_where"]
