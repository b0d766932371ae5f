"""A RAGatouille-shaped facade over SMART, so RAGatouille users switch by changing one import.

``from smart_plugins.integrations.ragatouille import SmartRAG as RAGPretrainedModel`` keeps the
calls of ``ragatouille.RAGPretrainedModel`` working: ``from_pretrained``, ``from_index``,
``index``, ``add_to_index``, ``delete_from_index``, ``search``, ``rerank``, ``encode`` /
``search_encoded_docs`` / ``clear_encoded_docs``, ``as_langchain_retriever`` and
``as_langchain_document_compressor``, with RAGatouille's result keys (``content``, ``score``,
``rank``, ``document_id``, ``passage_id``, ``document_metadata``, ``result_index``) plus
``pooled_score`` and ``late_score``.

The model is any single-vector embedder (SMART: pooled + late interaction over its token states),
not a ColBERT checkpoint; nothing is compiled at run time and no worker processes are started.
Passage ids are ``"<document_id>#<n>"`` and never change when other documents are deleted;
document metadata is stored with every passage, so it follows adds and deletes.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from smart_plugins.integrations._common import as_encoder, as_weights, check_k

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.encoder.inputs import validate_texts
from smart_plugins.index.manifest import MANIFEST_NAME
from smart_plugins.scoring import ScoreWeights, smart_scores, top_k

DEFAULT_INDEX_ROOT = ".smart_plugins"
#: A plain folder name: no separators, and no leading '.' (so never '.', '..' or a staging folder).
_INDEX_NAME = re.compile(r"\w[\w.-]*")
_SENTENCE_END = re.compile(r"[.!?;:]+(?=\s|$)|\S(?=[ \t]*\n)")


class SmartRAG:
    """RAGatouille's ``RAGPretrainedModel`` API on top of a SMART encoder and ``SmartIndex``.

    Examples
    --------
    >>> import tempfile
    >>> RAG = SmartRAG.from_pretrained("minilm", index_root=tempfile.mkdtemp(), verbose=0)
    >>> path = RAG.index(
    ...     ["Debug symbols for libfoo.", "Documentation for libfoo.", "A banana bread recipe."],
    ...     document_ids=["foo-dbg", "foo-doc", "bread"],
    ...     document_metadatas=[{"section": "debug"}, {"section": "doc"}, {"section": "food"}],
    ...     index_name="demo",
    ... )
    >>> top = RAG.search("libfoo debugging symbols", k=1)[0]
    >>> top["document_id"], top["rank"], top["document_metadata"]
    ('foo-dbg', 1, {'section': 'debug'})
    >>> RAG.delete_from_index(["foo-doc"])
    >>> [r["document_id"] for r in RAG.search("libfoo", k=5)]
    ['foo-dbg', 'bread']
    >>> [r["result_index"] for r in RAG.rerank("banana", ["Debug symbols.", "Banana bread."], k=1)]
    [1]
    """

    def __init__(
        self,
        encoder: SmartEncoder,
        *,
        index_root: str | Path | None = None,
        weights: Any = None,
        compression: str | None = None,
        verbose: int = 1,
    ) -> None:
        self.encoder = as_encoder(encoder)
        self.index_root = Path(index_root or DEFAULT_INDEX_ROOT)
        self.weights: ScoreWeights | None = as_weights(weights)
        self.compression = compression
        self.verbose = verbose
        self.model_index: Any = None  # the SmartIndex in use
        self.index_path: Path | None = None
        self._encoded: EncodedTexts | None = None
        self._encoded_texts: list[str] = []
        self._encoded_metadata: list[dict[str, Any] | None] = []

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | Path | Any,
        n_gpu: int = -1,
        verbose: int = 1,
        index_root: str | Path | None = None,
        *,
        device: str | None = None,
        weights: Any = None,
        compression: str | None = None,
    ) -> SmartRAG:
        """Load an embedder (path, hub name, alias such as ``"minilm"``, or a loaded model).

        ``n_gpu=0`` forces the CPU; otherwise the GPU is used when present.
        """
        if n_gpu == 0 and device is None:
            device = "cpu"
        model = pretrained_model_name_or_path
        encoder = as_encoder(str(model) if isinstance(model, Path) else model, device=device)
        return cls(encoder, index_root=index_root, weights=weights, compression=compression, verbose=verbose)

    @classmethod
    def from_index(cls, index_path: str | Path, n_gpu: int = -1, verbose: int = 1, *, weights: Any = None) -> SmartRAG:
        """Open an index built by :meth:`index`; its recorded encoder is rebuilt."""
        from smart_plugins.index import SmartIndex

        index = SmartIndex.open(index_path, None)
        if n_gpu == 0 and index.encoder.device.type != "cpu":
            index.encoder.model.to("cpu")
        folder = Path(index_path)
        root = folder.parent.parent if folder.parent.name == "indexes" else folder.parent
        rag = cls(index.encoder, index_root=root, weights=weights, verbose=verbose)
        rag.model_index, rag.index_path = index, Path(index_path)
        return rag

    # ------------------------------------------------------------------ indexing
    def index(
        self,
        collection: Sequence[str],
        document_ids: Sequence[Any] | None = None,
        document_metadatas: Sequence[dict[str, Any]] | None = None,
        index_name: str | None = None,
        overwrite_index: bool = True,
        max_document_length: int = 256,
        split_documents: bool = True,
        document_splitter_fn: Any = None,
        preprocessing_fn: Any = None,
        bsize: int | None = None,
        **_ignored: Any,
    ) -> str:
        """Build an index (``index_root/indexes/<index_name>``) and return its path.

        Documents longer than ``max_document_length`` tokens are split into passages at sentence
        ends (``split_documents=False`` keeps whole documents; the encoder then truncates).
        An existing index of that name is replaced only when it is complete (``overwrite_index``).
        """
        from smart_plugins.index import SmartIndex

        name = index_name if index_name is not None else f"SmartRAG_{uuid.uuid4().hex[:8]}"
        target = self._index_folder(name)
        if target.exists() and not overwrite_index:
            raise FileExistsError(f"an index named {name!r} exists at {target}; pass overwrite_index=True or use from_index")
        if target.exists() and not (target / MANIFEST_NAME).is_file():
            raise FileExistsError(
                f"{target} exists but is not a SMART index; it is left untouched: choose another index_name"
            )
        texts, ids, metas = self._passages(
            collection, document_ids, document_metadatas, max_document_length if split_documents else None,
            document_splitter_fn, preprocessing_fn,
        )
        if not texts:
            raise ValueError("collection is empty: SmartRAG.index needs at least one document")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=target.parent))
        options = {"compression": self.compression} if self.compression else {}
        if self.model_index is not None:
            self.model_index.close()
        batch_size = self.encoder.batch_size
        try:
            built = SmartIndex.create(staging / "index", self.encoder, **options)
            try:
                if isinstance(bsize, int) and bsize > 0:
                    self.encoder.batch_size = bsize
                built.add(texts, ids=ids, metadata=metas)
            finally:
                self.encoder.batch_size = batch_size
                built.close()
            _swap_in(staging / "index", target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # a failed build leaves no staging folder behind
        self.model_index, self.index_path = SmartIndex.open(target, self.encoder), target
        self._log(f"Indexed {len(collection)} documents as {len(texts)} passages in {target}")
        return str(target)

    def add_to_index(
        self,
        new_collection: Sequence[str],
        new_document_ids: Sequence[Any] | None = None,
        new_document_metadatas: Sequence[dict[str, Any]] | None = None,
        index_name: str | None = None,
        split_documents: bool = True,
        document_splitter_fn: Any = None,
        preprocessing_fn: Any = None,
        max_document_length: int = 256,
        **_ignored: Any,
    ) -> None:
        """Add documents to the current index (or the one named ``index_name``); ids must be new."""
        index = self._index_for(index_name)
        texts, ids, metas = self._passages(
            new_collection, new_document_ids, new_document_metadatas,
            max_document_length if split_documents else None, document_splitter_fn, preprocessing_fn,
        )
        taken = sorted({m["document_id"] for i, m in zip(ids, metas) if i in index}, key=str)
        if taken:
            raise ValueError(f"document id(s) already indexed: {taken[:5]}; delete_from_index them first")
        index.add(texts, ids=ids, metadata=metas)

    def delete_from_index(self, document_ids: Any | Sequence[Any], index_name: str | None = None) -> None:
        """Delete documents (all their passages) by document id; unknown ids -> KeyError."""
        index = self._index_for(index_name)
        wanted = [document_ids] if isinstance(document_ids, (str, int)) else list(document_ids)
        missing = [d for d in wanted if f"{d}#0" not in index]
        if missing:
            raise KeyError(f"document id(s) not in the index: {missing[:5]}")
        passage_ids = []
        for doc_id in wanted:
            n = int(index.get(f"{doc_id}#0").metadata["n_passages"])
            passage_ids += [f"{doc_id}#{i}" for i in range(n)]
        index.delete(passage_ids)

    # ------------------------------------------------------------------ search
    def search(
        self,
        query: str | Sequence[str],
        index_name: str | None = None,
        k: int = 10,
        force_fast: bool = False,
        zero_index_ranks: bool = False,
        doc_ids: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Search the index; a list of result dicts per query (one list for one query string).

        ``doc_ids`` restricts the search to those documents. ``force_fast`` is accepted for
        compatibility (the two-stage search is always used); extra keyword arguments
        (``candidates``, ``exhaustive``, ``where``, ``weights``) go to ``SmartIndex.search``.
        """
        index = self._index_for(index_name)
        check_k(k)
        if doc_ids is not None:
            kwargs["where"] = {"document_id": tuple(doc_ids)}
        weights = as_weights(kwargs.pop("weights", None)) or self.weights
        results = index.search(query, k=k, weights=weights, **kwargs)
        single = isinstance(query, str)
        per_query = [results] if single else results
        base = 0 if zero_index_ranks else 1
        out = [[self._search_result(hit, base) for hit in hits] for hits in per_query]
        return out[0] if single else out

    def rerank(
        self,
        query: str | Sequence[str],
        documents: Sequence[str],
        k: int = 10,
        zero_index_ranks: bool = False,
        bsize: int | str = "auto",
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """SMART-rerank ``documents`` in memory (one batched encoding pass); best first."""
        docs = validate_texts(documents, what="documents")
        encoded = self.encoder.encode_documents(docs, **_batch(bsize))
        return self._rank_encoded(query, encoded, docs, [None] * len(docs), k, zero_index_ranks)

    def encode(
        self,
        documents: Sequence[str],
        bsize: int | str = "auto",
        document_metadatas: Sequence[dict[str, Any]] | None = None,
        verbose: bool = True,
        max_document_length: int | str = "auto",
    ) -> None:
        """Encode documents in memory (added to earlier ones) for :meth:`search_encoded_docs`."""
        docs = validate_texts(documents, what="documents")
        if document_metadatas is not None and len(document_metadatas) != len(docs):
            raise ValueError(f"document_metadatas has {len(document_metadatas)} entries for {len(docs)} documents")
        encoded = self.encoder.encode_documents(docs, **_batch(bsize))
        self._encoded = encoded if self._encoded is None else EncodedTexts.concat([self._encoded, encoded])
        self._encoded_texts += docs
        self._encoded_metadata += list(document_metadatas) if document_metadatas is not None else [None] * len(docs)
        if verbose and self.verbose:
            print(f"Encoded {len(docs)} documents ({len(self._encoded_texts)} in memory)")

    def search_encoded_docs(
        self, query: str | Sequence[str], k: int = 10, bsize: int = 32, zero_index_ranks: bool = False
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        """Search the documents held in memory by :meth:`encode`."""
        if self._encoded is None:
            raise ValueError("no encoded documents: call encode(documents) first")
        return self._rank_encoded(query, self._encoded, self._encoded_texts, self._encoded_metadata, k, zero_index_ranks)

    def clear_encoded_docs(self, force: bool = False) -> None:
        """Forget the documents held in memory (``force`` accepted for compatibility; no wait)."""
        self._encoded, self._encoded_texts, self._encoded_metadata = None, [], []

    # ------------------------------------------------------------------ LangChain
    def as_langchain_retriever(self, **kwargs: Any) -> Any:
        """A LangChain :class:`~smart_plugins.integrations.langchain.SmartRetriever` over the current index."""
        from smart_plugins.integrations.langchain import SmartRetriever

        return SmartRetriever(index=self._index_for(None), weights=self.weights, **kwargs)

    def as_langchain_document_compressor(self, k: int = 5, **kwargs: Any) -> Any:
        """A LangChain :class:`~smart_plugins.integrations.langchain.SmartReranker` keeping ``k`` documents."""
        from smart_plugins.integrations.langchain import SmartReranker

        return SmartReranker(encoder=self.encoder, top_n=k, weights=self.weights, **kwargs)

    # ------------------------------------------------------------------ helpers
    def _index_for(self, index_name: str | None) -> Any:
        if index_name is not None and (self.index_path is None or self.index_path.name != index_name):
            from smart_plugins.index import SmartIndex

            path = self._index_folder(index_name)
            if not path.exists():
                raise FileNotFoundError(f"no index named {index_name!r} under {self.index_root / 'indexes'}")
            if self.model_index is not None:
                self.model_index.close()
            self.model_index, self.index_path = SmartIndex.open(path, self.encoder), path
        if self.model_index is None:
            raise ValueError("no index loaded: call index(...) first or use SmartRAG.from_index(path)")
        return self.model_index

    def _index_folder(self, name: Any) -> Path:
        """``index_root/indexes/<name>`` for a plain folder name; anything else raises ValueError."""
        if not isinstance(name, str) or not _INDEX_NAME.fullmatch(name):
            raise ValueError(
                "index_name must be a plain folder name: letters, digits, '_', '-' and '.', starting with a "
                f"letter, digit or '_' (so not '.', '..' or a path), got {name!r}"
            )
        return self.index_root / "indexes" / name

    def _passages(
        self,
        collection: Sequence[str],
        document_ids: Sequence[Any] | None,
        metadatas: Sequence[dict[str, Any]] | None,
        max_tokens: int | None,
        splitter: Any,
        preprocess: Any,
    ) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        docs = validate_texts(collection, what="collection")
        ids = list(document_ids) if document_ids is not None else [uuid.uuid4().hex for _ in docs]
        if len(ids) != len(docs):
            raise ValueError(f"document_ids has {len(ids)} entries for {len(docs)} documents")
        if len({str(i) for i in ids}) != len(ids):
            raise ValueError("document_ids must be unique")
        for i in ids:
            if not isinstance(i, (str, int)) or isinstance(i, bool) or not str(i).strip():
                raise ValueError(f"document ids must be non-empty strings or integers, got {i!r}")
        if metadatas is not None and len(metadatas) != len(docs):
            raise ValueError(f"document_metadatas has {len(metadatas)} entries for {len(docs)} documents")
        texts, passage_ids, metas = [], [], []
        for n, (doc, doc_id) in enumerate(zip(docs, ids)):
            for fn in ([preprocess] if callable(preprocess) else list(preprocess or [])):
                doc = fn(doc)
            if splitter is not None:
                parts = list(splitter(doc))
            elif max_tokens is not None:
                parts = split_passages(doc, self.encoder.tokenizer, max_tokens)
            else:
                parts = [doc]
            parts = [p for p in parts if p.strip()] or [doc]
            for p, part in enumerate(parts):
                texts.append(part)
                passage_ids.append(f"{doc_id}#{p}")
                metas.append({
                    "document_id": doc_id,
                    "passage": p,
                    "n_passages": len(parts),
                    "document_metadata": dict(metadatas[n]) if metadatas is not None and metadatas[n] is not None else None,
                })
        return texts, passage_ids, metas

    def _search_result(self, hit: Any, base: int) -> dict[str, Any]:
        meta = hit.metadata or {}
        result = {
            "content": hit.text,
            "score": float(hit.score),
            "rank": hit.rank - 1 + base,  # SearchHit.rank is 1-based
            "document_id": meta.get("document_id", hit.id),
            "passage_id": hit.id,
            "pooled_score": float(hit.pooled),
            "late_score": None if hit.late is None else float(hit.late),
        }
        if meta.get("document_metadata") is not None:
            result["document_metadata"] = meta["document_metadata"]
        return result

    def _rank_encoded(
        self, query: str | Sequence[str], encoded: EncodedTexts, texts: list[str],
        metadatas: list[dict[str, Any] | None], k: int, zero_index_ranks: bool,
    ) -> list[dict[str, Any]] | list[list[dict[str, Any]]]:
        check_k(k)
        single = isinstance(query, str)
        queries = validate_texts(query, what="query")
        scores = smart_scores(self.encoder.encode_queries(queries), encoded, self.weights)
        base = 0 if zero_index_ranks else 1
        out = []
        for q in range(len(queries)):
            top = top_k(scores.hybrid[q], k)[1].tolist()
            rows = []
            for rank, i in enumerate(top):
                row = {
                    "content": texts[i],
                    "score": float(scores.hybrid[q, i]),
                    "rank": rank + base,
                    "result_index": i,
                    "pooled_score": float(scores.pooled[q, i]),
                    "late_score": None if scores.late is None else float(scores.late[q, i]),
                }
                if metadatas[i] is not None:
                    row["document_metadata"] = metadatas[i]
                rows.append(row)
            out.append(rows)
        return out[0] if single else out

    def _log(self, message: str) -> None:
        if self.verbose:
            print(message)


def split_passages(text: str, tokenizer: Any, max_tokens: int) -> list[str]:
    """Split ``text`` into passages of at most ``max_tokens`` tokens, preferring sentence ends.

    Examples
    --------
    >>> from transformers import AutoTokenizer
    >>> from smart_plugins.models import resolve_model_name
    >>> tok = AutoTokenizer.from_pretrained(resolve_model_name("minilm"))
    >>> split_passages("One short sentence. Another one here. A third.", tok, 6)
    ['One short sentence.', 'Another one here.', 'A third.']
    """
    if max_tokens < 4:
        raise ValueError(f"max_document_length must be at least 4 tokens, got {max_tokens}")
    spans = [
        (s, e)
        for s, e in tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)["offset_mapping"]
        if e > s
    ]
    if len(spans) <= max_tokens:
        return [text.strip()]
    ends = {m.end() for m in _SENTENCE_END.finditer(text)}
    passages, start = [], 0
    while start < len(spans):
        stop = min(start + max_tokens, len(spans))
        if stop < len(spans):
            stop = _cut(spans, start, stop, lambda j: spans[j - 1][1] in ends, max_tokens // 4) or _cut(
                spans, start, stop, lambda j: spans[j][0] > spans[j - 1][1], 0  # a word boundary
            ) or stop
        passages.append(text[spans[start][0] : spans[stop - 1][1]].strip())
        start = stop
    return passages


def _cut(spans: list[tuple[int, int]], start: int, stop: int, ok: Any, margin: int) -> int | None:
    """The last token index in ``(start + margin, stop]`` where ``ok`` allows a cut, or None."""
    for j in range(stop, start + max(margin, 0), -1):
        if j > start and ok(j):
            return j
    return None


def _batch(bsize: int | str) -> dict[str, int]:
    return {"batch_size": int(bsize)} if isinstance(bsize, int) and bsize > 0 else {}


def _swap_in(built: Path, target: Path) -> None:
    """Move a finished index folder to ``target``, replacing an old one only after the new one is complete."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(target, old)
    os.replace(built, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


__all__ = ["SmartRAG", "split_passages"]
