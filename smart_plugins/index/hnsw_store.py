"""Saved HNSW graphs: the first-stage graph kept on disk beside the index, atomically.

A graph lives in ``<index>/hnsw/``: one ``graph-<uuid>.faiss`` file (faiss's own format) and
``graph.json``, the sidecar that names it and says what it covers::

    {"file": "graph-3f2a….faiss", "sha256": "…", "size": 123,
     "dim": 384, "m": 32, "ef_construction": 80, "n_vectors": 4096,
     "segments": [["seg-000000", "<sha256 of its pooled.npy>"], …]}

The sidecar is switched with one atomic rename after its graph file is complete, so a crash at
any moment leaves the previous graph (or none) readable. A graph covers a *prefix* of the
index's segments, identified by name and by the checksum of their pooled vectors: when the
index grows the graph is extended, when a segment it covers is gone (compaction) it is rebuilt.
A graph built with other HNSW options is stale too. Damage to the saved files (checksum
mismatch, truncation, an unreadable record) means "no usable saved graph": the caller rebuilds
it with a warning; the index itself is never affected.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from smart_plugins.atomic import atomic_output, atomic_write_json
from smart_plugins.index.storage import sha256_file
from smart_plugins.index.validation import check_file_name
from smart_plugins.lazy import import_faiss

HNSW_DIR = "hnsw"
SIDECAR_NAME = "graph.json"
SAVE_LOCK_NAME = ".save.lock"


class SavedGraphError(ValueError):
    """A saved HNSW graph exists but cannot be read (corrupted, truncated, unreadable record)."""


@dataclass(frozen=True)
class GraphKey:
    """What a graph must have been built with to be reused: dimension and HNSW build options.

    Examples
    --------
    >>> GraphKey(dim=384, m=32, ef_construction=80).as_dict()
    {'dim': 384, 'm': 32, 'ef_construction': 80}
    """

    dim: int
    m: int
    ef_construction: int

    def as_dict(self) -> dict[str, int]:
        return {"dim": self.dim, "m": self.m, "ef_construction": self.ef_construction}


@dataclass(frozen=True)
class GraphRecord:
    """The parsed sidecar: which graph file, its checksum and size, and what it covers."""

    file: str
    sha256: str
    size: int
    n_vectors: int
    key: GraphKey
    segments: list[tuple[str, str]]


def read_record(folder: Path) -> GraphRecord | None:
    """The sidecar of the saved graph, None when none was saved; :class:`SavedGraphError` if unreadable."""
    sidecar_path = Path(folder) / HNSW_DIR / SIDECAR_NAME
    try:
        sidecar = json.loads(sidecar_path.read_text())
        check_file_name(sidecar["file"], sidecar_path)  # a plain name inside hnsw/, never a path out of it
        return GraphRecord(
            file=str(sidecar["file"]),
            sha256=str(sidecar["sha256"]),
            size=int(sidecar["size"]),
            n_vectors=int(sidecar["n_vectors"]),
            key=GraphKey(int(sidecar["dim"]), int(sidecar["m"]), int(sidecar["ef_construction"])),
            segments=[(str(name), str(sha)) for name, sha in sidecar["segments"]],
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SavedGraphError(f"{sidecar_path} is not a valid graph record ({exc})") from exc


def load_graph(
    folder: Path, key: GraphKey, segments_now: list[tuple[str, str]]
) -> tuple[Any, list[tuple[str, str]]] | None:
    """The saved faiss index and the ``(name, pooled sha256)`` segments it covers.

    Returns ``None`` when no graph was saved, or when the saved one is stale: built with other
    options than ``key``, or over segments that are no longer the first of ``segments_now``
    (compaction rewrote them). Raises :class:`SavedGraphError` naming the
    problem when one was saved but is unusable (the caller warns and rebuilds).
    """
    faiss = import_faiss()

    for attempt in range(2):  # a concurrent save may replace the graph between our two reads
        record = read_record(folder)
        if record is None:
            return None
        if record.key != key or segments_now[: len(record.segments)] != record.segments:
            return None  # built with other options (set_first_stage) or over segments compaction replaced
        graph_path = Path(folder) / HNSW_DIR / record.file
        try:
            if graph_path.stat().st_size != record.size or sha256_file(graph_path) != record.sha256:
                raise SavedGraphError(f"{graph_path} fails its size or SHA-256 check: the file is corrupted")
            graph = faiss.read_index(str(graph_path))
        except (OSError, RuntimeError, SavedGraphError) as exc:
            if attempt == 0 and _current_file(folder) != record.file:
                continue  # replaced by a concurrent save while we read it: read the new one
            if isinstance(exc, SavedGraphError):
                raise
            raise SavedGraphError(f"cannot read the saved graph {graph_path}: {exc}") from exc
        if graph.ntotal != record.n_vectors or graph.d != key.dim:
            raise SavedGraphError(
                f"{graph_path} holds {graph.ntotal} vectors of dimension {graph.d}, "
                f"the record says {record.n_vectors} of dimension {key.dim}"
            )
        return graph, record.segments
    return None  # pragma: no cover - the loop returns or raises


def graph_summary(folder: Path) -> dict[str, Any] | None:
    """What the saved graph covers (for ``index info``): vectors, segments, bytes; None if none.

    Examples
    --------
    >>> import tempfile
    >>> graph_summary(Path(tempfile.mkdtemp())) is None
    True
    """
    try:
        record = read_record(folder)
    except SavedGraphError:
        sidecar_path = Path(folder) / HNSW_DIR / SIDECAR_NAME
        return {"error": f"{sidecar_path} is not a valid graph record (the next search rebuilds the graph)"}
    if record is None:
        return None
    return {"vectors": record.n_vectors, "segments": len(record.segments), "bytes": record.size}


def _current_file(folder: Path) -> str | None:
    try:
        record = read_record(folder)
    except SavedGraphError:
        return None
    return None if record is None else record.file


def save_graph(folder: Path, graph: Any, key: GraphKey, segments: list[tuple[str, str]]) -> bool:
    """Write ``graph`` and switch the sidecar to it; ``False`` if another process is saving now.

    The graph file gets a fresh name, is fsync'ed and renamed into place; only then is the
    sidecar replaced (atomically) to name it. Older graph files and interrupted writes are
    removed afterwards.
    """
    faiss = import_faiss()
    from filelock import FileLock, Timeout

    graph_dir = Path(folder) / HNSW_DIR
    graph_dir.mkdir(exist_ok=True)
    try:
        with FileLock(str(graph_dir / SAVE_LOCK_NAME), timeout=0):
            name = f"graph-{uuid.uuid4().hex}.faiss"
            with atomic_output(graph_dir / name) as tmp:
                faiss.write_index(graph, str(tmp))
            path = graph_dir / name
            record = {
                "file": name,
                "sha256": sha256_file(path),
                "size": path.stat().st_size,
                "n_vectors": int(graph.ntotal),
                "segments": [list(pair) for pair in segments],
                **key.as_dict(),
            }
            atomic_write_json(graph_dir / SIDECAR_NAME, record)
            for stale in [*graph_dir.glob("graph-*.faiss"), *graph_dir.glob(".*.tmp")]:
                if stale.name != name:
                    stale.unlink(missing_ok=True)
    except Timeout:
        return False
    return True
