"""Qdrant stores read what is committed: two store objects on one folder or collection see each
other's documents, weights and version (the guarantee the local store gives)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.scoring import ScoreWeights

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")


@pytest.fixture(params=["qdrant-edge", "qdrant"])
def pair(request, tmp_path, tiny_encoder):
    """A writer and a reader: two SmartIndex objects on one Edge folder / one server collection."""
    path = tmp_path / "idx"
    if request.param == "qdrant-edge":
        writer = SmartIndex.create(path, tiny_encoder, store="qdrant-edge", weights=ScoreWeights(1.0, 1.0))
        reader = SmartIndex.open(path, tiny_encoder)
    else:
        from qdrant_client import QdrantClient

        client = QdrantClient(":memory:")  # one server, two clients' worth of store objects
        writer = SmartIndex.create(
            path, tiny_encoder, store="qdrant", weights=ScoreWeights(1.0, 1.0),
            store_options={"client": client, "collection": "docs"},
        )
        reader = SmartIndex.open(path, tiny_encoder, client=client)
    yield writer, reader
    reader.close()
    writer.close()


def test_a_second_store_object_reads_what_the_first_commits(pair, corpus):
    writer, reader = pair
    ids, texts, metas = corpus
    assert reader.version == writer.version and len(reader) == 0
    writer.add(texts, ids=ids, metadata=metas)
    assert reader.version == writer.version and reader.ids() == ids
    assert reader.search("red star", k=1)[0].id == "red-star"

    weights = ScoreWeights(0.25, 3.0)
    writer.set_weights(weights)
    assert reader.weights == weights and reader.version == writer.version
    hit = reader.search("python library files", k=1)[0]
    assert hit.score == pytest.approx(weights.combine(hit.pooled, hit.late), abs=1e-5)  # searched with the new weights
    assert reader.info()["weights"] == weights.as_dict()

    reader.delete("srv")  # and the other way round
    assert writer.version == reader.version and "srv" not in writer
    writer.set_weights(ScoreWeights(1.0, 0.5))
    reader.set_weights(ScoreWeights(2.0, 1.0))  # a write on stale settings keeps every earlier commit
    assert writer.weights == ScoreWeights(2.0, 1.0) and writer.version == reader.version == 5


def test_closing_one_store_object_leaves_the_other_open(pair, corpus):
    writer, reader = pair
    ids, texts, metas = corpus
    writer.add(texts, ids=ids, metadata=metas)
    reader.close()
    assert len(writer) == 8 and writer.search("red star", k=1)[0].id == "red-star"


CHILD = textwrap.dedent(
    """
    import sys
    from smart_plugins.index import SmartIndex, IndexLockedError

    try:
        SmartIndex.open(sys.argv[1], sys.argv[2])
    except IndexLockedError as exc:
        print("LOCKED", exc)
    """
)


@pytest.mark.slow
def test_an_edge_shard_held_by_another_process_is_refused_clearly(tmp_path, tiny_encoder, tiny_model_dir):
    path = tmp_path / "idx"
    with SmartIndex.create(path, tiny_encoder, store="qdrant-edge") as index:
        index.add(["red star marker"], ids=["r"])
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(tiny_model_dir)], capture_output=True, text=True, env=env, timeout=300
        )
        assert "LOCKED" in out.stdout and "open in another process" in out.stdout, out.stdout + out.stderr
        assert "store='qdrant'" in out.stdout
    with SmartIndex.open(path, tiny_encoder) as again:  # released on close
        assert again.ids() == ["r"]
