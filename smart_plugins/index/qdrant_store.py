"""Qdrant stores: the same SMART index in Qdrant Edge (a folder) or a Qdrant server collection.

Each document is one Qdrant point: a ``pooled`` dense vector (cosine, HNSW), a ``tokens``
multivector (``max_sim``, float16 by default, no HNSW: it only reranks) and a payload with
the string id, text, metadata and the token ids / positions the evidence needs. String ids
map to point ids by UUIDv5, so the same document always lands on the same point.

Search is one request: a pooled prefetch of ``candidates`` points, a MaxSim rerank of the
same points, and a formula query combining both scores as ``pool * pooled + late * late``.
Qdrant's MaxSim is a sum over query tokens, so the formula divides it by the query's token
count to get this library's mean (:func:`smart_plugins.scoring.maxsim`).

Two ways to reach Qdrant:

- ``qdrant-edge``: Qdrant Edge (``qdrant-edge-py``), the Qdrant engine in-process, its shard
  in ``DIR/shard`` next to ``DIR/smart-qdrant.json`` (encoder, weights, options). One machine,
  no server.
- ``qdrant``: a server collection by URL (the scale-out). ``DIR/smart-qdrant.json`` records the
  URL and collection; the collection's own metadata records the encoder and weights, so every
  client opening it is checked against the same encoder. ``qdrant-client``'s local mode
  (``url=":memory:"`` or a folder path) speaks the same API but scans in numpy: tests only.

The parts: :mod:`~smart_plugins.index.qdrant_points` (point ids, payloads),
:mod:`~smart_plugins.index.qdrant_filters` (``where`` -> Qdrant filters),
:mod:`~smart_plugins.index.qdrant_edge` and :mod:`~smart_plugins.index.qdrant_server` (the two
backends, sharing :mod:`~smart_plugins.index.qdrant_backend`); this module is the store. The
packages are imported lazily: ``pip install smart-plugins[qdrant]``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smart_plugins.atomic import atomic_write_json
from smart_plugins.encoder import EncodedTexts
from smart_plugins.index.encoder_config import description_differences
from smart_plugins.index.media import stored_texts
from smart_plugins.index.qdrant_backend import MAX_MULTIVECTOR_FLOATS, Backend, Found, QdrantOptions, QueryPlan, prefetch_ef
from smart_plugins.index.qdrant_edge import EdgeBackend
from smart_plugins.index.qdrant_filters import Node, filter_tree
from smart_plugins.index.qdrant_points import (
    DOCUMENT_FIELDS,
    chunk_ids,
    document_payload,
    document_points,
    indexed_document,
    point_id,
)
from smart_plugins.index.qdrant_server import ClientBackend, connect
from smart_plugins.index.results import IndexedDocument, SearchHit
from smart_plugins.index.storage import IndexCorruptedError
from smart_plugins.index.store import DocumentTokens, ReadOnlyIndexError, Where, preview
from smart_plugins.index.token_pooling import (
    MANIFEST_KEY as POOLING_KEY,
    check_pool_factor,
    check_same_factor,
    pool_batches,
    record_pooling,
    recorded_pool_factor,
)
from smart_plugins.lazy import lazy_module
from smart_plugins.scoring import ScoreWeights, maxsim, top_k

torch = lazy_module("torch", globals())

#: The folder's record of a Qdrant-backed index.
RECORD_NAME = "smart-qdrant.json"
#: Qdrant Edge's shard folder inside the index folder.
SHARD_DIR = "shard"
FORMAT = 1
__all__ = ["MAX_MULTIVECTOR_FLOATS", "QdrantStore", "create_store", "holds_record", "open_store", "point_id", "read_record"]


def holds_record(folder: Path) -> bool:
    """True when ``folder`` holds a Qdrant-backed SMART index."""
    return (Path(folder) / RECORD_NAME).is_file()


# ---------------------------------------------------------------------------------- the store
class QdrantStore:
    """A SMART store in Qdrant (Edge in a folder, or a server collection). See the module docs.

    Open and create it through :class:`~smart_plugins.index.SmartIndex`.

    Examples
    --------
    >>> from smart_plugins.index import SmartIndex
    >>> with SmartIndex.create(None, "minilm", store="qdrant-edge") as index:
    ...     _ = index.add(["Debug symbols for libfoo.", "Documentation for libfoo."], ids=["dbg", "doc"])
    ...     hit = index.search("libfoo debugging symbols", k=1)[0]
    ...     hit.id, index.store.kind, round(hit.score - (hit.pooled + hit.late), 4)
    ('dbg', 'qdrant-edge', 0.0)
    """

    def __init__(
        self,
        path: Path,
        kind: str,
        backend: Backend,
        record: dict[str, Any],
        *,
        read_only: bool = False,
        temporary: bool = False,
    ) -> None:
        self.path = Path(path)
        self.kind = kind
        self.read_only = read_only
        self._backend = backend
        self._record = record
        self._record_key: tuple[int, int, int] | None = None
        self._temporary = temporary
        self._closed = False
        self._options = QdrantOptions(**record["options"])
        try:
            self._pool_factor = recorded_pool_factor(record, self.path / RECORD_NAME)  # absent (older indexes): 1
        except IndexCorruptedError:
            backend.close()  # a refused open releases the shard / client it opened
            raise
        if kind == "qdrant-edge":
            self._record_key = _stat_key(self.path / RECORD_NAME)

    # ------------------------------------------------------------------ configuration
    def _refresh(self) -> None:
        """Read the committed settings (version, weights) when another store object changed them.

        Edge: the record file, re-read when its ``stat`` changed (the points are fresh already:
        every store object of this process shares one open shard). Server: the collection's
        metadata, one small request (the points live on the server). Called by :meth:`version`
        and :meth:`weights`, so every ``SmartIndex.search`` reads the committed weights.
        """
        self._check_open()
        if isinstance(self._backend, ClientBackend):
            bound = self._backend.metadata().get("smart_plugins")
            if bound:
                self._record.update(bound)
            return
        key = _stat_key(self.path / RECORD_NAME)
        if key != self._record_key:
            self._record = {**self._record, **read_record(self.path)}
            self._record_key = key

    def _save_settings(self) -> None:
        if isinstance(self._backend, ClientBackend):
            self._backend.set_metadata({"smart_plugins": _bound(self._record)})
        atomic_write_json(self.path / RECORD_NAME, self._record)
        if self.kind == "qdrant-edge":
            self._record_key = _stat_key(self.path / RECORD_NAME)

    def encoder_description(self) -> dict[str, Any]:
        return self._record["encoder"]

    @property
    def token_pool_factor(self) -> float:
        """The token pool factor every write applies (1.0: no pooling)."""
        return self._pool_factor

    @property
    def compression(self) -> str:
        quant = f"+{self._options.quantization}" if self._options.quantization else ""
        return f"qdrant-{self._options.token_dtype}{quant}"

    def version(self) -> int:
        self._refresh()
        return int(self._record.get("version", 0))

    def weights(self) -> ScoreWeights:
        self._refresh()
        return ScoreWeights(**self._record["weights"])

    def weights_source(self) -> dict[str, Any]:
        self._refresh()
        return dict(self._record.get("weights_source") or {"kind": "explicit"})

    def set_weights(self, weights: ScoreWeights, source: dict[str, Any] | None = None) -> None:
        self.check_writable()
        self._bump(weights=weights.as_dict(), weights_source=source or {"kind": "explicit"})

    def _bump(self, **changes: Any) -> None:
        """Commit ``changes`` to the settings with the next version (read first: another store object may have moved it)."""
        self._refresh()
        self._record.update(changes)
        self._record["version"] = int(self._record.get("version", 0)) + 1
        self._save_settings()

    def check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyIndexError(f"the index at {self.path} was opened read_only")

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the index at {self.path} is closed")

    # ------------------------------------------------------------------ membership
    def count(self) -> int:
        self._refresh()  # whether documents in chunks exist (their chunk points are no documents)
        return self._count()

    def _count(self) -> int:
        return self._backend.count(documents_only=bool(self._record.get("chunked")))

    def contains(self, doc_id: str) -> bool:
        self._check_open()
        return bool(self._backend.retrieve([point_id(doc_id)], payload=False))

    def ids(self) -> list[str]:
        self._check_open()
        rows = [(p.get("seq", 0), p["id"]) for p in self._backend.scroll(["id", "seq"]) if "id" in p]  # chunk points have none
        return [doc_id for _, doc_id in sorted(rows)]

    # ------------------------------------------------------------------ writes
    def write(
        self,
        doc_ids: list[str],
        texts: list[str],
        metadata: list[dict[str, Any]],
        encoded: list[EncodedTexts],
        *,
        replace: bool,
        chunk: bool = False,
    ) -> None:
        """Write documents in one update; ``chunk``: store a document over the multivector cap in chunks.

        Without ``chunk`` such a document is refused (ValueError naming it and the cap) and
        nothing is written.
        """
        self.check_writable()
        texts = stored_texts(texts)  # image documents are stored as their references
        pids = [point_id(i) for i in doc_ids]
        taken = self._backend.retrieve(pids, payload=["id", "chunks"])
        if taken and not replace:
            names = [p.payload["id"] for p in taken.values()]
            raise ValueError(f"{len(names)} id(s) already in the index: {preview(names)}; use upsert to replace")
        cap = self._options.max_multivector_floats
        points = []
        seq = time.time_ns()
        start = 0
        for enc in pool_batches(encoded, self._pool_factor):  # pooled first: chunks hold the stored tokens
            pooled = torch.nn.functional.normalize(enc.pooled.float(), dim=-1).numpy()
            offsets = enc.offsets.numpy()
            tokens = enc.tokens.float().numpy()
            token_ids, positions = enc.token_ids.numpy(), enc.positions.numpy()
            dim = tokens.shape[1]
            for j in range(len(enc)):
                i = start + j
                a, b = int(offsets[j]), int(offsets[j + 1])
                if (b - a) * dim > cap and not chunk:
                    raise ValueError(
                        f"texts[{i}] (id {doc_ids[i]!r}) has {b - a} tokens x {dim} dims = {(b - a) * dim:,} floats, "
                        f"above Qdrant's multivector cap of {cap:,} floats ({cap // dim} tokens at {dim}-d); split it "
                        "into shorter documents, or add it with an encoder made with truncation='chunk' to store it in chunks"
                    )
                payload = document_payload(doc_ids[i], texts[i], metadata[i], seq + i, token_ids[a:b], positions[a:b])
                points += document_points(
                    doc_ids[i], payload, pooled[j], tokens[a:b], token_ids[a:b], positions[a:b], max(1, cap // dim)
                )
            start += len(enc)
        self._backend.upsert(points)  # one update: the whole batch or none of it
        written = {p[3]["id"]: int(p[3].get("chunks", 1)) for p in points if "id" in p[3]}
        stale = [  # chunks of replaced documents beyond the new version's (never read: the count says how many)
            pid for old in taken.values() for pid in chunk_ids(old.payload["id"], int(old.payload.get("chunks", 1)), written[old.payload["id"]])
        ]
        if stale:
            self._backend.delete(stale)
        self._bump(**({"chunked": True} if len(points) > len(written) else {}))

    def delete(self, doc_ids: list[str]) -> int:
        self.check_writable()
        unique = list(dict.fromkeys(doc_ids))
        found = self._backend.retrieve([point_id(i) for i in unique], payload=["id", "chunks"])
        missing = [i for i in unique if point_id(i) not in found]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        chunks = [pid for p in found.values() for pid in chunk_ids(p.payload["id"], int(p.payload.get("chunks", 1)))]
        self._backend.delete([point_id(i) for i in unique] + chunks)
        self._bump()
        return len(unique)

    def compact(self, *, min_deleted_share: float = 0.0) -> dict[str, Any]:
        """Run Qdrant's optimizers (Edge; a server runs them itself). Returns a summary."""
        self.check_writable()
        before = self._disk_bytes()
        optimized = self._backend.optimize()
        return {
            "committed": optimized,
            "optimized": optimized,
            "documents": self.count(),
            "bytes_before": before,
            "bytes_after": self._disk_bytes(),
            "version_before": self.version(),
            "version": self.version(),
        }

    def build_first_stage(self) -> dict[str, Any] | None:
        """Qdrant keeps its own HNSW index; Edge builds it when optimised (done here)."""
        if self.read_only or self._closed:
            return None
        return {"kind": "qdrant-hnsw", "optimized": self._backend.optimize()}

    # ------------------------------------------------------------------ reads
    def get(self, doc_ids: list[str]) -> list[IndexedDocument]:
        self._check_open()
        found = self._backend.retrieve([point_id(i) for i in doc_ids], payload=DOCUMENT_FIELDS)
        missing = [i for i in doc_ids if point_id(i) not in found]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        return [indexed_document({**found[point_id(i)].payload, "id": i}) for i in doc_ids]

    def document_tokens(self, doc_id: str) -> DocumentTokens:
        self._check_open()
        found = self._backend.retrieve([point_id(doc_id)], vectors=True)
        if not found:
            raise KeyError(f"id {doc_id!r} is not in the index")
        point = next(iter(found.values()))
        parts = [point] + self._chunks(doc_id, point)
        return DocumentTokens(
            text=point.payload["text"],
            pooled=np.asarray(point.pooled, dtype=np.float32),
            tokens=torch.tensor([t for p in parts for t in p.tokens or []], dtype=torch.float32).reshape(-1, self._token_dim()),
            token_ids=np.asarray([t for p in parts for t in p.payload.get("token_ids", [])], dtype=np.int64),
            positions=np.asarray([t for p in parts for t in p.payload.get("positions", [])], dtype=np.int64),
        )

    def _token_dim(self) -> int:
        return int(self._record["encoder"]["token_dim"])

    def _chunks(self, doc_id: str, point: Found) -> list[Found]:
        """The further chunk points of a document stored in chunks (none for one stored whole), in order."""
        pids = chunk_ids(doc_id, int(point.payload.get("chunks", 1)))
        if not pids:
            return []
        found = self._backend.retrieve(pids, vectors=True, payload=["token_ids", "positions"])
        return [found[pid] for pid in pids]

    def search(
        self,
        queries: EncodedTexts,
        k: int,
        candidates: int,
        weights: ScoreWeights,
        ids: Sequence[str] | None,
        where: Where | None,
        exhaustive: bool,
    ) -> list[list[SearchHit]]:
        self._check_open()
        if where is not None and callable(where):
            raise TypeError(
                "a callable where= filter cannot run inside Qdrant; use a dict filter "
                "(key: value, key: (any, of), key: {'gte': low, 'lt': high})"
            )
        tree = filter_tree(where) if where is not None else None
        n_total = self._count()
        n_cand = n_total if exhaustive else min(max(candidates, k), n_total)
        point_ids = None if ids is None else [point_id(i) for i in ids]
        return [
            self._query(queries.select([q]), k, n_cand, weights, tree, point_ids, exact=exhaustive)
            for q in range(len(queries))
        ]

    def rerank(self, query: EncodedTexts, doc_ids: list[str], k: int, weights: ScoreWeights) -> list[SearchHit]:
        self._check_open()
        return self._query(query, k, len(doc_ids), weights, None, [point_id(i) for i in doc_ids], exact=True)

    def _query(
        self,
        query: EncodedTexts,
        k: int,
        n_candidates: int,
        weights: ScoreWeights,
        tree: Node | None,
        point_ids: list[str] | None,
        *,
        exact: bool,
    ) -> list[SearchHit]:
        if n_candidates <= 0:
            return []
        q_pooled = torch.nn.functional.normalize(query.pooled.float(), dim=-1)[0]
        n_tokens = int(query.offsets[1] - query.offsets[0])
        # documents stored in chunks: Qdrant scores the first chunk only, so every candidate comes
        # back and those in chunks are rescored here over all their tokens before the top k is cut
        rescore = bool(self._record.get("chunked")) and weights.uses_late
        plan = QueryPlan(
            q_pooled=q_pooled.tolist(),
            q_tokens=query.tokens.float().tolist(),
            n_candidates=n_candidates,
            k=n_candidates if rescore else min(k, n_candidates),
            pool=weights.pool,
            late=weights.late / n_tokens,  # Qdrant's MaxSim sums over query tokens; ours is the mean
            tree=tree,
            point_ids=point_ids,
            exact=exact,
            hnsw_ef=prefetch_ef(n_candidates),
            quantized=self._options.quantization is not None,
            oversampling=float(self._options.oversampling),
            payload=[*DOCUMENT_FIELDS, "chunks"],
        )
        found = self._backend.query(plan)
        pooled = [float(np.asarray(f.pooled, dtype=np.float32) @ q_pooled.numpy()) if f.pooled else 0.0 for f in found]
        late = [(f.score - weights.pool * p) / weights.late if weights.uses_late else None for f, p in zip(found, pooled)]
        order = list(range(len(found)))
        if rescore:
            for j, f in enumerate(found):
                if int(f.payload.get("chunks", 1)) > 1:
                    late[j] = self._late_over_chunks(query, f.payload["id"])
            scores = np.array([weights.combine(p, s) for p, s in zip(pooled, late)], dtype=np.float64)
            order = top_k(scores, k)[1].tolist() if len(scores) else []
        return [
            SearchHit(
                id=found[j].payload["id"],
                text=found[j].payload["text"],
                metadata=found[j].payload.get("metadata") or {},
                score=weights.combine(pooled[j], late[j]),
                pooled=pooled[j],
                late=late[j],
                rank=rank,
            )
            for rank, j in enumerate(order, start=1)  # 1-based, as every rank shown
        ]

    def _late_over_chunks(self, query: EncodedTexts, doc_id: str) -> float:
        """MaxSim of one query over every token of a document stored in chunks (the stored vectors)."""
        point = self._backend.retrieve([point_id(doc_id)], vectors=True, payload=["chunks"])[point_id(doc_id)]
        parts = [point] + self._chunks(doc_id, point)
        tokens = torch.tensor([t for p in parts for t in p.tokens or []], dtype=torch.float32)
        return float(maxsim(query.tokens.float(), query.offsets, tokens, torch.tensor([0, len(tokens)]))[0, 0])

    # ------------------------------------------------------------------ info / lifecycle
    def _disk_bytes(self) -> int:
        return sum(_allocated(f) for f in self.path.rglob("*") if f.is_file())

    def info(self) -> dict[str, Any]:
        self._refresh()
        payloads = list(self._backend.scroll(["id", "token_ids"]))
        tokens = int(sum(len(p.get("token_ids") or ()) for p in payloads))  # chunk points' tokens too
        out: dict[str, Any] = {
            "path": str(self.path),
            "store": self.kind,
            "version": self.version(),
            "documents": sum(1 for p in payloads if "id" in p),
            "deleted_documents": 0,
            "segments": None,
            "tokens": tokens,
            "stored_tokens": tokens,
            "compression": self.compression,
            "codec": {"name": self.compression, **self._options.as_dict()},
            "fp32_bytes_per_token": 4 * int(self._record["encoder"]["token_dim"]),
            "token_pool_factor": self._pool_factor,
            "model": self._record["encoder"].get("model"),
            "encoder": self._record["encoder"],
            "weights": self._record["weights"],
            "weights_source": self._record.get("weights_source") or {"kind": "explicit"},
            "first_stage": {"kind": "qdrant-hnsw"},
            "hnsw_graph": None,
        }
        if self.kind == "qdrant-edge":
            shard = self.path / SHARD_DIR
            token_files = sum(_allocated(f) for f in shard.rglob("*") if f.is_file() and "vector_storage-tokens" in str(f))
            out["disk_bytes"] = self._disk_bytes()
            out["token_bytes_per_token"] = token_files / tokens if tokens else None
            out["bytes_per_token"] = out["disk_bytes"] / tokens if tokens else None
        else:
            out["url"], out["collection"] = self._record.get("url"), self._record.get("collection")
            out["disk_bytes"] = None
            out["token_bytes_per_token"] = None
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._backend.close()
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def summary(self) -> str:
        return "closed" if self._closed else f"{self.count()} documents, {self.compression}"


def _bound(record: dict[str, Any]) -> dict[str, Any]:
    """What a server collection records about itself (no client-side location)."""
    keys = ("format", "encoder", "weights", "weights_source", "options", "version", "chunked", POOLING_KEY)
    return {key: record[key] for key in keys if key in record}


# ---------------------------------------------------------------------------------- create / open
def create_store(
    folder: Path | None,
    *,
    kind: str,
    encoder: dict[str, Any],
    weights: ScoreWeights,
    weights_source: dict[str, Any] | None = None,
    url: str | None = None,
    collection: str | None = None,
    client: Any = None,
    token_dtype: str = "float16",
    quantization: str | None = None,
    oversampling: float = 4.0,
    max_multivector_floats: int = MAX_MULTIVECTOR_FLOATS,
    exist_ok: bool = False,
    token_pool_factor: float = 1.0,
) -> QdrantStore:
    """Create a Qdrant-backed store (``kind`` ``"qdrant-edge"`` or ``"qdrant"``) recorded in ``folder``.

    Parameters
    ----------
    folder:
        The index folder (None: a temporary one, removed on close). Holds ``smart-qdrant.json``
        and, for Edge, the shard.
    weights, weights_source:
        The default hybrid weights, and how they were chosen (None: explicit; an ``auto`` source
        has them fitted on the index's own documents, see :mod:`smart_plugins.index.default_weights`).
    url, collection, client:
        Server stores: where the collection is (``url``: ``http(s)://...``, or qdrant-client's
        local mode ``":memory:"`` / a folder, for tests) or a ready ``QdrantClient``.
    token_dtype:
        ``"float16"`` (default) or ``"float32"`` token storage.
    quantization, oversampling:
        Qdrant quantisation of the tokens (``"int8"``, ``"binary"``, ``"turbo4"``), searched
        with ``oversampling`` x candidates and rescored with the stored vectors.
    max_multivector_floats:
        The most floats one point's token multivector holds (default: Qdrant's cap, 1,048,576).
        A longer document is refused, or stored in chunks when it is added with an encoder made
        with ``truncation="chunk"`` (search still returns it once, scored over all its tokens).
    exist_ok:
        Server stores: bind to an existing collection (its encoder and token pool factor must
        match) instead of failing.
    token_pool_factor:
        Token pooling at every write (:mod:`smart_plugins.index.token_pooling`), recorded with
        the index (the record, and a server collection's metadata) unless 1.
    """
    token_pool_factor = check_pool_factor(token_pool_factor)
    options = QdrantOptions(
        token_dtype=token_dtype, quantization=quantization, oversampling=oversampling, max_multivector_floats=max_multivector_floats
    )
    temporary = folder is None
    path = Path(tempfile.mkdtemp(prefix="smart-index-")) if folder is None else Path(folder)
    if path.exists() and any(path.iterdir()) and not temporary:
        raise FileExistsError(f"{path} exists and is not empty; choose a new folder for the index")
    record: dict[str, Any] = {
        "format": FORMAT,
        "store": kind,
        "encoder": encoder,
        "weights": weights.as_dict(),
        "weights_source": weights_source or {"kind": "explicit"},
        "options": options.as_dict(),
        "version": 0,
    }
    record_pooling(record, token_pool_factor)  # nothing recorded for 1, as in indexes older than pooling
    dims = {"pooled_dim": int(encoder["pooled_dim"]), "token_dim": int(encoder["token_dim"])}
    if kind == "qdrant-edge":
        if url is not None or collection is not None or client is not None:
            raise ValueError("url / collection / client are for store='qdrant'; Qdrant Edge lives in the index folder")
        path.mkdir(parents=True, exist_ok=True)
        backend: Backend = EdgeBackend(path / SHARD_DIR, {**dims, "options": options})
    elif kind == "qdrant":
        if not isinstance(collection, str) or not collection:
            raise ValueError("store='qdrant' needs collection= (the Qdrant collection name)")
        backend = ClientBackend(connect(url, client), collection, owns_client=client is None)
        if backend.exists():
            bound = backend.metadata().get("smart_plugins")
            if not exist_ok or not bound:
                raise FileExistsError(
                    f"the Qdrant collection {collection!r} already exists"
                    + ("" if bound else " and holds no SMART index")
                    + "; choose another collection name" + (" or pass exist_ok=True" if bound else "")
                )
            try:
                _check_bound(bound, encoder, collection)
                check_same_factor(recorded_pool_factor(bound, f"collection {collection!r}"), token_pool_factor,
                                  f"Qdrant collection {collection!r}")
            except BaseException:
                backend.close()  # a refused bind releases its client
                raise
            record.pop(POOLING_KEY, None)  # the collection's own record (absent: factor 1) is the truth
            record.update(bound)
        else:
            backend.create(options=options, metadata={"smart_plugins": _bound(record)}, **dims)
        record.update({"url": url if isinstance(url, str) else None, "collection": collection})
        path.mkdir(parents=True, exist_ok=True)
    else:
        raise ValueError(f"kind must be 'qdrant-edge' or 'qdrant', got {kind!r}")
    atomic_write_json(path / RECORD_NAME, record)
    return QdrantStore(path, kind, backend, record, temporary=temporary)


def read_record(folder: Path) -> dict[str, Any]:
    """The ``smart-qdrant.json`` record of a Qdrant-backed index folder."""
    import json

    path = Path(folder) / RECORD_NAME
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable SMART Qdrant record: {exc}") from None
    if not isinstance(record, dict) or not isinstance(record.get("encoder"), dict):
        raise ValueError(f"{path} is not a SMART Qdrant record (no encoder description)")
    return record


def open_store(folder: Path, *, read_only: bool = False, client: Any = None) -> QdrantStore:
    """Open the Qdrant-backed store recorded in ``folder``."""
    path = Path(folder)
    record = read_record(path)
    kind = record.get("store")
    if kind == "qdrant-edge":
        if client is not None:
            raise ValueError("client= is for server stores; this index uses Qdrant Edge in its folder")
        backend: Backend = EdgeBackend(path / SHARD_DIR, None)
    elif kind == "qdrant":
        backend = ClientBackend(connect(record.get("url"), client), record["collection"], owns_client=client is None)
        if not backend.exists():
            raise FileNotFoundError(f"the Qdrant collection {record['collection']!r} at {record.get('url')!r} does not exist")
        bound = backend.metadata().get("smart_plugins")
        if not bound:
            raise ValueError(f"the Qdrant collection {record['collection']!r} holds no SMART index metadata")
        record.update(bound)  # the collection is the source of truth for the encoder and weights
    else:
        raise ValueError(f"{path / RECORD_NAME} names an unknown store {kind!r}")
    return QdrantStore(path, kind, backend, record, read_only=read_only)


def _check_bound(bound: dict[str, Any], encoder: dict[str, Any], collection: str) -> None:
    diffs = description_differences(bound.get("encoder") or {}, encoder)
    if diffs:
        raise ValueError(
            f"the Qdrant collection {collection!r} was built with another encoder; differing fields: " + "; ".join(diffs)
        )


def _stat_key(file: Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced (an atomic write renames a new inode into place)."""
    try:
        stat = file.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _allocated(file: Path) -> int:
    """Bytes a file occupies on disk (Qdrant preallocates sparse chunk files: not their length)."""
    stat = file.stat()
    return min(stat.st_size, getattr(stat, "st_blocks", stat.st_size // 512 + 1) * 512)
