"""The Qdrant Edge backend: the Qdrant engine in this process, its shard in a folder (``qdrant-edge-py``).

Qdrant Edge lets one process hold a shard (its write-ahead log is locked while it is open).
Within a process, every store object on one folder shares one open shard (so each sees the
others' writes at once); another process opening the folder meanwhile gets an
:class:`~smart_plugins.index.locking.IndexLockedError` that says so. To share an index between
processes, serve it from a Qdrant server (``store="qdrant"``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smart_plugins.index.locking import IndexLockedError
from smart_plugins.index.qdrant_backend import SCROLL, Found, Point, QdrantOptions, QueryPlan, found, import_qdrant
from smart_plugins.index.qdrant_filters import edge_documents_only, edge_filter


#: Shards open in this process, by resolved folder: [shard, number of backends using it].
_OPEN: dict[str, list[Any]] = {}
_OPEN_LOCK = threading.Lock()


class EdgeBackend:
    """Qdrant Edge: the shard in a folder, in this process.

    ``create`` (``pooled_dim``, ``token_dim``, ``options``) makes a new shard; None loads the
    existing one, or shares the one already open in this process.
    """

    def __init__(self, folder: Path, create: dict[str, Any] | None) -> None:
        self.q = import_qdrant("qdrant_edge")
        self.folder = folder
        self._key = str(Path(folder).resolve())
        self._closed = False
        with _OPEN_LOCK:
            entry = _OPEN.get(self._key)
            if entry is None or create is not None:
                entry = [self._create(create) if create is not None else self._load(), 0]
                _OPEN[self._key] = entry
            entry[1] += 1
        self.shard = entry[0]

    def _create(self, create: dict[str, Any]) -> Any:
        return self.q.EdgeShard.create(str(self.folder), self._config(**create))

    def _load(self) -> Any:
        try:
            return self.q.EdgeShard.load(str(self.folder))
        except Exception as exc:  # qdrant-edge raises a bare Exception naming the locked WAL
            if "WouldBlock" in str(exc) or "failed to open WAL" in str(exc):
                raise IndexLockedError(
                    f"the Qdrant Edge shard at {self.folder} is open in another process (Qdrant Edge lets one "
                    "process hold a shard); close it there, or serve the index from a Qdrant server "
                    "(store='qdrant') to share it between processes"
                ) from None
            raise

    def _config(self, pooled_dim: int, token_dim: int, options: QdrantOptions) -> Any:
        q = self.q
        dtype = {"float16": q.VectorStorageDatatype.Float16, "float32": q.VectorStorageDatatype.Float32}
        quant = {
            None: None,
            "int8": lambda: q.ScalarQuantizationConfig(type=q.ScalarType.Int8, always_ram=True),
            "binary": lambda: q.BinaryQuantizationConfig(always_ram=True),
            "turbo4": lambda: q.TurboQuantQuantizationConfig(bits=q.TurboQuantBitSize.Bits4),
        }[options.quantization]
        return q.EdgeConfig(
            vectors={
                "pooled": q.EdgeVectorParams(size=pooled_dim, distance=q.Distance.Cosine),
                "tokens": q.EdgeVectorParams(
                    size=token_dim,
                    distance=q.Distance.Dot,
                    multivector_config=q.MultiVectorConfig(q.MultiVectorComparator.MaxSim),
                    datatype=dtype[options.token_dtype],
                    quantization_config=quant() if quant else None,
                    hnsw_config=q.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
                ),
            }
        )

    def upsert(self, points: list[Point]) -> None:
        q = self.q  # numpy arrays go to Edge as they are (no Python float lists)
        batch = [
            q.Point(pid, {"tokens": tokens} if pooled is None else {"pooled": pooled, "tokens": tokens}, payload)
            for pid, pooled, tokens, payload in points
        ]
        self.shard.update(q.UpdateOperation.upsert_points(batch))
        self.shard.flush()

    def delete(self, pids: list[str]) -> None:
        self.shard.update(self.q.UpdateOperation.delete_points(pids))
        self.shard.flush()

    def retrieve(self, pids: list[str], *, vectors: bool = False, payload: Any = True) -> dict[str, Found]:
        records = self.shard.retrieve(pids, with_payload=payload, with_vector=["pooled", "tokens"] if vectors else False)
        return {str(r.id): found(r.payload, 0.0, r.vector) for r in records}

    def scroll(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.shard.scroll(
                self.q.ScrollRequest(offset=offset, limit=SCROLL, with_payload=fields, with_vector=False)
            )
            for r in records:
                yield r.payload or {}
            if offset is None:
                return

    def count(self, documents_only: bool = False) -> int:
        flt = edge_documents_only(self.q) if documents_only else None
        return int(self.shard.count(self.q.CountRequest(exact=True, filter=flt)))

    def query(self, plan: QueryPlan) -> list[Found]:
        q = self.q
        flt = edge_filter(q, plan.tree, plan.point_ids)
        exact = q.SearchParams(exact=plan.exact)
        late_params = q.SearchParams(
            exact=plan.exact, quantization=q.QuantizationSearchParams(rescore=True, oversampling=plan.oversampling)
        ) if plan.quantized else exact
        pooled_params = q.SearchParams(exact=plan.exact, hnsw_ef=None if plan.exact else plan.hnsw_ef)
        pooled = q.Prefetch(limit=plan.n_candidates, query=q.Query.Nearest(plan.q_pooled, using="pooled"), filter=flt, params=pooled_params)
        late = q.Prefetch(
            limit=plan.n_candidates, query=q.Query.Nearest(plan.q_tokens, using="tokens"), prefetches=[pooled], params=late_params
        )
        E = q.Expression
        terms = []
        if plan.pool:
            terms.append(E.Mult([E.Constant(plan.pool), E.Variable("$score[0]")]))
        if plan.late:
            terms.append(E.Mult([E.Constant(plan.late), E.Variable("$score[1]")]))
        request = q.QueryRequest(
            limit=plan.k, prefetches=[pooled, late], query=q.Formula(E.Sum(terms)), with_payload=plan.payload, with_vector=["pooled"]
        )
        return [found(p.payload, p.score, p.vector) for p in self.shard.query(request)]

    def optimize(self) -> bool:
        return bool(self.shard.optimize())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with _OPEN_LOCK:
            entry = _OPEN.get(self._key)
            self.shard.flush()
            if entry is None or entry[0] is not self.shard:
                self.shard.close()  # not shared (a shard re-created over this folder took its place)
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _OPEN[self._key]
                self.shard.close()
