"""The versioned manifest: the one file that says which segment files make up the index.

Every change writes its new files first and then replaces ``manifest.json`` atomically, so a
reader (or a process restarted after a crash) always sees one complete committed version.

The manifest carries its own SHA-256 (``manifest_sha256``, over its canonical JSON without
that key), so an edit that is still valid JSON (a dropped segment, resurrected documents,
changed weights) is detected on open. Manifests written before the checksum existed have no
such key and are read as they are (legacy), and get one at their next commit. Everything the
manifest names is checked before it is used: segment and file names are plain names inside
the index, counts are non-negative integers.
"""

from __future__ import annotations

import hashlib
import json
import numbers
import time
from pathlib import Path
from typing import Any

from smart_plugins.index.storage import IndexCorruptedError, atomic_write_json, fsync_dir
from smart_plugins.index.validation import check_file_name, check_segment_name, validate_manifest_first_stage

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".write.lock"
SEGMENTS_DIR = "segments"
FORMAT_NAME = "smart-plugins-index"
FORMAT_VERSION = 1
CHECKSUM_KEY = "manifest_sha256"


def new_manifest(
    *, encoder: dict[str, Any], compression: str, weights: dict[str, float], first_stage: dict[str, Any]
) -> dict[str, Any]:
    """The manifest of an empty index (version 0).

    Examples
    --------
    >>> m = new_manifest(encoder={"model": "m"}, compression="fp16", weights={"pool": 1.0, "late": 1.0},
    ...                  first_stage={"kind": "exact"})
    >>> m["version"], m["segments"]
    (0, [])
    """
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "version": 0,
        "created": now,
        "updated": now,
        "encoder": encoder,
        "compression": compression,
        "codec": None,
        "weights": weights,
        "first_stage": first_stage,
        "next_segment": 0,
        "segments": [],
    }


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON (sorted keys, compact), its own checksum left out.

    Examples
    --------
    >>> manifest_checksum({"a": 1, "manifest_sha256": "x"}) == manifest_checksum({"a": 1})
    True
    """
    body = {key: value for key, value in manifest.items() if key != CHECKSUM_KEY}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read ``folder/manifest.json``, check its checksum and what it names.

    Raises :class:`IndexCorruptedError` naming the file when it is not UTF-8 JSON, fails its
    checksum, or names something that cannot be part of an index.
    """
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"no SMART index at {folder} (missing {MANIFEST_NAME})")
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise IndexCorruptedError(f"{path} is not valid UTF-8 ({exc}): the manifest is corrupted") from None
    except json.JSONDecodeError as exc:
        raise IndexCorruptedError(f"{path} is not valid JSON ({exc}): the manifest is corrupted") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexCorruptedError(f"{path} is not a smart-plugins index manifest")
    format_version = manifest.get("format_version", 0)
    if not _is_count(format_version):
        raise IndexCorruptedError(f"{path} has format_version {format_version!r}, not an integer")
    if format_version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has index format {manifest['format_version']}; this smart-plugins reads up to {FORMAT_VERSION}"
        )
    recorded = manifest.get(CHECKSUM_KEY)
    if recorded is not None:  # absent: written before manifests carried a checksum (legacy, accepted)
        try:
            actual = manifest_checksum(manifest)
        except ValueError as exc:  # NaN / infinity: not something this library writes
            raise IndexCorruptedError(f"{path} holds a non-finite number ({exc}): the manifest is corrupted") from None
        if recorded != actual:
            raise IndexCorruptedError(
                f"{path} fails its SHA-256 check (recorded {str(recorded)[:16]}..., found {actual[:16]}...): "
                "the manifest was edited or damaged; restore it from a backup"
            )
    try:
        _check_structure(manifest, path)
        manifest["first_stage"] = validate_manifest_first_stage(manifest.get("first_stage", {"kind": "exact"}), path)
    except IndexCorruptedError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        where = "" if str(path) in str(exc) else f"{path}: "
        raise IndexCorruptedError(f"{where}{exc}: the manifest is damaged or was edited by hand") from None
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Atomically switch the index to ``manifest`` (stamps the update time and the checksum).

    Durability: the folders that received new entries for this commit (``segments/`` for new
    segment folders, the index folder for a new codec file) are fsync'ed before the switch, and
    the switch itself (temporary file fsync'ed, renamed, index folder fsync'ed) after, so once
    this returns the commit survives a power loss on a file system that honours fsync.
    """
    folder = Path(folder)
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    manifest[CHECKSUM_KEY] = manifest_checksum(manifest)
    if (folder / SEGMENTS_DIR).is_dir():
        fsync_dir(folder / SEGMENTS_DIR)
    fsync_dir(folder)
    atomic_write_json(folder / MANIFEST_NAME, manifest)


def _is_count(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _check_structure(manifest: dict[str, Any], path: Path) -> None:
    """Refuse a manifest whose names or counts cannot describe an index (before anything is opened)."""

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise IndexCorruptedError(f"{path}: {what}; the manifest is damaged or was edited by hand")

    for key in ("version", "next_segment"):
        need(_is_count(manifest.get(key)), f"{key!r} must be a non-negative integer, got {manifest.get(key)!r}")
    encoder = manifest.get("encoder")
    need(isinstance(encoder, dict), "'encoder' must be an object")
    for key in ("pooled_dim", "token_dim"):
        value = encoder.get(key)
        need(_is_count(value) and value > 0, f"encoder {key!r} must be a positive integer, got {value!r}")
    need(isinstance(manifest.get("compression"), str), "'compression' must be a codec name")
    weights = manifest.get("weights")
    need(isinstance(weights, dict) and set(weights) == {"pool", "late"}, f"'weights' must be {{pool, late}}, got {weights!r}")
    from smart_plugins.scoring import ScoreWeights

    ScoreWeights(**weights)  # finite, >= 0, not both zero (ValueError otherwise)
    codec = manifest.get("codec")
    if codec is not None:
        need(isinstance(codec, dict), "'codec' must be an object or null")
        check_file_name(codec.get("file"), path)
        need(_is_count(codec.get("size")) and isinstance(codec.get("sha256"), str), "'codec' needs size and sha256")
    segments = manifest.get("segments")
    need(isinstance(segments, list), "'segments' must be a list")
    seen: set[str] = set()
    for entry in segments:
        need(isinstance(entry, dict), "every segment entry must be an object")
        name = check_segment_name(entry.get("name"), path)
        need(name not in seen, f"segment {name!r} is listed twice")
        seen.add(name)
        need(_is_count(entry.get("n_docs")) and _is_count(entry.get("n_tokens")), f"segment {name!r} needs n_docs and n_tokens counts")
        files = entry.get("files")
        need(isinstance(files, dict) and "offsets.npy" in files and "pooled.npy" in files, f"segment {name!r} lists no files")
        for file_name, record in files.items():
            check_file_name(file_name, path)
            need(isinstance(record, dict) and _is_count(record.get("size")) and isinstance(record.get("sha256"), str),
                 f"segment {name!r} file {file_name!r} needs size and sha256")
        tombstones = entry.get("tombstones")
        if tombstones is not None:
            need(isinstance(tombstones, dict), f"segment {name!r} tombstones must be an object or null")
            check_file_name(tombstones.get("file"), path)
            need(_is_count(tombstones.get("size")) and isinstance(tombstones.get("sha256"), str)
                 and _is_count(tombstones.get("n_deleted")), f"segment {name!r} tombstones need size, sha256, n_deleted")
