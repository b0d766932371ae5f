"""Immutable segments: one batch of added documents, stored as memory-mappable files.

A segment folder holds

* ``pooled.npy`` ``(N, P)`` float32 pooled embeddings,
* ``offsets.npy`` ``(N + 1,)`` int64 token boundaries,
* ``token_ids.npy`` / ``positions.npy`` ``(T,)`` int32 vocabulary ids and token positions,
* ``tok_<name>.npy`` the codec's arrays (first axis = token),
* ``ids.json`` the document ids, ``docs.jsonl`` one ``{"text", "metadata"}`` line per document
  and ``docs_offsets.npy`` the byte offset of every line (random access without a scan).

Segments are never modified once the manifest names them; deletes are recorded in a separate,
versioned tombstone mask (``deleted-v<version>.npy``).
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from smart_plugins.index.codecs import TokenCodec
from smart_plugins.index.prefault import prefault_rows
from smart_plugins.index.storage import (
    IndexCorruptedError,
    fsync_dir,
    load_npy,
    verify_file,
    write_fsynced,
    write_npy,
)

TOKEN_PREFIX = "tok_"
#: Files verified in this process: (path, sha256, size, mtime_ns). Immutable files need one check.
_VERIFIED: set[tuple[str, str, int, int]] = set()


def write_segment(
    folder: Path,
    *,
    ids: Sequence[str],
    texts: Sequence[str],
    metadata: Sequence[dict[str, Any]],
    pooled: np.ndarray,
    tokens: np.ndarray,
    offsets: np.ndarray,
    token_ids: np.ndarray,
    positions: np.ndarray,
    codec: TokenCodec,
) -> dict[str, Any]:
    """Write a new segment folder (every file and the folder's entries fsync'ed); return its manifest entry."""
    lines = [
        (json.dumps({"text": t, "metadata": m}, ensure_ascii=False, allow_nan=False) + "\n").encode() for t, m in zip(texts, metadata)
    ]
    return _write_files(
        folder,
        ids=ids,
        doc_lines=lines,
        pooled=pooled,
        offsets=offsets,
        token_ids=token_ids,
        positions=positions,
        token_arrays=codec.encode(tokens),
    )


def write_compacted_segment(folder: Path, source: Segment, rows: np.ndarray) -> dict[str, Any]:
    """Write a new segment holding only ``rows`` of ``source``, copied byte for byte.

    Pooled vectors, token codes, token ids, positions and the stored ``docs.jsonl`` lines are
    copied as they are (nothing is re-encoded or re-quantised), so every kept document reads
    and scores exactly as before. Returns the new segment's manifest entry (no tombstones).
    """
    rows = np.asarray(rows, dtype=np.int64)
    index, offsets = source.token_rows(rows)
    return _write_files(
        folder,
        ids=[source.ids[r] for r in rows.tolist()],
        doc_lines=[source.doc_line(r) for r in rows.tolist()],
        pooled=np.asarray(source.pooled[rows]),
        offsets=offsets,
        token_ids=np.asarray(source.token_ids[index]),
        positions=np.asarray(source.positions[index]),
        token_arrays={name: np.asarray(array[index]) for name, array in source.token_arrays.items()},
    )


def _write_files(
    folder: Path,
    *,
    ids: Sequence[str],
    doc_lines: Sequence[bytes],
    pooled: np.ndarray,
    offsets: np.ndarray,
    token_ids: np.ndarray,
    positions: np.ndarray,
    token_arrays: dict[str, np.ndarray],
) -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=False)
    files: dict[str, dict[str, Any]] = {}

    def record(name: str, sha: str) -> None:
        files[name] = {"sha256": sha, "size": (folder / name).stat().st_size}

    record("pooled.npy", write_npy(folder / "pooled.npy", pooled.astype(np.float32)))
    record("offsets.npy", write_npy(folder / "offsets.npy", offsets.astype(np.int64)))
    record("token_ids.npy", write_npy(folder / "token_ids.npy", token_ids.astype(np.int32)))
    record("positions.npy", write_npy(folder / "positions.npy", positions.astype(np.int32)))
    for name, array in token_arrays.items():
        fname = f"{TOKEN_PREFIX}{name}.npy"
        record(fname, write_npy(folder / fname, array))
    record("ids.json", write_fsynced(folder / "ids.json", json.dumps(list(ids)).encode()))
    line_offsets = np.zeros(len(doc_lines) + 1, dtype=np.int64)
    line_offsets[1:] = np.cumsum([len(line) for line in doc_lines])
    record("docs.jsonl", write_fsynced(folder / "docs.jsonl", b"".join(doc_lines)))
    record("docs_offsets.npy", write_npy(folder / "docs_offsets.npy", line_offsets))
    fsync_dir(folder)  # the files' entries in the new folder
    fsync_dir(folder.parent)  # the new folder's entry in segments/
    return {"name": folder.name, "n_docs": len(ids), "n_tokens": int(offsets[-1]), "files": files, "tombstones": None}


def write_tombstones(folder: Path, version: int, deleted: np.ndarray) -> dict[str, Any]:
    """Write a segment's deletion mask for manifest ``version``; returns its manifest record."""
    name = f"deleted-v{version}.npy"
    sha = write_npy(folder / name, deleted.astype(np.bool_))
    fsync_dir(folder)
    return {"file": name, "sha256": sha, "size": (folder / name).stat().st_size, "n_deleted": int(deleted.sum())}


def _check(path: Path, record: dict[str, Any], verify: bool) -> None:
    if not path.exists():
        raise IndexCorruptedError(f"index file {path} is missing (the index folder was modified or damaged)")
    stat = path.stat()
    if stat.st_size != record["size"]:
        raise IndexCorruptedError(
            f"index file {path} has {stat.st_size} bytes, the manifest records {record['size']}: "
            "the file is truncated or corrupted"
        )
    key = (str(path), record["sha256"], stat.st_size, stat.st_mtime_ns)
    if verify and key not in _VERIFIED:
        verify_file(path, record["sha256"], record["size"])
        _VERIFIED.add(key)


@dataclass
class Segment:
    """A loaded (memory-mapped) segment plus its current tombstones."""

    folder: Path
    entry: dict[str, Any]
    pooled: np.ndarray
    offsets: np.ndarray
    token_ids: np.ndarray
    positions: np.ndarray
    token_arrays: dict[str, np.ndarray]
    ids: list[str]
    alive: np.ndarray
    doc_offsets: np.ndarray
    docs: bytes | mmap.mmap = field(default=b"", repr=False)
    _metadata: list[dict[str, Any]] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, folder: Path, entry: dict[str, Any], *, verify: bool = True) -> Segment:
        """Open a segment named by the manifest; checks sizes always and SHA-256 when ``verify``."""
        files = entry["files"]
        for name, record in files.items():
            _check(folder / name, record, verify)
        n_docs, n_tokens = int(entry["n_docs"]), int(entry["n_tokens"])
        alive = np.ones(n_docs, dtype=np.bool_)
        if entry.get("tombstones"):
            record = entry["tombstones"]
            _check(folder / record["file"], record, verify)
            alive = ~load_npy(folder / record["file"], mmap=False, rows=n_docs)
        try:
            ids = json.loads((folder / "ids.json").read_text())
        except json.JSONDecodeError as exc:
            raise IndexCorruptedError(f"index file {folder / 'ids.json'} is not valid JSON: {exc}") from exc
        segment = cls(
            folder=folder,
            entry=entry,
            pooled=load_npy(folder / "pooled.npy", mmap=True, rows=n_docs),
            offsets=load_npy(folder / "offsets.npy", mmap=False, rows=n_docs + 1),
            token_ids=load_npy(folder / "token_ids.npy", mmap=True, rows=n_tokens),
            positions=load_npy(folder / "positions.npy", mmap=True, rows=n_tokens),
            token_arrays={
                name[len(TOKEN_PREFIX) : -len(".npy")]: load_npy(folder / name, mmap=True, random_access=True, rows=n_tokens)
                for name in files
                if name.startswith(TOKEN_PREFIX)
            },
            ids=ids,
            alive=alive,
            doc_offsets=load_npy(folder / "docs_offsets.npy", mmap=False, rows=n_docs + 1),
            docs=_map_file(folder / "docs.jsonl"),
        )
        if len(ids) != n_docs or len(segment.offsets) != n_docs + 1 or len(alive) != n_docs:
            raise IndexCorruptedError(f"segment {folder} is inconsistent: its files disagree on the document count")
        _check_boundaries(folder / "offsets.npy", segment.offsets, n_tokens)
        _check_boundaries(folder / "docs_offsets.npy", segment.doc_offsets, len(segment.docs))
        return segment

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def n_docs(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def doc_line(self, row: int) -> bytes:
        """The stored ``docs.jsonl`` line of ``row`` (raw bytes, newline included)."""
        return bytes(self.docs[int(self.doc_offsets[row]) : int(self.doc_offsets[row + 1])])

    def read_docs(self, rows: Sequence[int]) -> list[dict[str, Any]]:
        """``{"text", "metadata"}`` of the given rows (random access into ``docs.jsonl``).

        The file is memory-mapped when the segment is loaded, so a reader keeps reading the
        version it loaded even after a later commit (compaction, full deletes) removed the file.
        """
        return [json.loads(self.doc_line(row)) for row in rows]

    def all_metadata(self) -> list[dict[str, Any]]:
        """Metadata of every row (parsed once, cached: segments never change)."""
        if self._metadata is None:
            self._metadata = [json.loads(self.doc_line(row))["metadata"] for row in range(self.n_docs)]
        return self._metadata

    def token_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat token row indices of ``rows`` (in order) and their ``(len(rows) + 1,)`` offsets."""
        starts = self.offsets[rows]
        lengths = self.offsets[rows + 1] - starts
        out_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=out_offsets[1:])
        total = int(out_offsets[-1])
        if total == 0:
            return np.zeros(0, dtype=np.int64), out_offsets
        owner = np.repeat(np.arange(len(rows)), lengths)
        index = starts[owner] + np.arange(total) - out_offsets[:-1][owner]
        return index, out_offsets

    def gather_tokens(self, rows: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        """Codec arrays of ``rows``' tokens, their offsets, and the flat token indices."""
        index, offsets = self.token_rows(rows)
        for array in self.token_arrays.values():  # map the rows' pages in one call per run
            prefault_rows(array, self.offsets[rows], self.offsets[rows + 1])
        if len(rows) and _is_contiguous(index):
            first, last = int(index[0]), int(index[-1]) + 1
            arrays = {name: array[first:last] for name, array in self.token_arrays.items()}
        else:
            arrays = {name: array[index] for name, array in self.token_arrays.items()}
        return arrays, offsets, index


def _check_boundaries(path: Path, offsets: np.ndarray, total: int) -> None:
    """Offsets must start at 0, never decrease and end at ``total`` (what the rows index into).

    Checked on every load, with or without ``verify``: damaged offsets would otherwise make a
    search ask for arrays of any size.
    """
    if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer):
        raise IndexCorruptedError(f"index file {path} is not a vector of integer offsets")
    if len(offsets) and (int(offsets[0]) != 0 or int(offsets[-1]) != total or bool((np.diff(offsets) < 0).any())):
        raise IndexCorruptedError(
            f"index file {path} holds offsets that do not run from 0 to {total} in order: the file is corrupted"
        )


def _map_file(path: Path) -> bytes | mmap.mmap:
    """Read-only memory map of a file (an empty file maps to ``b""``, which mmap refuses)."""
    with open(path, "rb") as fh:
        if path.stat().st_size == 0:
            return b""
        return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)


def _is_contiguous(index: np.ndarray) -> bool:
    return len(index) > 0 and int(index[-1]) - int(index[0]) + 1 == len(index)
