"""SmartIndex: a persistent, compressed, incremental token index with two-stage SMART search."""

from __future__ import annotations

import copy
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smart_plugins.encoder import EncodedTexts, SmartEncoder
from smart_plugins.index.codecs import TokenCodec, make_codec, take_training_sample
from smart_plugins.index.encoder_config import (
    check_encoder,
    rebuild_encoder,
    resolve_encoder,
)
from smart_plugins.index.evidence import token_matches
from smart_plugins.index.filters import compile_filter
from smart_plugins.index.first_stage import (
    HnswFirstStage,
    exact_pooled_scores,
)
from smart_plugins.index.hnsw_store import graph_summary
from smart_plugins.index.locking import DEFAULT_LOCK_TIMEOUT, WriterLock
from smart_plugins.index.media import document_inputs, encoder_inputs, query_inputs, stored_texts, with_references
from smart_plugins.index.manifest import (
    LOCK_NAME,
    MANIFEST_NAME,
    SEGMENTS_DIR,
    new_manifest,
    read_manifest,
    write_manifest,
)
from smart_plugins.index.results import Evidence, IndexedDocument, SearchHit
from smart_plugins.index.segment import Segment, write_compacted_segment, write_segment, write_tombstones
from smart_plugins.index.storage import IndexCorruptedError, verify_file, write_fsynced
from smart_plugins.index.validation import (
    check_finite,
    check_lock_timeout,
    check_metadata,
    id_list,
    positive_int,
    resolve_weights,
    validate_first_stage,
)
from smart_plugins.scoring import ScoreWeights, maxsim, reduce_similarities

logger = logging.getLogger(__name__)

#: Default token compression (chosen by measurement; see docs/index.md).
DEFAULT_COMPRESSION = "residual-4"
#: Documents encoded and written per segment during one ``add`` (bounds memory while adding).
SEGMENT_DOCS = 4096
#: Token vectors decoded at once while reranking many candidates (exhaustive search).
_DECODE_TOKENS = 1 << 18

Where = dict[str, Any] | Callable[[dict[str, Any]], bool]


class ReadOnlyIndexError(PermissionError):
    """A write was attempted on an index opened with ``read_only=True``."""


class SmartIndex:
    """A folder of memory-mapped pooled + token vectors searched with two-stage SMART scoring.

    Build one with :meth:`create`, reopen it with :meth:`open`. Documents have stable string
    ids and JSON metadata; every change is committed by atomically switching a versioned
    manifest, so readers (in this or other processes) always see a complete state, and a
    writer killed at any moment leaves the last committed state intact.

    Search encodes the query once, takes the ``candidates`` best documents by pooled cosine
    (exact matrix product, or faiss HNSW for large indexes) and reranks them exactly with
    the SMART hybrid ``pool * cos(p_q, p_d) + late * MaxSim(q, d)`` from the stored tokens.

    Examples
    --------
    >>> from smart_plugins.index import SmartIndex
    >>> with SmartIndex.create(None, "minilm", compression="fp16") as index:
    ...     ids = index.add(["Debug symbols for libfoo.", "Documentation for libfoo."],
    ...                     ids=["foo-dbg", "foo-doc"], metadata=[{"kind": "dbg"}, {"kind": "doc"}])
    ...     hits = index.search("libfoo debugging symbols", k=1)
    ...     hits[0].id, len(index)
    ('foo-dbg', 2)
    """

    def __init__(
        self,
        path: Path,
        encoder: SmartEncoder | None,
        *,
        read_only: bool = False,
        temporary: bool = False,
        verify: bool = True,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self._encoder = encoder
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
        self._lock = WriterLock(self.path / LOCK_NAME, timeout=lock_timeout) if not read_only else None
        self._reload(force=True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        path: str | Path | None,
        encoder: SmartEncoder | str,
        *,
        compression: str = DEFAULT_COMPRESSION,
        exist_ok: bool = False,
        weights: ScoreWeights | None = None,
        first_stage: str = "exact",
        first_stage_options: dict[str, Any] | None = None,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    ) -> SmartIndex:
        """Create an empty index in ``path`` (None: a temporary folder removed on :meth:`close`).

        Parameters
        ----------
        path:
            Index folder; must not exist, be empty, or (with ``exist_ok``) hold an index.
        encoder:
            A :class:`SmartEncoder` or a model name/alias; its ``describe()`` is recorded.
        compression:
            Token codec: ``fp32``, ``fp16``, ``int8``, ``residual-4``, ``residual-2``, ``residual-1``.
        exist_ok:
            Open an existing index instead of failing (its encoder and compression must match).
        weights:
            Default hybrid weights stored with the index (default 1:1).
        first_stage:
            ``"exact"`` pooled matrix product (default) or ``"hnsw"`` (faiss, for large indexes).
        first_stage_options:
            HNSW ``m``, ``ef_construction``, ``ef_search`` (integers; checked before anything is written).
        lock_timeout:
            Seconds a write waits for another writer before raising
            :class:`~smart_plugins.index.locking.IndexLockedError` (None: wait forever).
        """
        enc = resolve_encoder(encoder)
        codec = make_codec(compression, enc.token_dim)  # validates the name and the dimension early
        stage = validate_first_stage(first_stage, first_stage_options)
        check_lock_timeout(lock_timeout)
        temporary = path is None
        folder = Path(tempfile.mkdtemp(prefix="smart-index-")) if path is None else Path(path)
        if (folder / MANIFEST_NAME).exists():
            if not exist_ok:
                raise FileExistsError(f"an index already exists at {folder}; use SmartIndex.open or exist_ok=True")
            index = cls.open(folder, enc, lock_timeout=lock_timeout)
            if index.compression != codec.name:
                raise ValueError(
                    f"the index at {folder} uses compression {index.compression!r}, not {codec.name!r}"
                )
            return index
        if folder.exists() and any(p.name not in (LOCK_NAME, LOCK_NAME + ".pid") for p in folder.iterdir()):
            raise FileExistsError(f"{folder} exists and is not empty; choose a new folder for the index")
        (folder / SEGMENTS_DIR).mkdir(parents=True, exist_ok=True)
        manifest = new_manifest(
            encoder=enc.describe(),
            compression=codec.name,
            weights=(weights or ScoreWeights()).as_dict(),
            first_stage=stage,
        )
        with WriterLock(folder / LOCK_NAME, timeout=lock_timeout):
            if (folder / MANIFEST_NAME).exists():
                raise FileExistsError(f"an index was created at {folder} concurrently")
            write_manifest(folder, manifest)
        return cls(folder, enc, temporary=temporary, lock_timeout=lock_timeout)

    @classmethod
    def open(
        cls,
        path: str | Path,
        encoder: SmartEncoder | str | None = None,
        *,
        read_only: bool = False,
        verify: bool = True,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
    ) -> SmartIndex:
        """Open an existing index.

        ``encoder=None`` rebuilds the recorded encoder; a given encoder whose ``describe()``
        differs from the recorded one raises ValueError naming the differing fields.
        ``verify`` checks every file's SHA-256 once per process (sizes are always checked).
        ``lock_timeout`` bounds how long a write waits for another writer (see :meth:`create`).
        """
        folder = Path(path)
        manifest = read_manifest(folder)
        if encoder is None:
            enc = None  # rebuilt from the recorded description at first use (info/delete need no model)
        else:
            enc = resolve_encoder(encoder)
            check_encoder(manifest["encoder"], enc)
        return cls(folder, enc, read_only=read_only, verify=verify, lock_timeout=lock_timeout)

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
        id_map: dict[str, tuple[int, int]] = {}
        for s, segment in enumerate(segments):
            for row in np.flatnonzero(segment.alive).tolist():
                id_map[segment.ids[row]] = (s, row)
        self._segments = segments
        self._bases = np.concatenate([[0], np.cumsum([s.n_docs for s in segments])]).astype(np.int64)
        self._id_map = id_map

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the index at {self.path} is closed")

    @contextmanager
    def _writing(self) -> Iterator[dict[str, Any]]:
        """Hold the writer lock, refresh to the latest commit, yield a manifest copy to edit."""
        self._check_open()
        if self.read_only or self._lock is None:
            raise ReadOnlyIndexError(f"the index at {self.path} was opened read_only")
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

    # ------------------------------------------------------------------ properties
    @property
    def encoder(self) -> SmartEncoder:
        """The index's encoder (rebuilt from the recorded description when none was given)."""
        if self._encoder is None:
            self._encoder = rebuild_encoder(self._manifest["encoder"])
        return self._encoder

    @property
    def compression(self) -> str:
        return str(self._manifest["compression"])

    @property
    def version(self) -> int:
        """Version of the committed state this object currently sees."""
        self._reload()
        return int(self._manifest["version"])

    @property
    def weights(self) -> ScoreWeights:
        self._reload()
        return ScoreWeights(**self._manifest["weights"])

    def set_weights(self, weights: ScoreWeights) -> None:
        """Persist new default hybrid weights in the index."""
        if not isinstance(weights, ScoreWeights):
            raise TypeError(f"weights must be a ScoreWeights, got {type(weights).__name__}")
        with self._writing() as draft:
            draft["weights"] = weights.as_dict()
            self._commit(draft)

    def set_first_stage(self, kind: str, options: dict[str, Any] | None = None) -> None:
        """Switch the first stage of an existing index: ``"exact"`` or ``"hnsw"`` (+ HNSW options).

        Commits like any change. Switching to HNSW builds no graph yet: the next search (or
        :meth:`build_first_stage`) does, and saves it.
        """
        stage = validate_first_stage(kind, options)
        with self._writing() as draft:
            draft["first_stage"] = stage
            self._commit(draft)

    def __len__(self) -> int:
        self._reload()
        return len(self._id_map)

    def __contains__(self, doc_id: object) -> bool:
        self._reload()
        return doc_id in self._id_map

    def ids(self) -> list[str]:
        """Ids of all live documents, in insertion order."""
        self._reload()
        return list(self._id_map)

    # ------------------------------------------------------------------ writes
    def add(
        self,
        texts: str | Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add documents; returns their ids (uuid4 hex when ``ids`` is None).

        Raises ValueError for an id already in the index or repeated in ``ids``. All documents
        of one call are committed together (atomically), however many segments they fill.
        """
        items, doc_ids, metas = self._prepare(texts, ids, metadata, require_ids=False)
        if not items:
            return []  # nothing to add: no empty version is committed
        return self._add_prepared(items, doc_ids, metas, self._encode_documents(items))

    def add_encoded(
        self,
        encoded: EncodedTexts,
        texts: Sequence[str],
        ids: Sequence[str] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Add documents already encoded with this index's encoder (e.g. from an encoding cache).

        The caller guarantees ``encoded`` came from ``index.encoder.encode_documents(texts)``;
        only the dimensions can be checked here.
        """
        items, doc_ids, metas = self._prepare(texts, ids, metadata, require_ids=False)
        self._check_encoded(encoded, len(items))
        if not items:
            return []
        parts = (
            encoded.select(list(range(start, min(start + SEGMENT_DOCS, len(items)))))
            for start in range(0, len(items), SEGMENT_DOCS)
        )
        return self._add_prepared(items, doc_ids, metas, parts)

    def _check_encoded(self, encoded: EncodedTexts, n: int) -> None:
        recorded = self._manifest["encoder"]
        if len(encoded) != n:
            raise ValueError(f"encoded holds {len(encoded)} texts but {n} were given")
        if encoded.pooled_dim != recorded["pooled_dim"] or encoded.token_dim != recorded["token_dim"]:
            raise ValueError(
                f"encoded vectors are {encoded.pooled_dim}-d pooled / {encoded.token_dim}-d tokens; this index "
                f"holds {recorded['pooled_dim']}-d / {recorded['token_dim']}-d"
            )
        check_finite("encoded.pooled", encoded.pooled)
        check_finite("encoded.tokens", encoded.tokens)

    def _add_prepared(
        self, items: list[str], doc_ids: list[str], metas: list[dict[str, Any]], encoded: Iterable[EncodedTexts]
    ) -> list[str]:
        with self._writing() as draft:
            taken = [i for i in doc_ids if i in self._id_map]
            if taken:
                raise ValueError(f"{len(taken)} id(s) already in the index: {_preview(taken)}; use upsert to replace")
            self._append_segments(draft, items, doc_ids, metas, encoded)
            self._commit(draft)
        return doc_ids

    def upsert(
        self,
        texts: str | Sequence[str],
        ids: Sequence[str],
        metadata: Sequence[dict[str, Any] | None] | None = None,
    ) -> list[str]:
        """Insert or replace documents by id (old versions are deleted in the same commit)."""
        items, doc_ids, metas = self._prepare(texts, ids, metadata, require_ids=True)
        if not items:
            return []
        encoded = self._encode_documents(items)
        with self._writing() as draft:
            existing = [i for i in doc_ids if i in self._id_map]
            self._tombstone(draft, existing)
            self._append_segments(draft, items, doc_ids, metas, encoded)
            self._commit(draft)
        return doc_ids

    def delete(self, ids: str | Iterable[str]) -> int:
        """Delete documents by id; returns how many were deleted. Unknown ids -> KeyError."""
        wanted = _as_id_list(ids)
        if not wanted:
            return 0
        with self._writing() as draft:
            missing = [i for i in wanted if i not in self._id_map]
            if missing:
                raise KeyError(f"{len(missing)} id(s) not in the index: {_preview(missing)}")
            unique = list(dict.fromkeys(wanted))
            self._tombstone(draft, unique)
            self._commit(draft)
        return len(unique)

    def compact(self, *, min_deleted_share: float = 0.0) -> dict[str, Any]:
        """Rewrite segments that hold deleted documents without them, reclaiming their bytes.

        Deletes only write tombstones, so a deleted document's vectors and text stay on disk.
        ``compact`` copies the live rows of every segment whose share of deleted rows is at
        least ``min_deleted_share`` (and above zero) into a new segment, byte for byte (codes
        are not re-encoded), and switches the manifest once; the old files are removed after
        the switch. Ids, their order, metadata and search scores are unchanged. Readers that
        loaded the previous version keep reading it until they next look at the manifest.

        Returns a summary: ``segments_rewritten``, ``documents_dropped``, ``tokens_dropped``,
        ``documents``, ``bytes_before``, ``bytes_after`` (the whole folder on disk),
        ``version_before``, ``version`` and ``committed`` (False when there was nothing to do:
        no new version is written then).

        Examples
        --------
        >>> from smart_plugins.index import SmartIndex
        >>> with SmartIndex.create(None, "minilm", compression="int8") as index:
        ...     _ = index.add(["a red star", "a blue moon", "green apples"], ids=["r", "b", "g"])
        ...     _ = index.delete("b")
        ...     summary = index.compact()
        ...     summary["documents_dropped"], summary["bytes_after"] < summary["bytes_before"], index.ids()
        (1, True, ['r', 'g'])
        """
        if isinstance(min_deleted_share, bool) or not isinstance(min_deleted_share, (int, float)):
            raise TypeError(f"min_deleted_share must be a number in [0, 1], got {min_deleted_share!r}")
        if not 0.0 <= float(min_deleted_share) <= 1.0:
            raise ValueError(f"min_deleted_share must be in [0, 1], got {min_deleted_share}")
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

    def _prepare(
        self,
        texts: str | Sequence[str],
        ids: Sequence[str] | None,
        metadata: Sequence[dict[str, Any] | None] | dict[str, Any] | None,
        *,
        require_ids: bool,
    ) -> tuple[list[str], list[str], list[dict[str, Any]]]:
        items = document_inputs(texts, self.encoder)  # texts, or image references on a multimodal encoder
        if ids is None:
            if require_ids:
                raise ValueError("upsert needs ids (one per text)")
            doc_ids = [uuid.uuid4().hex for _ in items]
        else:
            doc_ids = _as_id_list(ids)
            if len(doc_ids) != len(items):
                raise ValueError(f"got {len(items)} texts but {len(doc_ids)} ids")
            seen: set[str] = set()
            repeated = [i for i in doc_ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
            if repeated:
                raise ValueError(f"duplicate ids in the input: {_preview(list(dict.fromkeys(repeated)))}")
        if metadata is None:
            metas: list[dict[str, Any]] = [{} for _ in items]
        elif isinstance(metadata, dict):
            raise TypeError("metadata must be a list with one dict per text, not a single dict")
        else:
            metas = [check_metadata(m, i) for i, m in enumerate(metadata)]
            if len(metas) != len(items):
                raise ValueError(f"got {len(items)} texts but {len(metas)} metadata entries")
        metas = with_references(items, metas)
        return items, doc_ids, metas

    def _encode_documents(self, items: list[str]) -> Iterator[EncodedTexts]:
        """The documents encoded one segment at a time, as the writer consumes them (bounded memory)."""
        self._check_open()
        if self.read_only:
            raise ReadOnlyIndexError(f"the index at {self.path} was opened read_only")
        return (
            self.encoder.encode_documents(encoder_inputs(items[start : start + SEGMENT_DOCS]))
            for start in range(0, len(items), SEGMENT_DOCS)
        )

    def _append_segments(
        self,
        draft: dict[str, Any],
        items: list[str],
        doc_ids: list[str],
        metas: list[dict[str, Any]],
        encoded: Iterable[EncodedTexts],
    ) -> None:
        assert self._codec is not None
        encoded = iter(encoded)
        if self._codec.needs_training:
            sample, encoded = take_training_sample(encoded, self._codec)
            self._codec.train(sample)
            del sample
            name = f"codec-v{int(draft['version']) + 1}.safetensors"
            from safetensors.numpy import save

            sha = write_fsynced(self.path / name, save(self._codec.state()))
            draft["codec"] = {"file": name, "sha256": sha, "size": (self.path / name).stat().st_size}
            self._codec_file = name
        start = 0
        for enc in encoded:
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
    def get(self, ids: str | Sequence[str]) -> IndexedDocument | list[IndexedDocument]:
        """Stored document(s) by id; unknown ids -> KeyError naming them."""
        self._reload()
        single = isinstance(ids, str)
        wanted = _as_id_list(ids)
        missing = [i for i in wanted if i not in self._id_map]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {_preview(missing)}")
        docs = [self._read_doc(self._id_map[i]) for i in wanted]
        out = [IndexedDocument(i, d["text"], d["metadata"]) for i, d in zip(wanted, docs)]
        return out[0] if single else out

    def _read_doc(self, location: tuple[int, int]) -> dict[str, Any]:
        s, row = location
        return self._segments[s].read_docs([row])[0]

    def search(
        self,
        query: str | Sequence[str],
        k: int = 10,
        *,
        candidates: int = 100,
        weights: ScoreWeights | None = None,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        exhaustive: bool = False,
    ) -> list[SearchHit] | list[list[SearchHit]]:
        """Two-stage SMART search: pooled top-``candidates``, then exact hybrid rerank to top ``k``.

        Parameters
        ----------
        query:
            One query (returns a list of hits) or a list of queries (a list per query).
        k, candidates:
            Hits returned, and first-stage candidates reranked (raised to ``k`` if smaller).
        weights:
            Hybrid weights for this call: a ScoreWeights or a ``"POOL:LATE"`` string such as
            ``"0.5:1"`` (default: the index's :attr:`weights`).
        ids:
            Only consider these document ids (unknown ids are ignored).
        where:
            Metadata filter: a dict of ``key: value`` equalities (a tuple or set value means
            "any of") with the operators of :mod:`smart_plugins.index.filters` (``$in``, ``$gt``,
            ``$or``...), or a callable ``metadata -> bool``.
        exhaustive:
            Skip the first stage and score every (filtered) document with the full hybrid.
        """
        k, candidates = positive_int("k", k), positive_int("candidates", candidates)
        single, queries = query_inputs(query, self.encoder)
        self._reload()
        weights = resolve_weights(weights, self._manifest["weights"])
        if not queries or not self._segments or not self._id_map:
            return [] if single else [[] for _ in queries]
        encoded = self.encoder.encode_queries(queries)
        results = self._search_encoded(encoded, k, candidates, weights, self._allowed(ids, where), exhaustive)
        return results[0] if single else results

    def search_encoded(
        self,
        queries: EncodedTexts,
        k: int = 10,
        *,
        candidates: int = 100,
        weights: ScoreWeights | None = None,
        ids: Iterable[str] | None = None,
        where: Where | None = None,
        exhaustive: bool = False,
    ) -> list[list[SearchHit]]:
        """:meth:`search` for queries already encoded with ``index.encoder.encode_queries``."""
        k, candidates = positive_int("k", k), positive_int("candidates", candidates)
        self._reload()
        recorded = self._manifest["encoder"]
        if queries.pooled_dim != recorded["pooled_dim"] or queries.token_dim != recorded["token_dim"]:
            raise ValueError(
                f"queries are {queries.pooled_dim}-d pooled / {queries.token_dim}-d tokens; this index holds "
                f"{recorded['pooled_dim']}-d / {recorded['token_dim']}-d"
            )
        weights = resolve_weights(weights, self._manifest["weights"])
        if not len(queries) or not self._segments or not self._id_map:
            return [[] for _ in range(len(queries))]
        return self._search_encoded(queries, k, candidates, weights, self._allowed(ids, where), exhaustive)

    def _search_encoded(
        self,
        encoded: EncodedTexts,
        k: int,
        candidates: int,
        weights: ScoreWeights,
        allowed: np.ndarray,
        exhaustive: bool,
    ) -> list[list[SearchHit]]:
        q_pooled = torch.nn.functional.normalize(encoded.pooled.float(), dim=-1).numpy()
        n_allowed = int(allowed.sum())
        n_cand = n_allowed if exhaustive else min(max(candidates, k), n_allowed)
        out: list[list[SearchHit]] = []
        if n_cand == 0:
            return [[] for _ in range(len(encoded))]
        rows_per_query, pooled_per_query = self._first_stage(q_pooled, n_cand, allowed)
        for q in range(len(encoded)):
            rows, pooled = rows_per_query[q], pooled_per_query[q]
            late = self._late_scores(encoded.select([q]), rows) if weights.uses_late else None
            hybrid = weights.pool * pooled + (weights.late * late if late is not None else 0.0)
            order = np.argsort(-hybrid, kind="stable")[:k]
            out.append(self._hits(rows[order], hybrid[order], pooled[order], None if late is None else late[order]))
        return out

    def _first_stage(
        self, q_pooled: np.ndarray, n_cand: int, allowed: np.ndarray
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Global rows and pooled scores of the top ``n_cand`` allowed documents per query."""
        kind = self._manifest["first_stage"].get("kind", "exact")
        n_total = len(allowed)
        if kind == "hnsw" and n_cand < n_total:
            fetch = min(n_total, n_cand + int((~allowed).sum()))
            if fetch <= 4 * n_cand:  # deleted / filtered rows are few enough to skip afterwards
                scores, rows = self._hnsw_stage().search(q_pooled, fetch, self._segments)
                rows_out, scores_out = [], []
                for r, s in zip(rows, scores):
                    keep = (r >= 0) & allowed[np.clip(r, 0, None)]
                    rows_out.append(r[keep][:n_cand].astype(np.int64))
                    scores_out.append(s[keep][:n_cand].astype(np.float32))
                return rows_out, scores_out
        scores = exact_pooled_scores(q_pooled, self._segments)
        scores[:, ~allowed] = -np.inf
        rows_out, scores_out = [], []
        for row_scores in scores:
            if n_cand < n_total:
                top = np.argpartition(-row_scores, n_cand - 1)[:n_cand]
            else:
                top = np.flatnonzero(allowed)
            rows_out.append(top.astype(np.int64))
            scores_out.append(row_scores[top])
        return rows_out, scores_out

    def build_first_stage(self) -> dict[str, Any] | None:
        """Build (or extend) and save the HNSW graph now rather than at the next search.

        A no-op returning None for the exact first stage; otherwise returns what
        :meth:`info` reports as ``hnsw_graph``. The CLI calls it after ``index build``,
        ``add`` and ``compact``, so a later ``search`` process loads the graph instead of
        building it. On a ``read_only`` index the graph is built in memory only.
        """
        self._reload()
        if self._manifest["first_stage"].get("kind") != "hnsw":
            return None
        if self._segments and len(self):
            self._hnsw_stage().sync(self._segments)
        return graph_summary(self.path)

    def _hnsw_stage(self) -> HnswFirstStage:
        """The HNSW stage for the committed options (recreated when a commit changed them)."""
        options = self._manifest["first_stage"]
        if self._hnsw is None or self._hnsw.options != options:
            self._hnsw = HnswFirstStage(options, folder=self.path, writable=not self.read_only)
        return self._hnsw

    def _late_scores(self, query: EncodedTexts, rows: np.ndarray) -> np.ndarray:
        """Exact MaxSim of one encoded query against global ``rows`` from the stored tokens.

        Candidates are read in file order, segment after segment, and scored together: one
        codec ``similarities`` call (the residual codecs score their codes without rebuilding
        the vectors) and one shared MaxSim reduction per ``_DECODE_TOKENS`` tokens, however
        many segments the candidates are spread over (per-segment calls cost ~0.2 ms each).
        """
        assert self._codec is not None
        late = np.empty(len(rows), dtype=np.float32)
        if len(rows) == 0:
            return late
        order = np.argsort(rows, kind="stable")  # by segment, then by row within it
        sorted_rows = rows[order]
        seg_of = np.searchsorted(self._bases, sorted_rows, side="right") - 1
        local = sorted_rows - self._bases[seg_of]
        cuts = [0, *(np.flatnonzero(np.diff(seg_of)) + 1).tolist(), len(rows)]
        groups = list(zip(cuts[:-1], cuts[1:]))  # [a, b) runs of candidates in one segment
        lengths = np.concatenate([self._segments[seg_of[a]].lengths[local[a:b]] for a, b in groups])
        ends = np.cumsum(lengths)
        start = 0
        while start < len(order):
            done = int(ends[start - 1]) if start else 0
            stop = start + max(1, int(np.searchsorted(ends[start:] - done, _DECODE_TOKENS, side="right")))
            parts = [
                self._segments[seg_of[a]].gather_tokens(local[a:b])[0]
                for a, b in ((max(a, start), min(b, stop)) for a, b in groups)
                if a < b
            ]
            offsets = np.zeros(stop - start + 1, dtype=np.int64)
            np.cumsum(lengths[start:stop], out=offsets[1:])
            if all(p.keys() == parts[0].keys() for p in parts):
                arrays = parts[0] if len(parts) == 1 else {n: np.concatenate([p[n] for p in parts]) for n in parts[0]}
                sims = self._codec.similarities(arrays, query.tokens)
            else:  # segments of an older on-disk layout among them: score each part on its own
                sims = torch.cat([self._codec.similarities(p, query.tokens) for p in parts])
            late[order[start:stop]] = reduce_similarities(sims, torch.from_numpy(offsets), query.offsets)[0].numpy()
            start = stop
        return late

    def _hits(
        self, rows: np.ndarray, hybrid: np.ndarray, pooled: np.ndarray, late: np.ndarray | None
    ) -> list[SearchHit]:
        seg_of = np.searchsorted(self._bases, rows, side="right") - 1
        docs: dict[int, dict[str, Any]] = {}
        for s in np.unique(seg_of).tolist():  # one file open per segment
            picked = np.flatnonzero(seg_of == s)
            local = (rows[picked] - self._bases[s]).tolist()
            docs.update(zip(picked.tolist(), self._segments[s].read_docs(local)))
        hits = []
        for rank, row in enumerate(rows.tolist()):
            s = int(seg_of[rank])
            doc = docs[rank]
            hits.append(
                SearchHit(
                    id=self._segments[s].ids[row - int(self._bases[s])],
                    text=doc["text"],
                    metadata=doc["metadata"],
                    score=float(hybrid[rank]),
                    pooled=float(pooled[rank]),
                    late=None if late is None else float(late[rank]),
                    rank=rank + 1,  # 1-based, as every rank shown to a user
                )
            )
        return hits

    def _allowed(self, ids: Iterable[str] | None, where: Where | None) -> np.ndarray:
        """Boolean mask over global rows: live, and passing the id and metadata filters."""
        allowed = np.concatenate([s.alive for s in self._segments]) if self._segments else np.zeros(0, np.bool_)
        if ids is not None:
            subset = np.zeros_like(allowed)
            wanted = [i for i in _as_id_list(ids) if i in self._id_map]
            if wanted:
                subset[[self._bases[s] + row for s, row in (self._id_map[i] for i in wanted)]] = True
            allowed &= subset
        if where is not None:
            predicate = _where_predicate(where)
            passes = np.concatenate(
                [np.fromiter((predicate(m) for m in s.all_metadata()), dtype=np.bool_, count=s.n_docs) for s in self._segments]
            )
            allowed &= passes
        return allowed

    def rerank(
        self, query: str, ids: Sequence[str], *, k: int | None = None, weights: ScoreWeights | None = None
    ) -> list[SearchHit]:
        """SMART-rerank candidate ids (from any retriever) with the stored vectors; best first.

        Unknown ids -> KeyError. For raw texts with no index use
        :func:`smart_plugins.rerank.rerank_texts`.
        """
        k = None if k is None else positive_int("k", k)
        queries = query_inputs(query, self.encoder)[1]
        if len(queries) != 1:
            raise ValueError("rerank takes one query string")
        self._reload()
        wanted = list(dict.fromkeys(_as_id_list(ids)))
        missing = [i for i in wanted if i not in self._id_map]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in the index: {_preview(missing)}")
        if not wanted:
            return []
        weights = resolve_weights(weights, self._manifest["weights"])
        encoded = self.encoder.encode_queries(queries)
        rows = np.array([self._bases[s] + row for s, row in (self._id_map[i] for i in wanted)], dtype=np.int64)
        q_pooled = torch.nn.functional.normalize(encoded.pooled.float(), dim=-1).numpy()[0]
        pooled = np.array([self._pooled_row(r) @ q_pooled for r in rows.tolist()], dtype=np.float32)
        late = self._late_scores(encoded, rows) if weights.uses_late else None
        hybrid = weights.pool * pooled + (weights.late * late if late is not None else 0.0)
        order = np.argsort(-hybrid, kind="stable")[: k or len(rows)]
        return self._hits(rows[order], hybrid[order], pooled[order], None if late is None else late[order])

    def _pooled_row(self, row: int) -> np.ndarray:
        s = int(np.searchsorted(self._bases, row, side="right") - 1)
        return np.asarray(self._segments[s].pooled[row - int(self._bases[s])], dtype=np.float32)

    def explain(self, query: str, id: str, *, weights: ScoreWeights | None = None) -> Evidence:  # noqa: A002
        """Token-level evidence for one hit: each query token's best document token.

        The document tokens come from the stored (possibly compressed) vectors, so the
        evidence matches the late score the index computes.
        """
        self._reload()
        if id not in self._id_map:
            raise KeyError(f"id {id!r} is not in the index")
        assert self._codec is not None
        weights = resolve_weights(weights, self._manifest["weights"])
        encoded = self.encoder.encode_queries(query_inputs(query, self.encoder)[1][:1])
        s, local = self._id_map[id]
        segment = self._segments[s]
        arrays, offsets, index = segment.gather_tokens(np.array([local]))
        doc_tokens = self._codec.decode(arrays)
        late = float(maxsim(encoded.tokens, encoded.offsets, doc_tokens, torch.from_numpy(offsets))[0, 0])
        q_pooled = torch.nn.functional.normalize(encoded.pooled.float(), dim=-1).numpy()[0]
        pooled = float(np.asarray(segment.pooled[local], dtype=np.float32) @ q_pooled)
        text = segment.read_docs([local])[0]["text"]
        matches = token_matches(
            encoded.tokens,
            encoded.token_ids,
            encoded.positions,
            doc_tokens,
            np.asarray(segment.token_ids[index]),
            np.asarray(segment.positions[index]),
            self.encoder.tokenizer,
            text,
        )
        return Evidence(
            query=query, id=id, score=weights.pool * pooled + weights.late * late, pooled=pooled, late=late, matches=matches
        )

    # ------------------------------------------------------------------ info / lifecycle
    def info(self) -> dict[str, Any]:
        """Counts, sizes and configuration: documents, tokens, bytes/token, compression, model."""
        self._reload()
        assert self._codec is not None
        live_tokens = sum(int(s.lengths[s.alive].sum()) for s in self._segments)
        stored_tokens = sum(int(s.offsets[-1]) for s in self._segments)
        token_bytes = sum(sum(a.nbytes for a in s.token_arrays.values()) for s in self._segments)
        disk = self._disk_bytes()
        return {
            "path": str(self.path),
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
            "disk_bytes": disk,
            "model": self._manifest["encoder"].get("model"),
            "encoder": self._manifest["encoder"],
            "weights": self._manifest["weights"],
            "first_stage": self._manifest["first_stage"],
            "hnsw_graph": graph_summary(self.path) if self._manifest["first_stage"].get("kind") == "hnsw" else None,
        }

    def close(self) -> None:
        """Release the index (a temporary index's folder is removed)."""
        if self._closed:
            return
        self._closed = True
        self._segments, self._id_map, self._hnsw = [], {}, None
        if self._temporary:
            shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> SmartIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._id_map)} documents, {self.compression}"
        return f"SmartIndex({str(self.path)!r}, {state})"


def _as_id_list(ids: str | Iterable[str]) -> list[str]:
    return id_list(ids)


def _preview(values: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f" (and {len(values) - n} more)" if len(values) > n else "")


def _where_predicate(where: Where) -> Callable[[dict[str, Any]], bool]:
    if callable(where):
        return lambda meta: bool(where(meta))
    return compile_filter(where)  # equality, tuples/sets as "any of", and the $-operators of index/filters.py
