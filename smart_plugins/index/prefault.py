"""Map the pages of a rerank's candidate rows in one system call per run of pages.

Token stores are memory-mapped with ``MADV_RANDOM`` (no read-ahead, so a capped page cache is not
thrashed). That advice also turns off the kernel's fault-around, so in a fresh process every
4 KiB page of a candidate's rows costs its own page fault the first time it is read, even when
the file is already in the page cache. ``MADV_POPULATE_READ`` (Linux 5.14+) maps a whole range
at once; it reads from disk only what is not cached, exactly like the faults it replaces, and
touches only the candidates' own pages (never the rest of the file).

Where the advice is unknown (other systems, older kernels) :func:`prefault_rows` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import sys

import numpy as np

#: ``MADV_POPULATE_READ`` from ``<linux/mman.h>`` (Python's mmap module does not export it).
MADV_POPULATE_READ = 22
PAGE = mmap.PAGESIZE

#: Off by default: measured slower than the page faults it saves (30k docs, top-100 rerank, fresh
#: process p50 6.6-7.9 ms off vs 9.9-11.5 ms on; ``benchmarks/rerank_prefault.py``, docs/index.md).
#: Kept as a switch for that side-by-side benchmark and for kernels/disks where faults cost more.
ENABLED = False

_madvise = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        _madvise = _libc.madvise
        _madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        _madvise.restype = ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover - no libc madvise
        _madvise = None


def prefault_rows(array: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> int:
    """Map the pages holding rows ``[starts[i], stops[i])`` of a memory-mapped ``array``.

    Runs of pages that touch or overlap are merged, so a call costs one system call per run.
    Returns the number of ``madvise`` calls made (0 when the array is not memory-mapped, the
    platform lacks the advice, or prefaulting is switched off).

    Examples
    --------
    >>> prefault_rows(np.zeros((4, 3)), np.array([0]), np.array([2]))  # in memory: nothing to do
    0
    """
    global _madvise
    if not ENABLED or _madvise is None or not isinstance(array, np.memmap) or len(starts) == 0:
        return 0
    if array.ndim == 0 or not array.flags.c_contiguous:
        return 0
    row_bytes = array.strides[0] if array.ndim > 1 else array.itemsize
    base = array.__array_interface__["data"][0]
    first = (base + np.asarray(starts, dtype=np.int64) * row_bytes) // PAGE
    last = (base + np.asarray(stops, dtype=np.int64) * row_bytes - 1) // PAGE  # inclusive
    keep = stops > starts
    first, last = first[keep], last[keep]
    if len(first) == 0:
        return 0
    order = np.argsort(first, kind="stable")
    first, last = first[order], np.maximum.accumulate(last[order])
    new_run = np.ones(len(first), dtype=bool)
    new_run[1:] = first[1:] > last[:-1] + 1
    run_first = first[new_run]
    run_last = np.append(last[np.flatnonzero(new_run)[1:] - 1], last[-1])
    calls = 0
    for page, end in zip(run_first.tolist(), run_last.tolist()):
        calls += 1
        if _madvise(page * PAGE, (end - page + 1) * PAGE, MADV_POPULATE_READ) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # a kernel before 5.14: stop trying
                _madvise = None
            break  # anything else (an I/O error) surfaces when the rows are read
    return calls
