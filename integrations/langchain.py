"""LangChain adapters: SMART retriever, reranker (document compressor) and pooled embeddings.

Needs ``langchain-core`` (extra ``smart-plugins[langchain]``); imported only by this module.

- :class:`SmartRetriever`: a ``BaseRetriever`` over a smart-plugins index (two-stage SMART search).
- :class:`SmartReranker`: a ``BaseDocumentCompressor`` for ``ContextualCompressionRetriever``
  that SMART-reranks the documents of any first stage and writes ``relevance_score``.
- :class:`SmartEmbeddings`: an ``Embeddings`` giving the model's pooled vectors, so any LangChain
  vector store can hold the first stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from smart_plugins.integrations._common import as_encoder, as_weights, check_k
from smart_plugins.integrations._index_source import (
    hit_scores,
    resolve_index,
    tie_lifetime,
)

from smart_plugins.encoder import SmartEncoder
from smart_plugins.rerank import rerank_texts
from smart_plugins.scoring import ScoreWeights

_BUILD_KEYS = ("texts", "metadatas", "ids", "documents", "index_path", "encoder")


class SmartRetriever(BaseRetriever):
    """SMART retrieval (pooled first stage, exact hybrid rerank) as a LangChain retriever.

    Build it from an open ``SmartIndex`` (``index=``), an index folder (``index_path=``), or plain
    ``texts=`` (+ ``metadatas=``, ``ids=``, ``encoder=``; a temporary index is built).
    ``k`` is set in the constructor and can be overridden per call: ``invoke(query, k=3)``.
    Each returned ``Document`` keeps its stored metadata and id and gets ``relevance_score``
    (hybrid), ``smart_pooled`` and ``smart_late`` added to its metadata.

    Examples
    --------
    >>> retriever = SmartRetriever(
    ...     texts=["Debug symbols for libfoo.", "Documentation for libfoo.", "A banana bread recipe."],
    ...     metadatas=[{"pkg": "libfoo-dbg"}, {"pkg": "libfoo-doc"}, {"pkg": "recipes"}],
    ...     encoder="minilm", k=2,
    ... )
    >>> docs = retriever.invoke("debugging symbols for libfoo")
    >>> [d.metadata["pkg"] for d in docs]
    ['libfoo-dbg', 'libfoo-doc']
    >>> len(retriever.invoke("banana", k=1))
    1
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: Any = Field(default=None, description="The SmartIndex searched.")
    k: int = 4
    candidates: int = 100
    weights: ScoreWeights | None = None
    where: dict[str, Any] | Callable[[dict[str, Any]], bool] | None = None
    exhaustive: bool = False

    @model_validator(mode="before")
    @classmethod
    def _build_index(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(key in data for key in _BUILD_KEYS):
            return data
        data = dict(data)
        documents = data.pop("documents", None)
        texts, metadatas, ids = data.pop("texts", None), data.pop("metadatas", None), data.pop("ids", None)
        if documents is not None:
            if texts is not None:
                raise ValueError("pass texts= or documents=, not both")
            texts = [d.page_content for d in documents]
            metadatas = [dict(d.metadata) for d in documents]
            if ids is None and all(d.id for d in documents):
                ids = [str(d.id) for d in documents]
        data["index"] = resolve_index(
            index=data.get("index"), index_path=data.pop("index_path", None), texts=texts,
            metadatas=metadatas, ids=ids, encoder=data.pop("encoder", None),
        )
        return data

    @field_validator("weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: Any) -> ScoreWeights | None:
        return as_weights(value)

    @field_validator("k", "candidates")
    @classmethod
    def _positive(cls, value: int, info: Any) -> int:
        return check_k(value, name=info.field_name)

    @model_validator(mode="after")
    def _check_index(self) -> SmartRetriever:
        if self.index is None:
            raise ValueError("SmartRetriever needs index=, index_path=, texts= or documents=")
        self.index = resolve_index(index=self.index)  # checks the type
        tie_lifetime(self, self.index)
        return self

    @classmethod
    def from_texts(
        cls, texts: Sequence[str], encoder: Any = "minilm", *, metadatas: Sequence[dict[str, Any]] | None = None,
        ids: Sequence[str] | None = None, **kwargs: Any,
    ) -> SmartRetriever:
        """Index ``texts`` in a temporary index and return a retriever over it."""
        return cls(texts=list(texts), metadatas=metadatas, ids=ids, encoder=encoder, **kwargs)

    @classmethod
    def from_documents(cls, documents: Sequence[Document], encoder: Any = "minilm", **kwargs: Any) -> SmartRetriever:
        """Index LangChain documents (content, metadata and ids kept) in a temporary index."""
        return cls(documents=list(documents), encoder=encoder, **kwargs)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        return self._search(query, k, kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(self._search, query, k, kwargs)

    def _search(self, query: str, k: int | None, kwargs: dict[str, Any]) -> list[Document]:
        k = check_k(self.k if k is None else k)
        unknown = set(kwargs) - {"candidates", "weights", "where", "ids", "exhaustive"}
        if unknown:
            raise TypeError(f"SmartRetriever.invoke got unexpected keyword argument(s): {sorted(unknown)}")
        hits = self.index.search(
            query, k=k,
            candidates=kwargs.get("candidates", self.candidates),
            weights=as_weights(kwargs.get("weights")) or self.weights,
            where=kwargs.get("where", self.where),
            ids=kwargs.get("ids"),
            exhaustive=kwargs.get("exhaustive", self.exhaustive),
        )
        return [
            Document(page_content=hit.text, metadata={**(hit.metadata or {}), **hit_scores(hit)}, id=hit.id)
            for hit in hits
        ]


class SmartReranker(BaseDocumentCompressor):
    """SMART-rerank the documents of any first stage (a ``BaseDocumentCompressor``).

    All candidates are encoded in one batched pass. When ``index`` is given and every
    document's ``id`` is in it, the stored token states are used instead (no re-encoding).
    Returned documents are copies with ``relevance_score`` (hybrid), ``smart_pooled`` and
    ``smart_late`` in their metadata; at most ``top_n`` of them, best first.

    Examples
    --------
    >>> from langchain_core.documents import Document
    >>> reranker = SmartReranker(encoder="minilm", top_n=1)
    >>> docs = [Document("Documentation for libfoo."), Document("Debug symbols for libfoo.")]
    >>> best = reranker.compress_documents(docs, "debugging symbols")
    >>> best[0].page_content, "relevance_score" in best[0].metadata
    ('Debug symbols for libfoo.', True)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    encoder: Any = Field(default=None, description="SmartEncoder, SentenceTransformer, path or alias.")
    top_n: int | None = 3
    weights: ScoreWeights | None = None
    index: Any = Field(default=None, description="Optional SmartIndex holding the candidates' tokens.")

    @model_validator(mode="after")
    def _resolve(self) -> SmartReranker:
        if self.encoder is None and self.index is not None:
            self.encoder = self.index.encoder
        self.encoder = as_encoder(self.encoder if self.encoder is not None else "minilm")
        if self.top_n is not None:
            check_k(self.top_n, name="top_n")
        return self

    @field_validator("weights", mode="before")
    @classmethod
    def _parse_weights(cls, value: Any) -> ScoreWeights | None:
        return as_weights(value)

    def compress_documents(
        self, documents: Sequence[Document], query: str, callbacks: Callbacks | None = None
    ) -> Sequence[Document]:
        docs = list(documents)
        if not docs:
            return []
        if self.index is not None and all(d.id and d.id in self.index for d in docs):
            hits = self.index.rerank(query, [d.id for d in docs], k=self.top_n, weights=self.weights)
            by_id = {d.id: d for d in docs}
            return [_with_scores(by_id[h.id], hit_scores(h)) for h in hits]
        ranked = rerank_texts(self.encoder, query, [d.page_content for d in docs], k=self.top_n, weights=self.weights)
        return [
            _with_scores(docs[r.index], {"relevance_score": r.score, "smart_pooled": r.pooled, "smart_late": r.late})
            for r in ranked
        ]


class SmartEmbeddings(BaseModel, Embeddings):
    """The model's own pooled embeddings as LangChain ``Embeddings`` (for a first-stage vector store).

    Vectors equal ``SmartEncoder.encode_documents(...).pooled`` / ``encode_queries``, so a vector
    store built with them and a :class:`SmartReranker` over the same encoder agree.

    Examples
    --------
    >>> emb = SmartEmbeddings(model_name="minilm")
    >>> len(emb.embed_query("debug symbols")), len(emb.embed_documents(["a", "b"]))
    (384, 2)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, protected_namespaces=())

    model_name: str = "minilm"
    encoder: Any = Field(default=None, exclude=True, description="A ready SmartEncoder (wins over model_name).")
    device: str | None = None
    batch_size: int = 32

    @model_validator(mode="after")
    def _load(self) -> SmartEmbeddings:
        if self.encoder is None:
            self.encoder = SmartEncoder(self.model_name, device=self.device, batch_size=self.batch_size)
        else:
            self.encoder = as_encoder(self.encoder)
        return self

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        return self.encoder.encode_documents(list(texts)).pooled.tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encoder.encode_queries([text]).pooled[0].tolist()


def _with_scores(doc: Document, scores: dict[str, Any]) -> Document:
    return Document(page_content=doc.page_content, metadata={**doc.metadata, **scores}, id=doc.id)


__all__ = ["SmartEmbeddings", "SmartReranker", "SmartRetriever"]
