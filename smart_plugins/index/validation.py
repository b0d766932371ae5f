"""Checks of what callers and manifests hand to the index, with errors that name the argument.

Every public :class:`~smart_plugins.index.SmartIndex` entry point and every value read back
from a manifest goes through one of these before anything is allocated or committed, so bad
input is refused with a message saying what is accepted instead of failing deep inside numpy,
faiss or json (or, worse, being stored).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

#: First-stage kinds and the options each accepts: ``name: (default, lowest, highest)``.
FIRST_STAGE_OPTIONS: dict[str, dict[str, tuple[int, int, int]]] = {
    "exact": {},
    "hnsw": {
        "m": (32, 2, 512),
        "ef_construction": (80, 1, 1 << 16),
        "ef_search": (128, 1, 1 << 16),
    },
}
#: Nesting depth allowed in a document's metadata (dicts and lists inside each other).
MAX_METADATA_DEPTH = 32
_SEGMENT_NAME = re.compile(r"seg-[0-9]{6,}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def validate_first_stage(kind: Any, options: Mapping[str, Any] | None, *, source: str = "first_stage") -> dict[str, Any]:
    """The first-stage record ``{"kind": ..., **options}`` to commit, or a ValueError/TypeError.

    Unknown kinds and option names, non-integers and values outside the accepted range are
    refused (an HNSW ``m`` of -3 would otherwise ask faiss for an unbounded allocation at the
    next search). ``source`` names where the values came from in the message.

    Examples
    --------
    >>> validate_first_stage("hnsw", {"m": 16})
    {'kind': 'hnsw', 'm': 16}
    >>> validate_first_stage("hnsw", {"m": -3})
    Traceback (most recent call last):
    ...
    ValueError: first_stage option 'm' must be an integer in [2, 512], got -3
    """
    if not isinstance(kind, str) or kind not in FIRST_STAGE_OPTIONS:
        raise ValueError(f"{source} must be one of {tuple(FIRST_STAGE_OPTIONS)}, got {kind!r}")
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise TypeError(f"{source} options must be a dict, got {type(options).__name__}")
    accepted = FIRST_STAGE_OPTIONS[kind]
    record: dict[str, Any] = {"kind": kind}
    for name, value in options.items():
        if name == "kind":
            continue
        if name not in accepted:
            known = ", ".join(accepted) or "none"
            raise ValueError(f"{source} option {name!r} is not known for {kind!r} (accepted: {known})")
        _, low, high = accepted[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= int(value) <= high:
            raise ValueError(f"{source} option {name!r} must be an integer in [{low}, {high}], got {value!r}")
        record[name] = int(value)
    return record


def validate_manifest_first_stage(record: Any, path: object) -> dict[str, Any]:
    """:func:`validate_first_stage` for the record read from the manifest at ``path``."""
    if not isinstance(record, Mapping):
        raise TypeError(f"{path}: 'first_stage' must be an object, got {type(record).__name__}")
    return validate_first_stage(record.get("kind"), record, source=f"{path}: first_stage")


def positive_int(name: str, value: Any) -> int:
    """``value`` as a positive int, or a TypeError/ValueError naming ``name``.

    Examples
    --------
    >>> positive_int("k", 5)
    5
    >>> positive_int("k", 2.5)
    Traceback (most recent call last):
    ...
    TypeError: k must be a positive integer, got 2.5 (float)
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return int(value)


def check_metadata(meta: Any, position: int) -> dict[str, Any]:
    """A copy of one document's metadata, or an error naming ``metadata[position]``.

    Metadata must be a dict with string keys (a key ``1`` would be stored as ``"1"`` and a
    filter on ``1`` would then match nothing) holding JSON values: strings, finite numbers,
    booleans, None, lists and dicts, nested at most :data:`MAX_METADATA_DEPTH` deep.

    Examples
    --------
    >>> check_metadata({"lang": "en", "year": 2020}, 0)
    {'lang': 'en', 'year': 2020}
    >>> check_metadata({1: "a"}, 3)
    Traceback (most recent call last):
    ...
    TypeError: metadata[3] key 1 must be a string, got int
    """
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise TypeError(f"metadata[{position}] must be a dict or None, got {type(meta).__name__}")
    _check_json_value(meta, f"metadata[{position}]", 0)
    return dict(meta)


def _check_json_value(value: Any, where: str, depth: int) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise ValueError(f"{where} is nested more than {MAX_METADATA_DEPTH} levels deep")
    if value is None or isinstance(value, (str, bool, int)):  # exact JSON types (numpy scalars are not)
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} is {value!r}; metadata numbers must be finite (JSON has no NaN or infinity)")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} key {key!r} must be a string, got {type(key).__name__}")
            _check_json_value(item, f"{where}[{key!r}]", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json_value(item, f"{where}[{i}]", depth + 1)
        return
    raise TypeError(
        f"{where} is a {type(value).__name__}; metadata values must be str, int, float, bool, None, list or dict"
    )


def check_finite(name: str, array: Any) -> None:
    """Raise ValueError when ``array`` (numpy or torch) holds NaN or infinity, naming ``name``.

    Examples
    --------
    >>> check_finite("pooled", np.array([[0.0, np.nan]]))
    Traceback (most recent call last):
    ...
    ValueError: pooled holds 1 NaN or infinite value(s) (first at row 0); vectors must be finite
    """
    if hasattr(array, "detach"):  # a torch tensor: checked where it lives, without a copy to numpy
        import torch

        if bool(torch.isfinite(array.detach().sum())):  # NaN and infinity reach the sum: one cheap reduction
            return  # (an elementwise isfinite costs ~15x more: ~1.5 s for 250k 384-d token vectors)
        bad = (~torch.isfinite(array.detach())).cpu().numpy()
    else:
        bad = ~np.isfinite(np.asarray(array))
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(f"{name} holds {int(bad.sum())} NaN or infinite value(s) (first at row {row}); vectors must be finite")


def check_lock_timeout(value: Any) -> float | None:
    """``lock_timeout`` in seconds (``None`` waits forever), or an error naming the argument.

    Examples
    --------
    >>> check_lock_timeout(5)
    5.0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"lock_timeout must be a number of seconds >= 0 or None, got {value!r}")
    return float(value)


def check_segment_name(name: Any, path: object) -> str:
    """A segment folder name from the manifest at ``path``: ``seg-NNNNNN`` only (no path parts).

    Examples
    --------
    >>> check_segment_name("seg-000001", "m.json")
    'seg-000001'
    >>> check_segment_name("../../x", "m.json")
    Traceback (most recent call last):
    ...
    smart_plugins.index.storage.IndexCorruptedError: m.json names segment '../../x'; a segment name is seg-NNNNNN
    """
    from smart_plugins.index.storage import IndexCorruptedError

    if not isinstance(name, str) or not _SEGMENT_NAME.fullmatch(name):
        raise IndexCorruptedError(f"{path} names segment {name!r}; a segment name is seg-NNNNNN")
    return name


def check_file_name(name: Any, path: object) -> str:
    """A file name recorded in the manifest at ``path``: one plain name, no separators or ``..``."""
    from smart_plugins.index.storage import IndexCorruptedError

    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
        raise IndexCorruptedError(f"{path} names file {name!r}; index file names are plain names inside the index")
    return name


def id_list(ids: Any, *, what: str = "ids") -> list[str]:
    """``ids`` (one string, or an iterable of strings) as a list; an error naming the bad item.

    Examples
    --------
    >>> id_list("a"), id_list(["a", "b"])
    (['a'], ['a', 'b'])
    >>> id_list(None)
    Traceback (most recent call last):
    ...
    TypeError: ids must be a string or a list of strings, got NoneType
    """
    if isinstance(ids, str):
        return [ids]
    if ids is None or isinstance(ids, (bytes, Mapping)) or not hasattr(ids, "__iter__"):
        raise TypeError(f"{what} must be a string or a list of strings, got {type(ids).__name__}")
    out = list(ids)
    for i, value in enumerate(out):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{what}[{i}] must be a non-empty string, got {value!r}")
    return out


def resolve_weights(weights: Any, default: Mapping[str, float]) -> Any:
    """Hybrid weights for one call: a ``ScoreWeights``, a ``"POOL:LATE"`` string, or None (``default``).

    Examples
    --------
    >>> resolve_weights("0:1", {"pool": 1.0, "late": 1.0})
    ScoreWeights(pool=0.0, late=1.0)
    >>> resolve_weights(None, {"pool": 1.0, "late": 1.0})
    ScoreWeights(pool=1.0, late=1.0)
    """
    from smart_plugins.scoring import ScoreWeights

    if weights is None:
        return ScoreWeights(**default)
    if isinstance(weights, ScoreWeights):
        return weights
    if isinstance(weights, str):
        return ScoreWeights.parse(weights)
    raise TypeError(f"weights must be a ScoreWeights or a 'POOL:LATE' string such as '1:1', got {type(weights).__name__}")
