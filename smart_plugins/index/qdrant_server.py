"""The server backend: a Qdrant server collection through ``qdrant-client`` (its local mode in tests).

``qdrant-client``'s local mode (``":memory:"`` or a folder path) speaks the server's request API
but scans in numpy: a stand-in server for tests, never a backend to deploy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from smart_plugins.index.qdrant_backend import SCROLL, Found, Point, QdrantOptions, QueryPlan, found, import_qdrant
from smart_plugins.index.qdrant_filters import client_documents_only, client_filter


def connect(url: str | None, client: Any) -> Any:
    """The ``QdrantClient`` for ``url`` (``http(s)://...``, ``":memory:"`` or a local folder), or ``client`` itself."""
    if client is not None:
        return client
    if not isinstance(url, str) or not url:
        raise ValueError("store='qdrant' needs url= (http(s)://host:port, ':memory:' or a local folder) or client=")
    qdrant_client = import_qdrant("qdrant_client")
    if url == ":memory:":
        return qdrant_client.QdrantClient(":memory:")
    if url.startswith(("http://", "https://")):
        return qdrant_client.QdrantClient(url=url)
    return qdrant_client.QdrantClient(path=url)  # local mode: a stand-in server for tests


class ClientBackend:
    """A Qdrant server collection through ``qdrant-client`` (or its local mode, in tests)."""

    def __init__(self, client: Any, collection: str, *, owns_client: bool = False) -> None:
        self.m = import_qdrant("qdrant_client").models
        self.client = client
        self.collection = collection
        self.owns_client = owns_client

    def create(self, pooled_dim: int, token_dim: int, options: QdrantOptions, metadata: dict[str, Any]) -> None:
        m = self.m
        quant = {
            None: None,
            "int8": lambda: m.ScalarQuantization(scalar=m.ScalarQuantizationConfig(type=m.ScalarType.INT8, always_ram=True)),
            "binary": lambda: m.BinaryQuantization(binary=m.BinaryQuantizationConfig(always_ram=True)),
            "turbo4": lambda: m.TurboQuantization(turbo=m.TurboQuantQuantizationConfig(bits=m.TurboQuantBitSize.BITS4)),
        }[options.quantization]
        dtype = {"float16": m.Datatype.FLOAT16, "float32": m.Datatype.FLOAT32}[options.token_dtype]
        self.client.create_collection(
            self.collection,
            vectors_config={
                "pooled": m.VectorParams(size=pooled_dim, distance=m.Distance.COSINE),
                "tokens": m.VectorParams(
                    size=token_dim,
                    distance=m.Distance.DOT,
                    multivector_config=m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM),
                    datatype=dtype,
                    quantization_config=quant() if quant else None,
                    hnsw_config=m.HnswConfigDiff(m=0),
                ),
            },
            metadata=metadata,
        )

    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection))

    def metadata(self) -> dict[str, Any]:
        return dict(self.client.get_collection(self.collection).config.metadata or {})

    def set_metadata(self, metadata: dict[str, Any]) -> None:
        self.client.update_collection(self.collection, metadata=metadata)

    def upsert(self, points: list[Point]) -> None:
        m = self.m
        batch = [
            m.PointStruct(id=pid, vector={"tokens": t.tolist(), **({} if p is None else {"pooled": p.tolist()})}, payload=pl)
            for pid, p, t, pl in points
        ]
        self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, pids: list[str]) -> None:
        self.client.delete(self.collection, points_selector=self.m.PointIdsList(points=pids), wait=True)

    def retrieve(self, pids: list[str], *, vectors: bool = False, payload: Any = True) -> dict[str, Found]:
        records = self.client.retrieve(
            self.collection, ids=pids, with_payload=payload, with_vectors=["pooled", "tokens"] if vectors else False
        )
        return {str(r.id): found(r.payload, 0.0, r.vector) for r in records}

    def scroll(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, limit=SCROLL, offset=offset, with_payload=fields, with_vectors=False
            )
            for r in records:
                yield r.payload or {}
            if offset is None:
                return

    def count(self, documents_only: bool = False) -> int:
        flt = client_documents_only(self.m) if documents_only else None
        return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def query(self, plan: QueryPlan) -> list[Found]:
        m = self.m
        flt = client_filter(m, plan.tree, plan.point_ids)
        exact = m.SearchParams(exact=plan.exact)
        late_params = m.SearchParams(
            exact=plan.exact, quantization=m.QuantizationSearchParams(rescore=True, oversampling=plan.oversampling)
        ) if plan.quantized else exact
        pooled_params = m.SearchParams(exact=plan.exact, hnsw_ef=None if plan.exact else plan.hnsw_ef)
        pooled = m.Prefetch(query=plan.q_pooled, using="pooled", limit=plan.n_candidates, filter=flt, params=pooled_params)
        late = m.Prefetch(query=plan.q_tokens, using="tokens", limit=plan.n_candidates, prefetch=[pooled], params=late_params)
        terms: list[Any] = []
        if plan.pool:
            terms.append(m.MultExpression(mult=[plan.pool, "$score[0]"]))
        if plan.late:
            terms.append(m.MultExpression(mult=[plan.late, "$score[1]"]))
        result = self.client.query_points(
            self.collection,
            prefetch=[pooled, late],
            query=m.FormulaQuery(formula=m.SumExpression(sum=terms)),
            limit=plan.k,
            with_payload=plan.payload,
            with_vectors=["pooled"],
        )
        return [found(p.payload, p.score, p.vector) for p in result.points]

    def optimize(self) -> bool:
        return False  # a server optimises in the background

    def close(self) -> None:
        if self.owns_client:  # a client given by the caller stays open (it may be shared)
            self.client.close()
