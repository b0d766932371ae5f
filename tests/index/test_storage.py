"""Index file primitives: memory-mapped loading with random-access advice."""

from __future__ import annotations

import mmap
import sys

import numpy as np
import pytest

from smart_plugins.index.storage import IndexCorruptedError, advise_random, load_npy


def test_random_access_maps_read_the_same_values(tmp_path):
    path = tmp_path / "tokens.npy"
    data = np.arange(4096, dtype=np.uint8).reshape(64, 64)
    np.save(path, data)
    mapped = load_npy(path, mmap=True, random_access=True)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped[[5, 40, 1]], data[[5, 40, 1]])


@pytest.mark.skipif(not sys.platform.startswith("linux") or not hasattr(mmap, "MADV_RANDOM"), reason="madvise is POSIX")
def test_advice_reaches_the_memory_map(tmp_path):
    path = tmp_path / "tokens.npy"
    np.save(path, np.ones((16, 8), dtype=np.float16))
    assert advise_random(load_npy(path, mmap=True)) is True
    assert advise_random(load_npy(path, mmap=False)) is False


def test_unreadable_array_is_a_clear_error(tmp_path):
    path = tmp_path / "tokens.npy"
    path.write_bytes(b"not an npy file")
    with pytest.raises(IndexCorruptedError, match="tokens.npy has no valid .npy header"):
        load_npy(path, mmap=True, random_access=True)
