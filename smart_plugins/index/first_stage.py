"""First stage: pooled-vector candidates, exact (default) or approximate with faiss HNSW.

Pooled vectors are stored L2-normalised, so an inner product is the cosine of the SMART
formula and the exact stage is one matrix product per segment, read straight from the
memory-mapped file in row blocks.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from smart_plugins.index.hnsw_store import GraphKey, SavedGraphError, load_graph, save_graph
from smart_plugins.index.segment import Segment
from smart_plugins.index.validation import FIRST_STAGE_OPTIONS, validate_first_stage
from smart_plugins.lazy import import_faiss, lazy_module
from smart_plugins.progress import track

torch = lazy_module("torch", globals())

logger = logging.getLogger(__name__)

FIRST_STAGES = tuple(FIRST_STAGE_OPTIONS)


#: Without an explicit ``ef_search``, the beam also grows with the graph: one slot per this many
#: vectors (1M vectors: 500). At 1M synthetic documents the library's 128 put 75 % of the exhaustive
#: SMART top-10 among 100 candidates and 512 put 98 %, at 8.9 vs 12.7 ms p50 (docs/index.md); up to
#: 256k vectors this term stays under 128 and changes nothing.
VECTORS_PER_EF = 2000


def hnsw_ef(k: int, ef_search: int | None = None, vectors: int = 0) -> int:
    """HNSW beam width of a search for ``k`` neighbours in a graph of ``vectors`` vectors: ``max(ef_search, k)``;
    with ``ef_search`` left to the library (None), ``max(128, k, vectors // VECTORS_PER_EF)``. The one rule
    of the local graph and of Qdrant's pooled prefetch.

    Examples
    --------
    >>> hnsw_ef(100), hnsw_ef(500), hnsw_ef(10, ef_search=64), hnsw_ef(100, vectors=1_000_000)
    (128, 500, 64, 500)
    >>> hnsw_ef(100, ef_search=128, vectors=1_000_000)  # an explicit setting is kept
    128
    """
    if ef_search is None:
        return max(FIRST_STAGE_OPTIONS["hnsw"]["ef_search"][0], int(k), int(vectors) // VECTORS_PER_EF)
    return max(int(ef_search), int(k))


_BLOCK_ROWS = 65536


def exact_pooled_scores(queries: np.ndarray, segments: Sequence[Segment]) -> np.ndarray:
    """``(Q, N)`` cosine of normalised queries against every row of every segment, in order.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> seg = SimpleNamespace(pooled=np.eye(2, dtype=np.float32))
    >>> exact_pooled_scores(np.array([[0.6, 0.8]], dtype=np.float32), [seg]).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    total = sum(len(s.pooled) for s in segments)
    out = torch.empty((len(queries), total), dtype=torch.float32)
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    base = 0
    for segment in segments:
        pooled = segment.pooled
        for start in range(0, len(pooled), _BLOCK_ROWS):
            block = readonly_tensor(pooled[start : start + _BLOCK_ROWS])
            torch.matmul(q, block.T, out=out[:, base + start : base + start + len(block)])
        base += len(pooled)
    return out.numpy()


def readonly_tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor view of a read-only (memory-mapped) float32 array, without copying it.

    The tensor is only ever read; torch warns about non-writable arrays, which is silenced here.
    """
    array = np.asarray(array)
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(array)


class HnswFirstStage:
    """A faiss HNSW graph over the pooled vectors, saved beside the index and grown with it.

    At the first search of a process the saved graph is loaded (``<index>/hnsw/``, see
    :mod:`smart_plugins.index.hnsw_store`) when it covers a prefix of the index's segments,
    and only the segments added since are inserted; otherwise it is built from the
    memory-mapped pooled files. When the graph grew, it is saved again (atomically; never by a
    ``read_only`` index). A saved graph that is corrupted or was built with other options is
    rebuilt with a warning. Deleted rows stay in the graph and are dropped from its answers
    by the caller.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 8)).astype(np.float32)
    >>> x /= np.linalg.norm(x, axis=1, keepdims=True)
    >>> stage = HnswFirstStage({"m": 16, "ef_search": 64})
    >>> seg = SimpleNamespace(name="s0", pooled=x)
    >>> scores, rows = stage.search(x[:1], 1, [seg])
    >>> int(rows[0, 0])
    0
    """

    def __init__(
        self, options: dict[str, Any] | None = None, *, folder: Path | None = None, writable: bool = False
    ) -> None:
        options = dict(options or {})
        checked = validate_first_stage("hnsw", options)  # never hand faiss an unchecked size
        defaults = {name: spec[0] for name, spec in FIRST_STAGE_OPTIONS["hnsw"].items()}
        self.options = options  # as committed in the manifest; a change of options means a new stage
        self.m = int(checked.get("m", defaults["m"]))
        self.ef_construction = int(checked.get("ef_construction", defaults["ef_construction"]))
        self.ef_search: int | None = checked.get("ef_search")  # None: the library's, growing with the graph (hnsw_ef)
        self.folder = None if folder is None else Path(folder)
        self.writable = writable and folder is not None
        self._index: Any = None
        self._covered: list[tuple[str, str]] = []  # (segment name, pooled sha256) in graph order
        self._tried_saved = False
        self._synced: list[Segment] = []  # the segment objects the graph was last synced with

    def _key(self, segments: Sequence[Segment]) -> GraphKey:
        return GraphKey(int(segments[0].pooled.shape[1]), self.m, self.ef_construction)

    def _load_saved(self, key: GraphKey, current: list[tuple[str, str]]) -> None:
        """Adopt the saved graph when it covers a prefix of ``current``; warn if it is unusable.

        A stale graph (covering segments that compaction replaced) is silently rebuilt.
        """
        self._tried_saved = True
        if self.folder is None:
            return
        try:
            saved = load_graph(self.folder, key, current)
        except SavedGraphError as exc:
            warnings.warn(f"rebuilding the HNSW first stage of {self.folder}: {exc}", RuntimeWarning, stacklevel=4)
            return
        if saved is not None:
            self._index, self._covered = saved

    def sync(self, segments: Sequence[Segment]) -> None:
        """Load, extend or build the graph so it covers ``segments`` (saved when it grew)."""
        if self._index is not None and len(segments) == len(self._synced) and all(a is b for a, b in zip(segments, self._synced)):
            return  # the same segment objects as last time (a commit or compaction makes new ones)
        faiss = import_faiss()

        current = [(s.name, _pooled_sha(s)) for s in segments]
        key = self._key(segments)
        if self._index is not None and current[: len(self._covered)] != self._covered:
            self._index, self._covered, self._tried_saved = None, [], False  # another process may have saved a newer one
        if self._index is None and not self._tried_saved:
            self._load_saved(key, current)
        if self._index is None:
            self._index = faiss.IndexHNSWFlat(key.dim, self.m, faiss.METRIC_INNER_PRODUCT)
            self._index.hnsw.efConstruction = self.ef_construction
            self._covered = []
        grew = False
        todo = track(segments[len(self._covered) :], "Building the HNSW graph", unit="vector", weight=lambda s: len(s.pooled))
        for segment, identity in zip(todo, current[len(self._covered) :]):
            if len(segment.pooled):
                self._index.add(np.ascontiguousarray(segment.pooled, dtype=np.float32))
                grew = True
            self._covered.append(identity)
        self._synced = list(segments)
        if grew and self.writable:
            assert self.folder is not None
            if not save_graph(self.folder, self._index, key, self._covered):
                logger.info("another process is saving the HNSW graph of %s; not saving this one", self.folder)

    def search(self, queries: np.ndarray, k: int, segments: Sequence[Segment]) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-``k`` ``(scores, global rows)`` per query; rows are -1 when fewer exist."""
        try:
            import_faiss()
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ModuleNotFoundError("the hnsw first stage needs faiss: pip install 'smart-plugins[index]'") from exc
        self.sync(segments)
        self._index.hnsw.efSearch = hnsw_ef(k, self.ef_search, self._index.ntotal)
        scores, rows = self._index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, rows


def _pooled_sha(segment: Segment) -> str:
    """The recorded checksum of a segment's pooled vectors ("" for in-memory test segments)."""
    entry = getattr(segment, "entry", None) or {}
    return str(entry.get("files", {}).get("pooled.npy", {}).get("sha256", ""))
