"""One contract for every store behind SmartIndex: the local folder, Qdrant Edge, and a Qdrant
server collection (reached through qdrant-client's local mode, which speaks the server's API)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from smart_plugins.encoder import EncodedTexts
from smart_plugins.index import SmartIndex
from smart_plugins.index.filters import compile_filter
from smart_plugins.index.local_store import ReadOnlyIndexError
from smart_plugins.scoring import ScoreWeights, top_k

pytest.importorskip("qdrant_edge")
pytest.importorskip("qdrant_client")

STORES = ["local", "qdrant-edge", "qdrant"]


def _create(kind: str, path: Path, encoder, **kwargs) -> SmartIndex:
    # explicit 1:1 weights: the stores are compared on the same formula (an index created without
    # weights fits its own label-free default: test_label_free_default_is_fitted_on_every_store)
    kwargs.setdefault("weights", ScoreWeights(1.0, 1.0))
    if kind == "local":
        return SmartIndex.create(path, encoder, compression="fp16", **kwargs)
    options = {"url": str(path.parent / f"{path.name}-server"), "collection": "docs"} if kind == "qdrant" else {}
    options.update(kwargs.pop("store_options", {}))
    return SmartIndex.create(path, encoder, store=kind, store_options=options, **kwargs)


@pytest.fixture(params=STORES)
def kind(request) -> str:
    return request.param


@pytest.fixture()
def filled(kind, tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    path = tmp_path / "idx"
    index = _create(kind, path, tiny_encoder)
    index.add(texts, ids=ids, metadata=metas)
    yield index, path
    index.close()


def test_ids_order_membership_and_get(filled, corpus):
    index, _ = filled
    ids, texts, metas = corpus
    assert index.ids() == ids and len(index) == len(ids)
    assert "srv" in index and "nope" not in index and 3 not in index
    doc = index.get("perl-doc")
    assert (doc.text, doc.metadata) == (texts[4], metas[4])
    assert [d.id for d in index.get(["srv", "red-star"])] == ["srv", "red-star"]
    with pytest.raises(KeyError, match="'nope'"):
        index.get(["srv", "nope"])


def test_add_refuses_taken_ids_and_writes_nothing(filled):
    index, _ = filled
    version = index.version
    with pytest.raises(ValueError, match="already in the index: 'srv'"):
        index.add(["new text", "another"], ids=["fresh", "srv"])
    assert "fresh" not in index and len(index) == 8 and index.version == version


def test_upsert_replaces_in_place_of_nothing_else(filled):
    index, _ = filled
    index.upsert(["green apple banana text again", "a new rust tool"], ids=["red-star", "new"], metadata=[{"color": "x"}, None])
    assert len(index) == 9
    assert index.get("red-star").text == "green apple banana text again" and index.get("red-star").metadata == {"color": "x"}
    assert index.ids()[-2:] == ["red-star", "new"]  # a replaced document moves to the end, as in the local store
    assert [h.id for h in index.search("red star", k=9, where={"color": "x"})] == ["red-star"]


def test_delete(filled):
    index, _ = filled
    assert index.delete(["srv", "perl-doc", "srv"]) == 2
    assert len(index) == 6 and "srv" not in index
    with pytest.raises(KeyError, match="'nope'"):
        index.delete(["java-rt", "nope"])
    assert "java-rt" in index  # nothing of a refused delete happens
    assert all(h.id not in ("srv", "perl-doc") for h in index.search("server client search", k=8))


@pytest.mark.parametrize(
    "where",
    [
        {"color": "red"},
        {"color": ("red", "green")},
        {"n": {"$gte": 3, "$lt": 7}},
        {"color": "blue", "n": {"$gt": 2}},
        {"n": 4},
        {"n": {"$in": [1, 2, 8]}},
        {"color": {"$ne": "red"}, "n": {"$nin": [2, 5]}},
        {"$or": [{"color": "green"}, {"n": {"$lte": 2}}]},
        {"$and": [{"color": {"$in": ["red", "blue"]}}, {"$or": [{"n": 1}, {"n": {"$gt": 6.5}}]}]},
    ],
    ids=["equal", "any-of", "range", "equal-and-range", "int", "in", "ne-nin", "or", "nested"],
)
def test_filters(filled, corpus, where):
    index, _ = filled
    ids, _, metas = corpus
    passes = compile_filter(where)
    expected = {i for i, m in zip(ids, metas) if passes(m)}
    got = index.search("red star library", k=8, where=where)
    assert {h.id for h in got} == expected and expected
    subset = index.search("red star library", k=8, ids=["srv", "py-lib", "unknown"], where=where)
    assert {h.id for h in subset} == expected & {"srv", "py-lib"}


def test_scores_are_the_smart_hybrid(filled, tiny_encoder):
    index, _ = filled
    weights = ScoreWeights(0.5, 2.0)
    hits = index.search("python library files", k=3, weights=weights)
    for hit in hits:
        assert hit.score == pytest.approx(weights.combine(hit.pooled, hit.late), abs=1e-5)
        evidence = index.explain("python library files", hit.id, weights=weights)
        assert evidence.late == pytest.approx(hit.late, abs=2e-3) and evidence.pooled == pytest.approx(hit.pooled, abs=1e-4)
        assert evidence.late == pytest.approx(float(np.mean([m.similarity for m in evidence.matches])), abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    pooled_only = index.search("python library files", k=3, weights=ScoreWeights(1, 0))
    assert all(h.late is None for h in pooled_only)


def test_rerank_given_candidates(filled):
    index, _ = filled
    wanted = ["srv", "py-lib", "red-star", "java-rt"]
    reranked = index.rerank("python library", wanted, k=3)
    full = {h.id: h for h in index.search("python library", k=8, exhaustive=True)}
    expected = sorted(wanted, key=lambda i: -full[i].score)[:3]
    assert [h.id for h in reranked] == expected
    for hit in reranked:
        assert hit.score == pytest.approx(full[hit.id].score, abs=2e-3)
    with pytest.raises(KeyError, match="'nope'"):
        index.rerank("python library", ["srv", "nope"])


def test_bad_input(filled, kind):
    index, _ = filled
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search("x", k=0)
    with pytest.raises(TypeError, match=r"metadata\[0\]"):
        index.add(["a text"], metadata=[{"bad": object()}])
    with pytest.raises(ValueError, match=r"unsupported filter operator '\$regex'"):
        index.search("x", where={"n": {"$regex": "a.*"}})
    with pytest.raises(TypeError, match=r"ids\[1\] must be a non-empty string"):
        index.delete(["srv", ""])
    if kind != "local":
        with pytest.raises(TypeError, match="callable where= filter cannot run inside Qdrant"):
            index.search("x", where=lambda meta: True)
        with pytest.raises(TypeError, match=r"where\['color'\]: Qdrant filters match strings"):
            index.search("x", where={"color": ["red"]})
        with pytest.raises(TypeError, match=r"where\['color'\]\['\$gt'\]: Qdrant orders numbers only"):
            index.search("x", where={"color": {"$gt": "m"}})
    assert len(index) == 8


def test_encoder_binding_and_reopen(kind, tmp_path, tiny_encoder, tiny_model_dir, corpus):
    from tests.conftest import build_tiny_model_dir
    from smart_plugins.encoder import SmartEncoder

    ids, texts, metas = corpus
    path = tmp_path / "idx"
    with _create(kind, path, tiny_encoder) as index:
        index.add(texts, ids=ids, metadata=metas)
        before = index.search(["red star", "java runtime"], k=4)
        assert index.info()["store"] == kind and index.info()["documents"] == 8
    other = SmartEncoder(str(build_tiny_model_dir(tmp_path / "other", hidden=48)), device="cpu")
    with pytest.raises(ValueError, match="differing fields: .*token_dim: index has 32, encoder has 48"):
        SmartIndex.open(path, other)
    with SmartIndex.open(path, tiny_encoder) as again:
        assert again.ids() == ids
        after = again.search(["red star", "java runtime"], k=4)
        assert [[h.id for h in q] for q in after] == [[h.id for h in q] for q in before]
        assert np.allclose([h.score for q in after for h in q], [h.score for q in before for h in q], atol=1e-5)
    with SmartIndex.open(path, tiny_encoder, read_only=True) as reader:
        with pytest.raises(ReadOnlyIndexError):
            reader.add(["more"], ids=["more"])
        assert len(reader) == 8


def test_create_exist_ok_opens_the_same_store_only(kind, tmp_path, tiny_encoder):
    path = tmp_path / "idx"
    _create(kind, path, tiny_encoder).close()
    with pytest.raises(FileExistsError, match="an index already exists"):
        _create(kind, path, tiny_encoder)
    other = "qdrant-edge" if kind == "local" else "local"
    with pytest.raises(ValueError, match=f"uses store '{kind}', not '{other}'"):
        SmartIndex.create(path, tiny_encoder, exist_ok=True, store=other)
    with _create(kind, path, tiny_encoder, exist_ok=True) as again:
        assert again.store.kind == kind


def test_qdrant_refuses_documents_over_the_multivector_cap(tmp_path, tiny_encoder):
    tokens = torch.nn.functional.normalize(torch.randn(33_000, 32), dim=-1)  # 1,056,000 floats
    encoded = EncodedTexts.from_lists(torch.randn(2, 32), [tokens[:10], tokens])
    with _create("qdrant-edge", tmp_path / "idx", tiny_encoder) as index:
        with pytest.raises(ValueError, match=r"texts\[1\] \(id 'long'\) has 33000 tokens .* cap of 1,048,576 floats"):
            index.add_encoded(encoded, ["short", "long"], ids=["short", "long"])
        assert len(index) == 0


def test_server_collection_is_bound_to_its_encoder(tmp_path, tiny_encoder, tiny_model_dir):
    from qdrant_client import QdrantClient

    from smart_plugins.encoder import SmartEncoder
    from tests.conftest import build_tiny_model_dir

    client = QdrantClient(":memory:")
    with SmartIndex.create(tmp_path / "a", tiny_encoder, store="qdrant", store_options={"client": client, "collection": "c"}) as a:
        a.add(["red star marker"], ids=["r"])
    with pytest.raises(FileExistsError, match="collection 'c' already exists"):
        SmartIndex.create(tmp_path / "b", tiny_encoder, store="qdrant", store_options={"client": client, "collection": "c"})
    other = SmartEncoder(str(build_tiny_model_dir(tmp_path / "other", hidden=48)), device="cpu")
    with pytest.raises(ValueError, match="differing fields: .*token_dim"):
        SmartIndex.create(tmp_path / "c", other, store="qdrant", exist_ok=True, store_options={"client": client, "collection": "c"})
    with SmartIndex.create(tmp_path / "d", tiny_encoder, store="qdrant", exist_ok=True, store_options={"client": client, "collection": "c"}) as d:
        assert d.ids() == ["r"]  # a second folder bound to the same collection sees its documents


def test_label_free_default_is_fitted_on_every_store(tmp_path, tiny_encoder):
    from smart_plugins.index.default_weights import MIN_DOCUMENTS

    texts = _synthetic(MIN_DOCUMENTS + 8, seed=7, words=(12, 20))  # every document long enough to draw from
    ids = [f"d{i}" for i in range(len(texts))]
    encoded = tiny_encoder.encode_documents(texts)
    sources, weights = {}, {}
    for kind in STORES:
        with _create(kind, tmp_path / kind, tiny_encoder, weights=None) as index:
            assert index.info()["weights_source"] == {"kind": "auto", "documents": 0}
            index.add_encoded(encoded.select(list(range(8))), texts[:8], ids=ids[:8])  # too few: nothing fitted
            assert index.version == 1
            index.add_encoded(encoded.select(list(range(8, len(texts)))), texts[8:], ids=ids[8:])
            sources[kind], weights[kind] = index.info()["weights_source"], index.weights
            assert index.version == 3  # the documents' commit, then the fit's
        with SmartIndex.open(tmp_path / kind, tiny_encoder) as again:  # committed with the index
            assert again.weights == weights[kind] and again.info()["weights_source"] == sources[kind]
    local = sources["local"]
    assert local["kind"] == "auto" and local["documents"] == len(texts) and weights["local"] != ScoreWeights(1.0, 1.0)
    for kind in ("qdrant-edge", "qdrant"):
        source = sources[kind]
        assert {k: source[k] for k in ("kind", "documents", "queries", "late_share")} == {
            k: local[k] for k in ("kind", "documents", "queries", "late_share")
        }, kind
        assert weights[kind] == weights["local"]
        assert source["curve"].keys() == local["curve"].keys()
        assert all(abs(source["curve"][s] - local["curve"][s]) < 0.02 for s in local["curve"]), (kind, source["curve"])


# ------------------------------------------------------------------ equal hits on the same encodings
def _synthetic(n: int, seed: int, words: tuple[int, int] = (4, 14)) -> list[str]:
    from tests.conftest import TINY_WORDS

    rng = random.Random(seed)
    return [" ".join(rng.choice(TINY_WORDS) for _ in range(rng.randint(*words))) for _ in range(n)]


@pytest.mark.slow
def test_qdrant_hits_equal_the_local_store(tmp_path, tiny_encoder):
    texts = _synthetic(400, seed=1)
    queries = _synthetic(20, seed=2)
    encoded = tiny_encoder.encode_documents(texts)
    q_encoded = tiny_encoder.encode_queries(queries)
    ids = [f"d{i}" for i in range(len(texts))]
    results, exhaustive = {}, {}
    for kind in STORES:
        with _create(kind, tmp_path / kind, tiny_encoder) as index:
            index.add_encoded(encoded, texts, ids=ids)
            results[kind] = index.search_encoded(q_encoded, k=10, candidates=100)
            exhaustive[kind] = index.search_encoded(q_encoded, k=10, exhaustive=True)
    # the exact hybrid of the fp16-stored tokens, computed here without any store
    from smart_plugins.scoring import smart_scores

    docs16 = EncodedTexts(
        pooled=encoded.pooled, tokens=encoded.tokens.half().float(), offsets=encoded.offsets,
        token_ids=encoded.token_ids, positions=encoded.positions,
    )
    exact = smart_scores(q_encoded, docs16).hybrid.numpy()
    for kind in ("qdrant-edge", "qdrant"):
        overlaps, diffs = [], []
        for local_hits, other_hits in zip(results["local"], results[kind]):
            local_ids = [h.id for h in local_hits]
            overlaps.append(len(set(local_ids) & {h.id for h in other_hits}) / len(local_ids))
            local_scores = {h.id: h.score for h in local_hits}
            diffs += [abs(h.score - local_scores[h.id]) for h in other_hits if h.id in local_scores]
        assert np.mean(overlaps) >= 0.95, (kind, overlaps)
        assert max(diffs) < 1e-3, (kind, max(diffs))
    for kind in STORES:  # exhaustive search is the exact hybrid, in every store
        overlaps = []
        for q, hits in enumerate(exhaustive[kind]):
            values, order = top_k(exact[q], 10)
            overlaps.append(len({h.id for h in hits} & {ids[i] for i in order}) / 10)
            assert np.allclose([h.score for h in hits], values, atol=1e-3), kind
        assert np.mean(overlaps) >= 0.95, (kind, overlaps)


def test_quantised_tokens_keep_the_top_hits(tmp_path, tiny_encoder):
    texts = _synthetic(200, seed=3)
    queries = _synthetic(5, seed=4)
    encoded = tiny_encoder.encode_documents(texts)
    q_encoded = tiny_encoder.encode_queries(queries)
    ids = [f"d{i}" for i in range(len(texts))]
    with _create("local", tmp_path / "local", tiny_encoder) as local, _create(
        "qdrant-edge", tmp_path / "q", tiny_encoder, store_options={"quantization": "int8", "oversampling": 4.0}
    ) as quant:
        local.add_encoded(encoded, texts, ids=ids)
        quant.add_encoded(encoded, texts, ids=ids)
        assert quant.compression == "qdrant-float16+int8"
        for a, b in zip(local.search_encoded(q_encoded, k=10), quant.search_encoded(q_encoded, k=10)):
            assert len({h.id for h in a} & {h.id for h in b}) >= 9  # rescored with the stored vectors


# ------------------------------------------------------------------ a writer killed mid-add (Edge)
CHILD = textwrap.dedent(
    """
    import sys
    from smart_plugins.index import SmartIndex

    path, model = sys.argv[1:3]
    index = SmartIndex.open(path, model)
    batch = 1
    while True:
        texts = [f"red star {batch} marker {j}" for j in range(5)]
        index.add(texts, ids=[f"b{batch}-{j}" for j in range(5)], metadata=[{"batch": batch}] * 5)
        print(f"COMMITTED {batch}", flush=True)
        batch += 1
    """
)


@pytest.mark.slow
def test_edge_writer_killed_mid_add_leaves_whole_batches(tmp_path, tiny_encoder, tiny_model_dir):
    path = tmp_path / "idx"
    with _create("qdrant-edge", path, tiny_encoder) as index:
        index.add(["python library files"], ids=["a"])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(tiny_model_dir)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line.startswith("COMMITTED 3") or (not line and proc.poll() is not None):
                break
        assert proc.poll() is None, "the writer exited early"
        time.sleep(random.Random(os.getpid()).uniform(0.0, 0.2))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    with SmartIndex.open(path, tiny_encoder) as index:
        ids = index.ids()
        assert ids[0] == "a"
        batches = {}
        for doc_id in ids[1:]:
            batch, j = doc_id[1:].split("-")
            batches.setdefault(int(batch), set()).add(int(j))
        assert len(batches) >= 3
        assert all(members == set(range(5)) for members in batches.values()), batches  # all of a batch or none
        assert sorted(batches) == list(range(1, len(batches) + 1))
        assert len(index.search("red star marker", k=200)) == len(ids)
        index.add(["blue moon code"], ids=["after"])  # writable again
        assert "after" in index
