"""The HNSW first stage is saved beside the index, reused, extended, rebuilt when it must be."""

from __future__ import annotations

import json
import warnings

import faiss
import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.hnsw_store import HNSW_DIR, SIDECAR_NAME

QUERIES = ["red star", "java runtime library", "perl documentation"]
OPTIONS = {"m": 8, "ef_construction": 40, "ef_search": 16}


def _create(path, encoder, corpus, *, segments: int = 2) -> SmartIndex:
    ids, texts, metas = corpus
    index = SmartIndex.create(path, encoder, compression="fp32", first_stage="hnsw", first_stage_options=OPTIONS)
    index.add(texts[:4], ids=ids[:4], metadata=metas[:4])
    if segments == 2:
        index.add(texts[4:], ids=ids[4:], metadata=metas[4:])
    return index


def _sidecar(path) -> dict:
    return json.loads((path / HNSW_DIR / SIDECAR_NAME).read_text())


def _graph_file(path):
    return path / HNSW_DIR / _sidecar(path)["file"]


def _hit_ids(results) -> list[list[str]]:
    return [[hit.id for hit in hits] for hits in results]


@pytest.fixture()
def graph_builds(monkeypatch) -> list[int]:
    """Counts graphs built from scratch (a loaded graph is not built)."""
    builds: list[int] = []
    real = faiss.IndexHNSWFlat

    def counting(*args, **kwargs):
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(faiss, "IndexHNSWFlat", counting)
    return builds


def test_first_search_saves_the_graph_and_a_reopened_index_loads_it(tmp_path, tiny_encoder, corpus, graph_builds):
    path = tmp_path / "idx"
    with _create(path, tiny_encoder, corpus) as index:
        assert not (path / HNSW_DIR).exists()  # saved lazily, at the first search
        assert index.info()["hnsw_graph"] is None
        before = index.search(QUERIES, k=3, candidates=4)
        graph = index.info()["hnsw_graph"]
        assert graph["vectors"] == 8 and graph["segments"] == 2 and graph["bytes"] == _graph_file(path).stat().st_size
    assert len(graph_builds) == 1
    sidecar = _sidecar(path)
    assert sidecar["n_vectors"] == 8
    assert [name for name, _ in sidecar["segments"]] == sorted(p.name for p in (path / "segments").iterdir())
    assert (sidecar["m"], sidecar["ef_construction"], sidecar["dim"]) == (8, 40, tiny_encoder.pooled_dim)
    with SmartIndex.open(path, tiny_encoder) as reopened:
        assert reopened.search(QUERIES, k=3, candidates=4) == before
    assert len(graph_builds) == 1  # loaded, not rebuilt


def test_saved_graph_is_extended_with_segments_added_later(tmp_path, tiny_encoder, corpus, graph_builds):
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    with _create(path, tiny_encoder, corpus, segments=1) as index:
        index.search("red star", k=2, candidates=3)
        assert _sidecar(path)["n_vectors"] == 4
        first_file = _graph_file(path)
        index.add(texts[4:], ids=ids[4:], metadata=metas[4:])
    with SmartIndex.open(path, tiny_encoder) as reopened:
        approx = reopened.search(QUERIES, k=3, candidates=7)
        exact = reopened.search(QUERIES, k=3, exhaustive=True)
    assert _hit_ids(approx) == _hit_ids(exact)
    assert len(graph_builds) == 1  # the saved 4-vector graph was loaded and grown
    sidecar = _sidecar(path)
    assert sidecar["n_vectors"] == 8 and len(sidecar["segments"]) == 2
    assert not first_file.exists()  # the superseded graph file was removed
    assert sorted(p.name for p in (path / HNSW_DIR).iterdir() if not p.name.startswith(".")) == sorted(
        [SIDECAR_NAME, sidecar["file"]]
    )


def test_graph_is_rebuilt_after_compaction_replaces_its_segments(tmp_path, tiny_encoder, corpus, graph_builds):
    path = tmp_path / "idx"
    with _create(path, tiny_encoder, corpus) as index:
        index.search("red star", k=2, candidates=3)
        index.delete(["red-star", "srv"])
        index.compact()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a stale graph is expected after compaction: no warning
            approx = index.search(QUERIES, k=3, candidates=5)
        assert _hit_ids(approx) == _hit_ids(index.search(QUERIES, k=3, exhaustive=True))
        names = sorted(p.name for p in (path / "segments").iterdir())
    assert len(graph_builds) == 2
    assert _sidecar(path)["n_vectors"] == 6 and [n for n, _ in _sidecar(path)["segments"]] == names
    with SmartIndex.open(path, tiny_encoder) as reopened:
        reopened.search("red star", k=2, candidates=3)
    assert len(graph_builds) == 2


def test_corrupted_graph_is_rebuilt_with_a_warning_and_saved_again(tmp_path, tiny_encoder, corpus, graph_builds):
    path = tmp_path / "idx"
    with _create(path, tiny_encoder, corpus) as index:
        before = index.search(QUERIES, k=3, candidates=4)
    graph = _graph_file(path)
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with SmartIndex.open(path, tiny_encoder) as reopened:
        with pytest.warns(RuntimeWarning, match="rebuilding the HNSW first stage.*SHA-256"):
            assert reopened.search(QUERIES, k=3, candidates=4) == before
    assert len(graph_builds) == 2
    with SmartIndex.open(path, tiny_encoder) as again:  # the rebuilt graph was saved, intact
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert again.search(QUERIES, k=3, candidates=4) == before
    assert len(graph_builds) == 2


def test_set_first_stage_switches_an_exact_index_and_new_options_rebuild(tmp_path, tiny_encoder, corpus, graph_builds):
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="fp32") as index:
        index.add(texts, ids=ids, metadata=metas)
        reader = SmartIndex.open(path, tiny_encoder, read_only=True)
        exact = index.search(QUERIES, k=3, exhaustive=True)
        assert index.build_first_stage() is None and graph_builds == []
        index.set_first_stage("hnsw", OPTIONS)
        assert index.info()["first_stage"] == {"kind": "hnsw", **OPTIONS}
        assert _hit_ids(index.search(QUERIES, k=3, candidates=7)) == _hit_ids(exact)
        assert _sidecar(path)["m"] == 8 and len(graph_builds) == 1
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # other options make the saved graph stale, not broken
            index.set_first_stage("hnsw", {**OPTIONS, "m": 12})
            assert _hit_ids(index.search(QUERIES, k=3, candidates=7)) == _hit_ids(exact)
        assert _sidecar(path)["m"] == 12 and len(graph_builds) == 2
        reader.search("red star", k=2, candidates=3)  # another handle follows the committed options
        assert len(graph_builds) == 2 and reader._hnsw is not None and reader._hnsw.m == 12
        reader.close()
        with pytest.raises(ValueError, match="first_stage must be one of"):
            index.set_first_stage("ivf")


def test_read_only_index_never_writes_a_graph(tmp_path, tiny_encoder, corpus, graph_builds):
    path = tmp_path / "idx"
    _create(path, tiny_encoder, corpus).close()
    with SmartIndex.open(path, tiny_encoder, read_only=True) as reader:
        reader.search(QUERIES, k=3, candidates=4)
    assert not (path / HNSW_DIR).exists()
    with SmartIndex.open(path, tiny_encoder) as writer:
        writer.search("red star", k=2, candidates=3)
    (path / HNSW_DIR / SIDECAR_NAME).write_text("{not json")
    before = {p.name: p.read_bytes() for p in (path / HNSW_DIR).iterdir()}
    with SmartIndex.open(path, tiny_encoder, read_only=True) as reader:
        with pytest.warns(RuntimeWarning, match="not a valid graph record"):
            reader.search(QUERIES, k=3, candidates=4)
    assert {p.name: p.read_bytes() for p in (path / HNSW_DIR).iterdir()} == before


def test_files_left_by_an_interrupted_save_are_ignored_then_removed(tmp_path, tiny_encoder, corpus, graph_builds):
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    with _create(path, tiny_encoder, corpus, segments=1) as index:
        index.search("red star", k=2, candidates=3)
    # a save killed before its sidecar switch leaves a graph file nobody names, or a temp file
    orphan = path / HNSW_DIR / "graph-0123456789abcdef.faiss"
    orphan.write_bytes(b"half a graph")
    temp = path / HNSW_DIR / ".graph-feed.faiss.x1.tmp"
    temp.write_bytes(b"partial")
    with SmartIndex.open(path, tiny_encoder) as reopened:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reopened.search("red star", k=2, candidates=3)  # the committed graph is used
        assert len(graph_builds) == 1 and orphan.exists()
        reopened.add(texts[4:], ids=ids[4:], metadata=metas[4:])
        reopened.search("red star", k=2, candidates=3)  # grows and saves: leftovers go
    assert not orphan.exists() and not temp.exists()
    assert _sidecar(path)["n_vectors"] == 8
