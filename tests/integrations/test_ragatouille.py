"""SmartRAG: the RAGatouille-shaped facade (index, add/delete, search, rerank, in-memory encode)."""

from __future__ import annotations

import pytest

from smart_plugins.integrations.ragatouille import SmartRAG, split_passages
from smart_plugins.rerank import rerank_texts

DOCS = [
    "python package with debug files",
    "the red star binds the label",
    "a banana and an apple",
    "shared runtime library for the server",
]
IDS = ["py-dbg", "star", "fruit", "runtime"]
METAS = [{"n": i} for i in range(len(DOCS))]
SEARCH_KEYS = {"content", "score", "rank", "document_id", "passage_id", "pooled_score", "late_score"}
LONG = " ".join(f"Sentence number {i} is about the red star and the green moon." for i in range(30))


@pytest.fixture()
def rag(tiny_encoder, tmp_path):
    rag = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    rag.index(DOCS, document_ids=IDS, document_metadatas=METAS, index_name="demo")
    return rag


def test_search_right_after_index_returns_ragatouille_keys(rag):
    results = rag.search("debug files python", k=3)
    assert len(results) == 3
    assert all(SEARCH_KEYS | {"document_metadata"} == set(r) for r in results)
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    for r in results:
        assert r["content"] == DOCS[IDS.index(r["document_id"])]
        assert r["document_metadata"] == METAS[IDS.index(r["document_id"])]
        assert r["score"] == pytest.approx(r["pooled_score"] + r["late_score"], abs=1e-5)
    assert [r["rank"] for r in rag.search("debug", k=2, zero_index_ranks=True)] == [0, 1]
    many = rag.search(["debug files", "banana apple"], k=2)
    assert len(many) == 2 and all(len(rows) == 2 for rows in many)
    only = rag.search("debug files", k=4, doc_ids=["fruit", "star"])
    assert sorted(r["document_id"] for r in only) == ["fruit", "star"]


def test_long_documents_are_split_into_passages_with_stable_ids(tiny_encoder, tmp_path):
    rag = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    rag.index([LONG, DOCS[0]], document_ids=["long", "short"], index_name="split", max_document_length=40)
    index = rag.model_index
    long_ids = [i for i in index.ids() if i.startswith("long#")]
    assert len(long_ids) > 1
    for doc in index.get(long_ids):
        assert len(tiny_encoder.tokenizer(doc.text, add_special_tokens=False)["input_ids"]) <= 40
        assert doc.metadata["document_id"] == "long" and doc.metadata["n_passages"] == len(long_ids)
    whole = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    with pytest.warns(UserWarning, match="truncated"):  # one passage: the encoder truncates it
        whole.index([LONG], document_ids=["long"], index_name="whole", split_documents=False)
    assert whole.model_index.ids() == ["long#0"]
    before = {r["passage_id"]: r["content"] for r in rag.search("red star", k=50)}
    rag.delete_from_index("short")
    after = {r["passage_id"]: r["content"] for r in rag.search("red star", k=50)}
    assert after == {p: c for p, c in before.items() if not p.startswith("short#")}


def test_add_and_delete_keep_ids_and_metadata_consistent(rag):
    rag.add_to_index(["green moon marker"], new_document_ids=["moon"], new_document_metadatas=[{"n": 9}])
    hit = rag.search("green moon marker", k=1)[0]
    assert (hit["document_id"], hit["document_metadata"]) == ("moon", {"n": 9})
    with pytest.raises(ValueError, match="already indexed"):
        rag.add_to_index(["again"], new_document_ids=["moon"])
    rag.delete_from_index(["moon", "star"])
    remaining = rag.search("green moon red star", k=10)
    assert sorted(r["document_id"] for r in remaining) == ["fruit", "py-dbg", "runtime"]
    for r in remaining:
        assert r["document_metadata"] == METAS[IDS.index(r["document_id"])]
    with pytest.raises(KeyError, match="moon"):
        rag.delete_from_index(["moon"])


def test_from_index_and_overwrite(rag, tiny_encoder, tmp_path):
    path = rag.index_path
    expected = [r["document_id"] for r in rag.search("debug files", k=4)]
    rag.model_index.close()
    reopened = SmartRAG.from_index(path, verbose=0)
    assert [r["document_id"] for r in reopened.search("debug files", k=4)] == expected
    reopened.model_index.close()
    other = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    with pytest.raises(FileExistsError, match="overwrite_index"):
        other.index(["x y"], index_name="demo", overwrite_index=False)
    other.index(["banana only"], document_ids=["b"], index_name="demo")
    assert [r["document_id"] for r in other.search("banana", k=5)] == ["b"]
    with pytest.raises(ValueError, match="index_name"):
        other.index(["x"], index_name="../escape")
    with pytest.raises(ValueError, match="unique"):
        other.index(["x", "y"], document_ids=["a", "a"], index_name="dup")


def test_rerank_and_in_memory_search(tiny_encoder, tmp_path):
    rag = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    out = rag.rerank("debug files python", DOCS, k=3)
    expected = rerank_texts(tiny_encoder, "debug files python", DOCS, k=3)
    assert [r["result_index"] for r in out] == [e.index for e in expected]
    assert [r["content"] for r in out] == [DOCS[e.index] for e in expected]
    assert [r["score"] for r in out] == pytest.approx([e.score for e in expected], abs=1e-5)
    with pytest.raises(ValueError, match="encode"):
        rag.search_encoded_docs("x")
    rag.encode(DOCS[:2], document_metadatas=METAS[:2], verbose=False)
    rag.encode(DOCS[2:], verbose=False)
    found = rag.search_encoded_docs("banana apple", k=4)
    assert sorted(r["result_index"] for r in found) == [0, 1, 2, 3]
    assert [r["result_index"] for r in found] == [
        e.index for e in rerank_texts(tiny_encoder, "banana apple", DOCS)
    ]
    assert all(("document_metadata" in r) == (r["result_index"] < 2) for r in found)
    rag.clear_encoded_docs()
    with pytest.raises(ValueError, match="encode"):
        rag.search_encoded_docs("x")
    with pytest.raises(ValueError, match="no index"):
        rag.search("x")


def test_langchain_views_and_from_pretrained(rag, tiny_model_dir, tmp_path):
    retriever = rag.as_langchain_retriever(k=2)
    docs = retriever.invoke("debug files python")
    assert [d.metadata["document_id"] for d in docs] == [r["document_id"] for r in rag.search("debug files python", k=2)]
    compressor = rag.as_langchain_document_compressor(k=1)
    assert len(compressor.compress_documents(docs, "debug files python")) == 1
    loaded = SmartRAG.from_pretrained(str(tiny_model_dir), n_gpu=0, index_root=tmp_path / "other", verbose=0)
    assert loaded.encoder.device.type == "cpu"


def test_split_passages_keeps_all_text(tiny_encoder):
    parts = split_passages(LONG, tiny_encoder.tokenizer, 25)
    assert len(parts) > 1
    assert " ".join(parts).split() == LONG.split()
    assert split_passages("short text", tiny_encoder.tokenizer, 25) == ["short text"]
    with pytest.raises(ValueError, match="at least"):
        split_passages(LONG, tiny_encoder.tokenizer, 2)


@pytest.mark.parametrize("bad_name", [".", "..", "../escape", "a/b", ".hidden", "", " ", "a\\b", 7])
def test_index_name_must_be_a_plain_folder_and_nothing_else_is_removed(tiny_encoder, tmp_path, bad_name):
    rag = SmartRAG(tiny_encoder, index_root=tmp_path / "root", verbose=0)
    rag.index(["first index"], document_ids=["a"], index_name="p1")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(ValueError, match="plain folder name"):
        rag.index(["second"], document_ids=["b"], index_name=bad_name)
    with pytest.raises(ValueError, match="plain folder name"):
        rag.add_to_index(["third"], new_document_ids=["c"], index_name=bad_name)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    reopened = SmartRAG.from_index(tmp_path / "root" / "indexes" / "p1", verbose=0)
    assert [r["document_id"] for r in reopened.search("first", k=5)] == ["a"]


def test_overwrite_never_removes_a_folder_that_is_not_an_index(tiny_encoder, tmp_path):
    keep = tmp_path / "indexes" / "notes"
    keep.mkdir(parents=True)
    (keep / "mine.txt").write_text("user data")
    rag = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    with pytest.raises(FileExistsError, match="not a SMART index"):
        rag.index(["x"], index_name="notes")
    assert (keep / "mine.txt").read_text() == "user data"


def test_empty_collection_is_a_clear_error_and_a_failed_index_leaves_nothing(tiny_encoder, tmp_path):
    rag = SmartRAG(tiny_encoder, index_root=tmp_path, verbose=0)
    with pytest.raises(ValueError, match="collection is empty"):
        rag.index([], index_name="empty")
    with pytest.raises(TypeError, match=r"document_metadatas|metadata\[1\]"):
        rag.index(DOCS[:2], document_metadatas=[{}, {"bad": object()}], index_name="broken", split_documents=False)
    assert not (tmp_path / "indexes").exists() or list((tmp_path / "indexes").iterdir()) == []
