"""LangChain's own VectorStore standard suite, unchanged, on SmartVectorStore, plus filters and lifetime."""

from __future__ import annotations

import gc

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from smart_plugins.integrations.langchain import SmartEmbeddings, SmartVectorStore


class TestSmartVectorStoreStandard(VectorStoreIntegrationTests):
    @pytest.fixture()
    def vectorstore(self, tiny_encoder):  # type: ignore[override]
        store = SmartVectorStore(model=tiny_encoder)
        try:
            yield store
        finally:
            store.close()


DOCS = [
    Document("python package with debug files", metadata={"kind": "code", "year": 2021}),
    Document("the red star binds the label", metadata={"kind": "art", "year": 2018}),
    Document("a banana and an apple", metadata={"kind": "food", "year": 2023}),
    Document("shared runtime library for the server", metadata={"kind": "code", "year": 2016}),
]
IDS = ["py", "star", "fruit", "lib"]


@pytest.fixture()
def store(tiny_encoder):
    with SmartVectorStore.from_documents(DOCS, ids=IDS, model=tiny_encoder) as built:
        yield built


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"kind": "code"}, {"py", "lib"}),
        ({"kind": {"$ne": "code"}}, {"star", "fruit"}),
        ({"year": {"$gt": 2018, "$lte": 2023}}, {"py", "fruit"}),
        ({"kind": {"$nin": ["code", "art"]}}, {"fruit"}),
        ({"$or": [{"kind": "art"}, {"year": {"$lt": 2017}}]}, {"star", "lib"}),
        ({"$and": [{"kind": {"$in": ["code", "food"]}}, {"year": {"$gte": 2021}}]}, {"py", "fruit"}),
    ],
)
def test_filters_in_langchain_form(store, flt, expected):
    assert {d.id for d in store.similarity_search("debug files", k=4, filter=flt)} == expected
    retriever = store.as_retriever(search_kwargs={"k": 4, "filter": flt})
    assert {d.id for d in retriever.invoke("debug files")} == expected


def test_unsupported_operator_and_argument_raise(store):
    with pytest.raises(ValueError, match=r"unsupported filter operator '\$contains'"):
        store.similarity_search("debug", filter={"kind": {"$contains": "co"}})
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['top_k'\]"):
        store.similarity_search("debug", top_k=2)
    with pytest.raises(TypeError, match="unexpected keyword"):
        store.as_retriever(search_kwargs={"kk": 2}).invoke("debug")


def test_scores_and_relevance(store):
    scored = store.similarity_search_with_score("python package with debug files", k=2)
    assert scored[0][0].id == "py" and scored[0][1] >= scored[1][1]
    relevance = store.similarity_search_with_relevance_scores("python package with debug files", k=4)
    assert all(0.0 <= r <= 1.0 for _, r in relevance) and relevance[0][1] == pytest.approx(1.0, abs=1e-2)  # compressed tokens: near 1


async def test_async_methods(tiny_encoder):
    store = await SmartVectorStore.afrom_texts(["red star", "blue moon"], model=tiny_encoder, ids=["r", "b"])
    assert [d.id for d in await store.asimilarity_search("red star", k=1)] == ["r"]
    await store.adelete(["r"])
    assert await store.aget_by_ids(["r", "b"]) == [Document("blue moon", id="b")]
    store.close()


def test_persistent_store_reopens(tiny_encoder, tmp_path):
    folder = tmp_path / "store"
    SmartVectorStore.from_texts(["red star", "blue moon"], model=tiny_encoder, index_path=folder, ids=["r", "b"])
    again = SmartVectorStore(index_path=folder, model=tiny_encoder)
    assert [d.id for d in again.similarity_search("blue moon", k=1)] == ["b"]
    again.close()
    assert folder.exists()  # close never removes an index the user placed


def test_other_embeddings_are_refused_with_advice(tiny_encoder):
    with pytest.raises(TypeError, match="pass model="):
        SmartVectorStore.from_texts(["a"], DeterministicFakeEmbedding(size=8))
    store = SmartVectorStore.from_texts(["red star"], SmartEmbeddings(encoder=tiny_encoder))
    assert store.similarity_search("red", k=1)[0].page_content == "red star"
    store.close()



def test_temporary_store_is_removed_on_close_gc_and_failed_constructor(tiny_encoder, temp_indexes):
    before = temp_indexes()
    store = SmartVectorStore.from_texts(["red star"], model=tiny_encoder)
    assert len(temp_indexes() - before) == 1
    store.close()
    assert temp_indexes() == before
    store = SmartVectorStore.from_texts(["red star"], model=tiny_encoder)
    del store
    gc.collect()
    assert temp_indexes() == before
    with pytest.raises(TypeError):
        SmartVectorStore.from_texts(["red star", None], model=tiny_encoder)  # fails after the index was made
    assert temp_indexes() == before
