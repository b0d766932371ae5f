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

The packages are imported lazily: ``pip install smart-plugins[qdrant]``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smart_plugins.atomic import atomic_write_json
from smart_plugins.encoder import EncodedTexts
from smart_plugins.index.encoder_config import description_differences
from smart_plugins.index.filters import compile_filter
from smart_plugins.index.media import stored_texts
from smart_plugins.index.results import IndexedDocument, SearchHit
from smart_plugins.index.store import DocumentTokens, ReadOnlyIndexError, Where, preview
from smart_plugins.lazy import lazy_module
from smart_plugins.scoring import ScoreWeights

torch = lazy_module("torch", globals())

#: The folder's record of a Qdrant-backed index.
RECORD_NAME = "smart-qdrant.json"
#: Qdrant Edge's shard folder inside the index folder.
SHARD_DIR = "shard"
#: Floats a Qdrant server accepts in one multivector (2,730 tokens at 384-d).
MAX_MULTIVECTOR_FLOATS = 1_048_576
TOKEN_DTYPES = ("float16", "float32")
QUANTIZATIONS = ("int8", "binary", "turbo4")
#: Namespace of the UUIDv5 point ids (fixed: changing it would orphan every stored point).
POINT_NAMESPACE = uuid.UUID("6f1b8a52-3c1e-5d0a-9a57-2f3c8b7e5d11")
FORMAT = 1
_SCROLL = 1024


def point_id(doc_id: str) -> str:
    """The Qdrant point id of a document id (UUIDv5, deterministic).

    Examples
    --------
    >>> point_id("doc-1") == point_id("doc-1") != point_id("doc-2")
    True
    """
    return str(uuid.uuid5(POINT_NAMESPACE, doc_id))


def holds_record(folder: Path) -> bool:
    """True when ``folder`` holds a Qdrant-backed SMART index."""
    return (Path(folder) / RECORD_NAME).is_file()


def _import(module: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        package = {"qdrant_edge": "qdrant-edge-py", "qdrant_client": "qdrant-client"}[module]
        raise ImportError(
            f"the Qdrant stores need the {package!r} package: pip install 'smart-plugins[qdrant]'"
        ) from None


@dataclass(frozen=True)
class QdrantOptions:
    """How tokens are stored and searched (recorded with the index)."""

    token_dtype: str = "float16"
    quantization: str | None = None
    oversampling: float = 4.0

    def __post_init__(self) -> None:
        if self.token_dtype not in TOKEN_DTYPES:
            raise ValueError(f"token_dtype must be one of {TOKEN_DTYPES}, got {self.token_dtype!r}")
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be None or one of {QUANTIZATIONS}, got {self.quantization!r}")
        if isinstance(self.oversampling, bool) or not isinstance(self.oversampling, (int, float)) or self.oversampling < 1:
            raise ValueError(f"oversampling must be a number >= 1, got {self.oversampling!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"token_dtype": self.token_dtype, "quantization": self.quantization, "oversampling": float(self.oversampling)}


# ---------------------------------------------------------------------------------- backends
@dataclass
class _Found:
    """One point as a backend hands it back."""

    payload: dict[str, Any]
    score: float = 0.0
    pooled: list[float] | None = None
    tokens: list[list[float]] | None = None


class _EdgeBackend:
    """Qdrant Edge: the shard in a folder, in this process."""

    def __init__(self, folder: Path, create: dict[str, Any] | None) -> None:
        self.q = _import("qdrant_edge")
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

    def upsert(self, points: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]) -> None:
        q = self.q  # numpy arrays go to Edge as they are (no Python float lists)
        batch = [q.Point(pid, {"pooled": pooled, "tokens": tokens}, payload) for pid, pooled, tokens, payload in points]
        self.shard.update(q.UpdateOperation.upsert_points(batch))
        self.shard.flush()

    def delete(self, pids: list[str]) -> None:
        self.shard.update(self.q.UpdateOperation.delete_points(pids))
        self.shard.flush()

    def retrieve(self, pids: list[str], *, vectors: bool = False, payload: Any = True) -> dict[str, _Found]:
        records = self.shard.retrieve(pids, with_payload=payload, with_vector=["pooled", "tokens"] if vectors else False)
        return {str(r.id): _found(r.payload, 0.0, r.vector) for r in records}

    def scroll(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.shard.scroll(
                self.q.ScrollRequest(offset=offset, limit=_SCROLL, with_payload=fields, with_vector=False)
            )
            for r in records:
                yield r.payload or {}
            if offset is None:
                return

    def count(self) -> int:
        return int(self.shard.count(self.q.CountRequest(exact=True)))

    def query(self, plan: _Plan) -> list[_Found]:
        q = self.q
        flt = self._filter(plan.tree, plan.point_ids)
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
        return [_found(p.payload, p.score, p.vector) for p in self.shard.query(request)]

    def _filter(self, tree: _Node | None, point_ids: list[str] | None) -> Any:
        q = self.q
        must: list[Any] = [] if tree is None else [self._node(tree)]
        if point_ids is not None:
            must.append(q.HasIdCondition({uuid.UUID(p) for p in point_ids}))
        return q.Filter(must=must) if must else None

    def _node(self, node: _Node) -> Any:
        q = self.q
        op = node[0]
        if op in ("and", "or"):
            parts = [self._node(n) for n in node[1]]
            return q.Filter(must=parts) if op == "and" else q.Filter(should=parts)
        if op == "not":
            return q.Filter(must_not=[self._node(node[1])])
        if op == "none":
            return q.HasIdCondition(set())
        key = f"metadata.{node[1]}"
        if op == "range":
            return q.FieldCondition(key, range=q.RangeFloat(**node[2]))
        if op == "in":
            if _matchable_any(node[2]):
                return q.FieldCondition(key, match=q.MatchAny(list(node[2])))
            return q.Filter(should=[self._node(("eq", node[1], v)) for v in node[2]])
        value = node[2]
        if isinstance(value, float):
            return q.FieldCondition(key, range=q.RangeFloat(gte=value, lte=value))
        return q.FieldCondition(key, match=q.MatchValue(value))

    def optimize(self) -> bool:
        return bool(self.shard.optimize())

    def close(self) -> None:
        self.shard.flush()
        self.shard.close()


class _ClientBackend:
    """A Qdrant server collection through ``qdrant-client`` (or its local mode, in tests)."""

    def __init__(self, client: Any, collection: str, *, owns_client: bool = False) -> None:
        self.m = _import("qdrant_client").models
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

    def upsert(self, points: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any]]]) -> None:
        m = self.m
        batch = [
            m.PointStruct(id=pid, vector={"pooled": p.tolist(), "tokens": t.tolist()}, payload=pl) for pid, p, t, pl in points
        ]
        self.client.upsert(self.collection, points=batch, wait=True)

    def delete(self, pids: list[str]) -> None:
        self.client.delete(self.collection, points_selector=self.m.PointIdsList(points=pids), wait=True)

    def retrieve(self, pids: list[str], *, vectors: bool = False, payload: Any = True) -> dict[str, _Found]:
        records = self.client.retrieve(
            self.collection, ids=pids, with_payload=payload, with_vectors=["pooled", "tokens"] if vectors else False
        )
        return {str(r.id): _found(r.payload, 0.0, r.vector) for r in records}

    def scroll(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        offset = None
        while True:
            records, offset = self.client.scroll(
                self.collection, limit=_SCROLL, offset=offset, with_payload=fields, with_vectors=False
            )
            for r in records:
                yield r.payload or {}
            if offset is None:
                return

    def count(self) -> int:
        return int(self.client.count(self.collection, exact=True).count)

    def query(self, plan: _Plan) -> list[_Found]:
        m = self.m
        flt = self._filter(plan.tree, plan.point_ids)
        exact = m.SearchParams(exact=plan.exact)
        late_params = m.SearchParams(
            exact=plan.exact, quantization=m.QuantizationSearchParams(rescore=True, oversampling=plan.oversampling)
        ) if plan.quantized else exact
        pooled = m.Prefetch(query=plan.q_pooled, using="pooled", limit=plan.n_candidates, filter=flt, params=exact)
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
            with_payload=True,
            with_vectors=["pooled"],
        )
        return [_found(p.payload, p.score, p.vector) for p in result.points]

    def _filter(self, tree: _Node | None, point_ids: list[str] | None) -> Any:
        m = self.m
        must: list[Any] = [] if tree is None else [self._node(tree)]
        if point_ids is not None:
            must.append(m.HasIdCondition(has_id=list(point_ids)))
        return m.Filter(must=must) if must else None

    def _node(self, node: _Node) -> Any:
        m = self.m
        op = node[0]
        if op in ("and", "or"):
            parts = [self._node(n) for n in node[1]]
            return m.Filter(must=parts) if op == "and" else m.Filter(should=parts)
        if op == "not":
            return m.Filter(must_not=[self._node(node[1])])
        if op == "none":
            return m.HasIdCondition(has_id=[])
        key = f"metadata.{node[1]}"
        if op == "range":
            return m.FieldCondition(key=key, range=m.Range(**node[2]))
        if op == "in":
            if _matchable_any(node[2]):
                return m.FieldCondition(key=key, match=m.MatchAny(any=list(node[2])))
            return m.Filter(should=[self._node(("eq", node[1], v)) for v in node[2]])
        value = node[2]
        if isinstance(value, float):
            return m.FieldCondition(key=key, range=m.Range(gte=value, lte=value))
        return m.FieldCondition(key=key, match=m.MatchValue(value=value))

    def optimize(self) -> bool:
        return False  # a server optimises in the background

    def close(self) -> None:
        if self.owns_client:  # a client given by the caller stays open (it may be shared)
            self.client.close()


def _found(payload: Any, score: float, vector: Any) -> _Found:
    vectors = vector if isinstance(vector, dict) else {}
    return _Found(payload=dict(payload or {}), score=float(score), pooled=vectors.get("pooled"), tokens=vectors.get("tokens"))


def _matchable_any(values: Sequence[Any]) -> bool:
    """Qdrant's ``MatchAny`` takes all-string or all-integer lists."""
    return all(isinstance(v, str) for v in values) or all(isinstance(v, int) and not isinstance(v, bool) for v in values)


@dataclass(frozen=True)
class _Plan:
    """One SMART query as both backends build it."""

    q_pooled: list[float]
    q_tokens: list[list[float]]
    n_candidates: int
    k: int
    pool: float  # weight of the pooled cosine
    late: float  # weight of the MaxSim sum, already divided by the query's token count
    tree: _Node | None
    point_ids: list[str] | None
    exact: bool
    quantized: bool
    oversampling: float


_Node = tuple  # ("and" | "or", [nodes]) | ("not", node) | ("none",) | ("eq" | "in" | "range", key, operand)


def filter_tree(where: Mapping[str, Any]) -> _Node:
    """The dict filter of :mod:`smart_plugins.index.filters` as a tree both Qdrant clients build.

    Checked with :func:`~smart_plugins.index.filters.compile_filter` first; what Qdrant cannot
    express (order comparisons of strings, values other than strings / numbers / booleans)
    raises TypeError naming the key.

    Examples
    --------
    >>> filter_tree({"kind": ("a", "b"), "n": {"$gte": 2, "$ne": 5}})
    ('and', [('in', 'kind', ['a', 'b']), ('not', ('eq', 'n', 5)), ('range', 'n', {'gte': 2})])
    """
    compile_filter(where)
    parts: list[_Node] = []
    for key, value in where.items():
        if key in ("$and", "$or"):
            parts.append((key[1:], [filter_tree(item) for item in value]))
        else:
            parts.extend(_field_nodes(key, value))
    return ("and", parts)


def _field_nodes(key: str, condition: Any) -> list[_Node]:
    if isinstance(condition, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in condition):
        out: list[_Node] = []
        bounds: dict[str, float] = {}
        for op, operand in condition.items():
            if op in ("$eq", "$ne"):
                node: _Node = ("eq", key, _scalar(key, operand))
                out.append(node if op == "$eq" else ("not", node))
            elif op in ("$in", "$nin"):
                values = [_scalar(key, v) for v in operand]
                node = ("in", key, values) if values else ("none",)
                if op == "$in":
                    out.append(node)
                elif values:
                    out.append(("not", node))
            else:
                if isinstance(operand, str):
                    raise TypeError(f"where[{key!r}][{op!r}]: Qdrant orders numbers only, got the string {operand!r}")
                bounds[op[1:]] = operand
        if bounds:
            out.append(("range", key, bounds))
        return out
    if isinstance(condition, (tuple, set, frozenset)):
        values = [_scalar(key, v) for v in condition]
        return [("in", key, values) if values else ("none",)]
    return [("eq", key, _scalar(key, condition))]


def _scalar(key: str, value: Any) -> Any:
    if not isinstance(value, (str, int, float, bool)):
        raise TypeError(
            f"where[{key!r}]: Qdrant filters match strings, numbers and booleans, got {type(value).__name__} {value!r}"
        )
    return value


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
        backend: _EdgeBackend | _ClientBackend,
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
        self._temporary = temporary
        self._closed = False
        self._options = QdrantOptions(**record["options"])

    # ------------------------------------------------------------------ configuration
    def _settings(self) -> dict[str, Any]:
        """The recorded encoder / weights / version (the collection's metadata on a server)."""
        return self._record

    def _save_settings(self) -> None:
        if isinstance(self._backend, _ClientBackend):
            self._backend.set_metadata({"smart_plugins": _bound(self._record)})
        atomic_write_json(self.path / RECORD_NAME, self._record)

    def encoder_description(self) -> dict[str, Any]:
        return self._record["encoder"]

    @property
    def compression(self) -> str:
        quant = f"+{self._options.quantization}" if self._options.quantization else ""
        return f"qdrant-{self._options.token_dtype}{quant}"

    def version(self) -> int:
        return int(self._record.get("version", 0))

    def weights(self) -> ScoreWeights:
        return ScoreWeights(**self._record["weights"])

    def set_weights(self, weights: ScoreWeights) -> None:
        self.check_writable()
        self._record["weights"] = weights.as_dict()
        self._bump()

    def _bump(self) -> None:
        self._record["version"] = self.version() + 1
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
        self._check_open()
        return self._backend.count()

    def contains(self, doc_id: str) -> bool:
        self._check_open()
        return bool(self._backend.retrieve([point_id(doc_id)], payload=False))

    def ids(self) -> list[str]:
        self._check_open()
        rows = [(p.get("seq", 0), p["id"]) for p in self._backend.scroll(["id", "seq"])]
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
    ) -> None:
        self.check_writable()
        texts = stored_texts(texts)  # image documents are stored as their references
        pids = [point_id(i) for i in doc_ids]
        if not replace:
            taken = self._backend.retrieve(pids, payload=["id"])
            if taken:
                names = [p.payload["id"] for p in taken.values()]
                raise ValueError(f"{len(names)} id(s) already in the index: {preview(names)}; use upsert to replace")
        points = []
        seq = time.time_ns()
        start = 0
        for enc in encoded:
            pooled = torch.nn.functional.normalize(enc.pooled.float(), dim=-1).numpy()
            offsets = enc.offsets.numpy()
            tokens = enc.tokens.float().numpy()
            token_ids, positions = enc.token_ids.numpy(), enc.positions.numpy()
            for j in range(len(enc)):
                i = start + j
                a, b = int(offsets[j]), int(offsets[j + 1])
                if (b - a) * tokens.shape[1] > MAX_MULTIVECTOR_FLOATS:
                    raise ValueError(
                        f"texts[{i}] (id {doc_ids[i]!r}) has {b - a} tokens x {tokens.shape[1]} dims = "
                        f"{(b - a) * tokens.shape[1]:,} floats, above Qdrant's multivector cap of "
                        f"{MAX_MULTIVECTOR_FLOATS:,} floats ({MAX_MULTIVECTOR_FLOATS // tokens.shape[1]} tokens at "
                        f"{tokens.shape[1]}-d); split it into shorter documents"
                    )
                payload = {
                    "id": doc_ids[i],
                    "text": texts[i],
                    "metadata": metadata[i],
                    "seq": seq + i,
                    "token_ids": token_ids[a:b].tolist(),
                    "positions": positions[a:b].tolist(),
                }
                points.append((pids[i], pooled[j], tokens[a:b], payload))
            start += len(enc)
        self._backend.upsert(points)  # one update: the whole batch or none of it
        self._bump()

    def delete(self, doc_ids: list[str]) -> int:
        self.check_writable()
        unique = list(dict.fromkeys(doc_ids))
        found = self._backend.retrieve([point_id(i) for i in unique], payload=["id"])
        missing = [i for i in unique if point_id(i) not in found]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        self._backend.delete([point_id(i) for i in unique])
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
        found = self._backend.retrieve([point_id(i) for i in doc_ids], payload=["id", "text", "metadata"])
        missing = [i for i in doc_ids if point_id(i) not in found]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        return [
            IndexedDocument(i, found[point_id(i)].payload["text"], found[point_id(i)].payload.get("metadata") or {})
            for i in doc_ids
        ]

    def document_tokens(self, doc_id: str) -> DocumentTokens:
        self._check_open()
        found = self._backend.retrieve([point_id(doc_id)], vectors=True)
        if not found:
            raise KeyError(f"id {doc_id!r} is not in the index")
        point = next(iter(found.values()))
        return DocumentTokens(
            text=point.payload["text"],
            pooled=np.asarray(point.pooled, dtype=np.float32),
            tokens=torch.tensor(point.tokens, dtype=torch.float32),
            token_ids=np.asarray(point.payload.get("token_ids", []), dtype=np.int64),
            positions=np.asarray(point.payload.get("positions", []), dtype=np.int64),
        )

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
        n_total = self.count()
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
        tree: _Node | None,
        point_ids: list[str] | None,
        *,
        exact: bool,
    ) -> list[SearchHit]:
        if n_candidates <= 0:
            return []
        q_pooled = torch.nn.functional.normalize(query.pooled.float(), dim=-1)[0]
        n_tokens = int(query.offsets[1] - query.offsets[0])
        plan = _Plan(
            q_pooled=q_pooled.tolist(),
            q_tokens=query.tokens.float().tolist(),
            n_candidates=n_candidates,
            k=min(k, n_candidates),
            pool=weights.pool,
            late=weights.late / n_tokens,  # Qdrant's MaxSim sums over query tokens; ours is the mean
            tree=tree,
            point_ids=point_ids,
            exact=exact,
            quantized=self._options.quantization is not None,
            oversampling=float(self._options.oversampling),
        )
        hits = []
        for rank, found in enumerate(self._backend.query(plan), start=1):  # 1-based, as every rank shown
            pooled = float(np.asarray(found.pooled, dtype=np.float32) @ q_pooled.numpy()) if found.pooled else 0.0
            late = (found.score - weights.pool * pooled) / weights.late if weights.uses_late else None
            hits.append(
                SearchHit(
                    id=found.payload["id"],
                    text=found.payload["text"],
                    metadata=found.payload.get("metadata") or {},
                    score=weights.combine(pooled, late),
                    pooled=pooled,
                    late=late,
                    rank=rank,
                )
            )
        return hits

    # ------------------------------------------------------------------ info / lifecycle
    def _disk_bytes(self) -> int:
        return sum(_allocated(f) for f in self.path.rglob("*") if f.is_file())

    def info(self) -> dict[str, Any]:
        self._check_open()
        lengths = [len(p.get("token_ids") or ()) for p in self._backend.scroll(["token_ids"])]
        tokens = int(sum(lengths))
        out: dict[str, Any] = {
            "path": str(self.path),
            "store": self.kind,
            "version": self.version(),
            "documents": len(lengths),
            "deleted_documents": 0,
            "segments": None,
            "tokens": tokens,
            "stored_tokens": tokens,
            "compression": self.compression,
            "codec": {"name": self.compression, **self._options.as_dict()},
            "fp32_bytes_per_token": 4 * int(self._record["encoder"]["token_dim"]),
            "model": self._record["encoder"].get("model"),
            "encoder": self._record["encoder"],
            "weights": self._record["weights"],
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
    return {key: record[key] for key in ("format", "encoder", "weights", "options", "version") if key in record}


# ---------------------------------------------------------------------------------- create / open
def _connect(url: str | None, client: Any) -> Any:
    if client is not None:
        return client
    if not isinstance(url, str) or not url:
        raise ValueError("store='qdrant' needs url= (http(s)://host:port, ':memory:' or a local folder) or client=")
    qdrant_client = _import("qdrant_client")
    if url == ":memory:":
        return qdrant_client.QdrantClient(":memory:")
    if url.startswith(("http://", "https://")):
        return qdrant_client.QdrantClient(url=url)
    return qdrant_client.QdrantClient(path=url)  # local mode: a stand-in server for tests


def create_store(
    folder: Path | None,
    *,
    kind: str,
    encoder: dict[str, Any],
    weights: ScoreWeights,
    url: str | None = None,
    collection: str | None = None,
    client: Any = None,
    token_dtype: str = "float16",
    quantization: str | None = None,
    oversampling: float = 4.0,
    exist_ok: bool = False,
) -> QdrantStore:
    """Create a Qdrant-backed store (``kind`` ``"qdrant-edge"`` or ``"qdrant"``) recorded in ``folder``.

    Parameters
    ----------
    folder:
        The index folder (None: a temporary one, removed on close). Holds ``smart-qdrant.json``
        and, for Edge, the shard.
    url, collection, client:
        Server stores: where the collection is (``url``: ``http(s)://...``, or qdrant-client's
        local mode ``":memory:"`` / a folder, for tests) or a ready ``QdrantClient``.
    token_dtype:
        ``"float16"`` (default) or ``"float32"`` token storage.
    quantization, oversampling:
        Qdrant quantisation of the tokens (``"int8"``, ``"binary"``, ``"turbo4"``), searched
        with ``oversampling`` x candidates and rescored with the stored vectors.
    exist_ok:
        Server stores: bind to an existing collection (its encoder must match) instead of failing.
    """
    options = QdrantOptions(token_dtype=token_dtype, quantization=quantization, oversampling=oversampling)
    temporary = folder is None
    path = Path(tempfile.mkdtemp(prefix="smart-index-")) if folder is None else Path(folder)
    if path.exists() and any(path.iterdir()) and not temporary:
        raise FileExistsError(f"{path} exists and is not empty; choose a new folder for the index")
    record: dict[str, Any] = {
        "format": FORMAT,
        "store": kind,
        "encoder": encoder,
        "weights": weights.as_dict(),
        "options": options.as_dict(),
        "version": 0,
    }
    dims = {"pooled_dim": int(encoder["pooled_dim"]), "token_dim": int(encoder["token_dim"])}
    if kind == "qdrant-edge":
        if url is not None or collection is not None or client is not None:
            raise ValueError("url / collection / client are for store='qdrant'; Qdrant Edge lives in the index folder")
        path.mkdir(parents=True, exist_ok=True)
        backend: _EdgeBackend | _ClientBackend = _EdgeBackend(path / SHARD_DIR, {**dims, "options": options})
    elif kind == "qdrant":
        if not isinstance(collection, str) or not collection:
            raise ValueError("store='qdrant' needs collection= (the Qdrant collection name)")
        backend = _ClientBackend(_connect(url, client), collection, owns_client=client is None)
        if backend.exists():
            bound = backend.metadata().get("smart_plugins")
            if not exist_ok or not bound:
                raise FileExistsError(
                    f"the Qdrant collection {collection!r} already exists"
                    + ("" if bound else " and holds no SMART index")
                    + "; choose another collection name" + (" or pass exist_ok=True" if bound else "")
                )
            _check_bound(bound, encoder, collection)
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
        backend: _EdgeBackend | _ClientBackend = _EdgeBackend(path / SHARD_DIR, None)
    elif kind == "qdrant":
        backend = _ClientBackend(_connect(record.get("url"), client), record["collection"], owns_client=client is None)
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


def _allocated(file: Path) -> int:
    """Bytes a file occupies on disk (Qdrant preallocates sparse chunk files: not their length)."""
    stat = file.stat()
    return min(stat.st_size, getattr(stat, "st_blocks", stat.st_size // 512 + 1) * 512)
