"""The local folder store: memory-mapped segments, token codecs and a versioned manifest.

Every change is committed by atomically switching the manifest, so readers (in this or other
processes) always see a complete state, and a writer killed at any moment leaves the last
committed state intact. Searching the committed state is :mod:`smart_plugins.index.search`.
"""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from smart_plugins.encoder import EncodedTexts
from smart_plugins.index import search as _search
from smart_plugins.index.codecs import TokenCodec, make_codec, take_training_sample
from smart_plugins.index.first_stage import HnswFirstStage
from smart_plugins.index.hnsw_store import graph_summary
from smart_plugins.index.locking import DEFAULT_LOCK_TIMEOUT, WriterLock
from smart_plugins.index.media import stored_texts
from smart_plugins.index.manifest import (
    LOCK_NAME,
    MANIFEST_NAME,
    SEGMENTS_DIR,
    new_manifest,
    read_manifest,
    write_manifest,
)
from smart_plugins.index.results import IndexedDocument, SearchHit
from smart_plugins.index.segment import Segment, write_compacted_segment, write_segment, write_tombstones
from smart_plugins.index.storage import IndexCorruptedError, verify_file, write_fsynced
from smart_plugins.index.store import DocumentTokens, ReadOnlyIndexError, Where, preview
from smart_plugins.index.token_pooling import check_pool_factor, pool_batches, record_pooling, recorded_pool_factor
from smart_plugins.index.validation import check_lock_timeout, validate_first_stage
from smart_plugins.lazy import lazy_module
from smart_plugins.progress import phase, track
from smart_plugins.scoring import ScoreWeights

torch = lazy_module("torch", globals())

logger = logging.getLogger(__name__)


class LocalStore:
    """Committed state of a SMART index folder (the default store of :class:`SmartIndex`).

    Examples
    --------
    >>> from smart_plugins.index import SmartIndex
    >>> with SmartIndex.create(None, "minilm", compression="int8") as index:
    ...     type(index.store).__name__, index.store.kind
    ('LocalStore', 'local')
    """

    kind = "local"

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        temporary: bool = False,
        verify: bool = True,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.verify = verify
        self._temporary = temporary
        self._closed = False
        self._manifest: dict[str, Any] = {}
        self._manifest_stat: tuple[int, int, int] | None = None
        self._segments: list[Segment] = []
        self._bases = np.zeros(1, dtype=np.int64)
        self._id_map: dict[str, tuple[int, int]] = {}
        self._codec: TokenCodec | None = None
        self._codec_file: str | None = None
        self._hnsw: HnswFirstStage | None = None
        self._pool_factor = 1.0  # token pooling at add time (smart_plugins.index.token_pooling)
        self._lock = WriterLock(self.path / LOCK_NAME, timeout=lock_timeout) if not read_only else None
        self._reload(force=True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path: Path | None,
        *,
        encoder: dict[str, Any],
        compression: str,
        weights: ScoreWeights,
        first_stage: str,
        first_stage_options: dict[str, Any] | None,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        weights_source: dict[str, Any] | None = None,
        token_pool_factor: float = 1.0,
    ) -> LocalStore:
        """Write an empty index's manifest in ``path`` (None: a temporary folder)."""
        codec = make_codec(compression, int(encoder["token_dim"]))  # validates the name and the dimension early
        stage = validate_first_stage(first_stage, first_stage_options)
        check_lock_timeout(lock_timeout)
        token_pool_factor = check_pool_factor(token_pool_factor)
        temporary = path is None
        folder = Path(tempfile.mkdtemp(prefix="smart-index-")) if path is None else Path(path)
        if folder.exists() and any(p.name not in (LOCK_NAME, LOCK_NAME + ".pid") for p in folder.iterdir()):
            raise FileExistsError(f"{folder} exists and is not empty; choose a new folder for the index")
        (folder / SEGMENTS_DIR).mkdir(parents=True, exist_ok=True)
        manifest = new_manifest(
            encoder=encoder,
            compression=codec.name,
            weights=weights.as_dict(),
            first_stage=stage,
        )
        record_pooling(manifest, token_pool_factor)  # checks the factor; records it unless 1
        if weights_source is not None:  # how the weights were chosen (smart_plugins.index.default_weights)
            manifest["weights_source"] = weights_source
        with WriterLock(folder / LOCK_NAME, timeout=lock_timeout):
            if (folder / MANIFEST_NAME).exists():
                raise FileExistsError(f"an index was created at {folder} concurrently")
            write_manifest(folder, manifest)
        return cls(folder, temporary=temporary, lock_timeout=lock_timeout)

    # ------------------------------------------------------------------ state
    def _reload(self, *, force: bool = False) -> None:
        """Load the committed manifest if it changed since the last look (cheap ``stat`` check)."""
        self._check_open()
        for attempt in range(5):
            try:
                stat = (self.path / MANIFEST_NAME).stat()
            except FileNotFoundError:
                raise FileNotFoundError(f"no SMART index at {self.path} (missing {MANIFEST_NAME})") from None
            key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if not force and key == self._manifest_stat:
                return
            manifest = read_manifest(self.path)
            try:
                self._load_state(manifest)
            except IndexCorruptedError:
                # a writer may have committed (and collected old files) between our reads: retry
                if read_manifest(self.path)["version"] != manifest["version"] and attempt < 4:
                    continue
                raise
            self._manifest, self._manifest_stat = manifest, key
            return

    def _load_state(self, manifest: dict[str, Any]) -> None:
        seg_dir = self.path / SEGMENTS_DIR
        previous = {s.name: s for s in self._segments}
        segments = []
        for entry in manifest["segments"]:
            old = previous.get(entry["name"])
            if old is not None and old.entry == entry:
                segments.append(old)
            else:
                segments.append(Segment.load(seg_dir / entry["name"], entry, verify=self.verify))
        codec_record = manifest.get("codec")
        if self._codec is None or self._codec_file != (codec_record or {}).get("file") or self._codec.name != manifest["compression"]:
            codec = make_codec(manifest["compression"], int(manifest["encoder"]["token_dim"]))
            if codec_record:
                codec_path = self.path / codec_record["file"]
                if self.verify:
                    verify_file(codec_path, codec_record["sha256"], codec_record["size"])
                from safetensors.numpy import load_file

                codec.load_state(load_file(str(codec_path)))
            self._codec, self._codec_file = codec, (codec_record or {}).get("file")
        # a commit that only appended segments keeps the id entries of the others: rebuilding them
        # all made every add O(documents) (6.9 s for 1M ids on a loaded 2-core machine)
        kept = len(self._segments)
        appended = kept <= len(segments) and all(a is b for a, b in zip(segments, self._segments))
        id_map: dict[str, tuple[int, int]] = dict(self._id_map) if appended else {}
        for s, segment in enumerate(segments[kept:] if appended else segments, start=kept if appended else 0):
            for row in np.flatnonzero(segment.alive).tolist():
                id_map[segment.ids[row]] = (s, row)
        self._pool_factor = recorded_pool_factor(manifest, self.path / MANIFEST_NAME)
        self._segments = segments
        self._bases = np.concatenate([[0], np.cumsum([s.n_docs for s in segments])]).astype(np.int64)
        self._id_map = id_map

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the index at {self.path} is closed")

    def check_writable(self) -> None:
        """Raise unless this store may be written (open, not ``read_only``)."""
        self._check_open()
        if self.read_only or self._lock is None:
            raise ReadOnlyIndexError(f"the index at {self.path} was opened read_only")

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        """Hold the writer lock, refresh to the latest commit, yield a manifest copy to edit."""
        self.check_writable()
        assert self._lock is not None
        with self._lock:
            self._reload()
            self._collect_garbage()  # files a killed writer left behind
            draft = copy.deepcopy(self._manifest)
            try:
                yield draft
            except BaseException:
                # nothing was committed: drop in-memory state a failed change may have touched
                # (e.g. a codec trained for it) and return to the committed version
                self._codec, self._codec_file = None, None
                self._reload(force=True)
                raise

    def _commit(self, draft: dict[str, Any]) -> None:
        """Switch the manifest to ``draft`` (must be called inside :meth:`_writing`)."""
        draft["version"] = int(self._manifest["version"]) + 1
        write_manifest(self.path, draft)
        self._reload(force=True)
        self._collect_garbage()

    def _collect_garbage(self) -> None:
        """Remove files no committed manifest names (left by crashes or superseded tombstones)."""
        live = {e["name"]: e for e in self._manifest["segments"]}
        for folder in (self.path / SEGMENTS_DIR).iterdir():
            entry = live.get(folder.name)
            if entry is None:
                shutil.rmtree(folder, ignore_errors=True)
                continue
            keep = set(entry["files"]) | ({entry["tombstones"]["file"]} if entry.get("tombstones") else set())
            for file in folder.iterdir():
                if file.name not in keep:
                    file.unlink(missing_ok=True)
        for stale in self.path.glob(".*.tmp"):  # an atomic write interrupted before its rename
            stale.unlink(missing_ok=True)
        codec_file = (self._manifest.get("codec") or {}).get("file")
        for file in self.path.glob("codec-v*.safetensors"):
            if file.name != codec_file:
                file.unlink(missing_ok=True)

    # ------------------------------------------------------------------ configuration
    def encoder_description(self) -> dict[str, Any]:
        return self._manifest["encoder"]

    @property
    def compression(self) -> str:
        return str(self._manifest["compression"])

    @property
    def token_pool_factor(self) -> float:
        """The token pool factor every add applies (1.0: no pooling)."""
        return self._pool_factor

    def version(self) -> int:
        self._reload()
        return int(self._manifest["version"])

    def weights(self) -> ScoreWeights:
        self._reload()
        return ScoreWeights(**self._manifest["weights"])

    def weights_source(self) -> dict[str, Any]:
        self._reload()
        return dict(self._manifest.get("weights_source") or {"kind": "explicit"})

    def set_weights(self, weights: ScoreWeights, source: dict[str, Any] | None = None) -> None:
        with self._writing() as draft:
            draft["weights"] = weights.as_dict()
            draft["weights_source"] = source or {"kind": "explicit"}
            self._commit(draft)

    def set_first_stage(self, kind: str, options: dict[str, Any] | None = None) -> None:
        stage = validate_first_stage(kind, options)
        with self._writing() as draft:
            draft["first_stage"] = stage
            self._commit(draft)

    # ------------------------------------------------------------------ membership
    def count(self) -> int:
        self._reload()
        return len(self._id_map)

    def contains(self, doc_id: str) -> bool:
        self._reload()
        return doc_id in self._id_map

    def ids(self) -> list[str]:
        self._reload()
        return list(self._id_map)

    # ------------------------------------------------------------------ writes
    def write(
        self,
        doc_ids: list[str],
        texts: list[str],
        metadata: list[dict[str, Any]],
        encoded: Iterable[EncodedTexts],
        *,
        replace: bool,
        chunk: bool = False,  # no per-document cap here: a chunked encoding is one document already
    ) -> None:
        with self._writing() as draft:
            existing = [i for i in doc_ids if i in self._id_map]
            if existing and not replace:
                raise ValueError(f"{len(existing)} id(s) already in the index: {preview(existing)}; use upsert to replace")
            if existing:
                self._tombstone(draft, existing)
            self._append_segments(draft, texts, doc_ids, metadata, encoded)
            self._commit(draft)

    def delete(self, doc_ids: list[str]) -> int:
        with self._writing() as draft:
            missing = [i for i in doc_ids if i not in self._id_map]
            if missing:
                raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
            unique = list(dict.fromkeys(doc_ids))
            self._tombstone(draft, unique)
            self._commit(draft)
        return len(unique)

    def compact(self, *, min_deleted_share: float = 0.0) -> dict[str, Any]:
        """Rewrite segments holding deleted rows without them (see :meth:`SmartIndex.compact`)."""
        with self._writing() as draft:
            version_before = int(self._manifest["version"])
            bytes_before = self._disk_bytes()
            picked = []
            for s, segment in enumerate(self._segments):
                n_deleted = segment.n_docs - int(segment.alive.sum())
                if n_deleted and n_deleted / segment.n_docs >= min_deleted_share:
                    picked.append(s)
            dropped_docs = dropped_tokens = 0
            for s in picked:
                segment = self._segments[s]
                number = int(draft["next_segment"])
                draft["next_segment"] = number + 1
                entry = write_compacted_segment(
                    self.path / SEGMENTS_DIR / f"seg-{number:06d}", segment, np.flatnonzero(segment.alive)
                )
                assert draft["segments"][s]["name"] == segment.name
                draft["segments"][s] = entry  # same place in the list: insertion order is kept
                dropped_docs += segment.n_docs - entry["n_docs"]
                dropped_tokens += int(segment.offsets[-1]) - entry["n_tokens"]
            if picked:
                self._commit(draft)
            summary = {
                "committed": bool(picked),
                "segments_rewritten": len(picked),
                "segments": len(self._segments),
                "documents": len(self._id_map),
                "documents_dropped": dropped_docs,
                "tokens_dropped": dropped_tokens,
                "bytes_before": bytes_before,
                "bytes_after": self._disk_bytes(),
                "version_before": version_before,
                "version": int(self._manifest["version"]),
            }
        logger.info("compacted %s: %s", self.path, summary)
        return summary

    def _disk_bytes(self) -> int:
        """Bytes of every file in the index folder (the writer lock and its pid file aside)."""
        total = 0
        for file in self.path.rglob("*"):
            try:
                if file.is_file() and not file.name.startswith(LOCK_NAME):
                    total += file.stat().st_size
            except FileNotFoundError:  # collected by a writer meanwhile
                pass
        return total

    def _append_segments(
        self,
        draft: dict[str, Any],
        items: list[str],
        doc_ids: list[str],
        metas: list[dict[str, Any]],
        encoded: Iterable[EncodedTexts],
    ) -> None:
        assert self._codec is not None
        encoded = iter(pool_batches(encoded, self._pool_factor))  # the codec trains on what is stored
        if self._codec.needs_training:
            sample, encoded = take_training_sample(encoded, self._codec)
            with phase(f"Training the {self._codec.name} codec on {len(sample):,} token vectors"):
                self._codec.train(sample)
            del sample
            name = f"codec-v{int(draft['version']) + 1}.safetensors"
            from safetensors.numpy import save

            sha = write_fsynced(self.path / name, save(self._codec.state()))
            draft["codec"] = {"file": name, "sha256": sha, "size": (self.path / name).stat().st_size}
            self._codec_file = name
        start = 0
        for enc in track(encoded, "Writing segments", total=len(doc_ids), unit="doc", weight=len):
            n = len(enc)
            number = int(draft["next_segment"])
            draft["next_segment"] = number + 1
            pooled = torch.nn.functional.normalize(enc.pooled.float(), dim=-1).numpy()
            entry = write_segment(
                self.path / SEGMENTS_DIR / f"seg-{number:06d}",
                ids=doc_ids[start : start + n],
                texts=stored_texts(items[start : start + n]),
                metadata=metas[start : start + n],
                pooled=pooled,
                tokens=enc.tokens.numpy(),
                offsets=enc.offsets.numpy(),
                token_ids=enc.token_ids.numpy(),
                positions=enc.positions.numpy(),
                codec=self._codec,
            )
            draft["segments"].append(entry)
            start += n
            del enc, pooled  # let this segment's vectors go before the next one is encoded

    def _tombstone(self, draft: dict[str, Any], doc_ids: list[str]) -> None:
        by_segment: dict[int, list[int]] = {}
        for doc_id in doc_ids:
            s, row = self._id_map[doc_id]
            by_segment.setdefault(s, []).append(row)
        version = int(draft["version"]) + 1
        for s, rows in by_segment.items():
            segment = self._segments[s]
            deleted = ~segment.alive.copy()
            deleted[rows] = True
            entry = draft["segments"][s]
            assert entry["name"] == segment.name
            entry["tombstones"] = write_tombstones(segment.folder, version, deleted)
        # a segment whose rows are all deleted leaves the manifest (its folder is collected)
        draft["segments"] = [
            e for e in draft["segments"] if not e.get("tombstones") or e["tombstones"]["n_deleted"] < e["n_docs"]
        ]

    # ------------------------------------------------------------------ reads
    def get(self, doc_ids: list[str]) -> list[IndexedDocument]:
        self._reload()
        missing = [i for i in doc_ids if i not in self._id_map]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        docs = [self._read_doc(self._id_map[i]) for i in doc_ids]
        return [IndexedDocument(i, d["text"], d["metadata"]) for i, d in zip(doc_ids, docs)]

    def _read_doc(self, location: tuple[int, int]) -> dict[str, Any]:
        s, row = location
        return self._segments[s].read_docs([row])[0]

    def document_tokens(self, doc_id: str) -> DocumentTokens:
        self._reload()
        if doc_id not in self._id_map:
            raise KeyError(f"id {doc_id!r} is not in the index")
        assert self._codec is not None
        s, local = self._id_map[doc_id]
        segment = self._segments[s]
        arrays, _, index = segment.gather_tokens(np.array([local]))
        return DocumentTokens(
            text=segment.read_docs([local])[0]["text"],
            pooled=np.asarray(segment.pooled[local], dtype=np.float32),
            tokens=self._codec.decode(arrays),
            token_ids=np.asarray(segment.token_ids[index]),
            positions=np.asarray(segment.positions[index]),
        )

    def iterate(self, chunk: int = 4096) -> Iterator[tuple[list[str], list[str], list[dict[str, Any]], EncodedTexts]]:
        """Live documents in insertion order, ``chunk`` at a time, with their stored vectors decoded.

        Yields ``(ids, texts, metadata, encoded)``; the tokens are what the codec stored (for a
        lossy codec, its reconstruction), so a copy scores as this index does. No re-encoding.
        """
        self._reload()
        assert self._codec is not None
        for segment in list(self._segments):
            alive = np.flatnonzero(segment.alive)
            for start in range(0, len(alive), chunk):
                rows = alive[start : start + chunk]
                arrays, offsets, index = segment.gather_tokens(rows)
                docs = segment.read_docs(rows.tolist())
                encoded = EncodedTexts(
                    pooled=torch.from_numpy(np.asarray(segment.pooled[rows], dtype=np.float32)),
                    tokens=self._codec.decode(arrays).float(),
                    offsets=torch.from_numpy(np.asarray(offsets, dtype=np.int64)),
                    token_ids=torch.from_numpy(np.asarray(segment.token_ids[index], dtype=np.int64)),
                    positions=torch.from_numpy(np.asarray(segment.positions[index], dtype=np.int64)),
                )
                yield [segment.ids[r] for r in rows.tolist()], [d["text"] for d in docs], [d["metadata"] for d in docs], encoded

    # ------------------------------------------------------------------ search (smart_plugins.index.search)
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
        self._reload()
        if not self._segments or not self._id_map:
            return [[] for _ in range(len(queries))]
        return _search.search_rows(self, queries, k, candidates, weights, self._allowed(ids, where), exhaustive)

    def rerank(self, query: EncodedTexts, doc_ids: list[str], k: int, weights: ScoreWeights) -> list[SearchHit]:
        self._reload()
        missing = [i for i in doc_ids if i not in self._id_map]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {preview(missing)}")
        rows = np.array([self._bases[s] + row for s, row in (self._id_map[i] for i in doc_ids)], dtype=np.int64)
        return _search.rerank_rows(self, query, rows, k, weights)

    _first_stage = _search.first_stage
    _late_scores = _search.late_scores
    _hits = _search.hits
    _allowed = _search.allowed_rows
    _pooled_rows = _search.pooled_rows

    def build_first_stage(self) -> dict[str, Any] | None:
        self._reload()
        if self._manifest["first_stage"].get("kind") != "hnsw":
            return None
        if self._segments and len(self._id_map):
            self._hnsw_stage().sync(self._segments)
        return graph_summary(self.path)

    def _hnsw_stage(self) -> HnswFirstStage:
        """The HNSW stage for the committed options (recreated when a commit changed them)."""
        options = self._manifest["first_stage"]
        if self._hnsw is None or self._hnsw.options != options:
            self._hnsw = HnswFirstStage(options, folder=self.path, writable=not self.read_only)
        return self._hnsw

    # ------------------------------------------------------------------ info / lifecycle
    def info(self) -> dict[str, Any]:
        self._reload()
        assert self._codec is not None
        live_tokens = sum(int(s.lengths[s.alive].sum()) for s in self._segments)
        stored_tokens = sum(int(s.offsets[-1]) for s in self._segments)
        token_bytes = sum(sum(a.nbytes for a in s.token_arrays.values()) for s in self._segments)
        disk = self._disk_bytes()
        return {
            "path": str(self.path),
            "store": self.kind,
            "version": int(self._manifest["version"]),
            "documents": len(self._id_map),
            "deleted_documents": sum(int((~s.alive).sum()) for s in self._segments),
            "segments": len(self._segments),
            "tokens": live_tokens,
            "stored_tokens": stored_tokens,
            "compression": self.compression,
            "codec": self._codec.describe(),
            "token_bytes_per_token": token_bytes / stored_tokens if stored_tokens else float(self._codec.bytes_per_token),
            "fp32_bytes_per_token": 4 * int(self._manifest["encoder"]["token_dim"]),
            "token_pool_factor": self._pool_factor,
            "disk_bytes": disk,
            "model": self._manifest["encoder"].get("model"),
            "encoder": self._manifest["encoder"],
            "weights": self._manifest["weights"],
            "weights_source": self._manifest.get("weights_source", {"kind": "explicit"}),
            "first_stage": self._manifest["first_stage"],
            "hnsw_graph": graph_summary(self.path) if self._manifest["first_stage"].get("kind") == "hnsw" else None,
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._segments, self._id_map, self._hnsw = [], {}, None
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    @property
    def closed(self) -> bool:
        return self._closed

    def summary(self) -> str:
        return "closed" if self._closed else f"{len(self._id_map)} documents, {self.compression}"

