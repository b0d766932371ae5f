"""LlamaIndex adapters: a SMART retriever over a smart-plugins index and a SMART node reranker.

Needs ``llama-index-core`` (extra ``smart-plugins[llama-index]``); imported only by this module.

- :class:`SmartRetriever`: a ``BaseRetriever`` (sync and async) over a ``SmartIndex`` built from
  nodes; nodes come back with their metadata and relationships; works in ``RetrieverQueryEngine``.
- :class:`SmartRerank`: a ``BaseNodePostprocessor`` that SMART-reranks the nodes of any retriever
  (e.g. a plain ``VectorStoreIndex``) in one batched pass, or from stored token states when the
  nodes are in a smart-plugins index.
- Both have ``to_dict()`` / ``from_dict()`` so they can be set from config files.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeWithScore,
    QueryBundle,
    TextNode,
)
from llama_index.core.vector_stores.types import MetadataFilters
from smart_plugins.integrations._common import as_encoder, as_weights, check_k
from smart_plugins.integrations._index_source import (
    close_if_owned,
    closing_on_error,
    is_temporary,
    new_temporary_index,
    resolve_index,
    tie_lifetime,
)

from smart_plugins.rerank import rerank_texts
from smart_plugins.scoring import ScoreWeights

#: Metadata key under which the node's own fields (relationships, templates...) are stored in the index.
NODE_INFO_KEY = "_llama_node"
#: Score keys written into node metadata (kept out of the embed and LLM views of the node).
SCORE_KEYS = ("smart_pooled", "smart_late")
_NODE_FIELDS_DROPPED = ("text", "metadata", "embedding", "image")  # "image": an ImageNode's base64 pixels
#: Node classes rebuilt as image nodes (their reference is stored, never their pixels).
_IMAGE_NODE_CLASSES = ("ImageNode", "ImageDocument")
#: Keyword arguments LlamaIndex's own ``BaseRetriever.__init__`` takes.
_BASE_RETRIEVER_KWARGS = {"callback_manager", "object_map", "objects", "verbose"}


def node_image(node: BaseNode) -> str | None:
    """An ``ImageNode`` / ``ImageDocument``'s image reference (``image_path`` or ``image_url``), else None."""
    for attribute in ("image_path", "image_url"):
        value = getattr(node, attribute, None)
        if value:
            return str(value)
    if getattr(node, "image", None):
        raise ValueError(f"node {node.node_id!r} holds base64 pixels only; the index stores a reference: set image_path or image_url")
    return None


def node_to_record(node: BaseNode) -> tuple[str, Any, dict[str, Any]]:
    """``(id, text, metadata)`` to store a node in a ``SmartIndex``; relationships ride along in metadata.

    An ``ImageNode`` / ``ImageDocument`` becomes an image document (``{"image": path}``, with its
    text when it has one) for a multimodal encoder.
    """
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    image = node_image(node)
    if not text.strip() and image is None:
        raise ValueError(f"node {node.node_id!r} has no text to index")
    info = {k: v for k, v in node.to_dict().items() if k not in _NODE_FIELDS_DROPPED}
    metadata = dict(node.metadata)
    if NODE_INFO_KEY in metadata:
        raise ValueError(f"node {node.node_id!r} metadata uses the reserved key {NODE_INFO_KEY!r}")
    metadata[NODE_INFO_KEY] = json.loads(json.dumps(info, default=str))
    if image is not None:
        return node.node_id, ({"text": text, "image": image} if text.strip() else {"image": image}), metadata
    return node.node_id, text, metadata


def record_to_node(id_: str, text: str, metadata: dict[str, Any] | None) -> TextNode:
    """Inverse of :func:`node_to_record` (a plain ``TextNode`` for documents not indexed from nodes)."""
    metadata = dict(metadata or {})
    info = metadata.pop(NODE_INFO_KEY, None)
    if isinstance(info, dict):
        data = {**info, "text": text, "metadata": metadata, "id_": id_}
        if data.pop("class_name", None) in _IMAGE_NODE_CLASSES:
            from llama_index.core.schema import ImageNode

            metadata.pop("image", None)  # the index's copy of the reference; the node keeps image_path/url
            return ImageNode.model_validate(data)
        return TextNode.model_validate(data)
    return TextNode(id_=id_, text=text, metadata=metadata)


def index_nodes(nodes: Sequence[BaseNode], encoder: Any = "minilm", path: str | Path | None = None, **kwargs: Any) -> Any:
    """Create a ``SmartIndex`` at ``path`` (temporary when None) holding ``nodes``.

    Examples
    --------
    >>> from llama_index.core.schema import TextNode
    >>> index = index_nodes([TextNode(text="Debug symbols.", id_="n1", metadata={"pkg": "x"})], encoder="minilm")
    >>> index.get("n1").metadata["pkg"], len(index)
    ('x', 1)
    """
    from smart_plugins.index import SmartIndex

    if path is None:
        index = new_temporary_index(as_encoder(encoder), **kwargs)
    else:
        index = SmartIndex.create(path, as_encoder(encoder), **kwargs)
    try:
        add_nodes(index, nodes)
    except BaseException:
        index.close()
        raise
    return index


def add_nodes(index: Any, nodes: Sequence[BaseNode]) -> list[str]:
    """Add (or replace, by node id) LlamaIndex nodes in an open ``SmartIndex``."""
    records = [node_to_record(n) for n in nodes]
    if not records:
        return []
    ids, texts, metas = (list(x) for x in zip(*records))
    return index.upsert(texts, ids=ids, metadata=metas)


class SmartRetriever(BaseRetriever):
    """SMART two-stage retrieval over a ``SmartIndex`` as a LlamaIndex retriever.

    Parameters
    ----------
    index, index_path, nodes:
        The index to search: an open ``SmartIndex``, an index folder, or nodes to index (with
        ``model``) in a temporary index, or in a new one at ``index_path``.
    model:
        Alias, folder, hub name, ``SentenceTransformer`` or ``SmartEncoder`` (``encoder=`` is the same).
    similarity_top_k:
        Nodes returned per query.
    filters:
        LlamaIndex ``MetadataFilters`` (EQ NE GT GTE LT LTE IN NIN, AND/OR); others raise.
    candidates, weights, where, exhaustive:
        Passed to ``SmartIndex.search`` (``where`` in the index's dict form).

    Examples
    --------
    >>> from llama_index.core.schema import TextNode
    >>> nodes = [TextNode(text="Debug symbols for libfoo.", id_="dbg"), TextNode(text="A banana bread recipe.", id_="bread")]
    >>> retriever = SmartRetriever(nodes=nodes, model="minilm", similarity_top_k=1)
    >>> [(n.node.node_id, n.score > 0) for n in retriever.retrieve("libfoo debugging symbols")]
    [('dbg', True)]
    >>> _ = retriever.insert_nodes([TextNode(text="Banana bread, step by step.", id_="bread2")])
    >>> [n.node.node_id for n in retriever.retrieve("banana bread, step by step")]
    ['bread2']
    >>> retriever.close()
    """

    def __init__(
        self,
        index: Any = None,
        *,
        index_path: str | Path | None = None,
        nodes: Sequence[BaseNode] | None = None,
        model: Any = None,
        encoder: Any = None,
        similarity_top_k: int = 10,
        candidates: int = 100,
        weights: Any = None,
        where: Any = None,
        filters: MetadataFilters | None = None,
        exhaustive: bool = False,
        **kwargs: Any,
    ) -> None:
        unknown = set(kwargs) - _BASE_RETRIEVER_KWARGS
        if unknown:
            hint = "; the number of nodes returned is similarity_top_k=" if unknown & {"top_k", "k", "top_n"} else ""
            raise TypeError(f"SmartRetriever got unexpected keyword argument(s) {sorted(unknown)}{hint}")
        if model is not None and encoder is not None:
            raise ValueError("pass model= or encoder= (the same thing), not both")
        model = model if model is not None else encoder
        self.similarity_top_k = check_k(similarity_top_k, name="similarity_top_k")
        self.candidates = check_k(candidates, name="candidates")
        self.weights: ScoreWeights | None = as_weights(weights)
        self.where = _combine_filters(where, filters)
        self.filters = filters
        self.exhaustive = exhaustive
        with closing_on_error():
            if nodes is not None:
                if index is not None:
                    raise ValueError("pass nodes= alone (with index_path= to keep them), or index=, not both")
                index = index_nodes(nodes, model if model is not None else "minilm", path=index_path)
            else:
                index = resolve_index(index=index, index_path=index_path, encoder=model)
            self.index = index
            self.index_path = None if index_path is None else str(index_path)
            super().__init__(**kwargs)
            tie_lifetime(self, index)

    def insert_nodes(self, nodes: Sequence[BaseNode]) -> list[str]:
        """Add (or replace, by node id) nodes in the retriever's index."""
        return add_nodes(self.index, nodes)

    def delete(self, node_ids: str | Sequence[str]) -> int:
        """Delete nodes by id; returns how many were deleted (unknown ids raise KeyError naming them)."""
        return int(self.index.delete(node_ids))

    def delete_ref_doc(self, ref_doc_id: str) -> int:
        """Delete every node of the source document ``ref_doc_id``; returns how many were deleted."""
        ids = self.index.ids()
        doomed = [d.id for d in (self.index.get(ids) if ids else []) if record_to_node(d.id, d.text, d.metadata).ref_doc_id == ref_doc_id]
        return int(self.index.delete(doomed)) if doomed else 0

    def close(self) -> None:
        """Remove the retriever's temporary index (an index given or opened by path is left as is)."""
        close_if_owned(self.index)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.index.search(
            query_bundle.query_str, k=self.similarity_top_k, candidates=self.candidates,
            weights=self.weights, where=self.where, exhaustive=self.exhaustive,
        )
        return [_hit_to_node(hit) for hit in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able settings; needs an index opened from (or saved at) a folder."""
        path = self.index_path or _index_folder(self.index)
        if path is None:
            raise ValueError(
                "this retriever's index is temporary (built from nodes), so there is nothing to point a config at: "
                "build it with SmartRetriever(nodes=..., index_path='my-index') (or open a saved index with "
                "index_path=) and to_dict() will name that folder"
            )
        if self.where is not None and not isinstance(self.where, dict):
            raise ValueError("a callable where= filter cannot be serialised; use a dict filter")
        return {
            "class_name": "SmartRetriever",
            "index_path": str(path),
            "similarity_top_k": self.similarity_top_k,
            "candidates": self.candidates,
            "weights": None if self.weights is None else self.weights.as_dict(),
            "where": self.where,
            "exhaustive": self.exhaustive,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], **kwargs: Any) -> SmartRetriever:
        """Rebuild from :meth:`to_dict` output (``kwargs``, e.g. ``encoder=``, are passed on)."""
        data = dict(data)
        if data.pop("class_name", "SmartRetriever") != "SmartRetriever":
            raise ValueError("config is not a SmartRetriever config")
        return cls(**data, **kwargs)


class SmartRerank(BaseNodePostprocessor):
    """SMART-rerank retrieved nodes (a ``BaseNodePostprocessor``).

    Candidates are encoded in one batched pass; with ``index`` set and every node id in it, the
    stored token states are used instead. Node scores are replaced by the hybrid score;
    ``keep_retrieval_score`` saves the first-stage score in ``metadata["retrieval_score"]``;
    ``smart_pooled`` / ``smart_late`` are written to metadata (excluded from the embed and LLM text).

    Examples
    --------
    >>> from llama_index.core.schema import NodeWithScore, TextNode
    >>> rerank = SmartRerank(model="minilm", top_n=1)
    >>> nodes = [NodeWithScore(node=TextNode(text=t), score=0.5) for t in ["Docs for libfoo.", "Debug symbols for libfoo."]]
    >>> [n.node.text for n in rerank.postprocess_nodes(nodes, query_str="debugging symbols")]
    ['Debug symbols for libfoo.']
    >>> SmartRerank.from_dict(rerank.to_dict()).top_n
    1
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    model: str = Field(default="minilm", description="Model path, hub name or packaged alias.")
    top_n: int | None = Field(default=5, description="Nodes kept (None: all, reordered).")
    weights: dict[str, float] | None = Field(default=None, description="Hybrid weights {'pool': .., 'late': ..}.")
    keep_retrieval_score: bool = Field(default=False)
    metadata_mode: MetadataMode = Field(default=MetadataMode.NONE, description="Node text view that is encoded.")
    device: str | None = Field(default=None)
    _encoder: Any = PrivateAttr(default=None)
    _index: Any = PrivateAttr(default=None)

    def __init__(self, *, encoder: Any = None, index: Any = None, weights: Any = None, **kwargs: Any) -> None:
        parsed = as_weights(weights)
        super().__init__(weights=None if parsed is None else parsed.as_dict(), **kwargs)
        if self.top_n is not None:
            check_k(self.top_n, name="top_n")
        self._index = index
        if encoder is None and index is not None:
            encoder = index.encoder
        self._encoder = as_encoder(encoder if encoder is not None else self.model, device=self.device)

    @classmethod
    def class_name(cls) -> str:
        return "SmartRerank"

    def __repr__(self) -> str:
        weights = as_weights(self.weights)
        shown = "index default" if weights is None else f"{weights.pool:g}:{weights.late:g}"
        source = ", from a SmartIndex" if self._index is not None else ""
        return f"SmartRerank(model={self.model!r}, top_n={self.top_n}, weights={shown}{source})"

    @property
    def encoder(self) -> Any:
        return self._encoder

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("SmartRerank needs the query (query_bundle or query_str)")
        if not nodes:
            return []
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.model,
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self.top_n,
            },
        ) as event:
            out = self._rerank(nodes, query_bundle.query_str)
            event.on_end(payload={EventPayload.NODES: out})
        return out

    def _rerank(self, nodes: list[NodeWithScore], query: str) -> list[NodeWithScore]:
        weights = as_weights(self.weights)
        index = self._index
        if index is not None and all(n.node.node_id in index for n in nodes):
            by_id = {n.node.node_id: n for n in nodes}
            hits = index.rerank(query, list(by_id), k=self.top_n, weights=weights)
            ranked = [(by_id[h.id], float(h.score), float(h.pooled), h.late) for h in hits]
        else:
            texts = [n.node.get_content(metadata_mode=self.metadata_mode) for n in nodes]
            results = rerank_texts(self._encoder, query, texts, k=self.top_n, weights=weights)
            ranked = [(nodes[r.index], r.score, r.pooled, r.late) for r in results]
        out = []
        for item, score, pooled, late in ranked:
            node = item.node
            if self.keep_retrieval_score:
                node.metadata["retrieval_score"] = item.score
            node.metadata["smart_pooled"] = pooled
            node.metadata["smart_late"] = None if late is None else float(late)
            _hide_keys(node, SCORE_KEYS + (("retrieval_score",) if self.keep_retrieval_score else ()))
            out.append(NodeWithScore(node=node, score=score))
        return out


class SmartPooledEmbedding(BaseEmbedding):
    """The model's own pooled embeddings as a LlamaIndex embedding model (for a first-stage index).

    Vectors equal ``SmartEncoder.encode_documents(...).pooled`` / ``encode_queries``, so a
    ``VectorStoreIndex`` built with them and a :class:`SmartRerank` on the same encoder agree.

    Examples
    --------
    >>> emb = SmartPooledEmbedding(model_name="minilm")
    >>> len(emb.get_query_embedding("debug symbols")), len(emb.get_text_embedding_batch(["a", "b"]))
    (384, 2)
    """

    model_name: str = Field(default="minilm", description="Model path, hub name or packaged alias.")
    device: str | None = Field(default=None)
    _encoder: Any = PrivateAttr(default=None)

    def __init__(self, *, encoder: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._encoder = as_encoder(encoder if encoder is not None else self.model_name, device=self.device)

    @classmethod
    def class_name(cls) -> str:
        return "SmartPooledEmbedding"

    @property
    def encoder(self) -> Any:
        return self._encoder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encoder.encode_queries([query]).pooled[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encoder.encode_documents(list(texts)).pooled.tolist() if texts else []

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)


def _combine_filters(where: Any, filters: MetadataFilters | None) -> Any:
    """``where`` (the index's form) and ``filters`` (LlamaIndex's) joined with AND."""
    from smart_plugins.integrations.llama_index_vectorstore import filters_to_where

    translated = filters_to_where(filters)
    if translated is None:
        return where
    if where is None:
        return translated
    if not isinstance(where, dict):
        raise ValueError("a callable where= cannot be combined with filters=; express both as filters")
    return {"$and": [where, translated]}


def _hide_keys(node: BaseNode, keys: Sequence[str]) -> None:
    for attr in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
        excluded = getattr(node, attr)
        excluded.extend(k for k in keys if k not in excluded)


def _hit_to_node(hit: Any) -> NodeWithScore:
    node = record_to_node(hit.id, hit.text, hit.metadata)
    node.metadata["smart_pooled"] = float(hit.pooled)
    node.metadata["smart_late"] = None if hit.late is None else float(hit.late)
    _hide_keys(node, SCORE_KEYS)
    return NodeWithScore(node=node, score=float(hit.score))


def _index_folder(index: Any) -> str | None:
    if is_temporary(index):
        return None
    return str(index.info()["path"])


__all__ = ["NODE_INFO_KEY", "SmartPooledEmbedding", "SmartRerank", "SmartRetriever", "add_nodes", "index_nodes", "node_to_record", "record_to_node"]

from smart_plugins.integrations.llama_index_vectorstore import SmartVectorStore, filters_to_where  # noqa: E402

__all__ += ["SmartVectorStore", "filters_to_where"]
