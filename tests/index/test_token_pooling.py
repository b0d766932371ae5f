"""Token pooling for storage: the factor's checks, its record in the manifest, the add path and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from smart_plugins.cli.main import main
from smart_plugins.encoder import EncodedTexts
from smart_plugins.index import IndexCorruptedError, SmartIndex
from smart_plugins.index.manifest import read_manifest, write_manifest
from smart_plugins.index.token_pooling import pool_document, pool_encoded
from smart_plugins.scoring import ScoreWeights

WORDS = "red green blue star moon apple banana python perl java rust server client search index module tool".split()


def _texts(n: int, length: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=length)) for _ in range(n)]


def _segment_files(folder) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "segments").rglob("*")) if p.is_file()}


def test_pooling_keeps_about_one_in_factor_token_vectors(tmp_path, tiny_encoder):
    texts = _texts(12, 30)
    plain = SmartIndex.create(tmp_path / "plain", tiny_encoder, compression="fp32")
    plain.add(texts, ids=[f"d{i}" for i in range(12)])
    for factor in (1.5, 2, 3):
        with SmartIndex.create(tmp_path / f"f{factor}", tiny_encoder, compression="fp32", token_pool_factor=factor) as idx:
            idx.add(texts, ids=[f"d{i}" for i in range(12)])
            info = idx.info()
            ratio = plain.info()["stored_tokens"] / info["stored_tokens"]
            assert info["token_pool_factor"] == float(factor)
            assert factor <= ratio <= factor * 1.15, (factor, ratio)  # floor(n / f) per document
            doc = idx.store.document_tokens("d3")
            assert torch.allclose(doc.tokens.norm(dim=1), torch.ones(len(doc.tokens)), atol=1e-5)  # unit vectors
            assert np.all(np.diff(doc.positions) >= 0)  # pooled vectors follow the text
    plain.close()


def test_the_index_stores_what_pool_encoded_returns_and_queries_are_not_pooled(tmp_path, tiny_encoder):
    texts = _texts(5, 20, seed=1)
    encoded = tiny_encoder.encode_documents(texts)
    expected = pool_encoded(encoded, 2.0)
    with SmartIndex.create(tmp_path / "i", tiny_encoder, compression="fp32", token_pool_factor=2) as idx:
        idx.add_encoded(encoded, texts, ids=list("abcde"))
        (_, _, _, stored), = list(idx.store.iterate())
        assert torch.equal(stored.offsets, expected.offsets)
        assert torch.equal(stored.tokens, expected.tokens.float())
        assert torch.equal(stored.token_ids, expected.token_ids) and torch.equal(stored.positions, expected.positions)
        hit, = idx.rerank(texts[2], ["c"])
        query = tiny_encoder.encode_queries([texts[2]])
        doc = expected.select([2])
        late = (query.tokens @ doc.tokens.T).max(dim=1).values.mean()  # every (unpooled) query token counts
        assert len(query.tokens) == len(encoded.select([2]).tokens) > len(doc.tokens)
        assert hit.late == pytest.approx(float(late), abs=1e-5)


def test_factor_one_is_bit_identical_to_no_pooling(tmp_path, tiny_encoder, corpus):
    ids, texts, metas = corpus
    for name, options in (("none", {}), ("one", {"token_pool_factor": 1}), ("one-float", {"token_pool_factor": 1.0})):
        with SmartIndex.create(tmp_path / name, tiny_encoder, compression="int8", **options) as idx:
            idx.add(texts, ids=ids, metadata=metas)
    reference = _segment_files(tmp_path / "none")
    assert reference and _segment_files(tmp_path / "one") == reference == _segment_files(tmp_path / "one-float")
    assert "token_pooling" not in read_manifest(tmp_path / "one")


def test_factor_survives_reopen_and_a_reopened_index_refuses_another(tmp_path, tiny_encoder):
    folder = tmp_path / "i"
    texts = _texts(6, 24, seed=2)
    with SmartIndex.create(folder, tiny_encoder, compression="fp16", token_pool_factor=3) as idx:
        idx.add(texts[:3], ids=["a", "b", "c"])
    assert read_manifest(folder)["token_pooling"] == {"method": "hierarchical", "pool_factor": 3.0}
    with SmartIndex.open(folder) as idx:
        assert idx.info()["token_pool_factor"] == 3.0
        idx.add(texts[3:], ids=["d", "e", "f"])  # a later add pools with the recorded factor
        lengths = [len(idx.store.document_tokens(i).tokens) for i in "abcdef"]
    full = [int(n) for n in tiny_encoder.encode_documents(texts).lengths]
    assert lengths == [max(1, n // 3) for n in full]
    with SmartIndex.create(folder, tiny_encoder, compression="fp16", exist_ok=True, token_pool_factor=3) as idx:
        assert len(idx) == 6
    for other in (1, 2):
        with pytest.raises(ValueError, match="pools token vectors with factor 3.0, not"):
            SmartIndex.create(folder, tiny_encoder, compression="fp16", exist_ok=True, token_pool_factor=other)
    with SmartIndex.open(folder) as idx:  # refused reopenings closed their handle and changed nothing
        assert len(idx) == 6 and idx.add(["red moon"], ids=["g"]) == ["g"]


@pytest.mark.parametrize(
    ("factor", "error", "message"),
    [
        (0.5, ValueError, "token_pool_factor must be >= 1"),
        (0, ValueError, "token_pool_factor must be >= 1"),
        (-2, ValueError, "token_pool_factor must be >= 1"),
        (float("nan"), ValueError, "must be a finite number"),
        (float("inf"), ValueError, "must be a finite number"),
        ("2", TypeError, "token_pool_factor must be a number >= 1, got '2'"),
        (True, TypeError, "token_pool_factor must be a number"),
        ([2], TypeError, "token_pool_factor must be a number"),
    ],
)
def test_bad_factors_are_refused_before_anything_is_written(tmp_path, tiny_encoder, factor, error, message):
    folder = tmp_path / "i"
    with pytest.raises(error, match=message):
        SmartIndex.create(folder, tiny_encoder, token_pool_factor=factor)
    assert not folder.exists()


QDRANT_STORES = ["qdrant-edge", "qdrant"]


def _create_on(kind: str, path, encoder, **kwargs) -> SmartIndex:
    """An index on ``kind`` ("local", "qdrant-edge", or "qdrant": qdrant-client's local mode in a folder)."""
    kwargs.setdefault("weights", ScoreWeights(1.0, 1.0))  # no label-free fit: the stores compare on one formula
    if kind == "local":
        return SmartIndex.create(path, encoder, compression="fp16", **kwargs)
    pytest.importorskip("qdrant_edge" if kind == "qdrant-edge" else "qdrant_client")
    options = {"url": str(path.parent / f"{path.name}-server"), "collection": "docs"} if kind == "qdrant" else {}
    options.update(kwargs.pop("store_options", {}))
    return SmartIndex.create(path, encoder, store=kind, store_options=options, **kwargs)


@pytest.mark.parametrize("kind", QDRANT_STORES)
def test_qdrant_stores_pool_and_search_as_the_local_store(kind, tmp_path, tiny_encoder):
    texts = _texts(40, 24, seed=4)
    ids = [f"d{i}" for i in range(len(texts))]
    encoded = tiny_encoder.encode_documents(texts)
    stored = int(pool_encoded(encoded, 2.0).lengths.sum())
    queries = tiny_encoder.encode_queries(_texts(6, 5, seed=5))
    local = _create_on("local", tmp_path / "local", tiny_encoder, token_pool_factor=2)
    index = _create_on(kind, tmp_path / "q", tiny_encoder, token_pool_factor=2)
    with local, index:
        local.add_encoded(encoded, texts, ids=ids)
        index.add_encoded(encoded, texts, ids=ids)
        assert index.info()["token_pool_factor"] == 2.0
        assert index.info()["tokens"] == local.info()["tokens"] == stored < int(encoded.lengths.sum())
        for exhaustive in (False, True):
            for a, b in zip(local.search_encoded(queries, k=8, exhaustive=exhaustive),
                            index.search_encoded(queries, k=8, exhaustive=exhaustive)):
                assert np.allclose([h.score for h in b], [h.score for h in a], atol=1e-3)
                expected = {h.id: h.score for h in a}
                for x, y in zip(a, b):  # the same hits; only a near tie (fp16 rounding) may swap two neighbours
                    assert y.id == x.id or abs(expected.get(y.id, -9.0) - y.score) < 1e-3
        for doc in ("d0", "d7"):  # pooled vectors carry their nearest real token's id and position
            mine, theirs = index.store.document_tokens(doc), local.store.document_tokens(doc)
            assert np.array_equal(mine.token_ids, theirs.token_ids) and np.array_equal(mine.positions, theirs.positions)
            mine, theirs = index.explain(texts[7][:20], doc), local.explain(texts[7][:20], doc)
            assert [(m.doc_token, m.doc_position) for m in mine.matches] == [(m.doc_token, m.doc_position) for m in theirs.matches]
            assert all(m.doc_token in WORDS for m in mine.matches)  # real words of the document, not [UNK]/padding


@pytest.mark.parametrize("kind", QDRANT_STORES)
def test_qdrant_stores_chunk_the_pooled_tokens(kind, tmp_path, tiny_model_dir):
    from smart_plugins.encoder import SmartEncoder

    encoder = SmartEncoder(str(tiny_model_dir), device="cpu", truncation="chunk", chunk_overlap=8)
    texts = _texts(6, 60, seed=6)
    pooled_lengths = pool_encoded(encoder.encode_documents(texts), 2.0).lengths.tolist()
    cap = 10 * 32  # floats: 10 tokens of the tiny model's 32 dims
    with _create_on(kind, tmp_path / "q", encoder, token_pool_factor=2, store_options={"max_multivector_floats": cap}) as index:
        index.add(texts, ids=list("abcdef"))
        chunks = [-(-n // 10) for n in pooled_lengths]  # points per document, counted on the pooled tokens
        assert max(chunks) > 1 and index.store._backend.count() == sum(chunks)
        assert [len(index.store.document_tokens(i).tokens) for i in "abcdef"] == pooled_lengths


@pytest.mark.parametrize("kind", ["local", *QDRANT_STORES])
def test_every_store_keeps_the_factor_for_later_adds_and_refuses_another(kind, tmp_path, tiny_encoder):
    folder = tmp_path / "i"
    texts = _texts(6, 24, seed=2)
    with _create_on(kind, folder, tiny_encoder, token_pool_factor=3) as idx:
        idx.add(texts[:3], ids=["a", "b", "c"])
    with SmartIndex.open(folder) as idx:
        assert idx.store.token_pool_factor == 3.0
        idx.add(texts[3:5], ids=["d", "e"])  # a later add pools with the recorded factor
    with _create_on(kind, folder, tiny_encoder, exist_ok=True, token_pool_factor=3) as idx:
        idx.upsert(texts[5:], ids=["f"])
        lengths = [len(idx.store.document_tokens(i).tokens) for i in "abcdef"]
    assert lengths == [max(1, int(n) // 3) for n in tiny_encoder.encode_documents(texts).lengths]
    for other in (1, 2):
        with pytest.raises(ValueError, match="pools token vectors with factor 3.0, not"):
            _create_on(kind, folder, tiny_encoder, exist_ok=True, token_pool_factor=other)
    if kind == "qdrant":  # a new folder bound to the same collection: its recorded factor decides
        with pytest.raises(ValueError, match="collection 'docs' pools token vectors with factor 3.0, not 2.0"):
            _create_on(kind, tmp_path / "other", tiny_encoder, exist_ok=True, token_pool_factor=2,
                       store_options={"url": str(tmp_path / "i-server")})
        with _create_on(kind, tmp_path / "other", tiny_encoder, exist_ok=True, token_pool_factor=3,
                        store_options={"url": str(tmp_path / "i-server")}) as idx:
            assert idx.store.token_pool_factor == 3.0 and len(idx) == 6
    with SmartIndex.open(folder) as idx:  # refused reopenings closed their handle and changed nothing
        assert len(idx) == 6 and idx.add(["red moon"], ids=["g"]) == ["g"]


@pytest.mark.parametrize("kind", QDRANT_STORES)
def test_a_qdrant_index_without_a_pooling_record_reads_as_factor_one(kind, tmp_path, tiny_encoder):
    folder = tmp_path / "i"
    texts = _texts(3, 20, seed=7)
    with _create_on(kind, folder, tiny_encoder) as idx:  # factor 1 records nothing: as indexes older than pooling
        idx.add(texts, ids=["a", "b", "c"])
        bound = idx.store._backend.metadata()["smart_plugins"] if kind == "qdrant" else {}
    assert "token_pooling" not in json.loads((folder / "smart-qdrant.json").read_text()) and "token_pooling" not in bound
    with SmartIndex.open(folder) as idx:
        assert idx.store.token_pool_factor == 1.0 and idx.info()["token_pool_factor"] == 1.0
        idx.add(["red green blue star moon"], ids=["d"])
        assert len(idx.store.document_tokens("d").tokens) == int(tiny_encoder.encode_documents(["red green blue star moon"]).lengths[0])
    with pytest.raises(ValueError, match="pools token vectors with factor 1.0, not 2.0"):
        _create_on(kind, folder, tiny_encoder, exist_ok=True, token_pool_factor=2)


def test_a_damaged_pooling_record_on_qdrant_edge_is_reported_on_open(tmp_path, tiny_encoder):
    folder = tmp_path / "q"
    _create_on("qdrant-edge", folder, tiny_encoder, token_pool_factor=2).close()
    record = json.loads((folder / "smart-qdrant.json").read_text())
    assert record["token_pooling"] == {"method": "hierarchical", "pool_factor": 2.0}
    record["token_pooling"]["pool_factor"] = 0.25
    (folder / "smart-qdrant.json").write_text(json.dumps(record))
    with pytest.raises(IndexCorruptedError, match=r"token_pooling.pool_factor must be >= 1"):
        SmartIndex.open(folder)


def test_a_damaged_pooling_record_is_reported_on_open(tmp_path, tiny_encoder):
    folder = tmp_path / "i"
    SmartIndex.create(folder, tiny_encoder, compression="fp16", token_pool_factor=2).close()
    manifest = read_manifest(folder)
    manifest["token_pooling"]["pool_factor"] = 0.25
    write_manifest(folder, manifest)  # a valid checksum: only the value is wrong
    with pytest.raises(IndexCorruptedError, match=r"token_pooling.pool_factor must be >= 1"):
        SmartIndex.open(folder)


def test_pool_document_edge_cases():
    one = torch.nn.functional.normalize(torch.randn(1, 8), dim=-1)
    pooled, nearest = pool_document(one, 3.0)
    assert torch.equal(pooled, one) and nearest.tolist() == [0]
    empty, nearest = pool_document(torch.zeros(0, 8), 2.0)
    assert empty.shape == (0, 8) and nearest.numel() == 0
    enc = EncodedTexts.from_lists(torch.randn(2, 8), [torch.nn.functional.normalize(torch.randn(9, 8), dim=-1)] * 2)
    assert pool_encoded(enc, 100.0).lengths.tolist() == [1, 1]  # at least one vector per document


def test_cli_build_takes_token_pool_factor(cli_build, tmp_path, tiny_model_dir, capsys):
    folder = cli_build(_texts(6, 20, seed=3), "--token-pool-factor", "2")
    corpus = tmp_path / "corpus.jsonl"
    assert "pooled, factor 2" in capsys.readouterr().out
    assert read_manifest(folder)["token_pooling"]["pool_factor"] == 2.0
    assert main(["index", "info", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["token_pool_factor"] == 2.0 and info["tokens"] <= 6 * 20 // 2
    bad = tmp_path / "bad"
    assert main(["index", "build", str(bad), "--model", str(tiny_model_dir), "--corpus", str(corpus),
                 "--token-pool-factor", "0.5"]) == 1
    assert "token_pool_factor must be >= 1" in capsys.readouterr().err
    assert not bad.exists()
