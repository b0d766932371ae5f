"""The Qdrant Edge backend: the Qdrant engine in this process, its shard in a folder (``qdrant-edge-py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from smart_plugins.index.qdrant_backend import SCROLL, Found, Point, QdrantOptions, QueryPlan, found, import_qdrant
from smart_plugins.index.qdrant_filters import edge_filter


class EdgeBackend:
    """Qdrant Edge: the shard in a folder, in this process.

    ``create`` (``pooled_dim``, ``token_dim``, ``options``) makes a new shard; None loads the
    existing one.
    """

    def __init__(self, folder: Path, create: dict[str, Any] | None) -> None:
        self.q = import_qdrant("qdrant_edge")
        self.folder = folder
        if create is not None:
            self.shard = self.q.EdgeShard.create(str(folder), self._config(**create))
        else:
            self.shard = self.q.EdgeShard.load(str(folder))

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
        batch = [q.Point(pid, {"pooled": pooled, "tokens": tokens}, payload) for pid, pooled, tokens, payload in points]
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

    def count(self) -> int:
        return int(self.shard.count(self.q.CountRequest(exact=True)))

    def query(self, plan: QueryPlan) -> list[Found]:
        q = self.q
        flt = edge_filter(q, plan.tree, plan.point_ids)
        exact = q.SearchParams(exact=plan.exact)
        late_params = q.SearchParams(
            exact=plan.exact, quantization=q.QuantizationSearchParams(rescore=True, oversampling=plan.oversampling)
        ) if plan.quantized else exact
        pooled = q.Prefetch(limit=plan.n_candidates, query=q.Query.Nearest(plan.q_pooled, using="pooled"), filter=flt, params=exact)
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
            limit=plan.k, prefetches=[pooled, late], query=q.Formula(E.Sum(terms)), with_payload=True, with_vector=["pooled"]
        )
        return [found(p.payload, p.score, p.vector) for p in self.shard.query(request)]

    def optimize(self) -> bool:
        return bool(self.shard.optimize())

    def close(self) -> None:
        self.shard.flush()
        self.shard.close()
