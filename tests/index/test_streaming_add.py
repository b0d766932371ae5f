"""``add`` encodes and writes one segment at a time, so its memory is bounded by a segment."""

from __future__ import annotations

import pytest

import smart_plugins.index.local_store as local_store
import smart_plugins.index.smart_index as smart_index
from smart_plugins.index import SmartIndex


@pytest.fixture()
def trace(monkeypatch, tiny_encoder):
    events: list[str] = []
    real_encode, real_write = tiny_encoder.encode_documents, local_store.write_segment

    def encode(texts, **kwargs):
        events.append(f"encode {len(texts)}")
        return real_encode(texts, **kwargs)

    def write(folder, **kwargs):
        events.append(f"write {len(kwargs['ids'])}")
        return real_write(folder, **kwargs)

    monkeypatch.setattr(smart_index, "SEGMENT_DOCS", 2)
    monkeypatch.setattr(tiny_encoder, "encode_documents", encode)
    monkeypatch.setattr(local_store, "write_segment", write)
    yield events
    monkeypatch.undo()


TEXTS = [f"red star marker {i}" for i in range(7)]


@pytest.mark.parametrize("call", ["add", "upsert"])
def test_each_segment_is_written_before_the_next_is_encoded(tmp_path, tiny_encoder, trace, call):
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp16") as index:
        getattr(index, call)(TEXTS, ids=[f"d{i}" for i in range(7)])
        assert index.ids() == [f"d{i}" for i in range(7)] and index.version == 1
    assert trace == ["encode 2", "write 2", "encode 2", "write 2", "encode 2", "write 2", "encode 1", "write 1"]


def test_a_codec_is_trained_on_the_first_segments_only(tmp_path, tiny_encoder, trace):
    from smart_plugins.index.codecs import TRAIN_BATCHES

    texts = TEXTS * 2
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="residual-2") as index:
        index.add(texts, ids=[f"d{i}" for i in range(len(texts))])
        assert len(index) == len(texts) and index.search("red star marker 3", k=1)
    held = [f"encode 2"] * TRAIN_BATCHES + ["write 2"] * TRAIN_BATCHES  # tiny texts: the batch cap binds
    assert trace[: 2 * TRAIN_BATCHES] == held
    assert trace[2 * TRAIN_BATCHES :] == ["encode 2", "write 2", "encode 2", "write 2", "encode 2", "write 2"]


def test_a_failure_mid_stream_commits_nothing(tmp_path, tiny_encoder, trace, monkeypatch):
    calls = {"n": 0}
    real = tiny_encoder.encode_documents

    def fail_on_third(texts, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("encoder died")
        return real(texts, **kwargs)

    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, compression="fp16") as index:
        index.add(["blue moon"], ids=["a"])
        monkeypatch.setattr(tiny_encoder, "encode_documents", fail_on_third)
        with pytest.raises(RuntimeError, match="encoder died"):
            index.add(TEXTS)
        assert index.ids() == ["a"] and index.version == 1
        monkeypatch.setattr(tiny_encoder, "encode_documents", real)
        index.add(["green apple"], ids=["b"])  # the half-written segments are collected
        assert len(list((path / "segments").iterdir())) == 2


def test_add_encoded_hands_a_batch_of_one_segment_over_without_copying_it(tmp_path, tiny_encoder, monkeypatch):
    """A caller streaming its own segment-sized batches (an encoding cache, a million-document
    build) must not pay a gather of every token vector per batch; larger batches are split."""
    from smart_plugins.encoder import EncodedTexts

    monkeypatch.setattr(smart_index, "SEGMENT_DOCS", 3)
    selected: list[int] = []
    real_select = EncodedTexts.select

    def select(self, indices):
        selected.append(len(indices))
        return real_select(self, indices)

    monkeypatch.setattr(EncodedTexts, "select", select)
    texts = [f"red star marker {i}" for i in range(5)]
    encoded = real_select(tiny_encoder.encode_documents(texts), list(range(5)))
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp32") as index:
        index.add_encoded(real_select(encoded, [0, 1, 2]), texts[:3], ids=["a", "b", "c"])
        assert selected == []  # one segment's worth: the caller's batch as it is
        index.add_encoded(real_select(encoded, [3, 4]), texts[3:], ids=["d", "e"])
        assert selected == []
        both = index.search_encoded(tiny_encoder.encode_queries(["red star marker 4"]), k=5)[0]
        assert {h.id for h in both} == {"a", "b", "c", "d", "e"}
    selected.clear()
    with SmartIndex.create(tmp_path / "idx2", tiny_encoder, compression="fp32") as index:
        index.add_encoded(encoded, texts, ids=list("abcde"))  # two segments: split, as before
        assert selected == [3, 2] and len(index.store._segments) == 2
        stored = [index.store.document_tokens(i).tokens for i in "abcde"]
    for i, tokens in enumerate(stored):
        assert (tokens == encoded.token_vectors(i)).all()


def test_an_add_keeps_the_id_entries_of_the_segments_it_did_not_touch(tmp_path, tiny_encoder):
    """Each commit reloads the state; an append must not rebuild the id map of every earlier
    segment (that made a million-document build quadratic). Deletes and upserts still rebuild it."""
    with SmartIndex.create(tmp_path / "idx", tiny_encoder, compression="fp16") as index:
        index.add(TEXTS[:3], ids=["a", "b", "c"])
        first = index.store._id_map["b"]
        index.add(TEXTS[3:5], ids=["d", "e"])
        assert index.store._id_map["b"] is first  # the same entry object: not rebuilt
        assert index.store._id_map["e"] == (1, 1)
        index.delete("a")  # tombstones change segment 0: its entries are rebuilt
        assert "a" not in index and index.store._id_map["b"] == (0, 1) and index.store._id_map["d"] == (1, 0)
        index.upsert([TEXTS[6]], ids=["d"])  # replaces d: segment 1 gets a tombstone, d lives in segment 2
        index.add([TEXTS[5]], ids=["f"])
        assert index.ids() == ["b", "c", "e", "d", "f"]
        assert {i: index.store._id_map[i] for i in index.ids()} == {"b": (0, 1), "c": (0, 2), "e": (1, 1), "d": (2, 0), "f": (3, 0)}
        assert index.get("d").text == TEXTS[6] and index.get("f").text == TEXTS[5]
    with SmartIndex.open(tmp_path / "idx", tiny_encoder) as reopened:
        assert reopened.ids() == ["b", "c", "e", "d", "f"] and reopened.store._id_map["d"] == (2, 0)
