"""SmartIndex behaviour: add/delete/upsert/get, reopen, ids, metadata, filters and errors."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from smart_plugins.encoder import SmartEncoder, TokenPolicy
from smart_plugins.index import IndexCorruptedError, IndexedDocument, ReadOnlyIndexError, SearchHit, SmartIndex
from smart_plugins.scoring import ScoreWeights, smart_scores


@pytest.fixture()
def index(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    idx = SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp32")
    idx.add(texts, ids=ids, metadata=metas)
    yield idx
    idx.close()


def test_add_get_len_contains(index, corpus):
    ids, texts, metas = corpus
    assert len(index) == len(ids)
    assert index.ids() == ids
    assert "blue-moon" in index and "nope" not in index
    doc = index.get("perl-doc")
    assert doc == IndexedDocument("perl-doc", texts[4], metas[4])
    assert [d.id for d in index.get(["srv", "red-star"])] == ["srv", "red-star"]
    with pytest.raises(KeyError, match="nope"):
        index.get(["srv", "nope"])


def test_auto_ids_are_unique_hex(tmp_path, tiny_encoder):
    with SmartIndex.create(tmp_path / "i", tiny_encoder, compression="fp16") as idx:
        new = idx.add(["red star", "blue moon"])
        assert len(set(new)) == 2 and all(len(i) == 32 and int(i, 16) >= 0 for i in new)
        assert idx.get(new[1]).text == "blue moon"


def test_duplicate_ids_rejected(index):
    with pytest.raises(ValueError, match="already in the index: 'srv'"):
        index.add(["x text"], ids=["srv"])
    with pytest.raises(ValueError, match="duplicate ids in the input: 'a'"):
        index.add(["red", "blue"], ids=["a", "a"])
    assert len(index) == 8 and "a" not in index


def test_bad_inputs_name_the_problem(index):
    with pytest.raises(ValueError, match="2 texts but 1 ids"):
        index.add(["red", "blue"], ids=["a"])
    with pytest.raises(ValueError, match=r"texts\[1\] is an empty"):
        index.add(["red", " "])
    with pytest.raises(TypeError, match=r"metadata\[0\]\['x'\] is a object"):
        index.add(["red"], metadata=[{"x": object()}])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search("red", k=0)
    with pytest.raises(ValueError, match="upsert needs ids"):
        index.upsert(["red"], ids=None)  # type: ignore[arg-type]


def test_search_matches_brute_force_smart_scores(index, tiny_encoder, corpus):
    ids, texts, _ = corpus
    query = "red star labels"
    hits = index.search(query, k=8)
    assert [h.rank for h in hits] == list(range(1, 9))  # 1-based
    expected = smart_scores(tiny_encoder.encode_queries([query]), tiny_encoder.encode_documents(texts))
    order = torch.argsort(expected.hybrid[0], descending=True).tolist()
    assert [h.id for h in hits] == [ids[i] for i in order]
    for hit, i in zip(hits, order):
        assert hit.score == pytest.approx(float(expected.hybrid[0, i]), abs=1e-5)
        assert hit.pooled == pytest.approx(float(expected.pooled[0, i]), abs=1e-5)
        assert hit.late == pytest.approx(float(expected.late[0, i]), abs=1e-5)
        assert hit.text == texts[i]


def test_two_stage_uses_pooled_candidates(index, tiny_encoder, corpus):
    ids, texts, _ = corpus
    query = "python library"
    hits = index.search(query, k=2, candidates=3)
    pooled = smart_scores(tiny_encoder.encode_queries([query]), tiny_encoder.encode_documents(texts)).pooled[0]
    top3 = {ids[i] for i in torch.topk(pooled, 3).indices.tolist()}
    assert {h.id for h in hits} <= top3
    assert len(index.search(query, k=2, candidates=3, exhaustive=True)) == 2


def test_batch_queries_and_weights(index):
    single = index.search("blue moon", k=3)
    batch = index.search(["blue moon", "java runtime"], k=3)
    assert isinstance(batch[0], list) and len(batch) == 2
    assert [h.id for h in batch[0]] == [h.id for h in single]
    late_only = index.search("blue moon", k=3, weights=ScoreWeights(0, 1))
    assert all(h.score == pytest.approx(h.late) for h in late_only)
    pooled_only = index.search("blue moon", k=3, weights=ScoreWeights(1, 0))
    assert all(h.late is None and h.score == pytest.approx(h.pooled) for h in pooled_only)


def test_filters_by_ids_and_metadata(index):
    hits = index.search("red star", k=8, ids=["srv", "perl-doc", "unknown"])
    assert {h.id for h in hits} == {"srv", "perl-doc"}
    reds = index.search("red star", k=8, where={"color": "red"})
    assert {h.id for h in reds} == {"red-star", "py-lib", "rust-tool"}
    assert all(h.metadata["color"] == "red" for h in reds)
    some = index.search("red star", k=8, where={"color": ("blue", "green")})
    assert {h.metadata["color"] for h in some} == {"blue", "green"} and len(some) == 5
    big = index.search("red star", k=8, where=lambda m: m["n"] > 6)
    assert {h.id for h in big} == {"rust-tool", "srv"}
    assert index.search("red star", where={"color": "purple"}) == []
    with pytest.raises(TypeError, match="where must be"):
        index.search("red", where=["color"])  # type: ignore[arg-type]


def test_delete_keeps_other_ids_stable(index, corpus):
    ids, texts, metas = corpus
    assert index.delete(["blue-moon", "perl-doc"]) == 2
    assert len(index) == 6 and "blue-moon" not in index
    for i, doc_id in enumerate(ids):
        if doc_id not in ("blue-moon", "perl-doc"):
            assert index.get(doc_id) == IndexedDocument(doc_id, texts[i], metas[i])
    assert all(h.id not in ("blue-moon", "perl-doc") for h in index.search("blue moon perl", k=8))
    with pytest.raises(KeyError, match="blue-moon"):
        index.delete("blue-moon")
    index.add(["blue moon again"], ids=["blue-moon"])  # a deleted id can be reused
    assert index.get("blue-moon").text == "blue moon again"


def test_delete_all_rows_of_a_segment_drops_it(tmp_path, tiny_encoder):
    with SmartIndex.create(tmp_path / "i", tiny_encoder, compression="int8") as idx:
        idx.add(["red star"], ids=["a"])
        idx.add(["blue moon"], ids=["b"])
        assert idx.info()["segments"] == 2
        idx.delete("a")
        assert idx.info()["segments"] == 1 and idx.ids() == ["b"]
        assert len(list((tmp_path / "i" / "segments").iterdir())) == 1


def test_upsert_replaces_and_inserts(index):
    index.upsert(["green moon server", "brand new text"], ids=["srv", "new"], metadata=[{"v": 2}, None])
    assert len(index) == 9
    assert index.get("srv") == IndexedDocument("srv", "green moon server", {"v": 2})
    assert index.get("new").metadata == {}
    assert [h.id for h in index.search("green moon server", k=9)].count("srv") == 1


def test_reopen_restores_everything(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as idx:
        idx.add(texts[:5], ids=ids[:5], metadata=metas[:5])
        idx.add(texts[5:], ids=ids[5:], metadata=metas[5:])
        idx.delete("py-lib")
        idx.set_weights(ScoreWeights(0.5, 1.0))
        before = idx.search(["red star", "rust tool"], k=5)
    with SmartIndex.open(path, tiny_encoder, read_only=True) as again:
        assert again.ids() == [i for i in ids if i != "py-lib"]
        assert again.weights == ScoreWeights(0.5, 1.0)
        assert again.compression == "residual-2"
        assert again.search(["red star", "rust tool"], k=5) == before
        with pytest.raises(ReadOnlyIndexError):
            again.add(["x"])


def test_open_rebuilds_recorded_encoder(tmp_path, tiny_model_dir):
    path = tmp_path / "idx"
    with SmartIndex.create(path, str(tiny_model_dir), compression="fp16") as idx:
        idx.add(["red star"], ids=["a"])
    with SmartIndex.open(path) as again:
        assert again.encoder.describe() == idx.encoder.describe()
        assert again.search("red star", k=1)[0].id == "a"


def test_model_mismatch_is_a_clear_error(tmp_path, tiny_encoder, tiny_model_dir):
    path = tmp_path / "idx"
    SmartIndex.create(path, tiny_encoder, compression="fp16").close()
    other = SmartEncoder(str(tiny_model_dir), device="cpu", token_policy=TokenPolicy(skip_punctuation=True))
    with pytest.raises(ValueError, match="differing fields: token_policy"):
        SmartIndex.open(path, other)
    with pytest.raises(FileExistsError, match="already exists"):
        SmartIndex.create(path, tiny_encoder)
    with pytest.raises(ValueError, match="compression 'fp16', not 'int8'"):
        SmartIndex.create(path, tiny_encoder, compression="int8", exist_ok=True)
    with pytest.raises(FileNotFoundError, match="no SMART index"):
        SmartIndex.open(tmp_path / "nothing", tiny_encoder)


@pytest.mark.parametrize("target", ["tok_vectors.npy", "docs.jsonl", "manifest"])
def test_corrupted_files_are_detected(tmp_path, tiny_encoder, target):
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="fp32") as idx:
        idx.add(["red star marker", "blue moon code"], ids=["a", "b"])
    if target == "manifest":
        (path / "manifest.json").write_text("{ not json")
        with pytest.raises(IndexCorruptedError, match="manifest is corrupted"):
            SmartIndex.open(path, tiny_encoder)
        return
    victim = next((path / "segments").glob(f"*/{target}"))
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0xFF  # same size, one flipped byte
    victim.write_bytes(bytes(data))
    with pytest.raises(IndexCorruptedError, match=f"{target} fails its SHA-256 check"):
        SmartIndex.open(path, tiny_encoder)
    victim.write_bytes(bytes(data[:-10]))
    with pytest.raises(IndexCorruptedError, match="truncated"):
        SmartIndex.open(path, tiny_encoder, verify=False)


def test_reader_sees_writer_commits(tmp_path, tiny_encoder):
    path = tmp_path / "idx"
    writer = SmartIndex.create(path, tiny_encoder, compression="fp16")
    reader = SmartIndex.open(path, tiny_encoder, read_only=True)
    assert len(reader) == 0 and reader.search("red") == []
    writer.add(["red star", "blue moon"], ids=["a", "b"])
    assert reader.ids() == ["a", "b"]
    writer.delete("a")
    assert [h.id for h in reader.search("red star", k=5)] == ["b"]
    assert reader.version == writer.version == 2


def test_rerank_and_explain(index, tiny_encoder, corpus):
    ids, texts, _ = corpus
    hits = index.rerank("rust command tool", ["srv", "rust-tool", "java-rt"], k=2)
    assert [h.id for h in hits][0] == "rust-tool" and len(hits) == 2
    assert all(isinstance(h, SearchHit) for h in hits)
    full = {h.id: h.score for h in index.search("rust command tool", k=8)}
    assert hits[0].score == pytest.approx(full["rust-tool"], abs=1e-5)
    with pytest.raises(KeyError, match="ghost"):
        index.rerank("x", ["ghost"])
    evidence = index.explain("rust command tool", "rust-tool")
    assert evidence.late == pytest.approx(np.mean([m.similarity for m in evidence.matches]), abs=1e-5)
    assert evidence.score == pytest.approx(full["rust-tool"], abs=1e-5)
    text = texts[ids.index("rust-tool")]
    assert [m.query_token for m in evidence.matches] == ["rust", "command", "tool"]
    assert evidence.matches[0].doc_token == "rust"
    assert evidence.strongest(1)[0].similarity == max(m.similarity for m in evidence.matches)
    for m in evidence.matches:
        start, end = m.doc_span
        assert text[start:end] == m.doc_token


def test_temporary_index_removed_on_close(tiny_encoder):
    idx = SmartIndex.create(None, tiny_encoder, compression="fp16")
    idx.add(["red star"])
    folder = idx.path
    assert (folder / "manifest.json").exists()
    idx.close()
    assert not folder.exists()
    with pytest.raises(ValueError, match="closed"):
        len(idx)


def test_info_reports_sizes(index):
    info = index.info()
    assert info["documents"] == 8 and info["compression"] == "fp32"
    assert info["token_bytes_per_token"] == 4 * 32 == info["fp32_bytes_per_token"]
    assert info["tokens"] > 8 and json.dumps(info)


def test_hnsw_first_stage_agrees_on_small_index(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    with SmartIndex.create(tmp_path / "h", tiny_encoder, compression="fp32", first_stage="hnsw") as idx:
        idx.add(texts, ids=ids, metadata=metas)
        idx.delete("srv")
        exact = idx.search("red star", k=3, exhaustive=True)
        approx = idx.search("red star", k=3, candidates=6)
        assert "srv" not in {h.id for h in approx}
        assert [h.id for h in approx] == [h.id for h in exact]


def test_hnsw_graph_follows_adds_and_other_writers_after_a_search(tmp_path, tiny_encoder):
    """The graph is reused while the segments are unchanged, and extended as soon as they change
    (more documents than candidates, so the HNSW stage, not the exact one, answers)."""
    words = "red green blue star moon apple banana java rust perl python server client module index".split()
    texts = [f"{words[i % 15]} {words[(i * 7) % 15]} {words[(i * 11) % 15]} number {i}" for i in range(40)]
    with SmartIndex.create(tmp_path / "h", tiny_encoder, compression="fp32", first_stage="hnsw", weights="1:0") as idx:
        idx.add(texts[:20], ids=[str(i) for i in range(20)])
        idx.search("red star", k=2, candidates=4)
        idx.search("red star", k=2, candidates=4)  # unchanged segments: nothing to sync
        idx.add(texts[20:], ids=[str(i) for i in range(20, 40)])
        assert idx.search(texts[33], k=1, candidates=4)[0].id == "33"
        with SmartIndex.open(tmp_path / "h", tiny_encoder) as other:
            other.add(["a brand new text about green apples"], ids=["new"])
        assert idx.search("a brand new text about green apples", k=1, candidates=4)[0].id == "new"


def test_add_encoded_and_search_encoded_match_text_paths(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    with SmartIndex.create(tmp_path / "e", tiny_encoder, compression="fp32") as idx:
        idx.add_encoded(tiny_encoder.encode_documents(texts), texts, ids=ids, metadata=metas)
        queries = ["red star", "java runtime"]
        assert idx.search_encoded(tiny_encoder.encode_queries(queries), k=4) == idx.search(queries, k=4)
        with pytest.raises(ValueError, match="encoded holds 8 texts but 1"):
            idx.add_encoded(tiny_encoder.encode_documents(texts), ["one"])


def test_two_writers_on_one_folder_keep_both_commits(tmp_path, tiny_encoder):
    path = tmp_path / "idx"
    first = SmartIndex.create(path, tiny_encoder, compression="fp16")
    second = SmartIndex.open(path, tiny_encoder)
    first.add(["red star"], ids=["a"])
    second.add(["blue moon"], ids=["b"])  # refreshes to the first writer's commit under the lock
    first.delete("b")
    with pytest.raises(ValueError, match="already in the index: 'a'"):
        second.add(["again"], ids=["a"])
    assert first.ids() == second.ids() == ["a"]
    first.close()
    second.close()


def test_failed_add_leaves_no_trace(tmp_path, tiny_encoder, monkeypatch):
    import smart_plugins.index.local_store as module

    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="residual-2") as idx:
        def broken(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(module, "write_segment", broken)
        with pytest.raises(OSError, match="disk full"):
            idx.add(["red star"], ids=["a"])  # the codec was trained for this add, then the write failed
        monkeypatch.undo()
        assert len(idx) == 0 and idx.version == 0
        idx.add(["blue moon code"], ids=["b"])  # trains and persists the codec for real
    with SmartIndex.open(path, tiny_encoder) as again:
        assert again.info()["codec"]["n_centroids"] >= 1
        assert again.search("blue moon", k=1)[0].id == "b"


def test_segments_of_the_older_residual_layout_still_score_the_same(tmp_path, tiny_encoder, corpus):
    """Segments written before residual rows carried their norm (two files, no norms) still read."""
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    queries = ["red star labels", "java runtime", "perl documentation data"]
    with SmartIndex.create(path, tiny_encoder, compression="residual-4") as idx:
        idx.add(texts[:4], ids=ids[:4], metadata=metas[:4])
        idx.add(texts[4:], ids=ids[4:], metadata=metas[4:])
        before = idx.search(queries, k=8, exhaustive=True)
        packed, centroid_ids, _ = idx._codec._fields({"codes": np.asarray(idx._segments[0].token_arrays["codes"])})
    manifest = json.loads((path / "manifest.json").read_text())
    first = manifest["segments"][0]
    folder = path / "segments" / first["name"]
    del first["files"]["tok_codes.npy"]  # rewrite the first segment as an older version wrote it
    (folder / "tok_codes.npy").unlink()
    for name, array in (("centroid_ids", centroid_ids.astype(np.uint16)), ("residuals", np.ascontiguousarray(packed))):
        np.save(folder / f"tok_{name}.npy", array)
        data = (folder / f"tok_{name}.npy").read_bytes()
        first["files"][f"tok_{name}.npy"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest.pop("manifest_sha256")  # older versions wrote no manifest checksum either
    (path / "manifest.json").write_text(json.dumps(manifest))
    with SmartIndex.open(path, tiny_encoder) as idx:
        assert set(idx._segments[0].token_arrays) == {"centroid_ids", "residuals"}
        assert set(idx._segments[1].token_arrays) == {"codes"}
        after = idx.search(queries, k=8, exhaustive=True)
        assert idx.explain(queries[0], "red-star").matches
    for old, new in zip(before, after):
        assert [h.id for h in old] == [h.id for h in new]
        for a, b in zip(old, new):
            assert a.late == pytest.approx(b.late, abs=1e-5)


def test_a_refused_reopen_closes_the_index_it_opened(tmp_path, tiny_encoder):
    """create(exist_ok=True) with another compression raises, and releases the index it opened to check:
    no memory map of the folder stays open while the error (and its traceback) is alive."""
    from pathlib import Path

    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="fp16") as idx:
        idx.add(["red star marker", "blue moon code"], ids=["a", "b"])
    with pytest.raises(ValueError, match="compression 'fp16', not 'int8'") as refused:
        SmartIndex.create(path, tiny_encoder, compression="int8", exist_ok=True)
    opened = [v for entry in refused.traceback for v in entry.frame.f_locals.values() if isinstance(v, SmartIndex)]
    assert opened and all(index.store.closed for index in opened)
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the segments' memory maps are gone
        assert str(path.resolve()) not in maps.read_text()
    with SmartIndex.create(path, tiny_encoder, compression="fp16", exist_ok=True) as again:  # and it opens for writing
        again.add(["green apple"], ids=["c"])
        assert len(again) == 3
