"""The pooled prefetch of a Qdrant search uses the local HNSW first stage's beam-width rule.

Without an explicit ``hnsw_ef`` Qdrant searches its HNSW graph with the collection's
``ef_construct`` (100), narrower than the 100+ candidates a SMART query asks for (measured on
debian-synopsis with Qdrant Edge: top-10 agreement with the exact hybrid 0.979 at Qdrant's
default, 0.983 with this rule, 0.993 at 400; docs/scale-out.md)."""

from __future__ import annotations

import pytest

from smart_plugins.index import SmartIndex
from smart_plugins.index.qdrant_backend import prefetch_ef
from smart_plugins.scoring import ScoreWeights

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")


def test_prefetch_ef_follows_the_local_hnsw_rule():
    from smart_plugins.index.validation import FIRST_STAGE_OPTIONS

    default = FIRST_STAGE_OPTIONS["hnsw"]["ef_search"][0]
    assert prefetch_ef(10) == default
    assert prefetch_ef(default + 372) == default + 372


@pytest.mark.parametrize("kind", ["qdrant-edge", "qdrant"])
def test_every_search_hands_the_backend_its_beam_width(kind, tmp_path, tiny_encoder):
    options = {"url": str(tmp_path / "server"), "collection": "docs"} if kind == "qdrant" else {}
    texts = [f"alpha beta document {i} gamma" for i in range(150)]
    with SmartIndex.create(tmp_path / "q", tiny_encoder, store=kind, weights=ScoreWeights(1, 1), store_options=options) as index:
        index.add(texts)
        backend = index._store._backend
        plans = []
        query = backend.query

        def recording(plan):
            plans.append(plan)
            return query(plan)

        backend.query = recording
        index.search("alpha document", k=5, candidates=20)
        index.search("alpha document", k=5, candidates=140)
        index.search("alpha document", k=5, exhaustive=True)
    assert [p.hnsw_ef for p in plans[:2]] == [prefetch_ef(20), 140] and prefetch_ef(20) > 20
    assert [p.exact for p in plans] == [False, False, True]
