"""Atomic, checksummed files: the primitives every index write goes through.

A file is written under a temporary name, flushed and fsync'ed, then renamed into place with
``os.replace`` (atomic on POSIX), and its folder is fsync'ed so the rename survives a power cut.
"""

from __future__ import annotations

import hashlib
import json
import mmap as _mmap
import os
from pathlib import Path
from typing import Any

import numpy as np

from smart_plugins.atomic import atomic_output, atomic_write_bytes, fsync_dir  # noqa: F401 (re-exported)

_HASH_BLOCK = 1 << 22


class IndexCorruptedError(ValueError):
    """A file of the index is missing, truncated or does not match its recorded checksum."""


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_json(path: Path, value: Any) -> None:
    """Atomically write ``value`` as indented JSON with sorted keys (stable manifests)."""
    atomic_write_bytes(path, (json.dumps(value, indent=1, sort_keys=True) + "\n").encode())


def write_npy(path: Path, array: np.ndarray) -> str:
    """Write an array as ``.npy`` (fsync'ed, not yet visible to readers) and return its SHA-256."""
    with open(path, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    return sha256_file(path)


def write_fsynced(path: Path, data: bytes) -> str:
    """Write bytes, fsync, and return their SHA-256."""
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def verify_file(path: Path, expected_sha256: str, expected_size: int | None = None) -> None:
    """Raise :class:`IndexCorruptedError` naming ``path`` when it is missing or altered."""
    if not path.exists():
        raise IndexCorruptedError(f"index file {path} is missing (the index folder was modified or damaged)")
    if expected_size is not None and path.stat().st_size != expected_size:
        raise IndexCorruptedError(
            f"index file {path} has {path.stat().st_size} bytes, the manifest records {expected_size}: "
            "the file is truncated or corrupted"
        )
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise IndexCorruptedError(
            f"index file {path} fails its SHA-256 check (recorded {expected_sha256[:16]}..., "
            f"found {actual[:16]}...): the file is corrupted"
        )


def check_npy_header(path: Path, rows: int | None = None) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, checked before any array is allocated.

    The header must describe exactly the bytes that follow it (so a damaged header cannot ask
    for more memory than the file holds), a plain (not object) dtype, and ``rows`` rows when
    given (the count the manifest records).
    """
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(fh, max_header_size=1 << 16)
            data_start = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise IndexCorruptedError(f"index file {path} has no valid .npy header: {exc}") from exc
    size = path.stat().st_size
    if dtype.hasobject or any(n < 0 for n in shape) or data_start + int(np.prod(shape, dtype=object)) * dtype.itemsize != size:
        raise IndexCorruptedError(
            f"index file {path} has a header describing a {shape} {dtype} array, which does not match its "
            f"{size} bytes: the file is corrupted"
        )
    if rows is not None and (not shape or shape[0] != rows):
        raise IndexCorruptedError(f"index file {path} holds {shape[0] if shape else 0} rows, the manifest records {rows}")
    return shape, dtype


def load_npy(path: Path, *, mmap: bool, random_access: bool = False, rows: int | None = None) -> np.ndarray:
    """Open an ``.npy`` file, memory-mapped read-only when ``mmap``.

    The header is checked first (:func:`check_npy_header`; ``rows``: the first-axis length the
    manifest records), so a damaged file is refused before anything is allocated.

    ``random_access`` tells the kernel the mapping is read at scattered rows
    (``MADV_RANDOM``): without it every page fault also reads the device's read-ahead window
    (8 MiB on the project's machine) around the row, which thrashes a capped page cache
    (``benchmarks/index_memory.py``: 1.4 GB read per query at 100k documents under a 256 MiB cap,
    2.1 MiB with the advice).
    """
    check_npy_header(path, rows)
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise IndexCorruptedError(f"index file {path} cannot be read as an array: {exc}") from exc
    if mmap and random_access:
        advise_random(array)
    return array


def advise_random(array: np.ndarray) -> bool:
    """Advise ``MADV_RANDOM`` on a memory-mapped array; ``False`` where the OS or array can't.

    Examples
    --------
    >>> advise_random(np.zeros(3))  # not memory-mapped: nothing to advise
    False
    """
    mapping = getattr(array, "_mmap", None)  # numpy.memmap keeps its mmap.mmap here
    if mapping is None or not hasattr(_mmap, "MADV_RANDOM") or not hasattr(mapping, "madvise"):
        return False
    mapping.madvise(_mmap.MADV_RANDOM)
    return True
