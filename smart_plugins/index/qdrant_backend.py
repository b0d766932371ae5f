"""What the two Qdrant backends share: the store options, one query's plan, the points they hand back.

A backend (:class:`~smart_plugins.index.qdrant_edge.EdgeBackend`, Qdrant Edge in a folder, or
:class:`~smart_plugins.index.qdrant_server.ClientBackend`, a server collection through
``qdrant-client``) speaks one Qdrant API; :class:`~smart_plugins.index.qdrant_store.QdrantStore`
speaks to either through :class:`Backend`. The Qdrant packages are imported lazily.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from smart_plugins.index.qdrant_filters import Node
from smart_plugins.index.first_stage import hnsw_ef

#: Floats a Qdrant server accepts in one multivector (2,730 tokens at 384-d).
MAX_MULTIVECTOR_FLOATS = 1_048_576
TOKEN_DTYPES = ("float16", "float32")
QUANTIZATIONS = ("int8", "binary", "turbo4")
#: Points per scroll page.
SCROLL = 1024


def prefetch_ef(n_candidates: int) -> int:
    """HNSW beam width of the pooled prefetch: the local HNSW first stage's rule, ``max(ef_search, N)``.

    Without it Qdrant searches with the collection's ``ef_construct`` (100), below the 100+
    candidates a SMART query asks for, and the prefetch misses neighbours the exact first stage
    finds.

    Examples
    --------
    >>> prefetch_ef(100), prefetch_ef(500)
    (128, 500)
    """
    return hnsw_ef(n_candidates)


def import_qdrant(module: str) -> Any:
    """Import ``qdrant_edge`` or ``qdrant_client``, naming the package to install when it is missing."""
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        package = {"qdrant_edge": "qdrant-edge-py", "qdrant_client": "qdrant-client"}[module]
        raise ImportError(
            f"the Qdrant stores need the {package!r} package: pip install 'smart-plugins[qdrant]'"
        ) from None


@dataclass(frozen=True)
class QdrantOptions:
    """How tokens are stored and searched (recorded with the index).

    Examples
    --------
    >>> QdrantOptions(quantization="int8").as_dict()
    {'token_dtype': 'float16', 'quantization': 'int8', 'oversampling': 4.0, 'max_multivector_floats': 1048576}

    ``max_multivector_floats`` is the most floats the store writes in one point's multivector
    (Qdrant's cap by default; smaller values serve tests of long documents).
    """

    token_dtype: str = "float16"
    quantization: str | None = None
    oversampling: float = 4.0
    max_multivector_floats: int = MAX_MULTIVECTOR_FLOATS

    def __post_init__(self) -> None:
        if self.token_dtype not in TOKEN_DTYPES:
            raise ValueError(f"token_dtype must be one of {TOKEN_DTYPES}, got {self.token_dtype!r}")
        if self.quantization is not None and self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be None or one of {QUANTIZATIONS}, got {self.quantization!r}")
        if isinstance(self.oversampling, bool) or not isinstance(self.oversampling, (int, float)) or self.oversampling < 1:
            raise ValueError(f"oversampling must be a number >= 1, got {self.oversampling!r}")
        cap = self.max_multivector_floats
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 < cap <= MAX_MULTIVECTOR_FLOATS:
            raise ValueError(f"max_multivector_floats must be an integer in [1, {MAX_MULTIVECTOR_FLOATS:,}], got {cap!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "token_dtype": self.token_dtype,
            "quantization": self.quantization,
            "oversampling": float(self.oversampling),
            "max_multivector_floats": self.max_multivector_floats,
        }


@dataclass
class Found:
    """One point as a backend hands it back."""

    payload: dict[str, Any]
    score: float = 0.0
    pooled: list[float] | None = None
    tokens: list[list[float]] | None = None


def found(payload: Any, score: float, vector: Any) -> Found:
    """A :class:`Found` from a point's payload, score and (named) vectors, as either API returns them."""
    vectors = vector if isinstance(vector, dict) else {}
    return Found(payload=dict(payload or {}), score=float(score), pooled=vectors.get("pooled"), tokens=vectors.get("tokens"))


@dataclass(frozen=True)
class QueryPlan:
    """One SMART query as both backends build it: a pooled prefetch, a MaxSim rerank, a formula."""

    q_pooled: list[float]
    q_tokens: list[list[float]]
    n_candidates: int
    k: int
    pool: float  # weight of the pooled cosine
    late: float  # weight of the MaxSim sum, already divided by the query's token count
    tree: Node | None
    point_ids: list[str] | None
    exact: bool
    hnsw_ef: int  # beam width of the pooled prefetch's HNSW search (ignored when exact)
    quantized: bool
    oversampling: float
    payload: list[str]  # payload fields each hit brings back


#: One point to write: (point id, pooled vector (None for a chunk point), token multivector, payload).
Point = tuple[str, "np.ndarray | None", np.ndarray, dict[str, Any]]


class Backend(Protocol):
    """What :class:`~smart_plugins.index.qdrant_store.QdrantStore` asks of a Qdrant API."""

    def upsert(self, points: list[Point]) -> None:
        """Write the points in one update (all or none)."""

    def delete(self, pids: list[str]) -> None: ...

    def retrieve(self, pids: list[str], *, vectors: bool = False, payload: Any = True) -> dict[str, Found]:
        """The points among ``pids`` that exist, by point id."""

    def scroll(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every point's payload (only ``fields``)."""

    def count(self, documents_only: bool = False) -> int:
        """Points, or (``documents_only``) documents' points only, not the chunks of long documents."""

    def query(self, plan: QueryPlan) -> list[Found]:
        """The plan's hits, best first."""

    def optimize(self) -> bool: ...

    def close(self) -> None: ...
