"""Documents over the multivector cap on Qdrant: stored in chunks when the encoder chunks long
texts (``truncation="chunk"``), returned once and scored over all their tokens as the local store
scores them; refused, naming the cap, otherwise. The cap is made small here (the real one is
1,048,576 floats)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from smart_plugins.encoder import SmartEncoder
from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")

CAP = 6 * 32  # floats: 6 tokens of the tiny model's 32 dims


def _texts(n: int, seed: int) -> list[str]:
    from tests.conftest import TINY_WORDS

    rng = random.Random(seed)
    return [" ".join(rng.choice(TINY_WORDS) for _ in range(rng.randint(3, 30))) for _ in range(n)]


def _qdrant(kind: str, path, encoder) -> SmartIndex:
    options = {"max_multivector_floats": CAP}
    if kind == "qdrant":
        options.update(url=str(path.parent / f"{path.name}-server"), collection="docs")
    return SmartIndex.create(path, encoder, store=kind, weights=ScoreWeights(1.0, 1.0), store_options=options)


@pytest.fixture()
def chunking_encoder(tiny_model_dir):
    return SmartEncoder(str(tiny_model_dir), device="cpu", truncation="chunk", chunk_overlap=8)


@pytest.mark.parametrize("kind", ["qdrant-edge", "qdrant"])
def test_long_documents_are_stored_in_chunks_and_found_once(kind, tmp_path, chunking_encoder):
    texts = _texts(60, seed=11)
    ids = [f"d{i}" for i in range(len(texts))]
    encoded = chunking_encoder.encode_documents(texts)
    lengths = encoded.lengths.tolist()
    long_ids = [i for i, n in zip(ids, lengths) if n * 32 > CAP]
    assert len(long_ids) > 20 and max(lengths) > 3 * CAP // 32  # many documents of two chunks and more
    queries = chunking_encoder.encode_queries(_texts(8, seed=12))
    local = SmartIndex.create(tmp_path / "local", chunking_encoder, compression="fp16", weights=ScoreWeights(1.0, 1.0))
    index = _qdrant(kind, tmp_path / "q", chunking_encoder)
    with local, index:
        local.add_encoded(encoded, texts, ids=ids)
        index.add_encoded(encoded, texts, ids=ids)
        assert len(index) == len(texts) and index.ids() == ids and index.info()["documents"] == len(texts)
        assert index.info()["tokens"] == local.info()["tokens"] == sum(lengths)
        for exhaustive in (False, True):
            for a, b in zip(local.search_encoded(queries, k=10, exhaustive=exhaustive),
                            index.search_encoded(queries, k=10, exhaustive=exhaustive)):
                assert len({h.id for h in b}) == len(b) == 10  # each document once
                assert [h.id for h in b] == [h.id for h in a]
                assert np.allclose([h.score for h in b], [h.score for h in a], atol=1e-3)
                assert np.allclose([h.late for h in b], [h.late for h in a], atol=1e-3)
        assert any(h.id in long_ids for row in index.search_encoded(queries, k=10) for h in row)
        reranked = index.rerank("red star marker", long_ids[:5] + ids[:3], k=4)
        expected = local.rerank("red star marker", long_ids[:5] + ids[:3], k=4)
        assert [h.id for h in reranked] == [h.id for h in expected]
        doc = long_ids[0]
        assert len(index.store.document_tokens(doc).tokens) == len(local.store.document_tokens(doc).tokens)
        evidence = index.explain("red star marker", doc)
        assert evidence.late == pytest.approx(local.explain("red star marker", doc).late, abs=1e-3)

        points = index.store._backend.count()  # every point: documents and their further chunks
        assert points > len(texts)
        index.upsert(["red star"], ids=[doc])  # a long document replaced by a short one: its chunks go
        index.delete(long_ids[1])
        left = len(texts) - 1
        assert len(index) == left and doc in index and long_ids[1] not in index
        chunks_of = lambda i: -(-lengths[ids.index(i)] * 32 // CAP) - 1  # noqa: E731
        assert index.store._backend.count() == points - 1 - chunks_of(doc) - chunks_of(long_ids[1])
        hits = index.search("red star", k=left, exhaustive=True)
        assert len({h.id for h in hits}) == len(hits) == left and doc in {h.id for h in hits}
    with SmartIndex.open(tmp_path / "q", chunking_encoder) as again:  # reopened: still one hit per document
        hits = again.search_encoded(queries, k=left, exhaustive=True)
        assert all(len({h.id for h in row}) == len(row) == left for row in hits)


@pytest.mark.parametrize("kind", ["qdrant-edge", "qdrant"])
def test_without_chunking_a_long_document_is_refused_naming_the_cap(kind, tmp_path, tiny_encoder):
    with _qdrant(kind, tmp_path / "q", tiny_encoder) as index:
        index.add(["red star"], ids=["short"])
        long_text = " ".join(["python library development files"] * 4)
        with pytest.raises(ValueError, match=r"texts\[1\] \(id 'long'\) has \d+ tokens .* cap of 192 floats "
                                             r"\(6 tokens at 32-d\).*truncation='chunk'"):
            index.add(["blue moon", long_text], ids=["ok", "long"])
        assert index.ids() == ["short"] and index.version == 1  # nothing of the refused batch


def test_the_cap_is_checked(tmp_path, tiny_encoder):
    for bad in (0, 2_000_000, 1.5):
        with pytest.raises(ValueError, match="max_multivector_floats must be an integer in \\[1, 1,048,576\\]"):
            SmartIndex.create(tmp_path / f"q{bad}", tiny_encoder, store="qdrant-edge", store_options={"max_multivector_floats": bad})
