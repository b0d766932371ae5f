"""LangChain adapters take the framework's arguments and never drop one silently; temporary indexes go away."""

from __future__ import annotations

import gc

import pytest
from langchain_core.documents import Document

from smart_plugins.index import SmartIndex
from smart_plugins.integrations.langchain import SmartReranker, SmartRetriever

TEXTS = ["python package with debug files", "the red star binds the label", "a banana and an apple",
         "shared runtime library for the server"]
METAS = [{"kind": "code", "n": 0}, {"kind": "art", "n": 1}, {"kind": "food", "n": 2}, {"kind": "code", "n": 3}]



def test_search_kwargs_are_honoured(tiny_encoder):
    retriever = SmartRetriever(texts=TEXTS, metadatas=METAS, model=tiny_encoder, search_kwargs={"k": 1})
    assert len(retriever.invoke("debug files")) == 1
    assert len(retriever.invoke("debug files", k=3)) == 3  # a per-call value wins
    filtered = SmartRetriever(texts=TEXTS, metadata=METAS, model=tiny_encoder,
                              search_kwargs={"k": 4, "filter": {"n": {"$gte": 2}}})
    assert {d.metadata["n"] for d in filtered.invoke("debug files")} == {2, 3}
    assert {d.metadata["n"] for d in filtered.invoke("debug", filter={"kind": "code"})} == {0, 3}
    retriever.close(), filtered.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"top_k": 2}, "top_k"),
        ({"search_kwargs": {"top_k": 2}}, "top_k"),
        ({"metadatas": METAS, "metadata": METAS}, "metadatas= or metadata="),
    ],
)
def test_unknown_or_doubled_constructor_arguments_raise_and_leave_no_index(tiny_encoder, kwargs, message, temp_indexes):
    before = temp_indexes()
    with pytest.raises((ValueError, TypeError), match=message):  # pydantic wraps ValueError only
        SmartRetriever(texts=TEXTS, model=tiny_encoder, **kwargs)
    gc.collect()
    assert temp_indexes() == before


def test_unknown_invoke_argument_and_document_query_raise(tiny_encoder):
    with _closing(SmartRetriever(texts=TEXTS, model=tiny_encoder)) as retriever:
        with pytest.raises(TypeError, match="top_k"):
            retriever.invoke("debug", top_k=2)
        with pytest.raises(TypeError, match="a Document: pass its page_content"):
            retriever._search(Document("debug"), {})
    with pytest.raises(ValueError, match="k"):
        SmartReranker(model=tiny_encoder, k=2)


class _closing:
    def __init__(self, retriever):
        self.retriever = retriever

    def __enter__(self):
        return self.retriever

    def __exit__(self, *exc):
        self.retriever.close()


def test_from_documents_with_index_path_is_persistent(tiny_encoder, tmp_path):
    docs = [Document(t, metadata=m, id=f"d{i}") for i, (t, m) in enumerate(zip(TEXTS, METAS))]
    retriever = SmartRetriever.from_documents(docs, model=tiny_encoder, index_path=tmp_path / "idx", k=2)
    assert [d.id for d in retriever.invoke("python package with debug files")][0] == "d0"
    retriever.close()
    del retriever
    gc.collect()
    with SmartIndex.open(tmp_path / "idx", tiny_encoder) as index:
        assert sorted(index.ids()) == ["d0", "d1", "d2", "d3"]


def test_empty_texts_give_an_empty_retriever(tiny_encoder):
    retriever = SmartRetriever(texts=[], model=tiny_encoder)
    assert retriever.invoke("anything") == []
    retriever.close()


def test_temporary_index_removed_on_close_and_gc(tiny_encoder, temp_indexes):
    before = temp_indexes()
    retriever = SmartRetriever(texts=TEXTS, model=tiny_encoder)
    assert len(temp_indexes() - before) == 1
    retriever.close()
    assert temp_indexes() == before
    retriever = SmartRetriever.from_texts(TEXTS, tiny_encoder)
    del retriever
    gc.collect()
    assert temp_indexes() == before
    with pytest.raises(TypeError):
        SmartRetriever(texts=["fine", 3], model=tiny_encoder)  # fails inside the build
    assert temp_indexes() == before


def test_dumpd_loads_round_trip_of_a_saved_retriever(tiny_encoder, tiny_model_dir, tmp_path):
    from langchain_core.load import dumpd, dumps, loads

    folder = tmp_path / "idx"
    retriever = SmartRetriever.from_texts(TEXTS, str(tiny_model_dir), metadatas=METAS, index_path=folder,
                                          search_kwargs={"k": 2, "filter": {"kind": {"$ne": "art"}}})
    data = dumpd(retriever)
    assert data["type"] == "constructor" and data["kwargs"]["index_path"] == str(folder)
    again = loads(dumps(retriever), valid_namespaces=["smart_plugins"], allowed_objects=[SmartRetriever])
    assert [d.id for d in again.invoke("debug files")] == [d.id for d in retriever.invoke("debug files")]
    temporary = SmartRetriever(texts=TEXTS, model=tiny_encoder)
    assert dumpd(temporary)["type"] == "not_implemented"  # a temporary index has no folder to name
    temporary.close()
