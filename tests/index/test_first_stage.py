"""The HNSW first stage's beam: the library default grows with the graph, an explicit ef_search is kept."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from smart_plugins.index import first_stage

pytest.importorskip("faiss")


def _segment(n: int, dim: int = 8) -> SimpleNamespace:
    x = np.random.default_rng(0).normal(size=(n, dim)).astype(np.float32)
    return SimpleNamespace(name="s0", pooled=x / np.linalg.norm(x, axis=1, keepdims=True))


def test_default_beam_grows_with_the_graph_and_an_explicit_one_is_kept(monkeypatch):
    monkeypatch.setattr(first_stage, "VECTORS_PER_EF", 1)  # one slot per vector: 300 vectors -> 300
    segment = _segment(300)
    default = first_stage.HnswFirstStage({})
    default.search(segment.pooled[:1], 10, [segment])
    assert default._index.hnsw.efSearch == 300
    explicit = first_stage.HnswFirstStage({"ef_search": 64})
    explicit.search(segment.pooled[:1], 10, [segment])
    assert explicit._index.hnsw.efSearch == 64
    explicit.search(segment.pooled[:1], 100, [segment])
    assert explicit._index.hnsw.efSearch == 100  # never below k


def test_the_size_term_changes_nothing_below_256k_vectors():
    assert first_stage.hnsw_ef(100, vectors=256_000) == 128
    assert first_stage.hnsw_ef(100, vectors=1_000_000) == 500
    assert first_stage.hnsw_ef(1000, vectors=1_000_000) == 1000
