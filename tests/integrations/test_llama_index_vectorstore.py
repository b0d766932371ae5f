"""LlamaIndex SmartVectorStore: VectorStoreIndex over SMART, insert/delete, MetadataFilters, persistence."""

from __future__ import annotations

import gc

import pytest
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.vector_stores.types import (
    FilterCondition,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from smart_plugins.integrations.llama_index import SmartVectorStore, filters_to_where

DOCS = [
    Document(text="python package with debug files", id_="py", metadata={"kind": "code", "year": 2021}),
    Document(text="the red star binds the label", id_="star", metadata={"kind": "art", "year": 2018}),
    Document(text="a banana and an apple", id_="fruit", metadata={"kind": "food", "year": 2023}),
    Document(text="shared runtime library for the server", id_="lib", metadata={"kind": "code", "year": 2016}),
]


def _index(store):
    return VectorStoreIndex.from_documents(
        DOCS, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=store.embed_model
    )


@pytest.fixture()
def store(tiny_encoder):
    built = SmartVectorStore(model=tiny_encoder)
    yield built
    built.close()


def _f(key, value, op):
    return MetadataFilter(key=key, value=value, operator=op)


def test_vector_store_index_retrieves_with_smart(store):
    index = _index(store)
    hits = index.as_retriever(similarity_top_k=2).retrieve("python package with debug files")
    assert hits[0].node.ref_doc_id == "py" and hits[0].score >= hits[1].score
    assert hits[0].node.metadata == {"kind": "code", "year": 2021}
    assert len(store.client) == 4


def test_insert_and_delete_ref_doc(store):
    index = _index(store)
    index.insert(Document(text="green moon code module", id_="moon", metadata={"kind": "code", "year": 2020}))
    assert index.as_retriever(similarity_top_k=1).retrieve("green moon code module")[0].node.ref_doc_id == "moon"
    index.delete_ref_doc("moon")
    index.delete_ref_doc("no-such-doc")  # nothing to delete is fine
    assert {n.ref_doc_id for n in store.get_nodes()} == {"py", "star", "fruit", "lib"}
    store.delete_nodes(filters=MetadataFilters(filters=[_f("kind", "code", "==")]))
    assert {n.ref_doc_id for n in store.get_nodes()} == {"star", "fruit"}
    store.clear()
    assert store.get_nodes() == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([_f("kind", "code", "==")], {"py", "lib"}),
        ([_f("kind", "code", "!=")], {"star", "fruit"}),
        ([_f("year", 2018, ">")], {"py", "fruit"}),
        ([_f("year", 2018, ">=")], {"py", "fruit", "star"}),
        ([_f("year", 2018, "<")], {"lib"}),
        ([_f("year", 2018, "<=")], {"lib", "star"}),
        ([_f("kind", ["art", "food"], "in")], {"star", "fruit"}),
        ([_f("kind", ["art", "food"], "nin")], {"py", "lib"}),
    ],
)
def test_each_filter_operator(store, filters, expected):
    retriever = _index(store).as_retriever(similarity_top_k=4, filters=MetadataFilters(filters=filters))
    assert {n.node.ref_doc_id for n in retriever.retrieve("debug files")} == expected


def test_and_or_and_nested_filters(store):
    index = _index(store)
    either = MetadataFilters(filters=[_f("kind", "art", "=="), _f("year", 2017, "<")], condition=FilterCondition.OR)
    nested = MetadataFilters(filters=[either, _f("year", 2010, ">")], condition=FilterCondition.AND)
    both = MetadataFilters(filters=[_f("kind", "code", "=="), _f("year", 2020, ">")])
    assert {n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=4, filters=either).retrieve("x")} == {"star", "lib"}
    assert {n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=4, filters=nested).retrieve("x")} == {"star", "lib"}
    assert {n.node.ref_doc_id for n in index.as_retriever(similarity_top_k=4, filters=both).retrieve("x")} == {"py"}


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (MetadataFilters(filters=[_f("kind", "co", "contains")]), "unsupported MetadataFilter operator CONTAINS"),
        (MetadataFilters(filters=[_f("kind", "co", "text_match")]), "unsupported MetadataFilter operator TEXT_MATCH"),
        (MetadataFilters(filters=[_f("kind", "code", "==")], condition=FilterCondition.NOT), "condition NOT"),
    ],
)
def test_unsupported_filters_raise(store, filters, message):
    with pytest.raises(ValueError, match=message):
        _index(store).as_retriever(filters=filters).retrieve("debug files")


def test_query_needs_text_and_default_mode(store):
    _index(store)
    with pytest.raises(ValueError, match="needs query_str"):
        store.query(VectorStoreQuery(query_embedding=[0.0], similarity_top_k=2))
    with pytest.raises(ValueError, match="query mode 'sparse'"):
        store.query(VectorStoreQuery(query_str="x", mode=VectorStoreQueryMode.SPARSE))
    result = store.query(VectorStoreQuery(query_str="banana", similarity_top_k=4, doc_ids=["fruit", "star"]))
    assert {n.ref_doc_id for n in result.nodes} == {"fruit", "star"} and len(result.similarities) == 2


def test_persist_and_reopen(tiny_encoder, tmp_path):
    store = SmartVectorStore(model=tiny_encoder)
    index = _index(store)
    index.storage_context.persist(persist_dir=str(tmp_path / "storage"))
    store.close()
    again = SmartVectorStore.from_persist_path(str(tmp_path / "storage" / "default__vector_store.json"), model=tiny_encoder)
    reopened = VectorStoreIndex.from_vector_store(again, embed_model=again.embed_model)
    assert reopened.as_retriever(similarity_top_k=1).retrieve("a banana and an apple")[0].node.ref_doc_id == "fruit"
    # a store built at a folder is persistent by itself
    folder = tmp_path / "idx"
    _index(SmartVectorStore(model=tiny_encoder, index_path=folder))
    assert len(SmartVectorStore(index_path=folder, model=tiny_encoder).get_nodes()) == 4


def test_temporary_store_removed_on_close_and_gc(tiny_encoder, temp_indexes):
    before = temp_indexes()
    store = SmartVectorStore(model=tiny_encoder)
    assert len(temp_indexes() - before) == 1
    store.close()
    assert temp_indexes() == before
    store = SmartVectorStore(model=tiny_encoder)
    del store
    gc.collect()
    assert temp_indexes() == before


def test_filters_translation():
    assert filters_to_where(None) is None and filters_to_where(MetadataFilters(filters=[])) is None
    assert filters_to_where(MetadataFilters(filters=[_f("a", 1, "==")])) == {"a": {"$eq": 1}}
