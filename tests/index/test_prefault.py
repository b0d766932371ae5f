"""Prefaulting a rerank's candidate rows: one madvise per run of pages, only those pages mapped."""

from __future__ import annotations

import mmap
import sys
from pathlib import Path

import numpy as np
import pytest

from smart_plugins.index import prefault
from smart_plugins.index.prefault import PAGE, prefault_rows
from smart_plugins.index.storage import advise_random

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="MADV_POPULATE_READ is Linux's")


def _mapped_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path`` (from /proc/self/smaps)."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:
            inside = line.endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(head[1])
    return total


def _store(tmp_path: Path, rows: int = 32768, width: int = 1024) -> np.memmap:
    path = tmp_path / "codes.npy"
    np.save(path, np.arange(rows * width, dtype=np.uint8).reshape(rows, width))
    array = np.load(path, mmap_mode="r")
    advise_random(array)  # as the index opens its token stores: no fault-around
    return array


def test_maps_only_the_candidate_pages(tmp_path, monkeypatch):
    monkeypatch.setattr(prefault, "ENABLED", True)
    array = _store(tmp_path)
    assert _mapped_kib(tmp_path / "codes.npy") == 0
    starts, stops = np.array([100, 20000]), np.array([140, 20010])  # 40 KiB and 10 KiB of rows
    calls = prefault_rows(array, starts, stops)
    if calls and prefault._madvise is None:
        pytest.skip("kernel older than 5.14 (no MADV_POPULATE_READ)")
    assert calls == 2
    mapped = _mapped_kib(tmp_path / "codes.npy")
    # the rows' pages (the kernel maps whole page-cache folios, up to 2 MiB), not the 32 MiB file
    assert 50 <= mapped <= 8 * 1024
    assert np.array_equal(array[100:140], np.load(tmp_path / "codes.npy")[100:140])


def test_touching_runs_are_merged_and_empty_rows_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(prefault, "ENABLED", True)
    array = _store(tmp_path)
    rows_per_page = PAGE // 1024
    starts = np.array([0, 10, 5 * rows_per_page, 0, 300])
    stops = np.array([10, 2 * rows_per_page, 6 * rows_per_page, 0, 300])  # last two are empty
    assert prefault_rows(array, starts, stops) in (0, 2)  # 0 only where the advice is unknown


def test_nothing_to_do_in_memory_or_when_switched_off(tmp_path, monkeypatch):
    assert prefault_rows(np.zeros((4, 3)), np.array([0]), np.array([2])) == 0
    array = _store(tmp_path)
    monkeypatch.setattr(prefault, "ENABLED", False)
    assert prefault_rows(array, np.array([0]), np.array([5])) == 0
    assert _mapped_kib(tmp_path / "codes.npy") == 0


def test_segment_gather_prefaults_its_token_stores(tmp_path, monkeypatch):
    from smart_plugins.index import segment as segment_module

    seen: list[tuple[int, int]] = []
    real = segment_module.prefault_rows

    def spy(array, starts, stops):
        seen.append((len(starts), int(np.sum(stops - starts))))
        return real(array, starts, stops)

    monkeypatch.setattr(segment_module, "prefault_rows", spy)
    offsets = np.array([0, 3, 5, 9], dtype=np.int64)
    seg = segment_module.Segment.__new__(segment_module.Segment)
    seg.offsets = offsets
    seg.token_arrays = {"codes": _store(tmp_path, rows=9, width=8)}
    arrays, out_offsets, _ = seg.gather_tokens(np.array([0, 2]))
    assert seen == [(2, 7)]
    assert out_offsets.tolist() == [0, 3, 7] and arrays["codes"].shape == (7, 8)
    assert mmap.PAGESIZE == PAGE
