"""export_to_qdrant: a local index copied into Qdrant without re-encoding scores as the source."""

from __future__ import annotations

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.export import export_to_qdrant

pytest.importorskip("qdrant_edge")
qdrant_client = pytest.importorskip("qdrant_client")


@pytest.mark.parametrize("compression", ["fp32", "residual-2"])
def test_export_to_a_server_collection_keeps_ids_order_and_scores(tmp_path, tiny_encoder, corpus, compression):
    ids, texts, metas = corpus
    client = qdrant_client.QdrantClient(":memory:")
    with SmartIndex.create(tmp_path / "local", tiny_encoder, compression=compression) as local:
        local.add(texts[:5], ids=ids[:5], metadata=metas[:5])
        local.add(texts[5:], ids=ids[5:], metadata=metas[5:])
        local.delete("blue-moon")
        before = local.search(["red star library", "java runtime"], k=6)
        with export_to_qdrant(local, tmp_path / "copy", client=client, collection="c", token_dtype="float32") as copy:
            assert copy.ids() == local.ids() and copy.get("srv") == local.get("srv")
            assert copy.info()["weights_source"] == local.info()["weights_source"] == {"kind": "auto", "documents": 0}
            after = copy.search(["red star library", "java runtime"], k=6)
    for a, b in zip(before, after):  # the codec's reconstruction is what was exported: same scores
        assert [h.id for h in a] == [h.id for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)


def test_export_refuses_bad_targets(tmp_path, tiny_encoder):
    with SmartIndex.create(tmp_path / "local", tiny_encoder, compression="fp16") as local:
        with pytest.raises(ValueError, match="collection= names a server collection"):
            export_to_qdrant(local, tmp_path / "x", collection="c")
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            export_to_qdrant(local, tmp_path / "y", chunk=0)
        with export_to_qdrant(local, tmp_path / "edge") as edge:
            with pytest.raises(TypeError, match="copies a local index"):
                export_to_qdrant(edge, tmp_path / "z")


def test_export_of_a_pooled_index_keeps_its_factor_and_pools_once(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    with SmartIndex.create(tmp_path / "local", tiny_encoder, compression="fp32", token_pool_factor=2.0) as local:
        local.add(texts, ids=ids, metadata=metas)
        stored = local.info()["tokens"]
        before = local.search(["red star library", "java runtime"], k=4)
        with export_to_qdrant(local, tmp_path / "edge", token_dtype="float32") as copy:
            assert copy.store.token_pool_factor == 2.0
            assert copy.info()["tokens"] == stored  # copied as stored, not pooled a second time
            after = copy.search(["red star library", "java runtime"], k=4)
            extra = "a new document about red green blue stars and the moon over debian packages"
            copy.add([extra], ids=["new"])
            added = copy.info()["tokens"] - stored
        unpooled = len(tiny_encoder.encode([extra]).tokens)
        assert added < unpooled  # later writes to the copy are pooled with the recorded factor
    for a, b in zip(before, after):
        assert [h.id for h in a] == [h.id for h in b]
        assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
    with SmartIndex.open(tmp_path / "edge", tiny_encoder) as reopened:
        assert reopened.store.token_pool_factor == 2.0
