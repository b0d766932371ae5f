"""The versioned manifest: the one file that says which segment files make up the index.

Every change writes its new files first and then replaces ``manifest.json`` atomically, so a
reader (or a process restarted after a crash) always sees one complete committed version.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from smart_plugins.index.storage import IndexCorruptedError, atomic_write_json
from smart_plugins.index.validation import validate_manifest_first_stage

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".write.lock"
SEGMENTS_DIR = "segments"
FORMAT_NAME = "smart-plugins-index"
FORMAT_VERSION = 1


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


def read_manifest(folder: Path) -> dict[str, Any]:
    """Read and sanity-check ``folder/manifest.json``."""
    path = Path(folder) / MANIFEST_NAME
    if not path.exists():
        raise FileNotFoundError(f"no SMART index at {folder} (missing {MANIFEST_NAME})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise IndexCorruptedError(f"{path} is not valid JSON ({exc}): the manifest is corrupted") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise IndexCorruptedError(f"{path} is not a smart-plugins index manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has index format {manifest['format_version']}; this smart-plugins reads up to {FORMAT_VERSION}"
        )
    try:
        manifest["first_stage"] = validate_manifest_first_stage(manifest.get("first_stage", {"kind": "exact"}), path)
    except (TypeError, ValueError) as exc:
        raise IndexCorruptedError(f"{exc}: the manifest is damaged or was edited by hand") from None
    return manifest


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Atomically switch the index to ``manifest`` (stamps the update time)."""
    manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic_write_json(Path(folder) / MANIFEST_NAME, manifest)
