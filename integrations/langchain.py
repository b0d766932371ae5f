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
    close_if_owned,
    closing_on_error,
    hit_scores,
    is_temporary,
    resolve_index,
    tie_lifetime,
)

from smart_plugins.encoder import SmartEncoder
from smart_plugins.rerank import rerank_texts
from smart_plugins.scoring import ScoreWeights

_BUILD_KEYS = ("texts", "metadatas", "metadata", "ids", "documents", "index_path", "encoder", "model")
#: Per-call search arguments: ``invoke(query, **kw)`` and ``SmartRetriever(search_kwargs=kw)``.
SEARCH_KWARGS = ("k", "filter", "where", "candidates", "weights", "ids", "exhaustive")


class SmartRetriever(BaseRetriever):
    """SMART retrieval (pooled first stage, exact hybrid rerank) as a LangChain retriever.

    Build it from an open ``SmartIndex`` (``index=``), an index folder (``index_path=``), or plain
    ``texts=`` / ``documents=`` (+ ``metadatas=``, ``ids=``, ``model=``): those are put in a
    temporary index (removed by :meth:`close` or when the retriever is collected), or in a new
    persistent index when ``index_path=`` is given too.
    ``k`` and ``search_kwargs`` (``{"k": .., "filter": ..}``, as LangChain's vector-store retrievers
    take them) set the defaults; ``invoke(query, k=3, filter=...)`` overrides them per call.
    Filters take the ``$eq $ne $in $nin $gt $gte $lt $lte $and $or`` operators. An unknown
    argument raises TypeError instead of being ignored.
    Each returned ``Document`` keeps its stored metadata and id and gets ``relevance_score``
    (hybrid), ``smart_pooled`` and ``smart_late`` added to its metadata.

    Examples
    --------
    >>> retriever = SmartRetriever(
    ...     texts=["Debug symbols for libfoo.", "Documentation for libfoo.", "A banana bread recipe."],
    ...     metadatas=[{"pkg": "libfoo-dbg"}, {"pkg": "libfoo-doc"}, {"pkg": "recipes"}],
    ...     model="minilm", k=2,
    ... )
    >>> docs = retriever.invoke("debugging symbols for libfoo")
    >>> [d.metadata["pkg"] for d in docs]
    ['libfoo-dbg', 'libfoo-doc']
    >>> len(retriever.invoke("banana", k=1))
    1
    >>> [d.metadata["pkg"] for d in retriever.invoke("libfoo", filter={"pkg": {"$ne": "libfoo-dbg"}})]
    ['libfoo-doc', 'recipes']
    >>> retriever.close()
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    index: Any = Field(default=None, description="The SmartIndex searched.")
    k: int = 4
    candidates: int = 100
    weights: ScoreWeights | None = None
    where: dict[str, Any] | Callable[[dict[str, Any]], bool] | None = None
    exhaustive: bool = False
    search_kwargs: dict[str, Any] = Field(default_factory=dict, description="Default per-call search arguments.")

    def __init__(self, **data: Any) -> None:
        with closing_on_error():  # a failing constructor leaves no temporary index behind
            super().__init__(**data)

    @model_validator(mode="before")
    @classmethod
    def _build_index(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(key in data for key in _BUILD_KEYS):
            return data
        data = dict(data)
        _check_search_kwargs(data.get("search_kwargs") or {}, "search_kwargs")
        documents = data.pop("documents", None)
        texts, ids = data.pop("texts", None), data.pop("ids", None)
        metadatas = _one_of(data, "metadatas", "metadata")
        model = _one_of(data, "model", "encoder")
        if documents is not None:
            if texts is not None:
                raise ValueError("pass texts= or documents=, not both")
            texts = [d.page_content for d in documents]
            metadatas = [dict(d.metadata) for d in documents]
            if ids is None and all(d.id for d in documents):
                ids = [str(d.id) for d in documents]
        index_path = data.pop("index_path", None)
        if texts is not None and index_path is not None:
            data["index"] = _create_at(index_path, texts, metadatas, ids, model)
        else:
            data["index"] = resolve_index(
                index=data.get("index"), index_path=index_path, texts=texts, metadatas=metadatas, ids=ids, encoder=model,
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

    @field_validator("search_kwargs")
    @classmethod
    def _known_search_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_search_kwargs(value, "search_kwargs")

    @model_validator(mode="after")
    def _check_index(self) -> SmartRetriever:
        if self.index is None:
            raise ValueError("SmartRetriever needs index=, index_path=, texts= or documents=")
        self.index = resolve_index(index=self.index)  # checks the type
        tie_lifetime(self, self.index)
        return self

    @classmethod
    def from_texts(
        cls, texts: Sequence[str], model: Any = "minilm", *, metadatas: Sequence[dict[str, Any]] | None = None,
        ids: Sequence[str] | None = None, **kwargs: Any,
    ) -> SmartRetriever:
        """Index ``texts`` (in a temporary index, or a new one at ``index_path=``) and return a retriever."""
        return cls(texts=list(texts), metadatas=metadatas, ids=ids, model=_one_of(kwargs, "encoder") or model, **kwargs)

    @classmethod
    def from_documents(cls, documents: Sequence[Document], model: Any = "minilm", **kwargs: Any) -> SmartRetriever:
        """Index LangChain documents (content, metadata and ids kept); ``index_path=`` makes the index persistent."""
        return cls(documents=list(documents), model=_one_of(kwargs, "encoder") or model, **kwargs)

    def close(self) -> None:
        """Remove the retriever's temporary index (an index given or opened by path is left as is)."""
        close_if_owned(self.index)

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return list(_LC_NAMESPACE)

    def to_json(self) -> Any:
        """``dumpd`` form: the index folder and the search settings (a temporary index cannot be named)."""
        if is_temporary(self.index) or (self.where is not None and not isinstance(self.where, dict)):
            return self.to_json_not_implemented()
        kwargs = {
            "index_path": str(self.index.path), "k": self.k, "candidates": self.candidates,
            "weights": None if self.weights is None else self.weights.as_dict(), "where": self.where,
            "exhaustive": self.exhaustive, "search_kwargs": _jsonable_search_kwargs(self.search_kwargs),
        }
        return {"lc": 1, "type": "constructor", "id": [*_LC_NAMESPACE, "SmartRetriever"], "kwargs": kwargs}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._search(query, kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return await asyncio.to_thread(self._search, query, kwargs)

    def _search(self, query: str, kwargs: dict[str, Any]) -> list[Document]:
        if not isinstance(query, str):
            raise TypeError(f"the query must be a string, got {type(query).__name__}" + (
                " (a Document: pass its page_content)" if isinstance(query, Document) else ""))
        given = {**self.search_kwargs, **_check_search_kwargs(kwargs, "SmartRetriever.invoke")}
        if "filter" in given and "where" in given:
            raise ValueError("pass filter= or where= (the same thing), not both")
        hits = self.index.search(
            query, k=check_k(given.get("k", self.k)),
            candidates=given.get("candidates", self.candidates),
            weights=as_weights(given.get("weights")) or self.weights,
            where=given.get("filter", given.get("where", self.where)),
            ids=given.get("ids"),
            exhaustive=given.get("exhaustive", self.exhaustive),
        )
        return [
            Document(page_content=hit.text, metadata={**(hit.metadata or {}), **hit_scores(hit)}, id=hit.id)
            for hit in hits
        ]


_LC_NAMESPACE = ("smart_plugins", "integrations", "langchain")


def _jsonable_search_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = dict(kwargs)
    if isinstance(out.get("weights"), ScoreWeights):
        out["weights"] = out["weights"].as_dict()
    return out


def _check_search_kwargs(kwargs: dict[str, Any], where: str) -> dict[str, Any]:
    unknown = set(kwargs) - set(SEARCH_KWARGS)
    if unknown:
        raise TypeError(f"{where} got unexpected keyword argument(s) {sorted(unknown)}; accepted: {', '.join(SEARCH_KWARGS)}")
    return kwargs


def _one_of(data: dict[str, Any], name: str, alias: str | None = None) -> Any:
    """Pop ``name`` and its accepted ``alias`` from ``data``; giving both raises."""
    value = data.pop(name, None)
    other = data.pop(alias, None) if alias else None
    if value is not None and other is not None:
        raise ValueError(f"pass {name}= or {alias}= (the same thing), not both")
    return value if value is not None else other


def _create_at(path: Any, texts: Sequence[str], metadatas: Any, ids: Any, model: Any) -> Any:
    """A new persistent index at ``path`` holding ``texts`` (refuses a folder that already has one)."""
    from smart_plugins.index import SmartIndex

    index = SmartIndex.create(path, as_encoder(model if model is not None else "minilm"))
    if len(texts):
        index.add(list(texts), ids=None if ids is None else list(ids), metadata=None if metadatas is None else list(metadatas))
    return index


class SmartReranker(BaseDocumentCompressor):
    """SMART-rerank the documents of any first stage (a ``BaseDocumentCompressor``).

    All candidates are encoded in one batched pass. When ``index`` is given and every
    document's ``id`` is in it, the stored token states are used instead (no re-encoding).
    Returned documents are copies with ``relevance_score`` (hybrid), ``smart_pooled`` and
    ``smart_late`` in their metadata; at most ``top_n`` of them, best first.

    Examples
    --------
    >>> from langchain_core.documents import Document
    >>> reranker = SmartReranker(model="minilm", top_n=1)
    >>> docs = [Document("Documentation for libfoo."), Document("Debug symbols for libfoo.")]
    >>> best = reranker.compress_documents(docs, "debugging symbols")
    >>> best[0].page_content, "relevance_score" in best[0].metadata
    ('Debug symbols for libfoo.', True)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    encoder: Any = Field(default=None, description="SmartEncoder, SentenceTransformer, path or alias (or model=).")
    top_n: int | None = 3
    weights: ScoreWeights | None = None
    index: Any = Field(default=None, description="Optional SmartIndex holding the candidates' tokens.")

    @model_validator(mode="before")
    @classmethod
    def _model_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("model" in data or "index_path" in data):
            data = dict(data)
            if "model" in data:
                data["encoder"] = _one_of(data, "model", "encoder")
            if "index_path" in data:
                if data.get("index") is not None:
                    raise ValueError("pass index= or index_path=, not both")
                data["index"] = resolve_index(index_path=data.pop("index_path"), encoder=data.get("encoder"))
        return data

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

from smart_plugins.integrations.langchain_vectorstore import SmartVectorStore  # noqa: E402  (re-exported)

__all__ += ["SmartVectorStore"]
