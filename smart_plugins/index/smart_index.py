"""SmartIndex: a persistent, compressed, incremental token index with two-stage SMART search.

The facade of the index: it validates input, encodes texts with the bound encoder and hands
documents and encoded queries to a store (:mod:`smart_plugins.index.store`): the local folder
(:class:`~smart_plugins.index.local_store.LocalStore`, the default) or Qdrant
(:class:`~smart_plugins.index.qdrant_store.QdrantStore`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from smart_plugins.index import qdrant_store, token_pooling
from smart_plugins.index.encoder_config import check_encoder, rebuild_encoder, resolve_encoder
from smart_plugins.index.evidence import token_matches
from smart_plugins.index.default_weights import FALLBACK, auto_source, refresh_default_weights
from smart_plugins.index.filters import compile_filter
from smart_plugins.index.local_store import LocalStore
from smart_plugins.index.locking import DEFAULT_LOCK_TIMEOUT
from smart_plugins.index.manifest import MANIFEST_NAME, read_manifest
from smart_plugins.index.media import document_inputs, encoder_inputs, query_inputs, with_references
from smart_plugins.index.results import Evidence, IndexedDocument, SearchHit
from smart_plugins.index.store import STORE_KINDS, ReadOnlyIndexError, Store, Where, preview
from smart_plugins.index.validation import (
    check_finite,
    check_lock_timeout,
    check_metadata,
    id_list,
    positive_int,
    resolve_weights,
)
from smart_plugins.lazy import lazy_module
from smart_plugins.scoring import ScoreWeights, maxsim

if TYPE_CHECKING:
    from smart_plugins.encoder import EncodedTexts, SmartEncoder

torch = lazy_module("torch", globals())

__all__ = ["DEFAULT_COMPRESSION", "SEGMENT_DOCS", "ReadOnlyIndexError", "SmartIndex"]

#: Default token compression (chosen by measurement; see docs/index.md).
DEFAULT_COMPRESSION = "residual-4"
#: Documents encoded and written per segment during one ``add`` (bounds memory while adding).
SEGMENT_DOCS = 4096


class SmartIndex:
    """A folder of memory-mapped pooled + token vectors searched with two-stage SMART scoring.

    Build one with :meth:`create`, reopen it with :meth:`open`. Documents have stable string
    ids and JSON metadata; every change is committed by atomically switching a versioned
    manifest, so readers (in this or other processes) always see a complete state, and a
    writer killed at any moment leaves the last committed state intact.

    Search encodes the query once, takes the ``candidates`` best documents by pooled cosine
    (exact matrix product, or faiss HNSW for large indexes) and reranks them exactly with
    the SMART hybrid ``pool * cos(p_q, p_d) + late * MaxSim(q, d)`` from the stored tokens.

    The same API runs over Qdrant (``store="qdrant-edge"``: the Qdrant engine in-process, its
    shard inside the folder; ``store="qdrant"``: a server collection by URL), see
    :mod:`smart_plugins.index.qdrant_store` and docs/scale-out.md.

    Examples
    --------
    >>> from smart_plugins.index import SmartIndex
    >>> with SmartIndex.create(None, "minilm", compression="fp16") as index:
    ...     ids = index.add(["Debug symbols for libfoo.", "Documentation for libfoo."],
    ...                     ids=["foo-dbg", "foo-doc"], metadata=[{"kind": "dbg"}, {"kind": "doc"}])
    ...     hits = index.search("libfoo debugging symbols", k=1)
    ...     hits[0].id, len(index)
    ('foo-dbg', 2)
    """

    def __init__(
        self,
        path: Path,
        encoder: SmartEncoder | None,
        *,
        read_only: bool = False,
        temporary: bool = False,
        verify: bool = True,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        store: Store | None = None,
    ) -> None:
        self._store: Store = store if store is not None else LocalStore(
            Path(path), read_only=read_only, temporary=temporary, verify=verify, lock_timeout=lock_timeout
        )
        self._encoder = encoder

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path: str | Path | None,
        encoder: SmartEncoder | str,
        *,
        compression: str = DEFAULT_COMPRESSION,
        exist_ok: bool = False,
        weights: ScoreWeights | str | None = None,
        first_stage: str = "exact",
        first_stage_options: dict[str, Any] | None = None,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        store: str = "local",
        store_options: dict[str, Any] | None = None,
        token_pool_factor: float = 1.0,
    ) -> SmartIndex:
        """Create an empty index in ``path`` (None: a temporary folder removed on :meth:`close`).

        Parameters
        ----------
        path:
            Index folder; must not exist, be empty, or (with ``exist_ok``) hold an index.
        encoder:
            A :class:`SmartEncoder` or a model name/alias; its ``describe()`` is recorded.
        compression:
            Token codec: ``fp32``, ``fp16``, ``int8``, ``residual-4``, ``residual-2``, ``residual-1``.
        exist_ok:
            Open an existing index instead of failing (its encoder and compression must match).
        weights:
            Default hybrid weights stored with the index: a ScoreWeights or a ``"POOL:LATE"``
            string such as ``"1:1"``. None (default): the label-free
            default, λ fitted on pseudo-queries drawn from the index's own documents at 32
            documents and each doubling (1:1 until then); explicit weights are never replaced.
        first_stage:
            ``"exact"`` pooled matrix product (default) or ``"hnsw"`` (faiss, for large indexes).
        first_stage_options:
            HNSW ``m``, ``ef_construction``, ``ef_search`` (integers; checked before anything is written).
        lock_timeout:
            Seconds a write waits for another writer before raising
            :class:`~smart_plugins.index.locking.IndexLockedError` (None: wait forever).
        store:
            ``"local"`` (this folder's segments, the default), ``"qdrant-edge"`` (Qdrant Edge,
            its shard inside ``path``) or ``"qdrant"`` (a Qdrant server collection; ``path``
            records where it is). Qdrant stores take ``store_options``: see
            :func:`smart_plugins.index.qdrant_store.create_store` (``url``, ``collection``,
            ``client``, ``token_dtype``, ``quantization``, ``oversampling``).
        token_pool_factor:
            Token pooling for storage (every store): every added document keeps about
            ``1 / token_pool_factor`` of its token vectors, similar ones merged by hierarchical
            clustering (:mod:`smart_plugins.index.token_pooling`). A number >= 1; 1 (default)
            stores every token. Recorded in the index: later adds use it, and ``exist_ok``
            refuses a different factor. Queries are never pooled.
        """
        if store not in STORE_KINDS:
            raise ValueError(f"store must be one of {STORE_KINDS}, got {store!r}")
        if store == "local" and store_options:
            raise ValueError(f"store_options apply to the Qdrant stores only, got {sorted(store_options)}")
        enc = resolve_encoder(encoder)
        check_lock_timeout(lock_timeout)
        token_pool_factor = token_pooling.check_pool_factor(token_pool_factor)
        weights = None if weights is None else resolve_weights(weights, FALLBACK.as_dict())
        folder = None if path is None else Path(path)
        if folder is not None and _holds_index(folder):
            if not exist_ok:
                raise FileExistsError(f"an index already exists at {folder}; use SmartIndex.open or exist_ok=True")
            index = cls.open(folder, enc, lock_timeout=lock_timeout)
            if index._store.kind != store:
                index.close()
                raise ValueError(f"the index at {folder} uses store {index._store.kind!r}, not {store!r}")
            if index._store.kind == "local" and store == "local" and index.compression != compression:
                from smart_plugins.index.codecs import make_codec

                try:  # a refused reopen releases what it opened (memory maps, handles)
                    wanted = make_codec(compression, enc.token_dim).name
                    if index.compression != wanted:
                        raise ValueError(f"the index at {folder} uses compression {index.compression!r}, not {wanted!r}")
                except BaseException:
                    index.close()
                    raise
            token_pooling.check_reopened(index, token_pool_factor)
            return index
        if store == "local":
            made: Store = LocalStore.create(
                folder,
                encoder=enc.describe(),
                compression=compression,
                weights=weights or FALLBACK,
                weights_source={"kind": "explicit"} if weights is not None else auto_source(),
                first_stage=first_stage,
                first_stage_options=first_stage_options,
                lock_timeout=lock_timeout,
                token_pool_factor=token_pool_factor,
            )
        else:
            made = qdrant_store.create_store(
                folder, kind=store, encoder=enc.describe(), weights=weights or FALLBACK, exist_ok=exist_ok,
                weights_source={"kind": "explicit"} if weights is not None else auto_source(),
                token_pool_factor=token_pool_factor, **(store_options or {}),
            )
        return cls(made.path, enc, store=made)

    @classmethod
    def open(
        cls,
        path: str | Path,
        encoder: SmartEncoder | str | None = None,
        *,
        read_only: bool = False,
        verify: bool = True,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        client: Any = None,
    ) -> SmartIndex:
        """Open an existing index.

        ``encoder=None`` rebuilds the recorded encoder; a given encoder whose ``describe()``
        differs from the recorded one raises ValueError naming the differing fields.
        ``verify`` checks every file's SHA-256 once per process (sizes are always checked).
        ``lock_timeout`` bounds how long a write waits for another writer (see :meth:`create`).
        ``client`` (Qdrant server stores only) is a ready ``QdrantClient`` to use instead of
        connecting to the recorded URL.
        """
        folder = Path(path)
        if qdrant_store.holds_record(folder):
            made: Store = qdrant_store.open_store(folder, read_only=read_only, client=client)
        else:
            read_manifest(folder)  # a clear error for a folder that is no index
            made = LocalStore(folder, read_only=read_only, verify=verify, lock_timeout=lock_timeout)
        if encoder is None:
            enc = None  # rebuilt from the recorded description at first use (info/delete need no model)
        else:
            enc = resolve_encoder(encoder)
            try:
                check_encoder(made.encoder_description(), enc)
            except ValueError:
                made.close()
                raise
        return cls(folder, enc, store=made)

    # ------------------------------------------------------------------ properties
    @property
    def store(self) -> Store:
        """Where the documents live (:class:`LocalStore` or :class:`QdrantStore`)."""
        return self._store

    @property
    def path(self) -> Path:
        return self._store.path

    @property
    def read_only(self) -> bool:
        return self._store.read_only

    @property
    def encoder(self) -> SmartEncoder:
        """The index's encoder (rebuilt from the recorded description when none was given)."""
        if self._encoder is None:
            self._encoder = rebuild_encoder(self._store.encoder_description())
        return self._encoder

    @property
    def compression(self) -> str:
        return str(self._store.compression)

    @property
    def version(self) -> int:
        """Version of the committed state this object currently sees."""
        return self._store.version()

    @property
    def weights(self) -> ScoreWeights:
        return self._store.weights()

    def set_weights(self, weights: ScoreWeights) -> None:
        """Persist new default hybrid weights in the index."""
        if not isinstance(weights, ScoreWeights):
            raise TypeError(f"weights must be a ScoreWeights, got {type(weights).__name__}")
        self._store.set_weights(weights)

    def set_first_stage(self, kind: str, options: dict[str, Any] | None = None) -> None:
        """Switch the first stage of an existing index: ``"exact"`` or ``"hnsw"`` (+ HNSW options).

        Commits like any change. Switching to HNSW builds no graph yet: the next search (or
        :meth:`build_first_stage`) does, and saves it. Local store only (Qdrant keeps its own
        HNSW index).
        """
        self._local_only("set_first_stage").set_first_stage(kind, options)

    def __len__(self) -> int:
        return self._store.count()

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self._store.contains(doc_id)

    def ids(self) -> list[str]:
        """Ids of all live documents, in insertion order."""
        return self._store.ids()

    # ------------------------------------------------------------------ writes
    def add(
        self,
        texts: str | Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add documents; returns their ids (uuid4 hex when ``ids`` is None).

        Raises ValueError for an id already in the index or repeated in ``ids``. All documents
        of one call are committed together (atomically), however many segments they fill.
        """
        items, doc_ids, metas = self._prepare(texts, ids, metadata, require_ids=False)
        if not items:
            return []  # nothing to add: no empty version is committed
        self._store.write(doc_ids, items, metas, self._encode_documents(items), replace=False, chunk=self._chunking)
        refresh_default_weights(self)
        return doc_ids

    def add_encoded(
        self,
        encoded: EncodedTexts,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add documents already encoded with this index's encoder (e.g. from an encoding cache).

        The caller guarantees ``encoded`` came from ``index.encoder.encode_documents(texts)``;
        only the dimensions can be checked here.
        """
        items, doc_ids, metas = self._prepare(texts, ids, metadata, require_ids=False)
        self._check_encoded(encoded, len(items))
        if not items:
            return []
        parts = [encoded] if len(items) <= SEGMENT_DOCS else (  # one segment: no copy of the vectors
            encoded.select(list(range(start, min(start + SEGMENT_DOCS, len(items)))))
            for start in range(0, len(items), SEGMENT_DOCS)
        )
        self._store.write(doc_ids, items, metas, parts, replace=False, chunk=self._chunking)
        refresh_default_weights(self)
        return doc_ids

    @property
    def _chunking(self) -> bool:
        """Whether the encoder keeps long texts whole in chunks (a capped store then stores them in chunks)."""
        return getattr(self._encoder, "truncation", None) == "chunk"

    def _check_encoded(self, encoded: EncodedTexts, n: int) -> None:
        recorded = self._store.encoder_description()
        if len(encoded) != n:
            raise ValueError(f"encoded holds {len(encoded)} texts but {n} were given")
        if encoded.pooled_dim != recorded["pooled_dim"] or encoded.token_dim != recorded["token_dim"]:
            raise ValueError(
                f"encoded vectors are {encoded.pooled_dim}-d pooled / {encoded.token_dim}-d tokens; this index "
                f"holds {recorded['pooled_dim']}-d / {recorded['token_dim']}-d"
            )
        check_finite("encoded.pooled", encoded.pooled)
        check_finite("encoded.tokens", encoded.tokens)

    def upsert(
        self,
        texts: str | Sequence[str],
        ids: Sequence[str],
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Insert or replace documents by id (old versions are deleted in the same commit)."""
        items, doc_ids, metas = self._prepare(texts, ids, metadata, require_ids=True)
        if not items:
            return []
        self._store.write(doc_ids, items, metas, self._encode_documents(items), replace=True, chunk=self._chunking)
        refresh_default_weights(self)
        return doc_ids

    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete documents by id; returns how many were deleted. Unknown ids -> KeyError."""
        wanted = _as_id_list(ids)
        if not wanted:
            return 0
        return self._store.delete(wanted)

    def compact(self, *, min_deleted_share: float = 0.0) -> dict[str, Any]:
        """Rewrite segments that hold deleted documents without them, reclaiming their bytes.

        Deletes only write tombstones, so a deleted document's vectors and text stay on disk.
        ``compact`` copies the live rows of every segment whose share of deleted rows is at
        least ``min_deleted_share`` (and above zero) into a new segment, byte for byte (codes
        are not re-encoded), and switches the manifest once; the old files are removed after
        the switch. Ids, their order, metadata and search scores are unchanged. Readers that
        loaded the previous version keep reading it until they next look at the manifest.

        Returns a summary: ``segments_rewritten``, ``documents_dropped``, ``tokens_dropped``,
        ``documents``, ``bytes_before``, ``bytes_after`` (the whole folder on disk),
        ``version_before``, ``version`` and ``committed`` (False when there was nothing to do:
        no new version is written then). A Qdrant store runs Qdrant's optimizers instead.

        Examples
        --------
        >>> from smart_plugins.index import SmartIndex
        >>> with SmartIndex.create(None, "minilm", compression="int8") as index:
        ...     _ = index.add(["a red star", "a blue moon", "green apples"], ids=["r", "b", "g"])
        ...     _ = index.delete("b")
        ...     summary = index.compact()
        ...     summary["documents_dropped"], summary["bytes_after"] < summary["bytes_before"], index.ids()
        (1, True, ['r', 'g'])
        """
        if isinstance(min_deleted_share, bool) or not isinstance(min_deleted_share, (int, float)):
            raise TypeError(f"min_deleted_share must be a number in [0, 1], got {min_deleted_share!r}")
        if not 0.0 <= float(min_deleted_share) <= 1.0:
            raise ValueError(f"min_deleted_share must be in [0, 1], got {min_deleted_share}")
        return self._store.compact(min_deleted_share=float(min_deleted_share))

    def _prepare(
        self,
        texts: str | Sequence[str],
        ids: Sequence[str] | None,
        metadata: Sequence[dict[str, Any] | None] | dict[str, Any] | None,
        *,
        require_ids: bool,
    ) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        items = document_inputs(texts, self.encoder)  # texts, or image references on a multimodal encoder
        if ids is None:
            if require_ids:
                raise ValueError("upsert needs ids (one per text)")
            doc_ids = [uuid.uuid4().hex for _ in items]
        else:
            doc_ids = _as_id_list(ids)
            if len(doc_ids) != len(items):
                raise ValueError(f"got {len(items)} texts but {len(doc_ids)} ids")
            seen: set[str] = set()
            repeated = [i for i in doc_ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
            if repeated:
                raise ValueError(f"duplicate ids in the input: {preview(list(dict.fromkeys(repeated)))}")
        if metadata is None:
            metas: list[dict[str, Any]] = [{} for _ in items]
        elif isinstance(metadata, dict):
            raise TypeError("metadata must be a list with one dict per text, not a single dict")
        else:
            metas = [check_metadata(m, i) for i, m in enumerate(metadata)]
            if len(metas) != len(items):
                raise ValueError(f"got {len(items)} texts but {len(metas)} metadata entries")
        metas = with_references(items, metas)
        return items, doc_ids, metas

    def _encode_documents(self, items: list[Any]) -> Iterator[EncodedTexts]:
        """The documents encoded one segment at a time, as the store consumes them (bounded memory)."""
        self._store.check_writable()
        return (
            self.encoder.encode_documents(encoder_inputs(items[start : start + SEGMENT_DOCS]))
            for start in range(0, len(items), SEGMENT_DOCS)
        )

    # ------------------------------------------------------------------ reads
    def get(self, ids: str | Sequence[str]) -> IndexedDocument | list[IndexedDocument]:
        """Stored document(s) by id; unknown ids -> KeyError naming them."""
        single = isinstance(ids, str)
        out = self._store.get(_as_id_list(ids))
        return out[0] if single else out

    def search(
        self,
        query: str | Sequence[str],
        k: int = 10,
        *,
        candidates: int = 100,
        weights: ScoreWeights | None = None,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        exhaustive: bool = False,
    ) -> list[SearchHit] | list[list[SearchHit]]:
        """Two-stage SMART search: pooled top-``candidates``, then exact hybrid rerank to top ``k``.

        Parameters
        ----------
        query:
            One query (returns a list of hits) or a list of queries (a list per query).
        k, candidates:
            Hits returned, and first-stage candidates reranked (raised to ``k`` if smaller).
        weights:
            Hybrid weights for this call: a ScoreWeights or a ``"POOL:LATE"`` string such as
            ``"0.5:1"`` (default: the index's :attr:`weights`).
        ids:
            Only consider these document ids (unknown ids are ignored).
        where:
            Metadata filter: a dict of ``key: value`` equalities (a tuple or set value means
            "any of") with the operators of :mod:`smart_plugins.index.filters` (``$in``, ``$gt``,
            ``$or``...), or a callable ``metadata -> bool`` (local store only).
        exhaustive:
            Skip the first stage and score every (filtered) document with the full hybrid.
        """
        k, candidates = positive_int("k", k), positive_int("candidates", candidates)
        single, queries = query_inputs(query, self.encoder)
        wanted, where = self._check_filters(ids, where)
        weights = resolve_weights(weights, self._store.weights().as_dict())
        if not queries or not self._store.count():
            return [] if single else [[] for _ in queries]
        encoded = self.encoder.encode_queries(queries)
        results = self._store.search(encoded, k, candidates, weights, wanted, where, exhaustive)
        return results[0] if single else results

    def search_encoded(
        self,
        queries: EncodedTexts,
        k: int = 10,
        *,
        candidates: int = 100,
        weights: ScoreWeights | None = None,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        exhaustive: bool = False,
    ) -> list[list[SearchHit]]:
        """:meth:`search` for queries already encoded with ``index.encoder.encode_queries``."""
        k, candidates = positive_int("k", k), positive_int("candidates", candidates)
        recorded = self._store.encoder_description()
        if queries.pooled_dim != recorded["pooled_dim"] or queries.token_dim != recorded["token_dim"]:
            raise ValueError(
                f"queries are {queries.pooled_dim}-d pooled / {queries.token_dim}-d tokens; this index holds "
                f"{recorded['pooled_dim']}-d / {recorded['token_dim']}-d"
            )
        wanted, where = self._check_filters(ids, where)
        weights = resolve_weights(weights, self._store.weights().as_dict())
        if not len(queries) or not self._store.count():
            return [[] for _ in range(len(queries))]
        return self._store.search(queries, k, candidates, weights, wanted, where, exhaustive)

    @staticmethod
    def _check_filters(ids: Iterable[str] | None, where: Where | None) -> tuple[list[str] | None, Where | None]:
        if where is not None and not callable(where):
            compile_filter(where)  # bad forms and unknown operators fail here, naming them
        return (None if ids is None else _as_id_list(ids)), where

    def rerank(
        self, query: str, ids: Sequence[str], *, k: int | None = None, weights: ScoreWeights | None = None
    ) -> list[SearchHit]:
        """SMART-rerank candidate ids (from any retriever) with the stored vectors; best first.

        Unknown ids -> KeyError. For raw texts with no index use
        :func:`smart_plugins.rerank.rerank_texts`.
        """
        k = None if k is None else positive_int("k", k)
        queries = query_inputs(query, self.encoder)[1]
        if len(queries) != 1:
            raise ValueError("rerank takes one query string")
        wanted = list(dict.fromkeys(_as_id_list(ids)))
        missing = [i for i in wanted if not self._store.contains(i)]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        if not wanted:
            return []
        weights = resolve_weights(weights, self._store.weights().as_dict())
        encoded = self.encoder.encode_queries(queries)
        return self._store.rerank(encoded, wanted, k or len(wanted), weights)

    def explain(self, query: str, id: str, *, weights: ScoreWeights | None = None) -> Evidence:  # noqa: A002
        """Token-level evidence for one hit: each query token's best document token.

        The document tokens come from the stored (possibly compressed) vectors, so the
        evidence matches the late score the index computes.
        """
        doc = self._store.document_tokens(id)
        weights = resolve_weights(weights, self._store.weights().as_dict())
        encoded = self.encoder.encode_queries(query_inputs(query, self.encoder)[1][:1])
        late = float(maxsim(encoded.tokens, encoded.offsets, doc.tokens, torch.tensor([0, len(doc.tokens)]))[0, 0])
        q_pooled = torch.nn.functional.normalize(encoded.pooled.float(), dim=-1).numpy()[0]
        pooled = float(np.asarray(doc.pooled, dtype=np.float32) @ q_pooled)
        matches = token_matches(
            encoded.tokens,
            encoded.token_ids,
            encoded.positions,
            doc.tokens,
            doc.token_ids,
            doc.positions,
            self.encoder.tokenizer,
            doc.text,
        )
        return Evidence(
            query=query, id=id, score=weights.combine(pooled, late), pooled=pooled, late=late, matches=matches
        )

    # ------------------------------------------------------------------ info / lifecycle
    def build_first_stage(self) -> dict[str, Any] | None:
        """Build (or extend) and save the HNSW graph now rather than at the next search.

        A no-op returning None for the exact first stage; otherwise returns what
        :meth:`info` reports as ``hnsw_graph``. The CLI calls it after ``index build``,
        ``add`` and ``compact``, so a later ``search`` process loads the graph instead of
        building it. On a ``read_only`` index the graph is built in memory only.
        A Qdrant store builds its own HNSW index (returns None).
        """
        return self._store.build_first_stage()

    def info(self) -> dict[str, Any]:
        """Counts, sizes and configuration: documents, tokens, bytes/token, compression, model."""
        return self._store.info()

    def close(self) -> None:
        """Release the index (a temporary index's folder is removed)."""
        self._store.close()

    def __enter__(self) -> SmartIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SmartIndex({str(self.path)!r}, {self._store.summary()})"

    def __getattr__(self, name: str) -> Any:
        # internal state (``_segments``, ``_manifest``, ``_late_scores`` ...) lives on the store:
        # tests and benchmarks that look at it keep working through the facade
        if name.startswith("_") and not name.startswith("__") and "_store" in self.__dict__:
            return getattr(self.__dict__["_store"], name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _local_only(self, what: str) -> LocalStore:
        if not isinstance(self._store, LocalStore):
            raise NotImplementedError(f"{what} applies to the local store only; this index uses {self._store.kind!r}")
        return self._store


def recorded_encoder(path: str | Path) -> dict[str, Any]:
    """The encoder description an index folder records (any store), without opening the store.

    Examples
    --------
    >>> import tempfile
    >>> with SmartIndex.create(tempfile.mkdtemp(), "minilm", compression="int8") as index:
    ...     recorded_encoder(index.path)["token_dim"]
    384
    """
    folder = Path(path)
    if qdrant_store.holds_record(folder):
        return qdrant_store.read_record(folder)["encoder"]
    return read_manifest(folder)["encoder"]


def _holds_index(folder: Path) -> bool:
    return (folder / MANIFEST_NAME).exists() or qdrant_store.holds_record(folder)


def _as_id_list(ids: str | Iterable[str]) -> list[str]:
    return id_list(ids)
