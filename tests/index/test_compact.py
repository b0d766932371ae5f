"""SmartIndex.compact: deleted documents leave the disk, everything else reads and scores the same."""

from __future__ import annotations

import numpy as np
import pytest

from smart_plugins.index import ReadOnlyIndexError, SmartIndex

QUERIES = ["red star marker", "python library files", "blue moon", "rust tool search"]


def _segment_files(path):
    return sorted(p.name for p in (path / "segments").iterdir())


def _snapshot(index):
    """Everything a user can observe, plus the raw stored codes of every live document."""
    ids = index.ids()
    docs = index.get(ids)
    codes = {}
    for doc_id in ids:
        s, row = index._id_map[doc_id]
        segment = index._segments[s]
        arrays, offsets, index_rows = segment.gather_tokens(np.array([row]))
        codes[doc_id] = (
            {name: np.array(a) for name, a in arrays.items()},
            np.array(segment.pooled[row]),
            np.array(segment.token_ids[index_rows]),
            np.array(segment.positions[index_rows]),
        )
    searches = [index.search(QUERIES, k=len(ids)), index.search(QUERIES, k=3, exhaustive=True),
                index.search(QUERIES[0], k=5, where={"color": "red"})]
    return ids, docs, codes, searches


def _assert_same_hits(before, after):
    assert len(before) == len(after)
    for hits_b, hits_a in zip(before, after):
        assert [h.id for h in hits_a] == [h.id for h in hits_b]
        assert [h.metadata for h in hits_a] == [h.metadata for h in hits_b]
        for hb, ha in zip(hits_b, hits_a):
            assert ha.score == pytest.approx(hb.score, rel=1e-6, abs=1e-6)
            assert ha.pooled == pytest.approx(hb.pooled, rel=1e-6, abs=1e-6)
            assert ha.late == pytest.approx(hb.late, rel=1e-6, abs=1e-6)


@pytest.fixture()
def filled(tmp_path, tiny_encoder, corpus, request):
    """An index of three segments (3 + 3 + 2 docs) with deletes in the first two."""
    ids, texts, metas = corpus
    index = SmartIndex.create(tmp_path / "idx", tiny_encoder, compression=getattr(request, "param", "residual-2"))
    for lo, hi in ((0, 3), (3, 6), (6, 8)):
        index.add(texts[lo:hi], ids=ids[lo:hi], metadata=metas[lo:hi])
    index.delete(["blue-moon", "perl-doc", "java-rt"])  # 1 of 3 in seg 0, 2 of 3 in seg 1, none in seg 2
    yield index
    index.close()


@pytest.mark.parametrize("filled", ["residual-2", "int8", "fp16"], indirect=True)
def test_compact_keeps_ids_docs_codes_and_scores_and_shrinks_disk(filled):
    index = filled
    ids, docs, codes, searches = _snapshot(index)
    info_before = index.info()
    segments_before = _segment_files(index.path)
    version = index.version

    summary = index.compact()

    assert summary["committed"] and summary["version"] == version + 1 == index.version
    assert summary["segments_rewritten"] == 2 and summary["documents_dropped"] == 3 and summary["tokens_dropped"] > 0
    assert summary["documents"] == len(index) == len(ids) == 5
    assert summary["bytes_after"] < summary["bytes_before"] == info_before["disk_bytes"]
    info = index.info()
    assert info["disk_bytes"] == summary["bytes_after"]
    assert info["deleted_documents"] == 0 and info_before["deleted_documents"] == 3
    assert info["tokens"] == info["stored_tokens"] == info_before["tokens"]
    # the two rewritten segments were replaced by new folders, the clean one kept; old folders collected
    segments_after = _segment_files(index.path)
    assert segments_after[0] == segments_before[2] and len(segments_after) == 3
    assert not set(segments_after[1:]) & set(segments_before)

    ids2, docs2, codes2, searches2 = _snapshot(index)
    assert ids2 == ids  # same ids, same (insertion) order
    assert docs2 == docs
    for doc_id, (arrays, pooled, token_ids, positions) in codes.items():
        arrays2, pooled2, token_ids2, positions2 = codes2[doc_id]
        assert arrays2.keys() == arrays.keys()
        for name in arrays:  # bit-identical codes: nothing re-encoded or re-quantised
            assert arrays2[name].dtype == arrays[name].dtype
            assert np.array_equal(arrays2[name], arrays[name])
        assert np.array_equal(pooled2, pooled) and np.array_equal(token_ids2, token_ids)
        assert np.array_equal(positions2, positions)
    for before, after in zip(searches, searches2):
        _assert_same_hits(before if isinstance(before[0], list) else [before], after if isinstance(after[0], list) else [after])

    # the reopened index (verifying every checksum) is the compacted one
    with SmartIndex.open(index.path, index.encoder, verify=True) as reopened:
        assert reopened.ids() == ids and reopened.version == index.version
        _assert_same_hits(searches[0], reopened.search(QUERIES, k=len(ids)))


def test_deleted_ids_stay_gone_and_can_be_added_again(filled):
    index = filled
    index.compact()
    for gone in ("blue-moon", "perl-doc", "java-rt"):
        assert gone not in index
        with pytest.raises(KeyError, match=gone):
            index.get(gone)
    assert "blue-moon" not in {h.id for h in index.search("blue moon code module", k=10)}
    index.add(["blue moon code module again", "orange"], ids=["blue-moon", "extra"],
              metadata=[{"color": "blue", "n": 99}, {}])
    assert index.get("blue-moon").metadata == {"color": "blue", "n": 99}
    assert index.ids()[-2:] == ["blue-moon", "extra"] and len(index) == 7
    assert "blue-moon" in {h.id for h in index.search("blue moon code module", k=10)}
    index.delete("blue-moon")
    assert index.compact()["documents_dropped"] == 1
    assert "blue-moon" not in index and index.ids()[-1] == "extra"


def test_compact_without_deletes_is_a_noop(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="int8") as index:
        index.add(texts, ids=ids, metadata=metas)
        version, files = index.version, _segment_files(index.path)
        summary = index.compact()
        assert not summary["committed"]
        assert summary["segments_rewritten"] == summary["documents_dropped"] == 0
        assert summary["version"] == summary["version_before"] == version == index.version
        assert summary["bytes_after"] == summary["bytes_before"]
        assert _segment_files(index.path) == files
        assert index.ids() == ids
        # an empty index as well
    with SmartIndex.create(tmp_path / "empty", tiny_encoder, compression="int8") as empty:
        assert empty.compact()["committed"] is False and empty.version == 0


def test_min_deleted_share_picks_segments(filled):
    index = filled  # seg 0: 1/3 deleted, seg 1: 2/3 deleted
    summary = index.compact(min_deleted_share=0.5)
    assert summary["segments_rewritten"] == 1 and summary["documents_dropped"] == 2
    assert index.info()["deleted_documents"] == 1  # blue-moon's tombstone remains in seg 0
    assert index.compact(min_deleted_share=0.5)["committed"] is False
    assert index.compact(min_deleted_share=0.3)["documents_dropped"] == 1
    assert index.info()["deleted_documents"] == 0


@pytest.mark.parametrize("bad, error", [(-0.1, ValueError), (1.5, ValueError), ("0.5", TypeError), (True, TypeError)])
def test_min_deleted_share_is_checked(filled, bad, error):
    with pytest.raises(error, match="min_deleted_share"):
        filled.compact(min_deleted_share=bad)
    assert filled.info()["deleted_documents"] == 3


def test_read_only_index_cannot_compact(filled):
    with SmartIndex.open(filled.path, filled.encoder, read_only=True) as reader:
        with pytest.raises(ReadOnlyIndexError):
            reader.compact()


def test_reader_of_the_old_version_keeps_working(filled):
    writer = filled
    with SmartIndex.open(writer.path, writer.encoder, read_only=True) as reader:
        before = reader.search(QUERIES, k=5)
        old_segments = list(reader._segments)  # the state this reader loaded
        writer.compact()
        # the old folders are gone from disk, yet the loaded version still reads (memory maps)
        assert not old_segments[0].folder.exists()
        assert old_segments[0].read_docs([0])[0]["text"] == "red star marker labels"
        assert old_segments[1].all_metadata()[0] == {"color": "red", "n": 4}
        # the reader's next call sees the compacted version, with the same results
        _assert_same_hits(before, reader.search(QUERIES, k=5))
        assert reader.version == writer.version


def test_compact_with_hnsw_first_stage(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp16", first_stage="hnsw") as index:
        index.add(texts[:4], ids=ids[:4], metadata=metas[:4])
        index.add(texts[4:], ids=ids[4:], metadata=metas[4:])
        index.delete(["red-star", "srv"])
        before = index.search(QUERIES, k=3, candidates=4)
        index.compact()
        _assert_same_hits(before, index.search(QUERIES, k=3, candidates=4))
