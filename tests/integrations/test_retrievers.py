"""Retrievers over a SmartIndex: LangChain SmartRetriever and LlamaIndex SmartRetriever / SmartRerank."""

from __future__ import annotations

import json

import pytest

from smart_plugins.index import SmartIndex

TEXTS = [
    "python package with debug files",
    "the red star binds the label",
    "a banana and an apple",
    "shared runtime library for the server",
    "command line tool for the client",
]
IDS = [f"doc-{i}" for i in range(len(TEXTS))]
METAS = [{"n": i, "kind": "fruit" if "banana" in t else "code"} for i, t in enumerate(TEXTS)]
QUERY = "debug files for the python package"


@pytest.fixture()
def index(tiny_encoder, tmp_path):
    with SmartIndex.create(tmp_path / "idx", tiny_encoder) as built:
        built.add(TEXTS, ids=IDS, metadata=METAS)
        yield built


def _spy_documents(monkeypatch, encoder):
    calls = []
    original = type(encoder).encode_documents

    def spy(self, texts, **kwargs):
        calls.append(len(texts))
        return original(self, texts, **kwargs)

    monkeypatch.setattr(type(encoder), "encode_documents", spy)
    return calls


# ----------------------------------------------------------------------------- LangChain
def test_langchain_retriever_matches_index_search(index):
    from smart_plugins.integrations.langchain import SmartRetriever

    retriever = SmartRetriever(index=index, k=3)
    docs = retriever.invoke(QUERY)
    hits = index.search(QUERY, k=3)
    assert [d.id for d in docs] == [h.id for h in hits]
    for doc, hit in zip(docs, hits):
        assert doc.page_content == hit.text
        assert doc.metadata["n"] == hit.metadata["n"] and doc.metadata["kind"] == hit.metadata["kind"]
        assert doc.metadata["relevance_score"] == pytest.approx(hit.score)
        assert doc.metadata["smart_pooled"] == pytest.approx(hit.pooled)
    assert len(retriever.invoke(QUERY, k=1)) == 1
    assert [d.metadata["kind"] for d in retriever.invoke(QUERY, where={"kind": "fruit"})] == ["fruit"]
    with pytest.raises(TypeError, match="unexpected keyword"):
        retriever.invoke(QUERY, top_k=2)
    with pytest.raises(ValueError, match="k must be"):
        retriever.invoke(QUERY, k=0)


async def test_langchain_retriever_async_and_plain_params(tiny_encoder, index):
    from langchain_core.documents import Document

    from smart_plugins.integrations.langchain import SmartRetriever

    retriever = SmartRetriever(texts=TEXTS, metadatas=METAS, ids=IDS, encoder=tiny_encoder, k=2)
    sync_docs = retriever.invoke(QUERY)
    async_docs = await retriever.ainvoke(QUERY, k=2)
    assert [d.id for d in sync_docs] == [d.id for d in async_docs] == [h.id for h in index.search(QUERY, k=2)]
    by_path = SmartRetriever(index_path=index.path, encoder=tiny_encoder, k=2)
    assert [d.id for d in by_path.invoke(QUERY)] == [d.id for d in sync_docs]
    docs = [Document(page_content=t, metadata=m, id=i) for t, m, i in zip(TEXTS, METAS, IDS)]
    from_docs = SmartRetriever.from_documents(docs, encoder=tiny_encoder, k=5)
    assert sorted(d.id for d in from_docs.invoke(QUERY)) == sorted(IDS)
    assert len(await from_docs.ainvoke(QUERY, k=4)) == 4


def test_langchain_retriever_construction_errors(tiny_encoder, index):
    from smart_plugins.integrations.langchain import SmartRetriever

    with pytest.raises(ValueError, match="index="):
        SmartRetriever(k=2)
    with pytest.raises(ValueError, match="only one of"):
        SmartRetriever(index=index, texts=TEXTS, encoder=tiny_encoder)
    with pytest.raises(ValueError, match="k must be"):
        SmartRetriever(index=index, k=0)
    with pytest.raises(TypeError, match="SmartIndex"):
        SmartRetriever(index="not an index")


def test_langchain_temporary_index_is_removed_with_the_retriever(tiny_encoder):
    import gc

    from smart_plugins.integrations.langchain import SmartRetriever

    retriever = SmartRetriever(texts=TEXTS, encoder=tiny_encoder)
    folder = retriever.index.path
    assert folder.exists()
    del retriever
    gc.collect()
    assert not folder.exists()


def test_langchain_reranker_uses_stored_tokens_for_indexed_docs(index, tiny_encoder, monkeypatch):
    from smart_plugins.integrations.langchain import SmartReranker, SmartRetriever

    docs = SmartRetriever(index=index, k=5).invoke(QUERY)
    reranker = SmartReranker(index=index, top_n=2)
    calls = _spy_documents(monkeypatch, tiny_encoder)
    out = reranker.compress_documents(docs, "red star label")
    assert calls == []  # no document re-encoded
    assert [d.id for d in out] == [h.id for h in index.rerank("red star label", [d.id for d in docs], k=2)]


# ----------------------------------------------------------------------------- LlamaIndex
def _nodes():
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    return [
        TextNode(
            text=t, id_=i, metadata=dict(m),
            relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=f"source-{m['n']}")},
        )
        for t, m, i in zip(TEXTS, METAS, IDS)
    ]


def test_llama_retriever_keeps_metadata_and_relationships(tiny_encoder):
    from llama_index.core.schema import MetadataMode

    from smart_plugins.integrations.llama_index import SmartRetriever

    retriever = SmartRetriever(nodes=_nodes(), encoder=tiny_encoder, similarity_top_k=3)
    results = retriever.retrieve(QUERY)
    hits = retriever.index.search(QUERY, k=3)
    assert [r.node.node_id for r in results] == [h.id for h in hits]
    for result, hit in zip(results, hits):
        node = result.node
        assert result.score == pytest.approx(hit.score)
        assert node.ref_doc_id == f"source-{node.metadata['n']}"
        assert node.metadata["kind"] == METAS[node.metadata["n"]]["kind"]
        assert node.text == TEXTS[node.metadata["n"]]
        assert "_llama_node" not in node.metadata
        assert "smart_pooled" not in node.get_content(metadata_mode=MetadataMode.LLM)


async def test_llama_retriever_async_and_query_engine(index, tiny_encoder):
    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine

    from smart_plugins.integrations.llama_index import SmartRetriever

    retriever = SmartRetriever(index, similarity_top_k=2)
    sync = [n.node.node_id for n in retriever.retrieve(QUERY)]
    assert [n.node.node_id for n in await retriever.aretrieve(QUERY)] == sync
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query(QUERY)
    assert [n.node.node_id for n in response.source_nodes] == sync
    aresponse = await engine.aquery(QUERY)
    assert [n.node.node_id for n in aresponse.source_nodes] == sync


def test_llama_retriever_config_round_trip(index, tiny_encoder):
    from smart_plugins.integrations.llama_index import SmartRetriever

    retriever = SmartRetriever(index, similarity_top_k=2, weights="0:1", where={"kind": "code"})
    config = json.loads(json.dumps(retriever.to_dict()))
    again = SmartRetriever.from_dict(config, encoder=tiny_encoder)
    assert [n.node.node_id for n in again.retrieve(QUERY)] == [n.node.node_id for n in retriever.retrieve(QUERY)]
    assert again.weights == retriever.weights
    temporary = SmartRetriever(nodes=_nodes(), encoder=tiny_encoder)
    with pytest.raises(ValueError, match="temporary"):
        temporary.to_dict()
    with pytest.raises(ValueError, match="not a SmartRetriever"):
        SmartRetriever.from_dict({**config, "class_name": "Other"})


def test_llama_rerank_uses_stored_tokens_for_indexed_nodes(index, tiny_encoder, monkeypatch):
    from llama_index.core.schema import NodeWithScore

    from smart_plugins.integrations.llama_index import SmartRerank, add_nodes

    add_nodes(index, _nodes())  # upsert: same ids, now with node info
    candidates = [NodeWithScore(node=n, score=0.0) for n in _nodes()]
    rerank = SmartRerank(index=index, top_n=3)
    calls = _spy_documents(monkeypatch, tiny_encoder)
    out = rerank.postprocess_nodes(candidates, query_str=QUERY)
    assert calls == []
    expected = index.rerank(QUERY, IDS, k=3)
    assert [n.node.node_id for n in out] == [h.id for h in expected]
    assert [n.score for n in out] == pytest.approx([h.score for h in expected])
    # a node outside the index falls back to batch encoding
    from llama_index.core.schema import TextNode

    mixed = candidates + [NodeWithScore(node=TextNode(text="a fresh text about debug files"), score=0.0)]
    rerank.postprocess_nodes(mixed, query_str=QUERY)
    assert calls == [len(mixed)]
